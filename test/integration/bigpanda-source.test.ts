import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApi } from '../../functions/core/api/app.ts';
import { deploymentIdFor } from '../../functions/core/ids.ts';
import type { DispatchMessage } from '../../functions/core/schema.ts';
import { bigPandaDeploymentKey } from '../../functions/core/sources/bigpanda.ts';
import { createHarness, type Harness } from '../support/harness.ts';

const TOKEN = 'tok-bigpanda-7f3a9c';

type Json = Record<string, unknown>;

const fixture = (name: string): Json =>
  JSON.parse(readFileSync(new URL(`../fixtures/bigpanda/${name}`, import.meta.url), 'utf8')) as Json;

describe('BigPanda deployments API drop-in', () => {
  let h: Harness;
  let api: ReturnType<typeof createApi>;
  let seq = 0;

  beforeAll(async () => {
    h = await createHarness({
      config: {
        api: { tokens: [{ name: 'ansible', secret: 'api-token' }] },
        targets: { console: { type: 'log' }, audit: { type: 'log' }, other: { type: 'log' } },
        routes: [
          { match: { source: 'bigpanda' }, targets: ['console', 'audit'] },
          { match: { source: 'native' }, targets: ['other'] },
        ],
      },
      env: { SHIPCAST_SECRET_API_TOKEN: TOKEN },
    });
    api = createApi(h.runtime.api);
  });
  afterAll(async () => {
    await h?.stop();
  });
  beforeEach(async () => {
    h.clock.advance(1000);
    await h.drainDispatch();
  });

  /** POSTs to /data/events/deployments/{start|end} as the Ansible module does (JSON, bearer token). */
  const call = (which: 'start' | 'end', body: unknown, headers: Record<string, string> = {}) =>
    api.request(`/data/events/deployments/${which}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  /** The Ansible fixtures with a component of their own, so each test has its own deployment. */
  const ansible = (name: string, component: string): Json => ({ ...fixture(name), component });
  const fresh = () => `billing-${++seq}`;
  const idOf = (body: Json) =>
    deploymentIdFor('bigpanda', bigPandaDeploymentKey(body as never).sourceDeploymentId);

  const distinct = (messages: DispatchMessage[]) =>
    [...new Set(messages.map((m) => `${m.deploymentId} ${m.seq} ${m.target}`))].sort();

  describe('authentication', () => {
    it.each([
      ['no authorization header', {}],
      ['an unknown bearer token', { authorization: 'Bearer not-the-token' }],
      ['the token with another scheme', { authorization: `Token ${TOKEN}` }],
    ])('answers 401 to %s on start and end, and stores nothing', async (_what, headers) => {
      const component = fresh();
      for (const which of ['start', 'end'] as const) {
        const response = await api.request(`/data/events/deployments/${which}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(headers as Record<string, string>) },
          body: JSON.stringify(
            ansible(which === 'start' ? 'start.ansible.json' : 'end-success.ansible.json', component),
          ),
        });
        expect(response.status).toBe(401);
        expect(response.headers.get('www-authenticate')).toMatch(/^Bearer /);
        expect(await response.json()).toMatchObject({ error: 'unauthorized' });
      }
      expect(await h.store.getDeployment(idOf(ansible('start.ansible.json', component)))).toBeUndefined();
      expect(await h.dispatchMessages()).toEqual([]);
    });
  });

  describe('start and end', () => {
    it('records the Ansible start and end of one component, version and hosts as one deployment, fanned out to the routed targets', async () => {
      // Prepare
      const component = fresh();
      const start = ansible('start.ansible.json', component);
      const end = ansible('end-success.ansible.json', component);

      // Act: start
      const started = await call('start', start);

      // Assess: 200 shaped like BigPanda's answer, an in-progress record with the start's facts
      expect(started.status).toBe(200);
      const startBody = (await started.json()) as Json;
      expect(startBody).toEqual({
        status: 'created',
        id: expect.stringMatching(/^evt_/),
        deploymentId: expect.stringMatching(/^dep_[0-9a-f]{24}$/),
        deploymentStatus: 'in_progress',
        disposition: 'applied',
        deployment: {
          component,
          version: '1.3',
          hosts: ['web-1.prod.example.com', 'web-2.prod.example.com'],
          env: 'production',
        },
      });
      const deploymentId = startBody.deploymentId as string;
      expect(await h.store.getDeployment(deploymentId)).toMatchObject({
        source: 'bigpanda',
        service: component,
        environment: 'production',
        version: '1.3',
        hosts: ['web-1.prod.example.com', 'web-2.prod.example.com'],
        actor: 'dan',
        description: 'Rolling restart with the new tax tables',
        status: 'in_progress',
        sourceStatus: 'start',
        details: { sourceSystem: 'ansible' },
      });
      expect(distinct(await h.dispatchMessages())).toEqual([
        `${deploymentId} 1 audit`,
        `${deploymentId} 1 console`,
      ]);
      await h.drainDispatch();

      // Act: end, with the hosts in another order
      const ended = await call('end', { ...end, hosts: [...(end.hosts as string[])].reverse() });

      // Assess: the same deployment, succeeded, the environment kept from the start
      expect(ended.status).toBe(200);
      const endBody = (await ended.json()) as Json;
      expect(endBody).toMatchObject({ status: 'created', deploymentId, deploymentStatus: 'succeeded' });
      expect(endBody.id).not.toBe(startBody.id);
      const record = await h.store.getDeployment(deploymentId);
      expect(record).toMatchObject({
        environment: 'production',
        actor: 'dan',
        status: 'succeeded',
        sourceStatus: 'success',
      });
      expect(record?.transitions.map((t) => [t.from, t.to])).toEqual([
        [null, 'in_progress'],
        ['in_progress', 'succeeded'],
      ]);
      expect(distinct(await h.dispatchMessages())).toEqual([
        `${deploymentId} 2 audit`,
        `${deploymentId} 2 console`,
      ]);
      const listed = (await (
        await api.request(`/v1/deployments/${deploymentId}`, {
          headers: { authorization: `Bearer ${TOKEN}` },
        })
      ).json()) as { events: { sourceStatus: string }[] };
      expect(listed.events.map((e) => e.sourceStatus).sort()).toEqual(['start', 'success']);
    });

    it('records a failed end with the module’s message as the error', async () => {
      const component = fresh();
      await call('start', ansible('start.ansible.json', component));
      const response = await call('end', ansible('end-failure.ansible.json', component));

      expect(response.status).toBe(200);
      const body = (await response.json()) as Json;
      expect(body.deploymentStatus).toBe('failed');
      expect(await h.store.getDeployment(body.deploymentId as string)).toMatchObject({
        status: 'failed',
        sourceStatus: 'failure',
        environment: 'production',
        error: { message: 'health check failed on web-2' },
      });
    });

    it('records a finished deployment from an end that had no start', async () => {
      const component = fresh();
      const response = await call('end', ansible('end-success.ansible.json', component));

      expect(response.status).toBe(200);
      const body = (await response.json()) as Json;
      const record = await h.store.getDeployment(body.deploymentId as string);
      expect(record).toMatchObject({ service: component, version: '1.3', status: 'succeeded' });
      expect(record?.environment).toBeUndefined();
      expect(record?.transitions.map((t) => [t.from, t.to])).toEqual([[null, 'succeeded']]);
      expect(distinct(await h.dispatchMessages())).toEqual([
        `${body.deploymentId} 1 audit`,
        `${body.deploymentId} 1 console`,
      ]);
    });

    it('treats other hosts or another version of the same component as another deployment', async () => {
      const component = fresh();
      const base = ansible('start.ansible.json', component);
      const ids = new Set<string>();
      for (const body of [
        base,
        { ...base, hosts: ['web-3.prod.example.com'] },
        { ...base, version: '1.4' },
      ]) {
        ids.add(((await (await call('start', body)).json()) as Json).deploymentId as string);
      }
      expect(ids.size).toBe(3);
    });

    it('accepts what other BigPanda clients send: one host as a string, a numeric version, no hosts, an end without status, epoch-second timestamps and fields of their own', async () => {
      const component = fresh();
      const started = await call('start', {
        component,
        version: 7,
        hosts: 'db-1',
        env: 'staging',
        timestamp: 1772359200,
        build_number: 'ignored',
      });
      expect(started.status).toBe(200);
      const startBody = (await started.json()) as Json;
      expect(startBody.deployment).toEqual({ component, version: '7', hosts: ['db-1'], env: 'staging' });

      const ended = await call('end', { component, version: '7', hosts: ['db-1'], timestamp: '1772359260' });
      const endBody = (await ended.json()) as Json;
      expect(endBody).toMatchObject({ deploymentId: startBody.deploymentId, deploymentStatus: 'succeeded' });
      expect(await h.store.getDeployment(endBody.deploymentId as string)).toMatchObject({
        startedAt: '2026-03-01T10:00:00.000Z',
        finishedAt: '2026-03-01T10:01:00.000Z',
      });

      const hostless = await call('start', { component, version: '8' });
      expect(hostless.status).toBe(200);
      expect(((await hostless.json()) as Json).deployment).toEqual({ component, version: '8', hosts: [] });
    });
  });

  describe('retries', () => {
    it('recognises a repeated start and a repeated end as duplicates: one deployment, one event each, two transitions', async () => {
      const component = fresh();
      const start = ansible('start.ansible.json', component);
      const end = ansible('end-success.ansible.json', component);

      const first = (await (await call('start', start)).json()) as Json;
      const again = (await (await call('start', start)).json()) as Json;
      await call('end', end);
      const endAgain = await call('end', end);

      expect(again).toMatchObject({
        id: first.id,
        deploymentId: first.deploymentId,
        disposition: 'duplicate',
      });
      expect(endAgain.status).toBe(200);
      expect(await endAgain.json()).toMatchObject({
        deploymentStatus: 'succeeded',
        disposition: 'duplicate',
      });
      const deploymentId = first.deploymentId as string;
      const events = await h.store.listEvents(deploymentId);
      expect(events).toHaveLength(2);
      const record = await h.store.getDeployment(deploymentId);
      expect(record?.transitions.map((t) => t.to)).toEqual(['in_progress', 'succeeded']);
      // A retry may enqueue its transition again (crash recovery); the dispatcher never sends a seq twice.
      expect(distinct(await h.dispatchMessages())).toEqual([
        `${deploymentId} 1 audit`,
        `${deploymentId} 1 console`,
        `${deploymentId} 2 audit`,
        `${deploymentId} 2 console`,
      ]);
    });

    it('keeps a failure end that arrives after a success end in the history without changing the outcome', async () => {
      const component = fresh();
      await call('start', ansible('start.ansible.json', component));
      await call('end', ansible('end-success.ansible.json', component));
      const late = (await (await call('end', ansible('end-failure.ansible.json', component))).json()) as Json;

      expect(late).toMatchObject({ deploymentStatus: 'succeeded', disposition: 'stale' });
      const events = await h.store.listEvents(late.deploymentId as string);
      expect(events.map((e) => [e.sourceStatus, e.disposition]).sort()).toEqual([
        ['failure', 'stale'],
        ['start', 'applied'],
        ['success', 'applied'],
      ]);
    });
  });

  describe('validation', () => {
    it('answers 400 with the path of every field that cannot be a deployment, and stores nothing', async () => {
      const response = await call('start', {
        component: '',
        hosts: ['web-1', 42],
        env: 7,
        timestamp: 'yesterday',
      });

      expect(response.status).toBe(400);
      const body = (await response.json()) as { error: string; issues: { path: string; message: string }[] };
      expect(body.error).toBe('invalid_request');
      expect(body.issues.map((i) => i.path).sort()).toEqual([
        'component',
        'env',
        'hosts',
        'timestamp',
        'version',
      ]);
      expect(await h.dispatchMessages()).toEqual([]);
    });

    it('answers 400 naming status for an end whose status is neither success nor failure', async () => {
      const component = fresh();
      const response = await call('end', {
        ...ansible('end-success.ansible.json', component),
        status: 'exploded',
      });

      expect(response.status).toBe(400);
      const body = (await response.json()) as { issues: { path: string; message: string }[] };
      expect(body.issues).toEqual([{ path: 'status', message: 'must be success or failure' }]);
      expect(
        await h.store.getDeployment(idOf(ansible('end-success.ansible.json', component))),
      ).toBeUndefined();
    });

    it('answers 400 for a body that is not JSON or not an object', async () => {
      for (const body of ['{"component": "billing",', '["billing", "1.3"]']) {
        const response = await call('start', body);
        expect(response.status).toBe(400);
        expect(await response.json()).toMatchObject({ error: 'invalid_request' });
      }
    });

    it('answers 413 to a body over 64 KiB without parsing it', async () => {
      const response = await call('start', {
        component: fresh(),
        version: '1',
        description: 'x'.repeat(70_000),
      });
      expect(response.status).toBe(413);
      expect(await response.json()).toMatchObject({ error: 'payload_too_large' });
    });
  });
});
