import { readFileSync } from 'node:fs';
import { DeleteMessageBatchCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApi } from '../../functions/core/api/app.ts';
import { deploymentIdFor } from '../../functions/core/ids.ts';
import type { DeploymentStore } from '../../functions/core/ports.ts';
import type { DispatchMessage } from '../../functions/core/schema.ts';
import { BIGPANDA_START_PATH, bigPandaDeploymentKey } from '../../functions/core/sources/bigpanda.ts';
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

  /**
   * Takes every visible dispatch message off the queue and returns them. Taken, not just peeked at: a
   * message only received would become visible again a second later and show up in another test.
   */
  const takeDispatch = async (): Promise<DispatchMessage[]> => {
    const taken: DispatchMessage[] = [];
    for (;;) {
      const batch = await h.receiveDispatch(30);
      if (batch.length === 0) return taken;
      taken.push(...batch.map((m) => JSON.parse(m.body) as DispatchMessage));
      await h.queues.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: h.resources.dispatchQueueUrl,
          Entries: batch.map((m, i) => ({ Id: String(i), ReceiptHandle: m.receiptHandle })),
        }),
      );
    }
  };

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
      expect(await takeDispatch()).toEqual([]);
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
        generation: 1,
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
      expect(distinct(await takeDispatch())).toEqual([
        `${deploymentId} 1 audit`,
        `${deploymentId} 1 console`,
      ]);

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
      expect(distinct(await takeDispatch())).toEqual([
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
      expect(distinct(await takeDispatch())).toEqual([
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
      expect(distinct(await takeDispatch())).toEqual([
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

  describe('generations: the same component, version and hosts deployed again', () => {
    const json = async (response: Response) => {
      expect(response.status).toBe(200);
      return (await response.json()) as Json;
    };
    const deploymentsOf = async (component: string) =>
      (await h.store.listDeployments({ service: component, limit: 10, order: 'asc' })).items;
    /** The distinct dispatch messages of the given deployments (others' leftovers are not this test's). */

    it('records a start after the first run ended as a second deployment, and announces the start and end of both', async () => {
      const component = fresh();
      const start = ansible('start.ansible.json', component);
      const end = ansible('end-success.ansible.json', component);

      const t0 = h.clock.now().getTime();
      const minute = (n: number) => new Date(t0 + n * 60_000).toISOString();
      const start1 = await json(await call('start', start));
      h.clock.advance(60_000);
      const end1 = await json(await call('end', end));
      h.clock.advance(60_000);
      const start2 = await json(await call('start', { ...start, owner: 'erin', description: 'Re-run' }));
      h.clock.advance(60_000);
      const end2 = await json(await call('end', ansible('end-failure.ansible.json', component)));

      const first = start1.deploymentId as string;
      const second = start2.deploymentId as string;
      expect(first).toBe(idOf(start));
      expect(second).not.toBe(first);
      expect([start1, end1, start2, end2].map((b) => [b.deploymentId, b.generation, b.disposition])).toEqual([
        [first, 1, 'applied'],
        [first, 1, 'applied'],
        [second, 2, 'applied'],
        [second, 2, 'applied'],
      ]);
      expect(end2.deploymentStatus).toBe('failed');
      expect(await h.store.getDeployment(first)).toMatchObject({
        status: 'succeeded',
        actor: 'dan',
        startedAt: minute(0),
        finishedAt: minute(1),
      });
      const rerun = await h.store.getDeployment(second);
      expect(rerun).toMatchObject({
        source: 'bigpanda',
        sourceDeploymentId: JSON.stringify([
          component,
          '1.3',
          ['web-1.prod.example.com', 'web-2.prod.example.com'],
          2,
        ]),
        service: component,
        environment: 'production',
        version: '1.3',
        actor: 'erin',
        description: 'Re-run',
        status: 'failed',
        error: { message: 'health check failed on web-2' },
        startedAt: minute(2),
        finishedAt: minute(3),
      });
      expect(rerun?.transitions.map((t) => [t.from, t.to])).toEqual([
        [null, 'in_progress'],
        ['in_progress', 'failed'],
      ]);
      expect((await h.store.listEvents(first)).map((e) => e.disposition)).toEqual(['applied', 'applied']);
      expect((await deploymentsOf(component)).map((d) => d.id)).toEqual([first, second]);
      expect(distinct(await takeDispatch())).toEqual(
        [
          `${first} 1 audit`,
          `${first} 1 console`,
          `${first} 2 audit`,
          `${first} 2 console`,
          `${second} 1 audit`,
          `${second} 1 console`,
          `${second} 2 audit`,
          `${second} 2 console`,
        ].sort(),
      );
    });

    it('begins one more deployment for every further run: a third start after the second ended is the third generation', async () => {
      const component = fresh();
      const start = ansible('start.ansible.json', component);
      const end = ansible('end-success.ansible.json', component);

      const generations: unknown[] = [];
      for (let run = 0; run < 3; run++) {
        generations.push((await json(await call('start', start))).generation);
        await call('end', end);
      }

      expect(generations).toEqual([1, 2, 3]);
      expect((await deploymentsOf(component)).map((d) => [d.status, d.transitions.length])).toEqual([
        ['succeeded', 2],
        ['succeeded', 2],
        ['succeeded', 2],
      ]);
    });

    it('takes a retried first start that arrives after the second run started as a duplicate: no third deployment, and the second run’s end still closes it', async () => {
      const component = fresh();
      const start = ansible('start.ansible.json', component);
      const end = ansible('end-success.ansible.json', component);
      const start1 = await json(await call('start', start));
      await call('end', end);
      const start2 = await json(await call('start', start));

      const retried = await json(await call('start', start));

      expect(retried).toMatchObject({
        id: start2.id,
        deploymentId: start2.deploymentId,
        generation: 2,
        deploymentStatus: 'in_progress',
        disposition: 'duplicate',
      });
      const end2 = await json(await call('end', end));
      expect(end2).toMatchObject({
        deploymentId: start2.deploymentId,
        deploymentStatus: 'succeeded',
        disposition: 'applied',
      });
      expect((await deploymentsOf(component)).map((d) => d.id)).toEqual([
        start1.deploymentId,
        start2.deploymentId,
      ]);
      expect(
        (await h.store.listEvents(start2.deploymentId as string)).map((e) => e.sourceStatus).sort(),
      ).toEqual(['start', 'success']);
    });

    it('takes a retried end of the newest run as a duplicate, and a differing late end as stale, without a new deployment', async () => {
      const component = fresh();
      const start = ansible('start.ansible.json', component);
      const end = ansible('end-success.ansible.json', component);
      await call('start', start);
      await call('end', end);
      await call('start', start);
      const end2 = await json(await call('end', end));

      const retried = await json(await call('end', end));
      const late = await json(await call('end', ansible('end-failure.ansible.json', component)));

      expect(retried).toMatchObject({
        id: end2.id,
        deploymentId: end2.deploymentId,
        generation: 2,
        deploymentStatus: 'succeeded',
        disposition: 'duplicate',
      });
      expect(late).toMatchObject({
        deploymentId: end2.deploymentId,
        generation: 2,
        deploymentStatus: 'succeeded',
        disposition: 'stale',
      });
      expect(await deploymentsOf(component)).toHaveLength(2);
      const record = await h.store.getDeployment(end2.deploymentId as string);
      expect(record?.transitions.map((t) => t.to)).toEqual(['in_progress', 'succeeded']);
    });

    it('keeps the generations of each version apart: another version starts at the first generation, and only the redeployed one gets a second', async () => {
      const component = fresh();
      const start = (version: string) => ({ ...ansible('start.ansible.json', component), version });
      const end = (version: string) => ({ ...ansible('end-success.ansible.json', component), version });

      const v13 = await json(await call('start', start('1.3')));
      await call('end', end('1.3'));
      const v14 = await json(await call('start', start('1.4')));
      const v14end = await json(await call('end', end('1.4')));
      const v13again = await json(await call('start', start('1.3')));
      const v13againEnd = await json(await call('end', end('1.3')));

      expect([v13, v14, v14end].map((b) => [b.deploymentId, b.generation])).toEqual([
        [idOf(start('1.3')), 1],
        [idOf(start('1.4')), 1],
        [idOf(start('1.4')), 1],
      ]);
      expect(v14end).toMatchObject({ deploymentStatus: 'succeeded', disposition: 'applied' });
      expect(v13again).toMatchObject({ generation: 2, disposition: 'applied' });
      expect(v13again.deploymentId).not.toBe(v13.deploymentId);
      expect(v13againEnd).toMatchObject({
        deploymentId: v13again.deploymentId,
        deploymentStatus: 'succeeded',
      });
      expect(await h.store.getDeployment(idOf(start('1.4')))).toMatchObject({ status: 'succeeded' });
      expect(await deploymentsOf(component)).toHaveLength(3);
    });

    it('begins exactly one new deployment when the same start arrives several times at once after the first run ended', async () => {
      const component = fresh();
      const start = ansible('start.ansible.json', component);
      await call('start', start);
      await call('end', ansible('end-success.ansible.json', component));

      const answers = await Promise.all([1, 2, 3, 4].map(async () => json(await call('start', start))));

      expect(new Set(answers.map((a) => a.deploymentId)).size).toBe(1);
      expect(new Set(answers.map((a) => a.generation))).toEqual(new Set([2]));
      const rerun = await h.store.getDeployment(answers[0]?.deploymentId as string);
      expect(rerun?.transitions.map((t) => t.to)).toEqual(['in_progress']);
      expect(await deploymentsOf(component)).toHaveLength(2);
    });

    it('joins the run another start began between its read and its write, instead of beginning a third', async () => {
      const component = fresh();
      const start = ansible('start.ansible.json', component);
      await call('start', start);
      await call('end', ansible('end-success.ansible.json', component));
      let raced = false;
      // A store whose first generation write is beaten by another start of the same run.
      const racing: DeploymentStore = Object.create(h.store);
      racing.advanceGeneration = async (scope, identity, from) => {
        if (!raced) {
          raced = true;
          expect(await json(await call('start', start))).toMatchObject({
            generation: 2,
            disposition: 'applied',
          });
        }
        return h.store.advanceGeneration(scope, identity, from);
      };

      const answer = await json(
        await createApi({ ...h.runtime.api, store: racing }).request(BIGPANDA_START_PATH, {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify(start),
        }),
      );

      expect(raced).toBe(true);
      expect(answer).toMatchObject({
        generation: 2,
        deploymentStatus: 'in_progress',
        disposition: 'duplicate',
      });
      expect(await deploymentsOf(component)).toHaveLength(2);
    });

    it('records an end that arrives while the newest run is open on that run, also when the run began without a start of its own', async () => {
      const component = fresh();
      const end = ansible('end-success.ansible.json', component);
      const first = await json(await call('end', end));
      const start2 = await json(await call('start', ansible('start.ansible.json', component)));
      const end2 = await json(await call('end', ansible('end-failure.ansible.json', component)));

      expect(first).toMatchObject({ generation: 1, deploymentStatus: 'succeeded' });
      expect(start2).toMatchObject({ generation: 2, deploymentStatus: 'in_progress' });
      expect(end2).toMatchObject({
        deploymentId: start2.deploymentId,
        generation: 2,
        deploymentStatus: 'failed',
        disposition: 'applied',
      });
      expect(await h.store.getDeployment(first.deploymentId as string)).toMatchObject({
        status: 'succeeded',
      });
    });

    describe('calls that carry their own timestamp', () => {
      const at = (seconds: number) => ({ timestamp: 1772359200 + seconds });

      it('recognises a start retried after its run ended by its timestamp: a duplicate, not a new run; a start with a new timestamp is the next run', async () => {
        const component = fresh();
        const start = { ...ansible('start.ansible.json', component), ...at(0) };
        const start1 = await json(await call('start', start));
        await call('end', { ...ansible('end-success.ansible.json', component), ...at(60) });

        const retried = await json(await call('start', start));
        const rerun = await json(await call('start', { ...start, ...at(300) }));

        expect(retried).toMatchObject({
          id: start1.id,
          deploymentId: start1.deploymentId,
          generation: 1,
          deploymentStatus: 'succeeded',
          disposition: 'duplicate',
        });
        expect(rerun).toMatchObject({
          generation: 2,
          deploymentStatus: 'in_progress',
          disposition: 'applied',
        });
        expect(await deploymentsOf(component)).toHaveLength(2);
      });

      it('recognises an end retried after the next run started by its timestamp: a duplicate of the first run’s end, the next run stays open', async () => {
        const component = fresh();
        const end = { ...ansible('end-success.ansible.json', component), ...at(60) };
        await call('start', { ...ansible('start.ansible.json', component), ...at(0) });
        const end1 = await json(await call('end', end));
        const start2 = await json(
          await call('start', { ...ansible('start.ansible.json', component), ...at(300) }),
        );

        const retried = await json(await call('end', end));

        expect(retried).toMatchObject({
          id: end1.id,
          deploymentId: end1.deploymentId,
          generation: 1,
          deploymentStatus: 'succeeded',
          disposition: 'duplicate',
        });
        expect(await h.store.getDeployment(start2.deploymentId as string)).toMatchObject({
          status: 'in_progress',
        });
        const end2 = await json(await call('end', { ...end, ...at(360) }));
        expect(end2).toMatchObject({
          deploymentId: start2.deploymentId,
          deploymentStatus: 'succeeded',
          disposition: 'applied',
        });
      });
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
      expect(await takeDispatch()).toEqual([]);
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
