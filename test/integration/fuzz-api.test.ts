import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../functions/core/api/app.ts';
import {
  anyString,
  bodyArb,
  contentType,
  extraHeaders,
  FUZZ_TEST_TIMEOUT_MS,
  headersOf,
  headerValue,
  type Json,
  mutate,
  mutationArb,
  queryArb,
  type RouteChecker,
  routeChecker,
  runs,
  safeEncode,
  spyOnWrites,
  sweepCases,
  toJsonText,
} from '../support/fuzz.ts';
import { createHarness, type Harness } from '../support/harness.ts';

const TOKEN = 'fuzz-api-token-7f3a9c';
const readJson = (path: string): Json => JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8'));

const NATIVE: Json[] = [
  {
    service: 'checkout',
    environment: 'production',
    status: 'in_progress',
    version: '1.4.2',
    commit: '9fceb02',
  },
  {
    service: 'billing',
    environment: 'staging',
    status: 'succeeded',
    deploymentId: 'build-4711',
    repository: 'acme/billing',
    ref: 'refs/heads/main',
    actor: 'mona',
    description: 'Release 4711',
    url: 'https://ci.example.org/4711',
    hosts: ['web-1', 'web-2'],
    timestamp: '2026-03-01T09:00:00Z',
  },
];
const BIGPANDA = ['start.ansible.json', 'end-success.ansible.json', 'end-failure.ansible.json'].map((f) =>
  readJson(`../fixtures/bigpanda/${f}`),
);
const CDEVENTS_DIR = new URL('../fixtures/cdevents/', import.meta.url);
const CDEVENTS: Json[] = readdirSync(CDEVENTS_DIR)
  .filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(readFileSync(new URL(f, CDEVENTS_DIR), 'utf8')));
const PIPELINES = ['build-event.json', 'push-event.json', 'pull-request-event.json'].map((f) =>
  readJson(`../fixtures/pipelines/${f}`),
);
// Without owner and name, the repository comes from repo_url.
const { repo_owner: _owner, repo_name: _name, ...BUILD_BY_URL } = PIPELINES[0];
PIPELINES.push(BUILD_BY_URL);
const CDEVENTS_TYPE = (document: Json): string =>
  typeof document?.context?.type === 'string' ? document.context.type : 'dev.cdevents.service.deployed.0.3.0';
const PIPELINES_UPDATES: Json[] = [
  { build_status: 'Running' },
  { build_status: 'Success', build_end: '2026-03-01T10:05:00Z' },
  { release_version: '1.4.2' },
];

/** Authorization headers: mostly the right token, else every way of getting it wrong. */
const bearer: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 8, arbitrary: fc.constant(`Bearer ${TOKEN}`) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      undefined,
      '',
      'Bearer',
      'Bearer ',
      `bearer ${TOKEN}`,
      `Bearer  ${TOKEN}`,
      `Bearer ${TOKEN}x`,
      `Bearer ${TOKEN.slice(0, -1)}`,
      TOKEN,
      `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}`,
      `Bearer ${'x'.repeat(600)}`,
    ),
  },
  { weight: 1, arbitrary: headerValue.map((v) => `Bearer ${v}`) },
);

describe('every API route holds up against random and mutated input (property-based)', {
  timeout: FUZZ_TEST_TIMEOUT_MS,
}, () => {
  let h: Harness;
  let api: ReturnType<typeof createApi>;
  let send: RouteChecker['send'];
  let expectBothOutcomes: RouteChecker['expectBothOutcomes'];

  beforeAll(async () => {
    h = await createHarness({
      config: {
        api: { tokens: [{ name: 'fuzz', secret: 'api-token' }] },
        targets: { console: { type: 'log' } },
        routes: [{ targets: ['console'] }],
      },
      env: { SHIPCAST_SECRET_API_TOKEN: TOKEN },
    });
    const spied = spyOnWrites(h.runtime.api);
    api = createApi(spied.context);
    ({ send, expectBothOutcomes } = routeChecker(h, api, spied.writes));
  });
  afterAll(async () => {
    await h?.stop();
  });

  let unique = 0;
  /**
   * The sweep's documents with the fixture's deployment identity made unique, so each accepted case is its
   * own deployment (hundreds of events on one deployment would make every read back slower than the last).
   */
  const uniquely = (document: Json, fields: Record<string, string>) => {
    if (document === null || typeof document !== 'object' || Array.isArray(document)) return document;
    const copy = { ...document };
    unique++;
    for (const [field, value] of Object.entries(fields))
      if (copy[field] === value) copy[field] = `${value}-${unique}`;
    return copy;
  };

  /** What was accepted can be read back: the deployment (with its timeline) answers without a 5xx. */
  async function readBack(body: unknown) {
    const id = (body as { deploymentId?: string } | undefined)?.deploymentId;
    if (id) await send('get', `/v1/deployments/${id}`, { headers: { authorization: `Bearer ${TOKEN}` } }, id);
  }

  it('POST /v1/events never fails, never half-writes, and rejects with a JSON error', async () => {
    for (const { document, label } of sweepCases(NATIVE)) {
      const unique = uniquely(document, { deploymentId: 'build-4711', version: '1.4.2' });
      const { body } = await send(
        'events',
        '/v1/events',
        { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: toJsonText(unique) },
        label,
      );
      await readBack(body);
    }
    const key = fc.option(
      fc.oneof(fc.constantFrom('replayed-key', 'k'), fc.string({ maxLength: 300 }), fc.uuid()),
      { freq: 2 },
    );
    await fc.assert(
      fc.asyncProperty(
        bodyArb(NATIVE),
        bearer,
        contentType,
        key,
        extraHeaders,
        async (body, auth, type, idempotencyKey, extra) => {
          const headers = headersOf(
            {
              authorization: auth,
              'content-type': type,
              // Header values are Latin-1 without CR, LF or NUL (what fetch, and an HTTP server, carry).
              'idempotency-key': idempotencyKey?.replace(/[^\x20-\xff]/g, '?') ?? undefined,
            },
            extra,
          );
          await send('events', '/v1/events', { method: 'POST', headers, body: body.bytes }, body.label);
        },
      ),
      runs(300),
    );
    expectBothOutcomes('events');
  });

  it('GET /v1/deployments and /v1/deployments/{id} answer 200 or a clear 4xx for any query and id', async () => {
    const listed = await send(
      'list',
      '/v1/deployments?limit=100',
      { headers: { authorization: `Bearer ${TOKEN}` } },
      'seed',
    );
    const cursor = (listed.body as { cursor: string | null }).cursor ?? 'eyJwayI6IngifQ';
    const ids = ((listed.body as { deployments: { id: string }[] }).deployments ?? []).map((d) => d.id);
    const cursorArb = fc.oneof(
      fc.constant(cursor),
      mutationArb.map((m) => {
        let decoded: Json;
        try {
          decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
        } catch {
          decoded = {};
        }
        return Buffer.from(toJsonText(mutate(decoded, m))).toString('base64url');
      }),
      anyString,
    );
    await fc.assert(
      fc.asyncProperty(
        queryArb(
          ['service', 'environment', 'limit', 'cursor'],
          fc.oneof(anyString, cursorArb, fc.constantFrom('0', '1', '100', '101', '-1', '2.5', 'checkout')),
        ),
        bearer,
        extraHeaders,
        fc.oneof(
          fc.constantFrom(...ids, 'dep_000000000000000000000000', 'dep_', '%2e%2e', '..', '%00'),
          fc.stringMatching(/^dep_[0-9a-f]{24}$/),
          anyString.map((s) => safeEncode(s.slice(0, 500))),
        ),
        async (query, auth, extra, id) => {
          const headers = headersOf({ authorization: auth }, extra);
          await send('list', `/v1/deployments${query}`, { headers }, query.slice(0, 200));
          await send('get', `/v1/deployments/${id}${query}`, { headers }, id.slice(0, 200));
        },
      ),
      runs(300),
    );
    expectBothOutcomes('list');
    expectBothOutcomes('get');
  });

  it('GET /healthz, GET /v1/openapi.json and any other method or path never fail', async () => {
    const paths = [
      '/healthz',
      '/v1/openapi.json',
      '/v1/events',
      '/v1/hooks/',
      '/v1/hooks/unknown',
      '/v1/cdevents',
      '/data/events/deployments/start',
      '/acme/apps/checkout/events',
      '/',
      '/v1',
      '/v1/deployments/',
      '//v1/events',
      '/v1/./events',
      '/v1/hooks/%2e%2e/events',
      '/v1/hooks%2Fgithub',
      '/%00',
      '/__proto__',
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.constantFrom(...paths),
          anyString.map((s) => `/${safeEncode(s.slice(0, 300))}`),
        ),
        fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'),
        queryArb(['apiToken', 'limit']),
        extraHeaders,
        bearer,
        async (path, method, query, extra, auth) => {
          const headers = headersOf({ authorization: auth }, extra);
          const body = method === 'GET' || method === 'HEAD' ? undefined : '{}';
          await send('any', `${path}${query}`, { method, headers, body }, `${method} ${path}`);
        },
      ),
      runs(300),
    );
    for (const [path, authorization, status] of [
      ['/healthz', 'x', 200],
      ['/v1/openapi.json', 'x', 401],
      ['/v1/openapi.json', `Bearer ${TOKEN}`, 200],
    ] as const) {
      const response = await api.request(`${path}?x=%ff&__proto__=1`, { headers: { authorization } });
      expect(response.status).toBe(status);
    }
  });

  it('POST /data/events/deployments/start and /end (BigPanda drop-in) hold up', async () => {
    for (const [i, fixture] of BIGPANDA.entries()) {
      const call = i === 0 ? 'start' : 'end';
      for (const { document, label } of sweepCases([fixture])) {
        const { body } = await send(
          'bigpanda',
          `/data/events/deployments/${call}`,
          {
            method: 'POST',
            headers: { authorization: `Bearer ${TOKEN}` },
            body: toJsonText(uniquely(document, { version: '1.3' })),
          },
          label,
        );
        await readBack(body);
      }
    }
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('start', 'end'),
        bodyArb(BIGPANDA),
        bearer,
        contentType,
        extraHeaders,
        async (call, body, auth, type, extra) => {
          const headers = headersOf({ authorization: auth, 'content-type': type }, extra);
          await send(
            'bigpanda',
            `/data/events/deployments/${call}`,
            { method: 'POST', headers, body: body.bytes },
            body.label,
          );
        },
      ),
      runs(300),
    );
    expectBothOutcomes('bigpanda');
  });

  it('POST /v1/cdevents holds up in binary and structured mode, with mutated events and headers', async () => {
    const sweep = ['service_deployed.0.1.1.json', 'pipelinerun_finished.0.2.0.json'].map((f) =>
      JSON.parse(readFileSync(new URL(f, CDEVENTS_DIR), 'utf8')),
    );
    for (const { document, label } of sweepCases(sweep, 4)) {
      const { body } = await send(
        'cdevents',
        '/v1/cdevents',
        {
          method: 'POST',
          headers: {
            authorization: `Bearer ${TOKEN}`,
            'content-type': 'application/cloudevents+json',
          },
          body: toJsonText({
            specversion: '1.0',
            id: label,
            source: '/sweep',
            type: CDEVENTS_TYPE(document),
            data: document,
          }),
        },
        label,
      );
      await readBack(body);
    }
    const ceHeaders = fc.record(
      {
        'ce-specversion': fc.oneof(fc.constant('1.0'), headerValue),
        'ce-id': fc.oneof(fc.uuid(), headerValue),
        'ce-source': fc.oneof(fc.constant('/tekton/fuzz'), headerValue),
        'ce-type': fc.oneof(
          fc.constantFrom(
            'dev.cdevents.service.deployed.0.3.0',
            'dev.cdevents.service.removed.0.1.1',
            'dev.cdevents.pipelinerun.started.0.2.0',
            'dev.cdevents.pipelinerun.finished.0.2.0',
            'dev.cdevents.pipelinerun.queued',
            'dev.cdevents.service.deployed.1.0.0',
            'com.example.other',
          ),
          headerValue,
        ),
        'ce-time': fc.oneof(fc.constant('2026-03-01T10:00:00Z'), headerValue),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        bodyArb(CDEVENTS),
        ceHeaders,
        bearer,
        contentType,
        extraHeaders,
        fc.array(mutationArb, { maxLength: 2 }),
        async (structured, body, ce, auth, type, extra, envelopeMutations) => {
          let bytes = body.bytes;
          let headers: Record<string, string>;
          if (structured) {
            let envelope: Json = {
              specversion: '1.0',
              id: ce['ce-id'] ?? 'id-1',
              source: ce['ce-source'] ?? '/tekton/fuzz',
              type: body.document?.context?.type ?? ce['ce-type'],
              time: ce['ce-time'],
              data: body.document,
            };
            for (const m of envelopeMutations) envelope = mutate(envelope, m);
            bytes = new TextEncoder().encode(toJsonText(envelope));
            headers = headersOf(
              { authorization: auth, 'content-type': type ?? 'application/cloudevents+json' },
              extra,
            );
          } else {
            headers = headersOf(
              {
                authorization: auth,
                'content-type': type,
                'ce-type': body.document?.context?.type,
                ...ce,
              },
              extra,
            );
          }
          await send(
            'cdevents',
            '/v1/cdevents',
            { method: 'POST', headers, body: bytes },
            `${structured ? 'structured' : 'binary'} ${body.label}`,
          );
        },
      ),
      runs(400),
    );
    expectBothOutcomes('cdevents');
  });

  it('the Pipelines routes (PUT …/buildEvent|pushEvent|pullRequestEvent, POST …/{event_id}, GET …/events) hold up', async () => {
    const created = await send(
      'pipelines',
      `/acme/apps/checkout/events/buildEvent?apiToken=${TOKEN}`,
      { method: 'PUT', body: JSON.stringify({ build_status: 'Running', branch: 'main' }) },
      'seed',
    );
    const eventId = (created.body as { event_id: string }).event_id;
    const sweep = PIPELINES.flatMap((fixture) =>
      sweepCases([fixture]).map((c) => ({ ...c, route: 'build_id' in fixture ? 'buildEvent' : 'pushEvent' })),
    );
    for (const { document, label, route } of sweep) {
      const answer = await send(
        'pipelines',
        `/acme/apps/sweep/events/${route}?apiToken=${TOKEN}`,
        { method: 'PUT', body: toJsonText(document) },
        label,
      );
      if (answer.status === 200 && /repo|commit/.test(label)) {
        await send('pipelines', `/acme/apps/sweep/events?apiToken=${TOKEN}&max_results=1`, {}, label);
      }
    }
    for (const { document, label } of sweepCases(PIPELINES_UPDATES)) {
      await send(
        'pipelines',
        `/acme/apps/checkout/events/${eventId}?apiToken=${TOKEN}`,
        { method: 'POST', body: toJsonText(document) },
        label,
      );
    }
    const page = await send(
      'pipelines',
      `/acme/apps/checkout/events?apiToken=${TOKEN}&max_results=1`,
      {},
      'seed',
    );
    const marker = (page.body as { marker?: string }).marker ?? 'eyJ2IjoxfQ';
    const apiToken = fc.oneof(
      { weight: 8, arbitrary: fc.constant(TOKEN) },
      { weight: 2, arbitrary: fc.oneof(fc.constantFrom('', `${TOKEN} `, 'wrong'), headerValue) },
    );
    const segment = fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom('acme', 'checkout') },
      { weight: 1, arbitrary: anyString.map((s) => safeEncode(s.slice(0, 400)) || 'x') },
    );
    const markerArb = fc.oneof(
      fc.constant(marker),
      mutationArb.map((m) => {
        let decoded: Json;
        try {
          decoded = JSON.parse(Buffer.from(marker, 'base64url').toString('utf8'));
        } catch {
          decoded = {};
        }
        return Buffer.from(toJsonText(mutate(decoded, m))).toString('base64url');
      }),
    );
    const listQuery = queryArb(
      ['filter_name', 'filter_branch', 'filter_env', 'filter_event_type', 'max_results', 'marker', 'order'],
      fc.oneof(
        anyString,
        markerArb,
        fc.constantFrom(
          'Branch',
          'Env',
          'EventType',
          'BranchAndEventType',
          'EnvAndBranch',
          'build',
          'deploy',
          'asc',
          'desc',
          '0',
          '10',
          '101',
          'main',
        ),
      ),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('buildEvent', 'pushEvent', 'pullRequestEvent', 'update', 'list'),
        bodyArb(PIPELINES),
        bodyArb(PIPELINES_UPDATES),
        fc.tuple(segment, segment),
        apiToken,
        listQuery,
        fc.oneof(
          fc.constant(eventId),
          fc.constantFrom('pev_unknown', ''),
          anyString.map((s) => safeEncode(s.slice(0, 200))),
        ),
        extraHeaders,
        async (route, body, update, [user, app], token, query, id, extra) => {
          const auth = `apiToken=${safeEncode(token)}`;
          const base = `/${user}/apps/${app}/events`;
          if (route === 'list') {
            const q = query ? `${query}&${auth}` : `?${auth}`;
            await send('pipelines', `${base}${q}`, { headers: extra }, q.slice(0, 200));
          } else if (route === 'update') {
            await send(
              'pipelines',
              `${base}/${id || eventId}?${auth}`,
              { method: 'POST', headers: extra, body: update.bytes },
              update.label,
            );
          } else {
            await send(
              'pipelines',
              `${base}/${route}?${auth}`,
              { method: 'PUT', headers: extra, body: body.bytes },
              body.label,
            );
          }
        },
      ),
      runs(500),
    );
    expectBothOutcomes('pipelines');
  });
});
