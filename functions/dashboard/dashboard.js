// The Shipcast dashboard: plain DOM, no framework. Everything that comes from the API is untrusted text: it is
// only ever set through textContent and attributes, never parsed as HTML, and becomes a link only when it is
// an http(s) URL.

const TOKEN_KEY = 'shipcast.token';
const REFRESH_MS = 3000;
const RUNNING = new Set(['queued', 'in_progress']);
const STATUSES = ['queued', 'in_progress', 'succeeded', 'failed', 'stopped'];

const main = document.getElementById('main');
const signOut = document.getElementById('sign-out');
let refreshTimer;
let renderCount = 0;

/** An element with attributes and children (strings become text nodes). */
function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'href') throw new Error('use link() for links');
    element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(typeof child === 'string' || typeof child === 'number' ? String(child) : child);
  }
  return element;
}

/** The URL when it is http(s), otherwise null. */
function safeUrl(value) {
  if (typeof value !== 'string') return null;
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

/** A link to an http(s) URL, or the text alone when the URL is anything else. */
function link(url, text) {
  const safe = safeUrl(url);
  if (!safe) return h('span', {}, text ?? String(url ?? ''));
  const a = h('a', { rel: 'noopener noreferrer' }, text ?? safe);
  a.href = safe;
  return a;
}

/** A link inside the dashboard (`#/…`). */
function pageLink(route, text) {
  const a = h('a', {}, text);
  a.href = `#${route}`;
  return a;
}

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Calls the API with the signed-in token; a 401, 403 or 404 becomes an ApiError that says what to do. */
async function api(path) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const response = await fetch(path, { headers: { authorization: `Bearer ${token}` } });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (response.ok) return body;
  if (response.status === 401) {
    throw new ApiError(401, 'Shipcast did not accept this token. Sign out and paste a configured API token.');
  }
  if (response.status === 403) {
    throw new ApiError(
      403,
      `This token may not read this (${body?.message ?? 'forbidden'}). Use a token with read access.`,
    );
  }
  if (response.status === 404) throw new ApiError(404, body?.message ?? 'not found');
  throw new ApiError(response.status, body?.message ?? `Shipcast answered ${response.status}`);
}

function message(kind, ...text) {
  return h('p', { class: `message ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, ...text);
}

function showError(error, notFound) {
  if (error instanceof ApiError && error.status === 404 && notFound) return message('error', notFound);
  return message('error', error instanceof Error ? error.message : String(error));
}

function formatTime(value) {
  if (!value) return '';
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString();
}

function formatSeconds(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86400) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} d`;
}

function duration(deployment) {
  const start = Date.parse(deployment.startedAt ?? deployment.createdAt);
  const end = deployment.finishedAt ? Date.parse(deployment.finishedAt) : Number.NaN;
  return Number.isNaN(start) || Number.isNaN(end) ? '' : formatSeconds((end - start) / 1000);
}

function statusBadge(status) {
  return h('span', { class: `status status-${STATUSES.includes(status) ? status : 'other'}` }, status ?? '');
}

/** The commit's page on GitHub or GitLab, when the repository is on one of them. */
function commitUrl(deployment) {
  const revision = deployment.revision ?? {};
  const { repository, commit } = revision;
  if (!repository || !commit || !/^[0-9a-f]{7,64}$/i.test(commit)) return null;
  const url = safeUrl(repository.replace(/\.git$/, ''));
  if (url) {
    const host = new URL(url).hostname;
    if (host === 'github.com') return `${url}/commit/${commit}`;
    if (host === 'gitlab.com' || host.startsWith('gitlab.')) return `${url}/-/commit/${commit}`;
    return null;
  }
  if (!/^[\w.-]+(\/[\w.-]+)+$/.test(repository)) return null;
  return deployment.source === 'gitlab'
    ? `https://gitlab.com/${repository}/-/commit/${commit}`
    : `https://github.com/${repository}/commit/${commit}`;
}

function table(caption, headings, rows) {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      {},
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, ...headings.map((heading) => h('th', { scope: 'col' }, heading)))),
      h(
        'tbody',
        {},
        ...rows.map((cells) =>
          h('tr', {}, ...cells.map((cell, i) => h('td', { 'data-label': headings[i] }, cell ?? ''))),
        ),
      ),
    ),
  );
}

function definitions(entries) {
  const shown = entries.filter(([, value]) => value !== undefined && value !== null && value !== '');
  if (shown.length === 0) return '';
  return h(
    'dl',
    { class: 'facts' },
    ...shown.map(([term, value]) => h('div', {}, h('dt', {}, term), h('dd', {}, value))),
  );
}

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, query = ''] = raw.split('?');
  return { path, params: new URLSearchParams(query) };
}

function setPage(title, page) {
  document.title = `${title} · Shipcast`;
  for (const a of document.querySelectorAll('nav a')) {
    if (a.dataset.page === page) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

// ---------------------------------------------------------------------------------------------- sign-in

function signInPage(problem) {
  setPage('Sign in', '');
  const input = h('input', {
    id: 'token',
    name: 'token',
    type: 'password',
    autocomplete: 'off',
    required: true,
    spellcheck: 'false',
  });
  const form = h(
    'form',
    { class: 'sign-in', 'aria-labelledby': 'sign-in-title' },
    h('h1', { id: 'sign-in-title' }, 'Sign in'),
    h(
      'p',
      {},
      'Paste a Shipcast API token. It is kept in this browser tab only (session storage) and sent to this Shipcast only.',
    ),
    h('label', { for: 'token' }, 'API token'),
    input,
    h('button', { type: 'submit' }, 'Sign in'),
    problem ? message('error', problem) : null,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    try {
      await api('/v1/deployments?limit=1');
    } catch (error) {
      if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
        sessionStorage.removeItem(TOKEN_KEY);
        return main.replaceChildren(signInPage(error.message));
      }
    }
    render();
  });
  queueMicrotask(() => input.focus());
  return form;
}

// ------------------------------------------------------------------------------------------ deployments

async function deploymentsPage(params, isCurrent) {
  setPage('Deployments', 'deployments');
  const filters = {
    service: params.get('service') ?? '',
    environment: params.get('environment') ?? '',
    status: params.get('status') ?? '',
    source: params.get('source') ?? '',
    from: params.get('from') ?? '',
    to: params.get('to') ?? '',
  };
  const field = (name, label, type = 'text') =>
    h(
      'div',
      { class: 'field' },
      h('label', { for: `f-${name}` }, label),
      h('input', { id: `f-${name}`, name, type, value: filters[name] }),
    );
  const statusSelect = h(
    'select',
    { id: 'f-status', name: 'status' },
    h('option', { value: '' }, 'any'),
    ...STATUSES.map((s) => h('option', { value: s, selected: s === filters.status }, s)),
  );
  const form = h(
    'form',
    { class: 'filters', role: 'search', 'aria-label': 'Filter deployments' },
    field('service', 'Service'),
    field('environment', 'Environment'),
    h('div', { class: 'field' }, h('label', { for: 'f-status' }, 'Status'), statusSelect),
    field('source', 'Source'),
    field('from', 'Created from (UTC)', 'date'),
    field('to', 'Created until (UTC, inclusive)', 'date'),
    h('button', { type: 'submit' }, 'Filter'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const query = new URLSearchParams();
    for (const [name, value] of new FormData(form)) if (value) query.set(name, String(value).trim());
    location.hash = `#/${query.size ? `?${query}` : ''}`;
  });
  const results = h('div', { 'aria-live': 'polite' });
  const page = h('section', {}, h('h1', {}, 'Deployments'), form, results);

  // Every filter is the API's own (a filtered page is the newest matches, not a filtered newest page).
  const query = new URLSearchParams({ limit: '100' });
  for (const name of ['service', 'environment', 'status', 'source']) {
    if (filters[name]) query.set(name, filters[name]);
  }
  const day = (value, plusDays) => {
    const start = Date.parse(`${value}T00:00:00Z`);
    return Number.isNaN(start) ? undefined : new Date(start + plusDays * 86_400_000).toISOString();
  };
  if (filters.from && day(filters.from, 0)) query.set('from', day(filters.from, 0));
  if (filters.to && day(filters.to, 1)) query.set('to', day(filters.to, 1));
  try {
    const { deployments: shown } = await api(`/v1/deployments?${query}`);
    if (shown.length === 0) results.append(message('info', 'No deployments match.'));
    else {
      results.append(
        table(
          `${shown.length} most recent deployments`,
          ['Status', 'Service', 'Environment', 'Version', 'Source', 'Who', 'Started', 'Duration'],
          shown.map((d) => [
            statusBadge(d.status),
            pageLink(`/deployments/${encodeURIComponent(d.id)}`, d.service ?? d.id),
            d.environment ?? '',
            d.version ?? d.revision?.commit?.slice(0, 12) ?? '',
            d.source,
            d.actor ?? '',
            formatTime(d.startedAt ?? d.createdAt),
            duration(d),
          ]),
        ),
      );
    }
    if (shown.some((d) => RUNNING.has(d.status))) {
      results.append(message('info', 'Refreshing every few seconds while a deployment runs.'));
      scheduleRefresh(isCurrent);
    }
  } catch (error) {
    results.append(showError(error));
  }
  return page;
}

function scheduleRefresh(isCurrent) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    if (!isCurrent()) return;
    // Never re-render under someone typing into a filter: try again later.
    if (main.querySelector('form')?.contains(document.activeElement)) scheduleRefresh(isCurrent);
    else render({ keepFocus: true });
  }, REFRESH_MS);
}

// ------------------------------------------------------------------------------------------- deployment

async function deploymentPage(id, isCurrent) {
  setPage('Deployment', 'deployments');
  let detail;
  try {
    detail = await api(`/v1/deployments/${encodeURIComponent(id)}`);
  } catch (error) {
    return h(
      'section',
      {},
      h('h1', {}, 'Deployment'),
      showError(error, `Not found: Shipcast has no deployment ${id}.`),
      h('p', {}, pageLink('/', 'All deployments')),
    );
  }
  const d = detail.deployment;
  const commit = d.revision?.commit;
  const commitLink = commitUrl(d);
  const page = h(
    'section',
    {},
    h('p', { class: 'crumbs' }, pageLink('/', 'Deployments')),
    h('h1', {}, `${d.service ?? d.id} → ${d.environment ?? '?'} `, statusBadge(d.status)),
    definitions([
      ['Id', d.id],
      ['Status', `${d.status} (source says ${d.sourceStatus})`],
      ['Version', d.version],
      ['Repository', d.revision?.repository],
      ['Commit', commit ? (commitLink ? link(commitLink, commit) : commit) : undefined],
      ['Ref', d.revision?.ref],
      ['Who', d.actor],
      ['Source', `${d.source} (${d.sourceDeploymentId})`],
      ['Account', d.account],
      ['Region', d.region],
      ['Started', formatTime(d.startedAt ?? d.createdAt)],
      ['Finished', formatTime(d.finishedAt)],
      ['Duration', duration(d)],
      ['Description', d.description],
      ['Link', d.url ? link(d.url) : undefined],
      ['Error', d.error ? `${d.error.code ? `${d.error.code}: ` : ''}${d.error.message}` : undefined],
      [
        'Rolls back',
        d.rollbackOf ? pageLink(`/deployments/${encodeURIComponent(d.rollbackOf)}`, d.rollbackOf) : undefined,
      ],
      [
        'Rolled back by',
        d.rolledBackBy
          ? pageLink(`/deployments/${encodeURIComponent(d.rolledBackBy)}`, d.rolledBackBy)
          : undefined,
      ],
      ['Hosts', d.hosts?.join(', ')],
    ]),
  );

  page.append(
    h('h2', {}, 'Deliveries'),
    detail.deliveries.length === 0
      ? message('info', 'No target was routed for this deployment.')
      : table(
          'Delivery state per target',
          ['Target', 'State', 'Delivered', 'Attempts', 'Last error', 'Ids kept'],
          detail.deliveries.map((delivery) => [
            delivery.target,
            h('span', { class: `delivery delivery-${delivery.state}` }, delivery.state),
            `${delivery.deliveredSeq} of ${delivery.latestSeq}${delivery.deliveredStatus ? ` (${delivery.deliveredStatus})` : ''}`,
            String(delivery.attempts),
            delivery.lastError ?? '',
            refsList(delivery.refs),
          ]),
        ),
    h('h2', {}, 'Transitions'),
    table(
      'Status transitions',
      ['#', 'From', 'To', 'At', 'Targets'],
      d.transitions.map((t) => [String(t.seq), t.from ?? '–', t.to, formatTime(t.at), t.targets.join(', ')]),
    ),
  );

  if (detail.timeline) {
    const t = detail.timeline;
    page.append(
      h('h2', {}, 'Commit → build → deploy'),
      definitions([
        ['First push', formatTime(t.firstPushAt)],
        ['Lead time', t.leadTimeSeconds === null ? undefined : formatSeconds(t.leadTimeSeconds)],
      ]),
      t.events.length === 0
        ? message('info', `No CI event is recorded for commit ${t.commit} of ${t.repository}.`)
        : table(
            'CI events of the commit',
            ['At', 'Source', 'Type', 'Status', 'Branch'],
            t.events.map((e) => [
              formatTime(e.eventTime),
              e.source,
              e.type,
              e.status ?? e.sourceStatus ?? '',
              e.branch ?? '',
            ]),
          ),
    );
  }

  if (Array.isArray(detail.incidents)) {
    page.append(h('h2', {}, 'Incidents'), incidentsTable(detail.incidents));
  }

  page.append(
    h('h2', {}, 'Events'),
    table(
      'Events received for this deployment',
      ['Occurred', 'Source status', 'Status', 'Applied', 'Description'],
      detail.events.map((e) => [
        formatTime(e.occurredAt),
        e.sourceStatus,
        e.status ?? '–',
        e.disposition + (e.note ? ` (${e.note})` : ''),
        e.description ?? e.error?.message ?? '',
      ]),
    ),
  );
  if (RUNNING.has(d.status)) scheduleRefresh(isCurrent);
  return page;
}

function refsList(refs) {
  const entries = Object.entries(refs ?? {});
  if (entries.length === 0) return '';
  return h(
    'ul',
    { class: 'refs' },
    ...entries.map(([name, value]) =>
      h('li', {}, `${name}: `, safeUrl(value) ? link(value) : h('code', {}, String(value))),
    ),
  );
}

// ------------------------------------------------------------------------------------------------- DORA

const METRICS = [
  [
    'deploymentFrequency',
    'Deployment frequency',
    (m) => `${Math.round((m.perWeek ?? m.value ?? 0) * 10) / 10} / week`,
  ],
  ['changeLeadTime', 'Change lead time', (m) => formatSeconds(m.value)],
  ['changeFailRate', 'Change fail rate', (m) => percent(m.value)],
  ['recoveryTime', 'Failed deployment recovery time', (m) => formatSeconds(m.value)],
  ['reworkRate', 'Deployment rework rate', (m) => percent(m.value)],
];

function percent(value) {
  return value === null || value === undefined ? '–' : `${Math.round(value * 1000) / 10} %`;
}

function chartValue(key, figures) {
  const metric = figures[key];
  if (!metric) return null;
  return key === 'deploymentFrequency' ? (metric.deployments ?? metric.value) : metric.value;
}

/** A small bar chart of one metric over the series, drawn as SVG (no chart library is installed). */
function chart(key, label, format, series) {
  const svgNs = 'http://www.w3.org/2000/svg';
  const width = 300;
  const height = 80;
  const values = series.map((period) => chartValue(key, period));
  const max = Math.max(0, ...values.filter((v) => typeof v === 'number'));
  const svg = document.createElementNS(svgNs, 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height + 14}`);
  svg.setAttribute('class', 'chart');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', `${label} per period`);
  const slot = width / Math.max(1, series.length);
  series.forEach((period, i) => {
    const value = values[i];
    const barHeight = typeof value === 'number' && max > 0 ? Math.max(1, (value / max) * height) : 0;
    const bar = document.createElementNS(svgNs, 'rect');
    bar.setAttribute('x', String(i * slot + slot * 0.15));
    bar.setAttribute('width', String(slot * 0.7));
    bar.setAttribute('y', String(height - barHeight));
    bar.setAttribute('height', String(barHeight));
    bar.setAttribute('class', value === null ? 'bar empty' : 'bar');
    const title = document.createElementNS(svgNs, 'title');
    title.textContent = `${period.start.slice(0, 10)}: ${value === null ? 'no data' : format(period[key])}`;
    bar.append(title);
    svg.append(bar);
  });
  const axis = document.createElementNS(svgNs, 'line');
  for (const [name, value] of [
    ['x1', 0],
    ['x2', width],
    ['y1', height],
    ['y2', height],
  ])
    axis.setAttribute(name, String(value));
  axis.setAttribute('class', 'axis');
  svg.append(axis);
  for (const [i, period] of [
    [0, series[0]],
    [series.length - 1, series.at(-1)],
  ]) {
    if (!period) continue;
    const text = document.createElementNS(svgNs, 'text');
    text.setAttribute('x', String(i === 0 ? 0 : width));
    text.setAttribute('y', String(height + 12));
    text.setAttribute('text-anchor', i === 0 ? 'start' : 'end');
    text.textContent = period.start.slice(0, 10);
    svg.append(text);
  }
  return svg;
}

async function doraPage(params) {
  setPage('DORA metrics', 'dora');
  const day = 86_400_000;
  const today = new Date();
  const values = {
    service: params.get('service') ?? '',
    environment: params.get('environment') ?? '',
    from: params.get('from') ?? new Date(today.getTime() - 90 * day).toISOString().slice(0, 10),
    to: params.get('to') ?? new Date(today.getTime() + day).toISOString().slice(0, 10),
    interval: params.get('interval') === 'month' ? 'month' : 'week',
  };
  const input = (name, label, type = 'text') =>
    h(
      'div',
      { class: 'field' },
      h('label', { for: `d-${name}` }, label),
      h('input', { id: `d-${name}`, name, type, value: values[name] }),
    );
  const form = h(
    'form',
    { class: 'filters', 'aria-label': 'DORA scope' },
    input('service', 'Service'),
    input('environment', 'Environment'),
    input('from', 'From', 'date'),
    input('to', 'To', 'date'),
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'd-interval' }, 'Per'),
      h(
        'select',
        { id: 'd-interval', name: 'interval' },
        h('option', { value: 'week', selected: values.interval === 'week' }, 'week'),
        h('option', { value: 'month', selected: values.interval === 'month' }, 'month'),
      ),
    ),
    h('button', { type: 'submit' }, 'Show'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const query = new URLSearchParams();
    for (const [name, value] of new FormData(form)) if (value) query.set(name, String(value).trim());
    location.hash = `#/dora?${query}`;
  });
  const page = h('section', {}, h('h1', {}, 'DORA metrics'), form);
  const query = new URLSearchParams({
    from: new Date(values.from).toISOString(),
    to: new Date(values.to).toISOString(),
    interval: values.interval,
  });
  if (values.service) query.set('service', values.service);
  if (values.environment) query.set('environment', values.environment);
  let result;
  try {
    result = await api(`/v1/metrics/dora?${query}`);
  } catch (error) {
    page.append(
      showError(
        error,
        'DORA metrics are not available on this Shipcast yet (GET /v1/metrics/dora answered 404).',
      ),
    );
    return page;
  }
  const cards = h('div', { class: 'cards' });
  for (const [key, label, format] of METRICS) {
    const metric = result[key] ?? { value: null, basedOn: 0, band: null };
    cards.append(
      h(
        'article',
        { class: 'card', 'data-metric': key },
        h('h2', {}, label),
        h('p', { class: 'figure', 'data-value': JSON.stringify(metric.value ?? null) }, format(metric)),
        h(
          'p',
          {},
          metric.band ? h('span', { class: `band band-${metric.band}` }, metric.band) : 'no band',
          ` · based on ${metric.basedOn}`,
        ),
        chart(key, label, format, Array.isArray(result.series) ? result.series : []),
      ),
    );
  }
  page.append(cards);
  if (result.bandSource) page.append(h('p', { class: 'note' }, `Bands: ${result.bandSource}`));
  return page;
}

// -------------------------------------------------------------------------------------------- incidents

function incidentsTable(incidents) {
  if (incidents.length === 0) return message('info', 'No incidents.');
  return table(
    'Incidents',
    ['Title', 'Severity', 'Service', 'Environment', 'Opened', 'Resolved', 'Deployment'],
    incidents.map((incident) => [
      incident.url ? link(incident.url, incident.title ?? incident.id) : (incident.title ?? incident.id),
      incident.severity ?? '',
      incident.service ?? '',
      incident.environment ?? '',
      formatTime(incident.openedAt),
      incident.resolvedAt ? formatTime(incident.resolvedAt) : 'open',
      incident.deploymentId
        ? pageLink(`/deployments/${encodeURIComponent(incident.deploymentId)}`, incident.deploymentId)
        : '',
    ]),
  );
}

async function incidentsPage() {
  setPage('Incidents', 'incidents');
  const page = h('section', {}, h('h1', {}, 'Incidents'));
  try {
    const body = await api('/v1/incidents');
    page.append(incidentsTable(Array.isArray(body?.incidents) ? body.incidents : []));
  } catch (error) {
    page.append(
      showError(error, 'Incidents are not available on this Shipcast yet (GET /v1/incidents answered 404).'),
    );
  }
  return page;
}

// ---------------------------------------------------------------------------------------------- OpenAPI

function schemaView(schema, components, depth = 0) {
  if (!schema || typeof schema !== 'object') return h('span', {}, '');
  if (schema.$ref) {
    const name = String(schema.$ref).split('/').pop();
    const target = components[name];
    if (!target || depth > 6) return h('code', {}, name);
    return h('span', {}, h('code', {}, name), ' ', schemaView(target, components, depth + 1));
  }
  const parts = [];
  const type = Array.isArray(schema.type) ? schema.type.join(' | ') : schema.type;
  if (type) parts.push(h('code', {}, type));
  if (schema.format) parts.push(` (${schema.format})`);
  if (schema.enum) parts.push(` one of ${schema.enum.map((v) => JSON.stringify(v)).join(', ')}`);
  if (schema.const !== undefined) parts.push(` = ${JSON.stringify(schema.const)}`);
  if (schema.description) parts.push(` — ${schema.description}`);
  const children = [];
  if (depth <= 6 && schema.properties) {
    const required = new Set(schema.required ?? []);
    children.push(
      h(
        'ul',
        { class: 'schema' },
        ...Object.entries(schema.properties).map(([name, property]) =>
          h(
            'li',
            {},
            h('strong', {}, name),
            required.has(name) ? ' (required) ' : ' ',
            schemaView(property, components, depth + 1),
          ),
        ),
      ),
    );
  }
  if (depth <= 6 && schema.items)
    children.push(h('div', {}, 'items: ', schemaView(schema.items, components, depth + 1)));
  for (const key of ['anyOf', 'oneOf', 'allOf']) {
    if (depth <= 6 && Array.isArray(schema[key])) {
      children.push(
        h(
          'div',
          {},
          `${key}:`,
          h(
            'ul',
            { class: 'schema' },
            ...schema[key].map((s) => h('li', {}, schemaView(s, components, depth + 1))),
          ),
        ),
      );
    }
  }
  return h('span', {}, ...parts, ...children);
}

async function openApiPage() {
  setPage('API', 'api');
  const page = h('section', { class: 'openapi' });
  let doc;
  try {
    doc = await api('/v1/openapi.json');
  } catch (error) {
    page.append(h('h1', {}, 'API'), showError(error, 'This Shipcast serves no OpenAPI document.'));
    return page;
  }
  const components = doc.components?.schemas ?? {};
  page.append(
    h('h1', {}, `${doc.info?.title ?? 'API'} ${doc.info?.version ?? ''}`),
    doc.info?.description ? h('p', {}, doc.info.description) : null,
  );
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const [method, operation] of Object.entries(item)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
      const parameters = [...(item.parameters ?? []), ...(operation.parameters ?? [])];
      const body = operation.requestBody?.content?.['application/json']?.schema;
      page.append(
        h(
          'details',
          { class: 'operation' },
          h(
            'summary',
            {},
            h('span', { class: `method method-${method}` }, method.toUpperCase()),
            ' ',
            h('code', {}, path),
            operation.summary ? ` — ${operation.summary}` : '',
          ),
          operation.description ? h('p', {}, operation.description) : null,
          parameters.length
            ? table(
                'Parameters',
                ['Name', 'In', 'Required', 'Schema', 'Description'],
                parameters.map((p) => [
                  p.name,
                  p.in,
                  p.required ? 'yes' : 'no',
                  schemaView(p.schema, components),
                  p.description ?? '',
                ]),
              )
            : null,
          body ? h('div', {}, h('h3', {}, 'Request body'), schemaView(body, components)) : null,
          h('h3', {}, 'Responses'),
          h(
            'ul',
            {},
            ...Object.entries(operation.responses ?? {}).map(([code, response]) =>
              h(
                'li',
                {},
                h('strong', {}, code),
                ` ${response.description ?? ''} `,
                response.content?.['application/json']?.schema
                  ? schemaView(response.content['application/json'].schema, components)
                  : null,
              ),
            ),
          ),
        ),
      );
    }
  }
  return page;
}

// ----------------------------------------------------------------------------------------------- router

async function render(options = {}) {
  clearTimeout(refreshTimer);
  const count = ++renderCount;
  const isCurrent = () => count === renderCount;
  const signedIn = Boolean(sessionStorage.getItem(TOKEN_KEY));
  signOut.hidden = !signedIn;
  if (!signedIn) {
    main.replaceChildren(signInPage());
    return;
  }
  const { path, params } = parseHash();
  let page;
  try {
    if (path === '/' || path === '') page = await deploymentsPage(params, isCurrent);
    else if (path.startsWith('/deployments/'))
      page = await deploymentPage(decodeURIComponent(path.slice(13)), isCurrent);
    else if (path === '/dora') page = await doraPage(params);
    else if (path === '/incidents') page = await incidentsPage();
    else if (path === '/api') page = await openApiPage();
    else
      page = h(
        'section',
        {},
        h('h1', {}, 'Not found'),
        message('error', 'This page does not exist.'),
        pageLink('/', 'Deployments'),
      );
  } catch (error) {
    page = h('section', {}, h('h1', {}, 'Error'), showError(error));
  }
  if (!isCurrent()) return;
  const active = document.activeElement;
  const activeId = active?.id;
  main.replaceChildren(page);
  if (options.keepFocus && activeId) document.getElementById(activeId)?.focus();
  else if (!options.keepFocus) main.focus({ preventScroll: true });
}

signOut.addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  location.hash = '#/';
  render();
});
window.addEventListener('hashchange', () => render());
render();
