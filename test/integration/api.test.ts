import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createApi, MAX_BODY_BYTES } from '../../functions/core/api/app.ts';
import { createRareRoutes } from '../../functions/core/api/rare-routes-app.ts';
import { deploymentIdFor } from '../../functions/core/ids.ts';
import type { StoredEvent } from '../../functions/core/schema.ts';
import { createHarness, type Harness } from '../support/harness.ts';
import { startTargetServer, type TargetServer } from '../support/target-server.ts';

const TOKEN = 'test-token-123456';

type Json = Record<string, unknown>;

describe('HTTP API', () => {
  let h: Harness;
  let hooks: TargetServer;
  let api: ReturnType<typeof createApi>;
  let seq = 0;

  beforeAll(async () => {
    hooks = await startTargetServer();
    h = await createHarness({
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: {
          console: { type: 'log' },
          hook: { type: 'webhook', url: `${hooks.url}/deploys` },
        },
        routes: [{ targets: ['console', 'hook'] }],
      },
      env: { SHIPCAST_SECRET_API_TOKEN: TOKEN },
    });
    api = createApi(h.runtime.api);
  });
  afterAll(async () => {
    await h?.stop();
    await hooks?.stop();
  });
  beforeEach(() => {
    h.clock.advance(1000);
  });

  const auth = { authorization: `Bearer ${TOKEN}` };

  /** POST /v1/events with the token; `body` is sent as JSON unless it is a string. */
  const post = (body: unknown, headers: Record<string, string> = {}) =>
    api.request('/v1/events', {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const get = (path: string, headers: Record<string, string> = auth) => api.request(path, { headers });

  /** A valid event body for a fresh deployment unless overridden. */
  const eventBody = (extra: Json = {}) => ({
    service: 'checkout',
    environment: 'production',
    status: 'started',
    version: `1.0.${++seq}`,
    ...extra,
  });

  describe('health and description', () => {
    it('answers /healthz without a token', async () => {
      const response = await api.request('/healthz');
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ status: 'ok' });
    });

    it('serves the OpenAPI document only with a token', async () => {
      const response = await api.request('/v1/openapi.json');
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('Bearer realm="shipcast"');
      expect(await response.json()).toMatchObject({ error: 'unauthorized' });
      expect((await api.request('/v1/openapi.json', { headers: auth })).status).toBe(200);
    });

    it('serves the OpenAPI document describing every route the app serves', async () => {
      const response = await api.request('/v1/openapi.json', { headers: auth });
      expect(response.status).toBe(200);
      const document = (await response.json()) as { openapi: string; paths: Record<string, Json> };
      expect(document.openapi).toMatch(/^3\.1/);

      // The rare routes are served by their own app, which the main app forwards their paths to.
      const rare = createRareRoutes(h.runtime.api) as unknown as typeof api;
      const served = [...api.routes, ...rare.routes]
        .filter((route) => route.method !== 'ALL')
        .map((route) => `${route.method} ${route.path.replace(/:(\w+)/g, '{$1}')}`);
      const documented = Object.entries(document.paths).flatMap(([path, operations]) =>
        Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
      );
      expect(served.length).toBeGreaterThanOrEqual(5);
      expect(documented.sort()).toEqual([...new Set(served)].sort());
    });

    it('marks every /v1 operation as needing the bearer token with its scope, and vendor hooks as verified by their own signature', async () => {
      const document = (await (await api.request('/v1/openapi.json', { headers: auth })).json()) as {
        paths: Record<string, Record<string, { security?: unknown[] }>>;
      };
      for (const [path, operations] of Object.entries(document.paths)) {
        for (const [method, operation] of Object.entries(operations)) {
          const open = path === '/healthz';
          if (path.startsWith('/{username}/apps/{app_name}/events')) {
            // The Pipelines-compatible API also takes its own apiToken query parameter.
            const scope = method === 'get' ? 'pipelines:read' : 'pipelines:write';
            expect(operation.security, `${method} ${path}`).toEqual([
              { pipelinesApiToken: [scope] },
              { bearer: [scope] },
            ]);
            continue;
          }
          if (path.startsWith('/v1/hooks/')) {
            expect(operation.security, `${method} ${path}`).toHaveLength(1);
            expect(operation.security, `${method} ${path}`).not.toContainEqual({ bearer: [] });
            continue;
          }
          const scope =
            path === '/v1/openapi.json'
              ? []
              : path.startsWith('/v1/deployments') && method === 'get'
                ? ['deployments:read']
                : path.startsWith('/v1/deployments')
                  ? ['deployments:write']
                  : path.startsWith('/v1/incidents')
                    ? [method === 'get' ? 'incidents:read' : 'incidents:write']
                    : path.startsWith('/v1/metrics')
                      ? ['metrics:read']
                      : ['events:write'];
          expect(operation.security, `${method} ${path}`).toEqual(open ? undefined : [{ bearer: scope }]);
        }
      }
    });
  });

  describe('authentication', () => {
    it.each([
      ['no authorization header', {}],
      ['an unknown bearer token', { authorization: 'Bearer not-the-token' }],
      ['the token with another scheme', { authorization: `Basic ${TOKEN}` }],
      ['a token that only starts like the real one', { authorization: `Bearer ${TOKEN}x` }],
    ])('answers 401 with www-authenticate for %s', async (_what, headers) => {
      for (const response of [
        await get('/v1/deployments', headers as Record<string, string>),
        await api.request('/v1/events', {
          method: 'POST',
          headers: headers as Record<string, string>,
          body: JSON.stringify(eventBody()),
        }),
      ]) {
        expect(response.status).toBe(401);
        expect(response.headers.get('www-authenticate')).toMatch(/^Bearer /);
        expect(await response.json()).toMatchObject({ error: 'unauthorized' });
      }
    });

    it('stores nothing for an unauthenticated event', async () => {
      const body = eventBody({ deploymentId: 'unauth-1' });
      await api.request('/v1/events', { method: 'POST', body: JSON.stringify(body) });
      const { deployments } = (await (await get('/v1/deployments?limit=100')).json()) as {
        deployments: Json[];
      };
      expect(deployments.some((d) => d.sourceDeploymentId === 'checkout/unauth-1')).toBe(false);
    });
  });

  describe('POST /v1/events', () => {
    it('answers 202 with the event id, deployment id and status, and records the deployment', async () => {
      const body = eventBody({ commit: 'abc1234', actor: 'ana', url: 'https://ci.example/runs/1' });
      const response = await post(body);

      expect(response.status).toBe(202);
      const accepted = (await response.json()) as { eventId: string; deploymentId: string; status: string };
      expect(accepted).toEqual({
        eventId: expect.stringMatching(/^evt_/),
        deploymentId: expect.stringMatching(/^dep_[0-9a-f]{24}$/),
        status: 'in_progress',
      });
      const record = await h.store.getDeployment(accepted.deploymentId);
      expect(record).toMatchObject({
        source: 'native',
        service: 'checkout',
        environment: 'production',
        version: body.version,
        status: 'in_progress',
        sourceStatus: 'started',
        actor: 'ana',
        revision: { commit: 'abc1234' },
      });
      const events = await h.store.listEvents(accepted.deploymentId);
      expect(events.map((e) => e.eventId)).toEqual([accepted.eventId]);
    });

    it('moves the same deployment forward on a later event and reports the new status', async () => {
      const first = eventBody({ deploymentId: 'run-forward' });
      const a = (await (await post(first)).json()) as Json;
      const b = (await (await post({ ...first, status: 'success' })).json()) as Json;

      expect(b.deploymentId).toBe(a.deploymentId);
      expect(b.status).toBe('succeeded');
      const record = await h.store.getDeployment(a.deploymentId as string);
      expect(record?.transitions.map((t) => t.to)).toEqual(['in_progress', 'succeeded']);
    });

    it('completes the enqueue when a keyless request that failed after recording is retried', async () => {
      const body = eventBody();
      // A fault the queue emulator cannot be asked for: the enqueue fails once, after the record was written.
      const enqueue = vi
        .spyOn(h.runtime.api.queue, 'enqueue')
        .mockRejectedValueOnce(new Error('injected: SQS unavailable'));
      const failed = await post(body);
      expect(failed.status).toBe(500);
      enqueue.mockRestore();

      const retried = await post(body);

      expect(retried.status).toBe(202);
      const { deploymentId } = (await retried.json()) as { deploymentId: string };
      expect((await h.store.getDeployment(deploymentId))?.transitions).toHaveLength(1);
      const queued = (await h.dispatchMessages()).filter((m) => m.deploymentId === deploymentId);
      expect(queued.map((m) => m.target).sort()).toEqual(['console', 'hook']);
      await h.drainDispatch();
    });

    it('keeps deployments apart whose names differ only in where a slash falls', async () => {
      const ids = [];
      for (const body of [
        { service: 'a/b', environment: 'c', version: 'd' },
        { service: 'a', environment: 'b/c', version: 'd' },
        { service: 'slashes', deploymentId: 'production/1.0' },
        { service: 'slashes', environment: 'production', version: '1.0' },
      ]) {
        const response = await post({ ...body, status: 'started', environment: body.environment ?? 'any' });
        expect(response.status).toBe(202);
        ids.push(((await response.json()) as { deploymentId: string }).deploymentId);
      }
      expect(new Set(ids).size).toBe(4);
      await h.drainDispatch();
    });

    it('answers 400 with every problem and its field path', async () => {
      const response = await post({
        service: '',
        status: 'exploded',
        url: 'ftp://example.com/x',
        timestamp: 'yesterday',
        hosts: ['ok', ''],
        colour: 'blue',
      });

      expect(response.status).toBe(400);
      const body = (await response.json()) as { error: string; issues: { path: string; message: string }[] };
      expect(body.error).toBe('invalid_request');
      const paths = body.issues.map((i) => i.path).sort();
      expect(paths).toEqual(['colour', 'environment', 'hosts[1]', 'service', 'status', 'timestamp', 'url']);
      const byPath = Object.fromEntries(body.issues.map((i) => [i.path, i.message]));
      expect(byPath.url).toContain('http(s) URL');
      expect(byPath.timestamp).toContain('ISO 8601');
      expect(byPath.status).toContain('succeeded');
      expect(byPath.colour).toContain('unknown field');
    });

    it.each(['constructor', '__proto__', 'toString', 'hasOwnProperty'])(
      'answers 400 for the status %s (a name every object has) and records nothing',
      async (status) => {
        const response = await post({ service: 'proto', environment: 'production', status, version: '1' });

        expect(response.status).toBe(400);
        const body = (await response.json()) as { issues: { path: string; message: string }[] };
        expect(body.issues).toEqual([{ path: 'status', message: expect.stringContaining('must be one of') }]);
        expect(await h.store.getDeployment(deploymentIdFor('native', 'proto/production/1'))).toBeUndefined();
      },
    );

    it('answers 400 for a body that is not JSON, and for JSON that is not an object', async () => {
      const notJson = await post('{"service": "checkout",');
      expect(notJson.status).toBe(400);
      expect(await notJson.json()).toMatchObject({
        error: 'invalid_request',
        issues: [{ path: '', message: expect.stringContaining('not valid JSON') }],
      });

      const array = await post('[1,2]');
      expect(array.status).toBe(400);
    });

    it.each([
      ['an invalid byte', Buffer.from([0xff])],
      ['an overlong encoding of "/"', Buffer.from([0xc0, 0xaf])],
      ['a UTF-8 encoded surrogate', Buffer.from([0xed, 0xa0, 0x80])],
    ])(
      'answers 400 for a body with %s instead of replacing it with U+FFFD, and records nothing',
      async (_what, bad) => {
        const version = `utf8-${++seq}`;
        const json = JSON.stringify(eventBody({ version, description: 'BAD' }));
        const [before, after] = json.split('BAD') as [string, string];
        const body = Buffer.concat([Buffer.from(before), bad, Buffer.from(after)]);

        const response = await api.request('/v1/events', {
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/json' },
          body,
        });

        expect(response.status).toBe(400);
        expect(await response.json()).toMatchObject({
          error: 'invalid_request',
          issues: [{ path: '', message: expect.stringContaining('not valid UTF-8') }],
        });
        expect(
          await h.store.getDeployment(deploymentIdFor('native', `checkout/production/${version}`)),
        ).toBeUndefined();
      },
    );

    it.each([
      ['a CR/LF', 'acme/shop\r\nX-Injected: yes'],
      ['a .. segment', 'acme/../shop'],
      ['a .. segment in a URL', 'https://github.com/acme/../../shop'],
      ['a space', 'acme/my shop'],
      ['characters no forge allows', 'acme/<shop>'],
      ['no owner', 'shop'],
    ])(
      'answers 400 naming repository for a repository with %s, and records nothing',
      async (_what, repository) => {
        const version = `repo-${++seq}`;
        const response = await post(eventBody({ version, repository }));

        expect(response.status).toBe(400);
        const body = (await response.json()) as { issues: { path: string; message: string }[] };
        expect(body.issues).toEqual([{ path: 'repository', message: expect.stringContaining('owner/name') }]);
        expect(
          await h.store.getDeployment(deploymentIdFor('native', `checkout/production/${version}`)),
        ).toBeUndefined();
      },
    );

    it.each([
      'acme/shop',
      'group/subgroup/shop',
      'https://github.com/acme/shop.git',
      'git@gitlab.com:group/sub/shop.git',
    ])('accepts the repository %s', async (repository) => {
      expect((await post(eventBody({ repository }))).status).toBe(202);
      await h.drainDispatch();
    });

    it('records, answers and sends a repository URL without the credentials it carried', async () => {
      await h.drainDispatch();
      const token = 'ghs_16C7e42F292c6912E7710c838347Ae178B4a';
      const response = await post(
        eventBody({ repository: `https://x-access-token:${token}@github.com/acme/shop.git` }),
      );
      expect(response.status).toBe(202);
      const { deploymentId } = (await response.json()) as { deploymentId: string };
      await h.drainDispatch();

      const stored = await h.store.getDeployment(deploymentId);
      expect(stored?.revision?.repository).toBe('https://github.com/acme/shop.git');
      const detail = await (await get(`/v1/deployments/${deploymentId}`)).text();
      expect(detail).toContain('https://github.com/acme/shop.git');
      const list = await (await get('/v1/deployments?service=checkout&limit=100')).text();
      const sent = hooks.requests.filter((r) =>
        r.headers['shipcast-delivery']?.toString().startsWith(deploymentId),
      );
      expect(sent.length).toBe(1);
      for (const text of [JSON.stringify(stored), detail, list, sent[0]?.body ?? '']) {
        expect(text).not.toContain(token);
        expect(text).not.toContain('x-access-token');
      }
    });

    it('answers 400 naming Idempotency-Key for an event without deploymentId, version or commit and without a key, and records nothing', async () => {
      const body = { service: 'keyless', environment: `env-${++seq}`, status: 'started' };

      const response = await post(body);

      expect(response.status).toBe(400);
      const answer = (await response.json()) as {
        message: string;
        issues: { path: string; message: string }[];
      };
      expect(answer.issues).toEqual([
        { path: 'Idempotency-Key', message: expect.stringContaining('deploymentId, version or commit') },
      ]);
      const { deployments } = (await (await get('/v1/deployments?service=keyless&limit=100')).json()) as {
        deployments: Json[];
      };
      expect(deployments).toEqual([]);
    });

    it('records an identity-less event with an Idempotency-Key once, however often it is sent', async () => {
      const body = { service: 'keyless', environment: `env-${++seq}`, status: 'started' };
      const key = `keyless-${seq}`;

      const answers: Json[] = [];
      for (let i = 0; i < 2; i++)
        answers.push((await (await post(body, { 'idempotency-key': key })).json()) as Json);

      expect(answers[1]).toEqual(answers[0]);
      const { deployments } = (await (
        await get(`/v1/deployments?service=keyless&environment=${body.environment}`)
      ).json()) as { deployments: Json[] };
      expect(deployments).toHaveLength(1);
      const queued = (await h.dispatchMessages()).filter((m) => m.deploymentId === answers[0]?.deploymentId);
      expect(queued.map((m) => m.target).sort()).toEqual(['console', 'hook']);
      await h.drainDispatch();
    });

    it("takes a Shipcast deployment id sent back in deploymentId as that deployment, not as the caller's own id", async () => {
      const first = (await (await post(eventBody({ deploymentId: `run-${++seq}` }))).json()) as Json;

      const response = await post({
        service: 'checkout',
        environment: 'production',
        status: 'succeeded',
        deploymentId: first.deploymentId,
      });

      expect(response.status).toBe(202);
      const second = (await response.json()) as Json;
      expect(second.deploymentId).toBe(first.deploymentId);
      expect(second.status).toBe('succeeded');
      const record = await h.store.getDeployment(first.deploymentId as string);
      expect(record?.transitions.map((t) => t.to)).toEqual(['in_progress', 'succeeded']);
      expect(
        await h.store.getDeployment(deploymentIdFor('native', `checkout/${first.deploymentId}`)),
      ).toBeUndefined();
      await h.drainDispatch();
    });

    it('answers 400 naming deploymentId for a Shipcast id of no deployment, or of another service, and records nothing', async () => {
      const first = (await (await post(eventBody({ deploymentId: `run-${++seq}` }))).json()) as Json;
      const unknown = deploymentIdFor('native', `nothing-${seq}`);

      const missing = await post({
        service: 'checkout',
        environment: 'production',
        status: 'failed',
        deploymentId: unknown,
      });
      const elsewhere = await post({
        service: 'billing',
        environment: 'production',
        status: 'failed',
        deploymentId: first.deploymentId,
      });

      for (const [response, text] of [
        [missing, 'no such deployment'],
        [elsewhere, 'not billing in production'],
      ] as const) {
        expect(response.status).toBe(400);
        const body = (await response.json()) as { issues: { path: string; message: string }[] };
        expect(body.issues).toEqual([{ path: 'deploymentId', message: expect.stringContaining(text) }]);
      }
      expect(await h.store.getDeployment(unknown)).toBeUndefined();
      expect(await h.store.getDeployment(deploymentIdFor('native', `checkout/${unknown}`))).toBeUndefined();
      expect((await h.store.getDeployment(first.deploymentId as string))?.status).toBe('in_progress');
      await h.drainDispatch();
    });

    it('accepts a body just under 64 KiB', async () => {
      const body = JSON.stringify(
        eventBody({ hosts: Array.from({ length: 240 }, (_, i) => `${i}`.padEnd(255, 'h')) }),
      );
      expect(body.length).toBeGreaterThan(60 * 1024);
      expect(body.length).toBeLessThan(MAX_BODY_BYTES);

      expect((await post(body)).status).toBe(202);
    });

    it('answers 413 for a body over 64 KiB without recording anything', async () => {
      const body = JSON.stringify(
        eventBody({ deploymentId: 'too-big', description: 'x'.repeat(MAX_BODY_BYTES) }),
      );
      expect(body.length).toBeGreaterThan(64 * 1024);

      const response = await post(body);

      expect(response.status).toBe(413);
      expect(await response.json()).toMatchObject({ error: 'payload_too_large' });
      const list = (await (await get('/v1/deployments?limit=100')).json()) as { deployments: Json[] };
      expect(list.deployments.some((d) => d.sourceDeploymentId === 'checkout/too-big')).toBe(false);
    });

    it('answers 413 for a body over 64 KiB sent without a content-length', async () => {
      const body = JSON.stringify(eventBody({ description: 'x'.repeat(MAX_BODY_BYTES) }));
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(body));
          controller.close();
        },
      });
      const response = await api.request('/v1/events', {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: stream,
        duplex: 'half',
      } as RequestInit);

      expect(response.status).toBe(413);
    });

    describe('Idempotency-Key', () => {
      it('replays the identical answer for the same key and body, changing nothing', async () => {
        const body = eventBody({ deploymentId: 'idem-1' });
        const first = await post(body, { 'idempotency-key': 'release-idem-1' });
        const firstText = await first.text();
        expect(first.status).toBe(202);
        expect(first.headers.get('idempotent-replayed')).toBeNull();
        const { deploymentId } = JSON.parse(firstText) as { deploymentId: string };
        const before = await h.store.getDeployment(deploymentId);
        const eventsBefore = await h.store.listEvents(deploymentId);

        h.clock.advance(5_000);
        const again = await post(body, { 'idempotency-key': 'release-idem-1' });

        expect(again.status).toBe(202);
        expect(again.headers.get('idempotent-replayed')).toBe('true');
        expect(await again.text()).toBe(firstText);
        const after = await h.store.getDeployment(deploymentId);
        expect(after).toEqual(before);
        expect(after?.transitions).toHaveLength(1);
        expect(await h.store.listEvents(deploymentId)).toHaveLength(eventsBefore.length);
      });

      it('replays the original answer even after the deployment moved on', async () => {
        const body = eventBody({ deploymentId: 'idem-2' });
        const first = await (await post(body, { 'idempotency-key': 'idem-2-start' })).json();
        await post({ ...body, status: 'failed' });

        const replay = await post(body, { 'idempotency-key': 'idem-2-start' });

        expect(await replay.json()).toEqual(first);
        const record = await h.store.getDeployment((first as Json).deploymentId as string);
        expect(record?.status).toBe('failed');
        expect(record?.transitions.map((t) => t.to)).toEqual(['in_progress', 'failed']);
      });

      it('applies a key used again after its window for another event: a new event, not the old one', async () => {
        const body = eventBody({ deploymentId: 'idem-expired' });
        const first = (await (await post(body, { 'idempotency-key': 'idem-expired' })).json()) as Json;
        h.clock.advance((24 + 1) * 3600_000);

        const later = await post({ ...body, status: 'success' }, { 'idempotency-key': 'idem-expired' });

        expect(later.status).toBe(202);
        const answer = (await later.json()) as Json;
        expect(answer).toMatchObject({ deploymentId: first.deploymentId, status: 'succeeded' });
        expect(answer.eventId).not.toBe(first.eventId);
        const record = await h.store.getDeployment(first.deploymentId as string);
        expect(record?.transitions.map((t) => t.to)).toEqual(['in_progress', 'succeeded']);
      });

      it('answers 422 when the key is reused with a different body, and records nothing new', async () => {
        const body = eventBody({ deploymentId: 'idem-3' });
        const first = (await (await post(body, { 'idempotency-key': 'idem-3' })).json()) as Json;

        const reused = await post({ ...body, status: 'success' }, { 'idempotency-key': 'idem-3' });

        expect(reused.status).toBe(422);
        expect(await reused.json()).toMatchObject({ error: 'idempotency_key_reused' });
        const record = await h.store.getDeployment(first.deploymentId as string);
        expect(record?.status).toBe('in_progress');
        expect(await h.store.listEvents(first.deploymentId as string)).toHaveLength(1);
      });

      it('applies one body when requests with the same key and different bodies race, answering the others 422 or its answer', async () => {
        // Every request reads the key before any claims it: a barrier in front of the store's read.
        const racers = 8;
        let arrived = 0;
        let release: () => void = () => {};
        const barrier = new Promise<void>((resolve) => {
          release = resolve;
        });
        const store = new Proxy(h.store, {
          get(target, property, receiver) {
            const value = Reflect.get(target, property, receiver);
            if (property !== 'getIdempotent') return typeof value === 'function' ? value.bind(target) : value;
            return async (...args: [string, string]) => {
              const found = await target.getIdempotent(...args);
              if (++arrived === racers) release();
              await barrier;
              return found;
            };
          },
        });
        const racing = createApi({ ...h.runtime.api, store });
        const bodies = [
          eventBody({ service: 'race-a', deploymentId: 'race-1' }),
          eventBody({ service: 'race-b', deploymentId: 'race-1' }),
        ];

        const answers = await Promise.all(
          Array.from({ length: racers }, async (_, i) => {
            const response = await racing.request('/v1/events', {
              method: 'POST',
              headers: { ...auth, 'content-type': 'application/json', 'idempotency-key': 'race-key-1' },
              body: JSON.stringify(bodies[i % 2]),
            });
            return { body: i % 2, status: response.status, json: (await response.json()) as Json };
          }),
        );

        const accepted = answers.filter((a) => a.status === 202);
        const winner = accepted[0]?.body;
        expect(accepted.length).toBeGreaterThan(0);
        expect(new Set(accepted.map((a) => a.body))).toEqual(new Set([winner]));
        expect(new Set(accepted.map((a) => a.json.deploymentId)).size).toBe(1);
        expect(answers.filter((a) => a.body !== winner).map((a) => a.status)).toEqual([422, 422, 422, 422]);
        const applied = await Promise.all(
          ['race-a', 'race-b'].map(
            async (service) => (await h.store.listDeployments({ service, limit: 10 })).items,
          ),
        );
        expect(applied.map((items) => items.length).sort()).toEqual([0, 1]);
        const [deployment] = applied.flat();
        expect(deployment?.id).toBe(accepted[0]?.json.deploymentId);
        expect(await h.store.listEvents(deployment!.id)).toHaveLength(1);
      });

      it('goes on with a key whose request died before answering, for the same body only', async () => {
        const body = eventBody({ deploymentId: 'idem-orphan' });
        const text = JSON.stringify(body);
        // A request claimed the key and crashed before it recorded anything or answered.
        const { stableHash } = await import('../../functions/core/ids.ts');
        await h.store.claimIdempotent('native:ci', 'orphan-key', stableHash(text), 3600);

        const other = await post({ ...body, status: 'success' }, { 'idempotency-key': 'orphan-key' });
        const retried = await post(text, { 'idempotency-key': 'orphan-key' });
        const replayed = await post(text, { 'idempotency-key': 'orphan-key' });

        expect(other.status).toBe(422);
        expect(retried.status).toBe(202);
        const answer = (await retried.json()) as Json;
        expect(await h.store.getDeployment(answer.deploymentId as string)).toMatchObject({
          status: 'in_progress',
        });
        expect(replayed.headers.get('idempotent-replayed')).toBe('true');
        expect(await replayed.json()).toEqual(answer);
      });

      it.each([
        ['with a space', 'has space'],
        ['too long', 'k'.repeat(256)],
        ['empty', ''],
      ])('answers 400 for a key %s', async (_what, key) => {
        const response = await post(eventBody({ deploymentId: `bad-key-${_what}` }), {
          'idempotency-key': key,
        });
        expect(response.status).toBe(400);
        expect(await response.json()).toMatchObject({ issues: [{ path: 'Idempotency-Key' }] });
      });
    });
  });

  describe('GET /v1/deployments', () => {
    /** Creates a deployment of `service`/`environment`, a second apart; returns its id. */
    const create = async (service: string, environment: string) => {
      h.clock.advance(1000);
      const response = await post({ service, environment, status: 'queued', version: `v${++seq}` });
      expect(response.status).toBe(202);
      return ((await response.json()) as { deploymentId: string }).deploymentId;
    };
    const list = async (query: string) => {
      const response = await get(`/v1/deployments?${query}`);
      expect(response.status).toBe(200);
      return (await response.json()) as {
        deployments: { id: string; service: string; environment: string }[];
        cursor: string | null;
      };
    };

    it('filters by service and environment, newest first', async () => {
      const a1 = await create('list-a', 'staging');
      const b1 = await create('list-b', 'staging');
      const a2 = await create('list-a', 'production');
      const a3 = await create('list-a', 'staging');

      expect((await list('service=list-a')).deployments.map((d) => d.id)).toEqual([a3, a2, a1]);
      expect((await list('service=list-a&environment=staging')).deployments.map((d) => d.id)).toEqual([
        a3,
        a1,
      ]);
      const staging = (await list('environment=staging&limit=100')).deployments;
      expect(staging.every((d) => d.environment === 'staging')).toBe(true);
      expect(staging.map((d) => d.id).filter((id) => [a1, b1, a3].includes(id))).toEqual([a3, b1, a1]);
      expect((await list('service=list-a&environment=production')).deployments).toMatchObject([
        { id: a2, service: 'list-a', environment: 'production' },
      ]);
    });

    it.each([
      [
        'a service',
        (n: number) => ({ service: `paged-${n}`, environment: 'qa', query: `service=paged-${n}` }),
      ],
      [
        'a service and environment',
        (n: number) => ({
          service: `paged-${n}`,
          environment: 'qa',
          query: `service=paged-${n}&environment=qa`,
        }),
      ],
      [
        'an environment-only (filtered)',
        (n: number) => ({ service: `paged-${n}`, environment: `qa-${n}`, query: `environment=qa-${n}` }),
      ],
    ])('pages through %s listing with the cursor, without duplicates or gaps', async (_what, shape) => {
      const { service, environment, query } = shape(++seq);
      const created: string[] = [];
      for (let i = 0; i < 7; i++) {
        created.push(await create(service, environment));
        // Noise that must not appear in the filtered pages.
        if (i % 3 === 0) await create(`${service}-other`, `${environment}-other`);
      }

      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page = await list(`${query}&limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        expect(page.deployments.length).toBeLessThanOrEqual(3);
        seen.push(...page.deployments.map((d) => d.id));
        cursor = page.cursor;
        pages++;
        expect(pages).toBeLessThan(10);
      } while (cursor !== null);

      expect(seen).toEqual([...created].reverse());
      expect(pages).toBeGreaterThanOrEqual(3);
    });

    it('filters by status, source and creation time, and pages through the filtered listing with the cursor', async () => {
      const service = `filtered-${++seq}`;
      const created = async (status: string) => {
        h.clock.advance(1000);
        const response = await post({ service, environment: 'qa', status, version: `v${++seq}` });
        expect(response.status).toBe(202);
        return ((await response.json()) as { deploymentId: string }).deploymentId;
      };
      const early = await created('failed');
      const from = new Date(h.clock.now().getTime() + 500).toISOString();
      const failed: string[] = [];
      for (let i = 0; i < 7; i++) {
        failed.push(await created('failed'));
        await created('succeeded');
      }
      const to = new Date(h.clock.now().getTime() + 500).toISOString();
      const late = await created('failed');

      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const query = `environment=qa&status=failed&source=native&from=${from}&to=${to}&limit=3`;
        const page = await list(`${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        expect(page.deployments.length).toBeLessThanOrEqual(3);
        seen.push(...page.deployments.filter((d) => d.service === service).map((d) => d.id));
        cursor = page.cursor;
        expect(++pages).toBeLessThan(20);
      } while (cursor !== null);

      expect(seen).toEqual([...failed].reverse());
      expect(seen).not.toContain(early);
      expect(seen).not.toContain(late);
      const bySource = await list(`service=${service}&source=codedeploy`);
      expect(bySource.deployments).toEqual([]);
      const byStatus = (await list(`service=${service}&status=succeeded&limit=100`)).deployments;
      expect(byStatus).toHaveLength(7);
      expect(byStatus.every((d) => (d as unknown as Json).status === 'succeeded')).toBe(true);
      const since = (await list(`service=${service}&from=${to}`)).deployments.map((d) => d.id);
      expect(since).toEqual([late]);
    });

    it.each([
      ['status=done', 'status'],
      ['source=', 'source'],
      [`source=${'s'.repeat(65)}`, 'source'],
      ['from=yesterday', 'from'],
      ['to=2026-13-01T00:00:00Z', 'to'],
      ['from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z', 'from'],
    ])('answers 400 naming the parameter for %s', async (query, path) => {
      const response = await get(`/v1/deployments?${query}`);
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ issues: [{ path }] });
    });

    it('answers 400 for an invalid cursor', async () => {
      for (const cursor of [
        'not-a-cursor',
        Buffer.from('{"evil":1}').toString('base64url'),
        Buffer.from('[1]').toString('base64url'),
      ]) {
        const response = await get(`/v1/deployments?cursor=${cursor}`);
        expect(response.status, cursor).toBe(400);
        expect(await response.json()).toMatchObject({ issues: [{ path: 'cursor' }] });
      }
    });

    it('answers 400 for an unknown query parameter or a bad limit', async () => {
      const unknown = await get('/v1/deployments?servce=checkout');
      expect(unknown.status).toBe(400);
      expect(await unknown.json()).toMatchObject({ issues: [{ path: 'servce' }] });

      for (const limit of ['0', '101', 'ten']) {
        const response = await get(`/v1/deployments?limit=${limit}`);
        expect(response.status, limit).toBe(400);
        expect(await response.json()).toMatchObject({ issues: [{ path: 'limit' }] });
      }
    });

    it('never shows storage internals', async () => {
      await create('internals', 'prod');
      const [deployment] = (await list('service=internals')).deployments as unknown as Json[];
      for (const key of ['rev', 'pk', 'sk', 'gsi1pk', 'gsi3sk', 'type'])
        expect(deployment).not.toHaveProperty(key);
    });
  });

  describe('GET /v1/deployments/{id}', () => {
    it('returns the record, its event history and each routed target delivery state', async () => {
      const body = eventBody({ deploymentId: 'detail-1' });
      const started = (await (await post(body)).json()) as { deploymentId: string; eventId: string };
      h.clock.advance(1000);
      const done = (await (await post({ ...body, status: 'success' })).json()) as { eventId: string };
      h.clock.advance(1000);
      const late = (await (await post({ ...body, status: 'running' })).json()) as { eventId: string };

      const response = await get(`/v1/deployments/${started.deploymentId}`);
      expect(response.status).toBe(200);
      const detail = (await response.json()) as {
        deployment: Json & { transitions: unknown[] };
        events: StoredEvent[];
        deliveries: Json[];
      };
      expect(detail.deployment).toMatchObject({ id: started.deploymentId, status: 'succeeded' });
      expect(detail.deployment).not.toHaveProperty('rev');
      expect(detail.deployment.transitions).toHaveLength(2);
      expect(detail.events.map((e) => [e.eventId, e.disposition])).toEqual([
        [started.eventId, 'applied'],
        [done.eventId, 'applied'],
        [late.eventId, 'stale'],
      ]);
      expect(detail.deliveries).toEqual([
        expect.objectContaining({
          target: 'console',
          state: 'pending',
          latestSeq: 2,
          deliveredSeq: 0,
          attempts: 0,
        }),
        expect.objectContaining({
          target: 'hook',
          state: 'pending',
          latestSeq: 2,
          deliveredSeq: 0,
          attempts: 0,
        }),
      ]);

      await h.drainDispatch();

      const after = (await (await get(`/v1/deployments/${started.deploymentId}`)).json()) as {
        deliveries: Json[];
      };
      expect(after.deliveries).toEqual([
        expect.objectContaining({
          target: 'console',
          state: 'delivered',
          deliveredSeq: 2,
          deliveredStatus: 'succeeded',
          lastError: null,
        }),
        expect.objectContaining({
          target: 'hook',
          state: 'delivered',
          deliveredSeq: 2,
          deliveredStatus: 'succeeded',
          lastError: null,
        }),
      ]);
      const sent = hooks.requests.filter((r) =>
        r.headers['shipcast-delivery']?.toString().startsWith(started.deploymentId),
      );
      expect(sent.length).toBeGreaterThanOrEqual(1);
      expect(sent.at(-1)?.json()).toMatchObject({ transition: { seq: 2, to: 'succeeded' } });
    });

    it('shows a failing target as retrying with its last error', async () => {
      await h.drainDispatch();
      hooks.fallback = () => ({ status: 503, body: 'maintenance' });
      try {
        const { deploymentId } = (await (await post(eventBody({ deploymentId: 'detail-2' }))).json()) as {
          deploymentId: string;
        };
        const batch = await h.receiveDispatch();
        expect(batch.map((m) => JSON.parse(m.body).deploymentId)).toEqual([deploymentId, deploymentId]);
        const { dispatchBatch } = await import('../../functions/core/dispatch.ts');
        await dispatchBatch(batch, h.runtime.dispatch);

        const detail = (await (await get(`/v1/deployments/${deploymentId}`)).json()) as {
          deliveries: Json[];
        };
        expect(detail.deliveries).toEqual([
          expect.objectContaining({ target: 'console', state: 'delivered' }),
          expect.objectContaining({
            target: 'hook',
            state: 'retrying',
            attempts: 1,
            lastError: expect.stringContaining('503'),
          }),
        ]);
      } finally {
        hooks.fallback = () => ({ status: 200, body: { ok: true } });
      }
    });

    it('answers 404 for an unknown id and for something that is not an id', async () => {
      for (const id of ['dep_000000000000000000000000', 'nope', 'dep_XYZ']) {
        const response = await get(`/v1/deployments/${id}`);
        expect(response.status, id).toBe(404);
        expect(await response.json()).toMatchObject({ error: 'not_found' });
      }
    });

    it('answers 401 without a token', async () => {
      const response = await get('/v1/deployments/dep_000000000000000000000000', {});
      expect(response.status).toBe(401);
    });
  });
});

describe('HTTP API with a token whose secret is missing', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness({
      config: {
        api: {
          tokens: [
            { name: 'lost', secret: 'never-set' },
            { name: 'ci', secret: 'api-token' },
          ],
        },
        targets: { console: { type: 'log' } },
        routes: [{ targets: ['console'] }],
      },
      env: { SHIPCAST_SECRET_API_TOKEN: TOKEN },
    });
  });
  afterAll(() => h?.stop());

  it('still lets callers of the other tokens in, and logs which token cannot be read', async () => {
    const api = createApi(h.runtime.api);

    const answer = await api.request('/v1/deployments', { headers: { authorization: `Bearer ${TOKEN}` } });

    expect(answer.status).toBe(200);
    expect(h.logs.entries()).toContainEqual(
      expect.objectContaining({
        level: 'ERROR',
        token: 'lost',
        message: expect.stringContaining('cannot be read'),
      }),
    );
  });
});
