import { cut } from '../chat/sanitize.ts';
import type { HttpAnswer } from '../http-client.ts';
import type { Deployment } from '../schema.ts';
import { isTerminal, type Status } from '../status.ts';
import { type ChangeFacts, changeFacts, epochMs, type VendorErrors, vendorCall } from './change-event.ts';
import type { DatadogConfig } from './datadog.schema.ts';
import { defineTarget, type Notification, type TargetContext } from './target.ts';

type Context = TargetContext<DatadogConfig>;

/** Datadog accepts an event's `date_happened` up to 18 hours back; older ones are sent without it. */
const EVENT_MAX_AGE_MS = 18 * 3600 * 1000;

/**
 * Datadog: a DORA Metrics deployment per finished deployment and, with `events`, an event per transition.
 *
 * DORA: `POST https://api.<site>/api/v2/dora/deployment` with `DD-API-KEY`, body
 * `{data: {attributes: {service, env, started_at, finished_at, git: {repository_url, commit_sha}, version, id,
 * team, custom_tags}}}`; times in nanoseconds (seconds and milliseconds are accepted too); `id` 16-128
 * characters of `[A-Za-z0-9_.:-]` (the Shipcast deployment id: what `GET /api/v2/dora/deployments/{id}` finds it by);
 * custom tags `key:value`, at most 100. 200/202 answer `{data: {id, type: "dora_deployment"}}`; 400
 * JSON:API errors, 403/429 `{errors: [..]}`. Docs: docs.datadoghq.com/api/latest/dora-metrics ("Send a
 * deployment event"; not available on the US1-FED site) and DataDog/datadog-api-client-typescript
 * DORAMetricsApi.ts (status codes).
 *
 * Events: `POST https://api.<site>/api/v1/events` {title, text, tags, alert_type, aggregation_key (≤ 100),
 * date_happened (epoch seconds, ≤ 18 h old)} → 202 `{status: "ok", event: {…}}` (docs.datadoghq.com/api/
 * latest/events "Post an event", v1; v2 events take another host, `event-management-intake.<site>`).
 *
 * Rate limits (docs.datadoghq.com/api/latest/rate-limits): 429 with `X-RateLimit-Limit`, `-Period`,
 * `-Remaining` and `-Reset`, the seconds until the window resets (not an epoch time).
 */
export const datadogTarget = defineTarget<DatadogConfig>({
  type: 'datadog',
  secretNames: (config) => [config.apiKey],
  async send(notification, context) {
    const { transition, delivery } = notification;
    const facts = changeFacts(notification.deployment, transition);
    const seq = String(transition.seq);
    const learned: Record<string, string> = {};
    // What an earlier attempt of this transition already sent is not sent again (refs, kept on failure).
    if (context.config.events && delivery?.refs?.event !== seq) {
      await post(context, 'Datadog event', '/api/v1/events', eventOf(notification, facts, context), learned);
      learned.event = seq;
    }
    if (doraWanted(transition.to, context.config) && !delivery?.refs?.dora) {
      await post(
        context,
        'Datadog DORA deployment',
        '/api/v2/dora/deployment',
        doraOf(notification, facts, context),
        learned,
      );
      learned.dora = seq;
    }
    return { refs: learned };
  },
});

function doraWanted(to: Status, config: DatadogConfig): boolean {
  return config.dora && isTerminal(to) && (config.doraOn as readonly string[]).includes(to);
}

/** The DORA deployment event. */
function doraOf({ deployment, transition }: Notification, { view }: ChangeFacts, { config }: Context) {
  const finished = epochMs(deployment.finishedAt) ?? (epochMs(transition.at) as number);
  const started = Math.min(
    epochMs(deployment.startedAt) ?? epochMs(deployment.createdAt) ?? finished,
    finished,
  );
  const git = gitOf(deployment, view.commit?.url);
  return {
    data: {
      attributes: {
        service: cut(view.service, 200),
        ...(deployment.environment ? { env: cut(view.environment, 200) } : {}),
        // Milliseconds have 13 significant digits: × 10^6 stays exact as a JSON number (≤ 15 digits).
        started_at: started * 1_000_000,
        finished_at: finished * 1_000_000,
        ...(git ? { git } : {}),
        ...(view.version ? { version: view.version } : {}),
        id: deployment.id,
        ...(config.team ? { team: config.team } : {}),
        custom_tags: tagsOf(deployment, transition.to, view, config).slice(0, 100),
      },
    },
  };
}

/** `git` needs both a repository URL and the full commit sha; otherwise it is left out. */
function gitOf(deployment: Deployment, commitUrl: string | undefined) {
  const sha = deployment.revision?.commit?.trim();
  if (!sha || !/^[0-9a-f]{40}([0-9a-f]{24})?$/i.test(sha)) return undefined;
  const repository = deployment.revision?.repository?.trim() ?? '';
  let url: string | undefined;
  if (/^https:\/\/[^\s]+$/i.test(repository)) url = repository.replace(/\.git$/, '');
  else if (commitUrl) url = commitUrl.slice(0, commitUrl.indexOf('/commit/'));
  return url ? { repository_url: url, commit_sha: sha.toLowerCase() } : undefined;
}

const ALERT_TYPES: Record<Status, 'info' | 'success' | 'error' | 'warning'> = {
  queued: 'info',
  in_progress: 'info',
  succeeded: 'success',
  failed: 'error',
  stopped: 'warning',
};

/** The v1 event: one per transition, all of a deployment grouped by `aggregation_key`. */
function eventOf(
  { deployment, transition }: Notification,
  { view, summary, links }: ChangeFacts,
  context: Context,
) {
  const at = epochMs(transition.at);
  const recent = at !== undefined && context.clock.now().getTime() - at < EVENT_MAX_AGE_MS;
  const lines = [
    view.commit ? `Commit \`${view.commit.short}\`${view.repository ? ` of ${view.repository}` : ''}` : '',
    view.duration ? `Took ${view.duration}` : '',
    view.error ? `Error: ${view.error}` : '',
    view.description,
    links.map((link) => `[${link.text.replace(/[[\]]/g, '')}](${link.href})`).join(' · '),
  ].filter(Boolean);
  return {
    title: cut(`Deployment: ${summary}`, 500),
    // `%%%` fences mark the text as Markdown.
    text: cut(`%%% \n${lines.join('\n\n')}\n %%%`, 4000),
    tags: tagsOf(deployment, transition.to, view, context.config),
    alert_type: ALERT_TYPES[transition.to],
    aggregation_key: deployment.id,
    ...(recent && at !== undefined ? { date_happened: Math.floor(at / 1000) } : {}),
  };
}

/** Datadog tags: `key:value`, lower case, letters first, at most 200 characters, `[a-z0-9_.:/-]`. */
function tagsOf(
  deployment: Deployment,
  to: Status,
  view: ChangeFacts['view'],
  config: DatadogConfig,
): string[] {
  const tag = (key: string, value: string | undefined) =>
    value
      ? [
          `${key}:${value}`
            .toLowerCase()
            .replace(/[^a-z0-9_.:/-]/g, '_')
            .slice(0, 200),
        ]
      : [];
  return [
    ...tag('service', deployment.service && view.service),
    ...tag('env', deployment.environment && view.environment),
    ...tag('version', view.version),
    ...tag('deployment_status', to),
    ...tag('deployed_by', view.actor),
    ...tag('git.commit.sha', deployment.revision?.commit),
    ...tag('shipcast_source', view.source),
    ...tag('shipcast_deployment_id', deployment.id),
    ...config.tags,
  ];
}

async function post(
  context: Context,
  what: string,
  path: string,
  body: unknown,
  learned: Record<string, string>,
) {
  const { config, secrets, http, clock } = context;
  const apiKey = await secrets.get(config.apiKey);
  const base = datadogApiBase(config);
  await vendorCall(
    what,
    () =>
      http.send({
        method: 'POST',
        url: `${base}${path}`,
        headers: { 'dd-api-key': apiKey, accept: 'application/json' },
        body,
        timeoutMs: config.timeoutMs,
      }),
    {
      errors: DATADOG_ERRORS,
      secrets,
      secretNames: [config.apiKey],
      refs: learned,
      nowMs: clock.now().getTime(),
    },
  );
}

/** The API host of the configured site (`https://api.datadoghq.eu`), or `baseUrl` when set. */
export function datadogApiBase(config: Pick<DatadogConfig, 'site' | 'baseUrl'>): string {
  return (config.baseUrl ?? `https://api.${config.site}`).replace(/\/+$/, '');
}

/** `{errors: ["Forbidden"]}` (v1, 403, 429) or JSON:API `{errors: [{title, detail}]}` (v2 400). */
const DATADOG_ERRORS: VendorErrors = {
  message(answer: HttpAnswer) {
    const errors = answer.json<{ errors?: unknown }>()?.errors;
    if (!Array.isArray(errors)) return undefined;
    const words = errors.map((e) => {
      if (typeof e === 'string') return e;
      const { title, detail } = (e ?? {}) as { title?: unknown; detail?: unknown };
      return [title, detail].filter((w) => typeof w === 'string' && w).join(': ');
    });
    return words.filter(Boolean).join('; ') || undefined;
  },
  retryAfter(answer: HttpAnswer) {
    if (answer.status !== 429 || answer.headers.get('retry-after')) return undefined;
    const reset = Number(answer.headers.get('x-ratelimit-reset'));
    return Number.isFinite(reset) && reset >= 0 ? Math.max(1, Math.ceil(reset)) : undefined;
  },
};
