import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApi } from '../../functions/core/api/app.ts';
import { ConcurrentUpdateError } from '../../functions/core/errors.ts';
import { ingestEvents } from '../../functions/core/ingest.ts';
import type { DeploymentStore } from '../../functions/core/ports.ts';
import type { CiEvent, DeploymentEvent } from '../../functions/core/schema.ts';
import { PIPELINES_BUILD_STATUS_TABLE } from '../../functions/core/sources/pipelines.ts';
import { nativeEvent } from '../support/events.ts';
import { createHarness, type Harness } from '../support/harness.ts';

const TOKEN = 'pipelines-token-7c1d2e';

type Json = Record<string, unknown>;
type PipelinesEvent = Record<string, string | number | boolean | null>;
type ListAnswer = { app_name: string; events: PipelinesEvent[]; marker?: string };

const fixture = (name: string): Json =>
  JSON.parse(readFileSync(new URL(`../fixtures/pipelines/${name}`, import.meta.url), 'utf8')) as Json;
const BUILD = fixture('build-event.json');
const PUSH = fixture('push-event.json');
const PULL_REQUEST = fixture('pull-request-event.json');

describe('Pipelines-compatible events API', () => {
  let h: Harness;
  let api: ReturnType<typeof createApi>;
  let apps = 0;
  let deploys = 0;

  beforeAll(async () => {
    h = await createHarness({
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: { console: { type: 'log' } },
        routes: [{ targets: ['console'] }],
      },
      env: { SHIPCAST_SECRET_API_TOKEN: TOKEN },
    });
    api = createApi(h.runtime.api);
  });
  afterAll(async () => {
    await h?.stop();
  });
  beforeEach(() => {
    h.clock.advance(1000);
  });

  /** A fresh app name, so each test sees only its own events. */
  const newApp = () => `checkout-${process.pid}-${++apps}`;

  const put = (app: string, kind: string, body: unknown, query = `apiToken=${TOKEN}`) =>
    api.request(`/acme/apps/${app}/events/${kind}?${query}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const update = (app: string, eventId: string, body: unknown, query = `apiToken=${TOKEN}`, user = 'acme') =>
    api.request(`/${user}/apps/${app}/events/${eventId}?${query}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const list = async (app: string, params: Record<string, string> = {}): Promise<ListAnswer> => {
    const response = await listRaw(app, params);
    expect(response.status).toBe(200);
    return (await response.json()) as ListAnswer;
  };
  const listRaw = (app: string, params: Record<string, string> = {}) =>
    api.request(`/acme/apps/${app}/events?${new URLSearchParams({ apiToken: TOKEN, ...params })}`);

  /** Records a CI event (one second after the previous one) and answers its id. */
  const record = async (app: string, kind: string, body: Json): Promise<string> => {
    h.clock.advance(1000);
    const response = await put(app, kind, body);
    expect(response.status).toBe(200);
    return ((await response.json()) as { event_id: string }).event_id;
  };
  /** Records a Shipcast deployment of the service `app` (one second after the previous event). */
  const deploy = async (
    app: string,
    extra: Partial<DeploymentEvent> = {},
    status: DeploymentEvent['status'] = 'succeeded',
  ): Promise<string> => {
    h.clock.advance(1000);
    const event = nativeEvent(`pipelines-${process.pid}-${++deploys}`, status, { service: app, ...extra });
    await ingestEvents([event], h.runtime.api);
    return event.deploymentId;
  };
  const stored = (eventId: string) => h.store.getCiEvent(eventId);

  describe('creating events', () => {
    it('records a build from the documented example and answers 200 with its event_id', async () => {
      const app = newApp();
      const response = await put(app, 'buildEvent', BUILD);
      expect(response.status).toBe(200);
      const body = (await response.json()) as Json;
      expect(Object.keys(body)).toEqual(['event_id']);
      const event = (await stored(body.event_id as string)) as CiEvent;
      expect(event).toMatchObject({
        source: 'pipelines',
        type: 'BUILD',
        username: 'acme',
        app,
        repository: 'acme/checkout',
        commit: '9fceb02d0ae598e95dc970b74767f19372d61af8',
        branch: 'main',
        parentEventId: '311',
        status: 'running',
        sourceStatus: 'Running',
        final: false,
        eventTime: h.clock.now().toISOString(),
      });
      expect(event.fields).toEqual(BUILD);
    });

    it.each([
      ['pushEvent', 'PUSH', PUSH],
      ['pullRequestEvent', 'PULLREQUEST', PULL_REQUEST],
    ])('records a %s as a %s event keyed by repository and commit', async (kind, type, body) => {
      const app = newApp();
      const eventId = await record(app, kind, body);
      expect(await stored(eventId)).toMatchObject({
        type,
        app,
        repository: 'acme/checkout',
        commit: '9fceb02d0ae598e95dc970b74767f19372d61af8',
        fields: body,
      });
    });

    it.each(
      Object.entries(PIPELINES_BUILD_STATUS_TABLE).flatMap(([word, status]) => [
        [word, status],
        [word.toLowerCase(), status],
        [word.toUpperCase(), status],
      ]),
    )('maps build_status %s to %s and keeps the word as sent', async (word, status) => {
      const app = newApp();
      const eventId = await record(app, 'buildEvent', { build_status: word });
      const event = (await stored(eventId)) as CiEvent;
      expect(event.status).toBe(status);
      expect(event.sourceStatus).toBe(word);
      expect(event.final).toBe(['succeeded', 'failed', 'timed_out', 'cancelled'].includes(status));
    });

    it('accepts build and repository providers in any case, and null as "not given"', async () => {
      const app = newApp();
      const eventId = await record(app, 'buildEvent', {
        build_provider: 'jenkins',
        repo_provider: 'GitHub',
        auto_build: true,
        branch: null,
      });
      expect((await stored(eventId))?.fields).toEqual({
        build_provider: 'jenkins',
        repo_provider: 'GitHub',
        auto_build: true,
      });
    });

    it('takes the repository from repo_url when owner and name are missing', async () => {
      const app = newApp();
      const eventId = await record(app, 'pushEvent', {
        repo_url: 'https://gitlab.com/Acme/Platform/Checkout.git',
        commit_id: 'abc123',
      });
      expect((await stored(eventId))?.repository).toBe('acme/platform/checkout');
    });

    it('keeps repo_url without the credentials it carried', async () => {
      const app = newApp();
      const eventId = await record(app, 'pushEvent', {
        repo_url: 'https://oauth2:glpat-Zq8xT3vNw5yKp2Lm7Rc4@gitlab.com/acme/checkout.git',
        commit_id: 'abc124',
      });
      const event = await stored(eventId);
      expect(event?.fields?.repo_url).toBe('https://gitlab.com/acme/checkout.git');
      expect(JSON.stringify(event)).not.toContain('glpat-');
    });
  });

  describe('authentication', () => {
    it.each([
      ['no apiToken', ''],
      ['an unknown apiToken', 'apiToken=not-the-token'],
      ['a token that only starts like the real one', `apiToken=${TOKEN}x`],
      ['an empty apiToken', 'apiToken='],
    ])('answers 401 to every route with %s and stores nothing', async (_what, query) => {
      const app = newApp();
      const existing = await record(app, 'buildEvent', { build_status: 'Running' });
      const before = await stored(existing);
      const responses = [
        await put(app, 'buildEvent', BUILD, query),
        await put(app, 'pushEvent', PUSH, query),
        await put(app, 'pullRequestEvent', PULL_REQUEST, query),
        await update(app, existing, { build_status: 'Success' }, query),
        await api.request(`/acme/apps/${app}/events?${query}`),
      ];
      for (const response of responses) {
        expect(response.status).toBe(401);
        expect(((await response.json()) as Json).error).toBe('unauthorized');
      }
      expect((await list(app)).events.map((e) => e.event_id)).toEqual([existing]);
      expect(await stored(existing)).toEqual(before);
    });

    it('accepts the token as a bearer header instead of the apiToken parameter (it then stays out of URLs)', async () => {
      const app = newApp();
      const response = await api.request(`/acme/apps/${app}/events/pushEvent`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(PUSH),
      });
      expect(response.status).toBe(200);
      expect((await list(app)).events).toHaveLength(1);
    });
  });

  describe('invalid requests', () => {
    it.each([
      ['an unknown field', 'buildEvent', { ...BUILD, colour: 'blue' }, 'colour', /unknown field/],
      [
        'a build field on a push',
        'pushEvent',
        { ...PUSH, build_status: 'Running' },
        'build_status',
        /unknown/,
      ],
      [
        'a parent on a pull request',
        'pullRequestEvent',
        { parent_event_id: 'x' },
        'parent_event_id',
        /unknown/,
      ],
      ['a non-boolean auto_build', 'buildEvent', { auto_build: 'yes' }, 'auto_build', /true or false/],
      ['a number for a string field', 'pushEvent', { commit_id: 42 }, 'commit_id', /string/],
      [
        'an impossible date',
        'buildEvent',
        { build_start: '2024-13-01T10:00:00Z' },
        'build_start',
        /ISO 8601/,
      ],
      ['a date without time', 'buildEvent', { build_end: '2024-03-01' }, 'build_end', /ISO 8601/],
      ['an unknown build status', 'buildEvent', { build_status: 'Done' }, 'build_status', /Success/],
      ['an unknown build provider', 'buildEvent', { build_provider: 'Bamboo' }, 'build_provider', /Jenkins/],
      ['an unknown repository provider', 'pushEvent', { repo_provider: 'svn' }, 'repo_provider', /github/],
      ['a build_url that is not http(s)', 'buildEvent', { build_url: 'ftp://x/1' }, 'build_url', /http/],
      ['an empty branch', 'pushEvent', { branch: '' }, 'branch', /empty/],
      ['a body that is not an object', 'pushEvent', ['x'], '', /object/],
    ])('answers 400 naming the path for %s, storing nothing', async (_what, kind, body, path, message) => {
      const app = newApp();
      const response = await put(app, kind, body);
      expect(response.status).toBe(400);
      const answer = (await response.json()) as {
        error: string;
        issues: { path: string; message: string }[];
      };
      expect(answer.error).toBe('invalid_request');
      expect(answer.issues).toContainEqual({ path, message: expect.stringMatching(message) });
      expect((await list(app)).events).toEqual([]);
    });

    it('answers 400 for a body that is not JSON', async () => {
      const app = newApp();
      const response = await put(app, 'pushEvent', '{"branch":');
      expect(response.status).toBe(400);
      expect(((await response.json()) as { issues: { path: string }[] }).issues[0]?.path).toBe('');
      expect((await list(app)).events).toEqual([]);
    });

    it('answers 413 for a body over 64 KiB before parsing it, storing nothing', async () => {
      const app = newApp();
      const response = await put(app, 'pushEvent', { commit_msg: 'x'.repeat(70 * 1024) });
      expect(response.status).toBe(413);
      expect(((await response.json()) as Json).error).toBe('payload_too_large');
      expect((await list(app)).events).toEqual([]);
    });

    it.each([
      [{ max_results: '0' }, 'max_results'],
      [{ max_results: '101' }, 'max_results'],
      [{ max_results: 'ten' }, 'max_results'],
      [{ order: 'newest' }, 'order'],
      [{ filter_name: 'Author' }, 'filter_name'],
      [{ filter_name: 'Branch' }, 'filter_branch'],
      [{ filter_name: 'EnvAndBranch', filter_branch: 'main' }, 'filter_env'],
      [{ filter_name: 'EventType', filter_event_type: 'commit' }, 'filter_event_type'],
      [{ filter_env: 'production' }, 'filter_env'],
      [{ page: '2' }, 'page'],
      [{ marker: 'bm90IGEgbWFya2Vy' }, 'marker'],
    ])('answers 400 to the list query %o naming %s', async (params, path) => {
      const response = await listRaw(newApp(), params);
      expect(response.status).toBe(400);
      const answer = (await response.json()) as { issues: { path: string }[] };
      expect(answer.issues.map((i) => i.path)).toContain(path);
    });
  });

  describe('updating a build', () => {
    it('updates status, end and release version, and answers the whole event', async () => {
      const app = newApp();
      const eventId = await record(app, 'buildEvent', BUILD);
      h.clock.advance(5000);
      const response = await update(app, eventId, {
        build_end: '2024-03-01T10:05:00.000Z',
        release_version: 'v42',
      });
      expect(response.status).toBe(200);
      const { event } = (await response.json()) as { event: PipelinesEvent };
      expect(event).toMatchObject({
        app_name: app,
        event_id: eventId,
        event_type: 'BUILD',
        build_status: 'Running',
        build_end: '2024-03-01T10:05:00.000Z',
        release_version: 'v42',
        build_id: '4711',
        commit_id: BUILD.commit_id,
        deployment_id: null,
        env_name: null,
      });
      const saved = (await stored(eventId)) as CiEvent;
      expect(saved.updatedAt).toBe(h.clock.now().toISOString());
      expect(saved.rev).toBe(2);
      expect(saved.final).toBe(false);
    });

    it('makes a finished build immutable: further updates answer 409 and change nothing', async () => {
      const app = newApp();
      const eventId = await record(app, 'buildEvent', BUILD);
      const done = await update(app, eventId, { build_status: 'success', build_end: '2024-03-01T10:09:00Z' });
      expect(done.status).toBe(200);
      expect(((await done.json()) as { event: PipelinesEvent }).event.build_status).toBe('Success');
      const finished = await stored(eventId);
      expect(finished?.final).toBe(true);

      for (const body of [
        { build_status: 'Failed' },
        { release_version: 'v2' },
        { build_status: 'Success' },
      ]) {
        h.clock.advance(1000);
        const response = await update(app, eventId, body);
        expect(response.status).toBe(409);
        const answer = (await response.json()) as Json;
        expect(answer.error).toBe('event_immutable');
        expect(answer.message).toMatch(/finished with build_status Success.*immutable/);
      }
      expect(await stored(eventId)).toEqual(finished);
    });

    it('answers 404 for an unknown event and for an event of another app or user, changing nothing', async () => {
      const app = newApp();
      const other = newApp();
      const eventId = await record(app, 'buildEvent', BUILD);
      const before = await stored(eventId);
      for (const response of [
        await update(app, 'pev_000000000000000000000000', { build_status: 'Success' }),
        await update(other, eventId, { build_status: 'Success' }),
        await update(app, eventId, { build_status: 'Success' }, `apiToken=${TOKEN}`, 'someone-else'),
      ]) {
        expect(response.status).toBe(404);
        expect(((await response.json()) as Json).error).toBe('not_found');
      }
      expect(await stored(eventId)).toEqual(before);
    });

    it('answers 409 to an update of a push event', async () => {
      const app = newApp();
      const eventId = await record(app, 'pushEvent', PUSH);
      const response = await update(app, eventId, { build_status: 'Success' });
      expect(response.status).toBe(409);
      expect(((await response.json()) as Json).error).toBe('not_a_build_event');
    });

    it.each([
      [{}, ''],
      [{ build_status: 'Done' }, 'build_status'],
      [{ build_end: 'yesterday' }, 'build_end'],
      [{ build_id: '1' }, 'build_id'],
    ])('answers 400 to the update %o naming %s, changing nothing', async (body, path) => {
      const app = newApp();
      const eventId = await record(app, 'buildEvent', BUILD);
      const before = await stored(eventId);
      const response = await update(app, eventId, body);
      expect(response.status).toBe(400);
      expect(((await response.json()) as { issues: { path: string }[] }).issues.map((i) => i.path)).toContain(
        path,
      );
      expect(await stored(eventId)).toEqual(before);
    });

    it('re-reads after losing a race and refuses to touch a build the other writer finished', async () => {
      const app = newApp();
      const eventId = await record(app, 'buildEvent', BUILD);
      let raced = false;
      // A store whose first CI write is beaten by another writer finishing the build in between.
      const racing: DeploymentStore = Object.create(h.store);
      racing.saveCiEvent = async (next: CiEvent, expectedRev: number | null) => {
        if (!raced) {
          raced = true;
          const current = (await h.store.getCiEvent(next.eventId)) as CiEvent;
          await h.store.saveCiEvent(
            { ...current, status: 'failed', sourceStatus: 'Failed', final: true, rev: current.rev + 1 },
            current.rev,
          );
        }
        return h.store.saveCiEvent(next, expectedRev);
      };
      const racingApi = createApi({ ...h.runtime.api, store: racing });
      const response = await racingApi.request(`/acme/apps/${app}/events/${eventId}?apiToken=${TOKEN}`, {
        method: 'POST',
        body: JSON.stringify({ build_status: 'Success' }),
      });
      expect(response.status).toBe(409);
      expect(((await response.json()) as Json).message).toMatch(/build_status Failed/);
      expect(await stored(eventId)).toMatchObject({ status: 'failed', final: true, rev: 2 });
    });

    it('lets exactly one of two simultaneous finishing updates win', async () => {
      const app = newApp();
      const eventId = await record(app, 'buildEvent', BUILD);
      const [a, b] = await Promise.all([
        update(app, eventId, { build_status: 'Success' }),
        update(app, eventId, { build_status: 'Failed' }),
      ]);
      expect([a.status, b.status].sort()).toEqual([200, 409]);
      const winner = (await (a.status === 200 ? a : b).json()) as { event: PipelinesEvent };
      expect((await stored(eventId))?.sourceStatus).toBe(winner.event.build_status);
    });

    it('reports a conflict, not a crash, when the store keeps losing the race', async () => {
      const app = newApp();
      const eventId = await record(app, 'buildEvent', BUILD);
      const before = await stored(eventId);
      const losing: DeploymentStore = Object.create(h.store);
      losing.saveCiEvent = async () => {
        throw new ConcurrentUpdateError('changed meanwhile');
      };
      const response = await createApi({ ...h.runtime.api, store: losing }).request(
        `/acme/apps/${app}/events/${eventId}?apiToken=${TOKEN}`,
        { method: 'POST', body: JSON.stringify({ build_status: 'Success' }) },
      );
      expect(response.status).toBe(409);
      expect(((await response.json()) as Json).error).toBe('conflict');
      expect(await stored(eventId)).toEqual(before);
    });
  });

  describe('listing events', () => {
    it('lists CI and deploy events newest first, each with every field (null where it has none)', async () => {
      const app = newApp();
      const push = await record(app, 'pushEvent', PUSH);
      const build = await record(app, 'buildEvent', { ...BUILD, parent_event_id: push });
      const deployment = await deploy(app, {
        environment: 'production',
        version: '1.4.2',
        revision: { repository: 'acme/checkout', commit: BUILD.commit_id as string, ref: 'refs/heads/main' },
      });
      const answer = await list(app);
      expect(answer.app_name).toBe(app);
      expect(answer.marker).toBeUndefined();
      expect(answer.events.map((e) => [e.event_type, e.event_id])).toEqual([
        ['DEPLOY', deployment],
        ['BUILD', build],
        ['PUSH', push],
      ]);
      const [deployEvent, buildEvent, pushEvent] = answer.events as [
        PipelinesEvent,
        PipelinesEvent,
        PipelinesEvent,
      ];
      expect(deployEvent).toMatchObject({
        app_name: app,
        deployment_id: deployment,
        deployment_status: 'Success',
        deployment_type: 'native',
        env_name: 'production',
        release_version: '1.4.2',
        commit_id: BUILD.commit_id,
        branch: 'main',
        repo_owner: 'acme',
        repo_name: 'checkout',
        build_status: null,
        build_id: null,
      });
      expect(buildEvent).toMatchObject({ build_status: 'Running', parent_event_id: push, env_name: null });
      expect(pushEvent).toMatchObject({ author_name: 'Mona Lisa', build_status: null, deployment_id: null });
      // Every event has the same keys.
      expect(new Set(answer.events.map((e) => Object.keys(e).sort().join()))).toHaveProperty('size', 1);
      for (const event of answer.events) expect(typeof event.event_time).toBe('string');
    });

    it.each([
      ['queued', 'Queued'],
      ['in_progress', 'Running'],
      ['failed', 'Failed'],
      ['stopped', 'Cancelled'],
    ] as const)('shows a %s deployment as deployment_status %s', async (status, word) => {
      const app = newApp();
      await deploy(app, { environment: 'staging' }, status);
      expect((await list(app)).events[0]?.deployment_status).toBe(word);
    });

    it('lists oldest first with order=asc', async () => {
      const app = newApp();
      const first = await record(app, 'pushEvent', PUSH);
      const second = await deploy(app, { environment: 'staging' });
      const third = await record(app, 'buildEvent', BUILD);
      expect((await list(app, { order: 'asc' })).events.map((e) => e.event_id)).toEqual([
        first,
        second,
        third,
      ]);
      expect((await list(app, { order: 'DESC' })).events.map((e) => e.event_id)).toEqual([
        third,
        second,
        first,
      ]);
    });

    it('defaults to 10 events a page', async () => {
      const app = newApp();
      for (let i = 0; i < 12; i++) await record(app, 'pushEvent', PUSH);
      const page = await list(app);
      expect(page.events).toHaveLength(10);
      expect(page.marker).toEqual(expect.any(String));
      expect((await list(app, { marker: page.marker as string })).events).toHaveLength(2);
    });

    /** A mix of CI events and deployments in the order they were recorded (ids, oldest first). */
    const mixedApp = async () => {
      const app = newApp();
      const ids: string[] = [];
      const plan = [
        'ci',
        'deploy',
        'deploy',
        'ci',
        'ci',
        'ci',
        'deploy',
        'ci',
        'deploy',
        'deploy',
        'deploy',
        'ci',
        'ci',
      ];
      for (const [i, kind] of plan.entries()) {
        if (kind === 'ci') {
          ids.push(await record(app, i % 2 ? 'pushEvent' : 'buildEvent', { branch: i % 3 ? 'main' : 'dev' }));
        } else {
          ids.push(
            await deploy(app, {
              environment: i % 2 ? 'production' : 'staging',
              revision: { ref: i % 3 ? 'refs/heads/main' : 'dev' },
            }),
          );
        }
      }
      return { app, ids };
    };
    const allPages = async (app: string, params: Record<string, string>) => {
      const pages: string[][] = [];
      let marker: string | undefined;
      do {
        const page = await list(app, { ...params, ...(marker ? { marker } : {}) });
        pages.push(page.events.map((e) => e.event_id as string));
        marker = page.marker;
      } while (marker && pages.length < 50);
      return pages;
    };

    it.each(['1', '2', '3', '5', '13', '100'])(
      'pages through mixed CI and deploy events %s at a time without gaps or repeats, both orders',
      async (size) => {
        const { app, ids } = await mixedApp();
        const desc = await allPages(app, { max_results: size });
        expect(desc.flat()).toEqual([...ids].reverse());
        expect(desc.slice(0, -1).every((p) => p.length === Number(size))).toBe(true);
        const asc = await allPages(app, { max_results: size, order: 'asc' });
        expect(asc.flat()).toEqual(ids);
      },
    );

    it('keeps its place when new events arrive between pages', async () => {
      const { app, ids } = await mixedApp();
      const first = await list(app, { max_results: '4' });
      await record(app, 'pushEvent', PUSH);
      await deploy(app, { environment: 'production' });
      const rest = await allPages(app, { max_results: '4', marker: first.marker as string });
      expect([...first.events.map((e) => e.event_id), ...rest.flat()]).toEqual([...ids].reverse());
    });

    it('answers 400 to a marker used with other filters or another order', async () => {
      const { app } = await mixedApp();
      const { marker } = await list(app, { max_results: '2' });
      const others: Record<string, string>[] = [
        { order: 'asc' },
        { filter_name: 'Env', filter_env: 'production' },
      ];
      for (const params of others) {
        const response = await listRaw(app, { ...params, marker: marker as string });
        expect(response.status).toBe(400);
        expect(((await response.json()) as { issues: { path: string; message: string }[] }).issues).toEqual([
          { path: 'marker', message: expect.stringMatching(/another query/) },
        ]);
      }
    });

    describe('filters', () => {
      it('Branch matches CI events of the branch and deployments of that ref', async () => {
        const app = newApp();
        const main = await record(app, 'pushEvent', { branch: 'main' });
        await record(app, 'pushEvent', { branch: 'dev' });
        const mainDeploy = await deploy(app, {
          environment: 'production',
          revision: { ref: 'refs/heads/main' },
        });
        await deploy(app, { environment: 'production', revision: { ref: 'dev' } });
        await deploy(app, { environment: 'production' });
        const mainBuild = await record(app, 'buildEvent', { branch: 'refs/heads/main' });
        const answer = await list(app, { filter_name: 'Branch', filter_branch: 'main' });
        expect(answer.events.map((e) => e.event_id)).toEqual([mainBuild, mainDeploy, main]);
      });

      it('Env matches only deploy events of the environment', async () => {
        const app = newApp();
        await record(app, 'pushEvent', { branch: 'main' });
        const prod = await deploy(app, { environment: 'production' });
        await deploy(app, { environment: 'staging' });
        const prod2 = await deploy(app, { environment: 'production' });
        const answer = await list(app, { filter_name: 'Env', filter_env: 'production' });
        expect(answer.events.map((e) => e.event_id)).toEqual([prod2, prod]);
        expect(answer.events.every((e) => e.event_type === 'DEPLOY' && e.env_name === 'production')).toBe(
          true,
        );
      });

      it('EventType selects one kind of event; release matches nothing Shipcast records', async () => {
        const app = newApp();
        const push = await record(app, 'pushEvent', PUSH);
        const pr = await record(app, 'pullRequestEvent', PULL_REQUEST);
        const build = await record(app, 'buildEvent', BUILD);
        const deployment = await deploy(app, { environment: 'production' });
        const of = async (type: string) =>
          (await list(app, { filter_name: 'EventType', filter_event_type: type })).events.map(
            (e) => e.event_id,
          );
        expect(await of('push')).toEqual([push]);
        expect(await of('pullrequest')).toEqual([pr]);
        expect(await of('build')).toEqual([build]);
        expect(await of('DEPLOY')).toEqual([deployment]);
        const releases = await list(app, { filter_name: 'EventType', filter_event_type: 'release' });
        expect(releases).toEqual({ app_name: app, events: [] });
      });

      it('BranchAndEventType combines both', async () => {
        const app = newApp();
        const mainBuild = await record(app, 'buildEvent', { branch: 'main' });
        await record(app, 'buildEvent', { branch: 'dev' });
        await record(app, 'pushEvent', { branch: 'main' });
        await deploy(app, { environment: 'production', revision: { ref: 'main' } });
        const mainDeploy = await deploy(app, { environment: 'staging', revision: { ref: 'main' } });
        const builds = await list(app, {
          filter_name: 'BranchAndEventType',
          filter_branch: 'main',
          filter_event_type: 'build',
        });
        expect(builds.events.map((e) => e.event_id)).toEqual([mainBuild]);
        const deploysOfMain = await list(app, {
          filter_name: 'branchandeventtype',
          filter_branch: 'main',
          filter_event_type: 'deploy',
        });
        expect(deploysOfMain.events.map((e) => e.event_id)[0]).toBe(mainDeploy);
        expect(deploysOfMain.events).toHaveLength(2);
      });

      it('EnvAndBranch matches deploy events of the environment and branch', async () => {
        const app = newApp();
        await record(app, 'pushEvent', { branch: 'main' });
        const wanted = await deploy(app, { environment: 'production', revision: { ref: 'main' } });
        await deploy(app, { environment: 'production', revision: { ref: 'dev' } });
        await deploy(app, { environment: 'staging', revision: { ref: 'main' } });
        const answer = await list(app, {
          filter_name: 'EnvAndBranch',
          filter_env: 'production',
          filter_branch: 'main',
        });
        expect(answer.events.map((e) => e.event_id)).toEqual([wanted]);
      });

      it('pages through a filtered list without gaps or repeats', async () => {
        const { app } = await mixedApp();
        const everything = (
          await list(app, { max_results: '100', filter_name: 'Branch', filter_branch: 'main' })
        ).events;
        expect(everything.length).toBeGreaterThan(4);
        const pages = await allPages(app, { max_results: '2', filter_name: 'Branch', filter_branch: 'main' });
        expect(pages.flat()).toEqual(everything.map((e) => e.event_id));
        expect(everything.every((e) => e.branch === 'main')).toBe(true);
      });
    });
  });
});
