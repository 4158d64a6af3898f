import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/core/config.ts';
import { referencedSecrets } from '../../functions/core/config-secrets.ts';
import { dispatchBatch } from '../../functions/core/dispatch.ts';
import { ConfigError } from '../../functions/core/errors.ts';
import { HttpClient } from '../../functions/core/http-client.ts';
import { ingestEvent } from '../../functions/core/ingest.ts';
import type { RateLimiter } from '../../functions/core/ports.ts';
import type { DeploymentEvent } from '../../functions/core/schema.ts';
import { bigpandaConfigSchema } from '../../functions/core/targets/bigpanda.schema.ts';
import { bigpandaTarget } from '../../functions/core/targets/bigpanda.ts';
import { type BigPandaServer, startBigPandaServer } from '../support/bigpanda-server.ts';
import { nativeEvent } from '../support/events.ts';
import { createHarness, type Harness, recordingRetries } from '../support/harness.ts';

const TOKEN = 'bp-org-token-5Kq8ZrT2wX';
const REVOKED = 'bp-revoked-token-9Vn3Lp';
const USER_KEY = 'bp-user-key-3Hd7Qm1sYe';
const APP_KEY = 'bp-app-key-6Rt4Nc8uWj';

type Body = Record<string, unknown>;

describe('bigpanda target', () => {
  let h: Harness;
  let bigpanda: BigPandaServer;
  let eu: BigPandaServer;
  const retryDelays: number[] = [];

  beforeAll(async () => {
    bigpanda = await startBigPandaServer({ tokens: [TOKEN, USER_KEY], appKeys: [APP_KEY] });
    eu = await startBigPandaServer({ tokens: [TOKEN], basePath: '/bigpanda-eu' });
    h = await createHarness({
      maxReceives: 5,
      http: new HttpClient({ timeoutMs: 10_000 }),
      queue: recordingRetries(retryDelays),
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: {
          bp: { type: 'bigpanda', url: bigpanda.url, token: 'bigpanda-token' },
          // Its own short timeout, for the answer that never comes: the others keep the client's 10 s.
          slow: { type: 'bigpanda', url: bigpanda.url, token: 'bigpanda-token', timeoutMs: 1_000 },
          euProxy: { type: 'bigpanda', url: `${eu.url}/`, token: 'bigpanda-token', sourceSystem: 'deploys' },
          revoked: { type: 'bigpanda', url: bigpanda.url, token: 'bigpanda-revoked' },
          changes: {
            type: 'bigpanda',
            api: 'changes',
            url: bigpanda.url,
            token: 'bigpanda-user-key',
            appKey: 'bigpanda-app-key',
          },
        },
        routes: [
          { match: { service: 'checkout-*' }, targets: ['bp'] },
          { match: { service: 'slow-*' }, targets: ['slow'] },
          { match: { service: 'eu-*' }, targets: ['euProxy'] },
          { match: { service: 'revoked-*' }, targets: ['revoked'] },
          { match: { service: 'changes-*' }, targets: ['changes'] },
        ],
        dispatch: { maxReceives: 5 },
      },
    });
    writeFileSync(join(h.secretsDir, 'bigpanda-token'), TOKEN);
    writeFileSync(join(h.secretsDir, 'bigpanda-revoked'), REVOKED);
    writeFileSync(join(h.secretsDir, 'bigpanda-user-key'), USER_KEY);
    writeFileSync(join(h.secretsDir, 'bigpanda-app-key'), APP_KEY);
  });
  afterAll(async () => {
    await h.stop();
    await bigpanda.stop();
    await eu.stop();
  });
  beforeEach(() => {
    retryDelays.length = 0;
  });

  const ingest = async (event: DeploymentEvent) => ingestEvent(event, h.runtime.ingest);
  /** Requests for one component (other tests' late retries may reach the same server). */
  const calls = (server: BigPandaServer, component: string) =>
    server.requests
      .filter((r) => r.path.includes('/deployments/') && r.json<Body>().component === component)
      .map((r) => ({ path: r.path, body: r.json<Body>(), headers: r.headers }));
  const changeCalls = (identifier: string) =>
    bigpanda.requests
      .filter((r) => r.path === '/data/changes' && r.json<Body>().identifier === identifier)
      .map((r) => ({ body: r.json<Body>(), headers: r.headers }));

  describe('deployments API', () => {
    it('ends a deployment with the component, version and hosts its start sent, even when the end says otherwise', async () => {
      const base = { service: 'checkout-api', actor: 'ana', description: 'release 1.4.2' };
      const queued = nativeEvent('bp-1', 'queued', { ...base, version: '1.4.2', hosts: ['web-1', 'web-2'] });
      await ingest(queued);
      await h.drainDispatch();
      await ingest(nativeEvent('bp-1', 'in_progress', { ...base, hosts: ['web-1', 'web-2', 'web-3'] }));
      await h.drainDispatch();
      // The end carries a different version and no hosts.
      await ingest(nativeEvent('bp-1', 'succeeded', { ...base, version: '1.4.3' }));

      await h.drainDispatch();

      const sent = calls(bigpanda, 'checkout-api');
      expect(sent.map((c) => c.path)).toEqual([
        '/data/events/deployments/start',
        '/data/events/deployments/end',
      ]);
      expect(sent[0]?.body).toEqual({
        component: 'checkout-api',
        version: '1.4.2',
        hosts: ['web-1', 'web-2'],
        source_system: 'shipcast',
        env: 'production',
        owner: 'ana',
        description: 'release 1.4.2',
      });
      expect(sent[1]?.body).toEqual({
        component: 'checkout-api',
        version: '1.4.2',
        hosts: ['web-1', 'web-2'],
        status: 'success',
      });
      expect(sent.every((c) => c.headers.authorization === `Bearer ${TOKEN}`)).toBe(true);
      expect(bigpanda.deployments.filter((d) => d.component === 'checkout-api')).toEqual([
        expect.objectContaining({ version: '1.4.2', hosts: ['web-1', 'web-2'], status: 'success' }),
      ]);
      expect(bigpanda.unmatchedEnds.filter((e) => e.component === 'checkout-api')).toEqual([]);
      // The record moved on; the end still repeated the start.
      const deployment = await h.store.getDeployment(queued.deploymentId);
      expect(deployment).toMatchObject({ version: '1.4.3', hosts: ['web-1', 'web-2', 'web-3'] });
      const delivery = await h.store.getDelivery(queued.deploymentId, 'bp');
      expect(delivery).toMatchObject({
        state: 'delivered',
        deliveredSeq: 3,
        refs: { component: 'checkout-api', version: '1.4.2', hosts: '["web-1","web-2"]' },
      });
    });

    it('sends start and end together for a deployment first seen finished, with fallbacks for version and hosts', async () => {
      const done = nativeEvent('bp-2', 'succeeded', {
        service: 'checkout-worker',
        revision: { repository: 'acme/checkout', commit: '9f1c2d3e4b5a69788796a5b4c3d2e1f0a9b8c7d6' },
        details: { deploymentGroup: 'checkout-worker-blue' },
      });
      await ingest(done);

      await h.drainDispatch();

      const sent = calls(bigpanda, 'checkout-worker');
      expect(sent.map((c) => c.body)).toEqual([
        {
          component: 'checkout-worker',
          version: '9f1c2d3',
          hosts: ['checkout-worker-blue'],
          source_system: 'shipcast',
          env: 'production',
        },
        {
          component: 'checkout-worker',
          version: '9f1c2d3',
          hosts: ['checkout-worker-blue'],
          status: 'success',
        },
      ]);
      expect(bigpanda.deployments.find((d) => d.component === 'checkout-worker')?.status).toBe('success');
      expect(await h.store.getDelivery(done.deploymentId, 'bp')).toMatchObject({
        state: 'delivered',
        refs: { version: '9f1c2d3', hosts: '["checkout-worker-blue"]' },
      });
    });

    it('reports a failed deployment as a failure with its error message', async () => {
      await ingest(
        nativeEvent('bp-3', 'in_progress', { service: 'checkout-db', version: '7', hosts: ['db-1'] }),
      );
      await ingest(
        nativeEvent('bp-3', 'failed', {
          service: 'checkout-db',
          error: { code: 'HEALTH_CONSTRAINTS', message: 'Too many instances failed during deployment' },
        }),
      );
      await ingest(nativeEvent('bp-3s', 'in_progress', { service: 'checkout-cron', version: '2' }));
      await ingest(nativeEvent('bp-3s', 'stopped', { service: 'checkout-cron' }));

      await h.drainDispatch();

      expect(calls(bigpanda, 'checkout-db')[1]?.body).toEqual({
        component: 'checkout-db',
        version: '7',
        hosts: ['db-1'],
        status: 'failure',
        errorMessage: 'HEALTH_CONSTRAINTS: Too many instances failed during deployment',
      });
      expect(calls(bigpanda, 'checkout-cron')[1]?.body).toEqual({
        component: 'checkout-cron',
        version: '2',
        hosts: ['production'],
        status: 'failure',
        errorMessage: 'deployment stopped',
      });
      expect(bigpanda.deployments.find((d) => d.component === 'checkout-db')).toMatchObject({
        status: 'failure',
        errorMessage: 'HEALTH_CONSTRAINTS: Too many instances failed during deployment',
      });
    });

    it('does not send the start again when the end is retried after a server error', async () => {
      const done = nativeEvent('bp-4', 'succeeded', {
        service: 'checkout-web',
        version: '3.0.0',
        hosts: ['w1'],
      });
      await ingest(done);
      bigpanda.script(
        { status: 201, body: { status: 'success' } },
        { status: 500, body: { status: 'failure', error: 'Internal Server Error' } },
      );

      await h.drainDispatch();

      const retrying = await h.store.getDelivery(done.deploymentId, 'bp');
      expect(retrying).toMatchObject({
        state: 'retrying',
        deliveredSeq: 0,
        refs: { component: 'checkout-web', version: '3.0.0', hosts: '["w1"]' },
      });
      expect(retrying?.lastError).toContain('answered 500');

      // The queue hands the message out again.
      await h.queue.enqueue([{ v: 1, deploymentId: done.deploymentId, seq: 1, target: 'bp' }]);
      await h.drainDispatch();

      expect(calls(bigpanda, 'checkout-web').map((c) => c.path)).toEqual([
        '/data/events/deployments/start',
        '/data/events/deployments/end',
        '/data/events/deployments/end',
      ]);
      expect(calls(bigpanda, 'checkout-web')[2]?.body).toEqual({
        component: 'checkout-web',
        version: '3.0.0',
        hosts: ['w1'],
        status: 'success',
      });
      expect(await h.store.getDelivery(done.deploymentId, 'bp')).toMatchObject({
        state: 'delivered',
        deliveredSeq: 1,
      });
    });

    it('marks a delivery rejected for its token as failed, with BigPanda’s message and no token anywhere', async () => {
      const started = nativeEvent('bp-5', 'in_progress', { service: 'revoked-svc', version: '1' });
      await ingest(started);

      await h.drainDispatch();

      const delivery = await h.store.getDelivery(started.deploymentId, 'revoked');
      expect(delivery?.state).toBe('failed');
      expect(delivery?.lastError).toContain('answered 401');
      expect(delivery?.lastError).toContain('missing or invalid bearer token');
      const request = calls(bigpanda, 'revoked-svc')[0];
      expect(request?.headers.authorization).toBe(`Bearer ${REVOKED}`);
      for (const text of [delivery?.lastError ?? '', ...h.logs.lines]) {
        expect(text).not.toContain(REVOKED);
        expect(text).not.toContain(TOKEN);
        expect(text).not.toContain(USER_KEY);
        expect(text).not.toContain(APP_KEY);
      }
    });

    it('sends to the configured URL, path prefix included (EU region or a proxy)', async () => {
      const started = nativeEvent('bp-6', 'in_progress', { service: 'eu-search', version: '5' });
      await ingest(started);
      await ingest(nativeEvent('bp-6', 'succeeded', { service: 'eu-search' }));

      await h.drainDispatch();

      expect(calls(eu, 'eu-search').map((c) => c.path)).toEqual([
        '/bigpanda-eu/data/events/deployments/start',
        '/bigpanda-eu/data/events/deployments/end',
      ]);
      expect(calls(eu, 'eu-search')[0]?.body).toMatchObject({ source_system: 'deploys' });
      expect(eu.deployments.find((d) => d.component === 'eu-search')?.status).toBe('success');
      expect(calls(bigpanda, 'eu-search')).toEqual([]);
    });

    it('retries a start that BigPanda never answered', async () => {
      const started = nativeEvent('bp-7', 'in_progress', { service: 'slow-checkout', version: '1' });
      await ingest(started);
      bigpanda.script({ hang: true });

      await h.drainDispatch();

      const delivery = await h.store.getDelivery(started.deploymentId, 'slow');
      expect(delivery).toMatchObject({ state: 'retrying', deliveredSeq: 0 });
      expect(delivery?.lastError).toContain('timed out');
      expect(delivery?.refs).toBeUndefined();
    });
  });

  describe('Changes API', () => {
    it('upserts one change per deployment with the status, tags and both keys', async () => {
      const started = nativeEvent('ch-1', 'in_progress', {
        service: 'changes-cart',
        version: '2.0.1',
        actor: 'ana',
        url: 'https://ci.example.com/runs/42',
        revision: { repository: 'acme/cart', commit: 'abc1234' },
        startedAt: '2026-03-01T10:01:00.000Z',
      });
      await ingest(nativeEvent('ch-1', 'queued', { service: 'changes-cart', version: '2.0.1' }));
      await ingest(started);
      await ingest(
        nativeEvent('ch-1', 'succeeded', { service: 'changes-cart', finishedAt: '2026-03-01T10:06:30.000Z' }),
      );

      await h.drainDispatch();

      const sent = changeCalls(started.deploymentId);
      expect(sent.map((c) => c.body.status)).toEqual(['Planned', 'In Progress', 'Done']);
      expect(sent.every((c) => c.headers.authorization === `Bearer ${USER_KEY}`)).toBe(true);
      expect(sent.every((c) => c.headers['x-bp-app-key'] === APP_KEY)).toBe(true);
      expect(sent[2]?.body).toEqual({
        identifier: started.deploymentId,
        status: 'Done',
        summary: 'changes-cart 2.0.1 → production',
        start: Date.parse('2026-03-01T10:01:00.000Z') / 1000,
        end: Date.parse('2026-03-01T10:06:30.000Z') / 1000,
        ticket_url: 'https://ci.example.com/runs/42',
        tags: {
          service: 'changes-cart',
          environment: 'production',
          version: '2.0.1',
          outcome: 'succeeded',
          source: 'native',
          source_system: 'shipcast',
        },
        metadata: {
          shipcastDeploymentId: started.deploymentId,
          sourceDeploymentId: 'ch-1',
          commit: 'abc1234',
          repository: 'acme/cart',
          actor: 'ana',
        },
      });
      expect(sent[0]?.body).not.toHaveProperty('end');
      const change = bigpanda.changes.get(started.deploymentId);
      expect(change?.history).toHaveLength(3);
      expect(change?.current).toMatchObject({ status: 'Done', tags: { outcome: 'succeeded' } });
    });

    it('closes failed changes as Done with a failed outcome and stopped ones as Canceled', async () => {
      const failed = nativeEvent('ch-2', 'in_progress', { service: 'changes-pay', version: '9' });
      const stopped = nativeEvent('ch-3', 'queued', { service: 'changes-pay', version: '10' });
      await ingest(failed);
      await ingest(nativeEvent('ch-2', 'failed', { service: 'changes-pay' }));
      await ingest(stopped);
      await ingest(nativeEvent('ch-3', 'stopped', { service: 'changes-pay' }));

      await h.drainDispatch();

      expect(bigpanda.changes.get(failed.deploymentId)?.current).toMatchObject({
        status: 'Done',
        tags: { outcome: 'failed', version: '9' },
      });
      expect(bigpanda.changes.get(stopped.deploymentId)?.current).toMatchObject({
        status: 'Canceled',
        tags: { outcome: 'stopped', version: '10' },
      });
    });

    it('puts a change BigPanda rate-limited back on the queue for as long as Retry-After says', async () => {
      const started = nativeEvent('ch-4', 'in_progress', { service: 'changes-search', version: '1' });
      await ingest(started);
      bigpanda.script({
        status: 429,
        headers: { 'retry-after': '90' },
        body: { status: 'failure', error: 'Too Many Requests' },
      });

      await h.drainDispatch();

      expect(retryDelays).toContain(90);
      const delivery = await h.store.getDelivery(started.deploymentId, 'changes');
      expect(delivery).toMatchObject({ state: 'retrying', deliveredSeq: 0 });
      expect(delivery?.lastError).toContain('answered 429');
    });

    it('waits without calling BigPanda when the shared limit of 400 changes a minute is used up', async () => {
      const started = nativeEvent('ch-5', 'in_progress', { service: 'changes-ledger', version: '1' });
      await ingest(started);
      const takes: [string, number, number][] = [];
      const full: RateLimiter = {
        take: async (key, limit, windowSeconds) => {
          takes.push([key, limit, windowSeconds]);
          return 37;
        },
      };
      const batch = (await h.receiveDispatch()).filter(
        (m) => JSON.parse(m.body).deploymentId === started.deploymentId,
      );

      await dispatchBatch(batch, { ...h.runtime.dispatch, limiter: full });

      expect(takes).toEqual([[`bigpanda:${bigpanda.url}`, 400, 60]]);
      expect(retryDelays).toEqual([37]);
      expect(changeCalls(started.deploymentId)).toEqual([]);
      expect(await h.store.getDelivery(started.deploymentId, 'changes')).toMatchObject({ state: 'retrying' });
    });

    it('fails a change BigPanda refuses with 400, keeping its message', async () => {
      const started = nativeEvent('ch-6', 'in_progress', { service: 'changes-ads', version: '1' });
      await ingest(started);
      bigpanda.script({ status: 400, body: { status: 'failure', error: '"summary" is too long' } });

      await h.drainDispatch();

      const delivery = await h.store.getDelivery(started.deploymentId, 'changes');
      expect(delivery?.state).toBe('failed');
      expect(delivery?.lastError).toContain('answered 400');
      expect(delivery?.lastError).toContain('\\"summary\\" is too long');
    });
  });
});

describe('bigpanda target config', () => {
  const config = (target: Record<string, unknown>) =>
    parseConfig({
      api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
      targets: { bp: { type: 'bigpanda', ...target } },
      routes: [{ targets: ['bp'] }],
    });

  it('defaults to the deployments API at api.bigpanda.io, source system shipcast, component from the service', () => {
    expect(config({ token: 'bigpanda-token' }).targets.bp).toEqual({
      type: 'bigpanda',
      api: 'deployments',
      url: 'https://api.bigpanda.io',
      token: 'bigpanda-token',
      sourceSystem: 'shipcast',
      component: '{{service}}',
    });
  });

  it('requires an app key for the Changes API, at the appKey path', () => {
    expect(() => config({ api: 'changes', token: 'bigpanda-user-key' })).toThrow(ConfigError);
    try {
      config({ api: 'changes', token: 'bigpanda-user-key' });
    } catch (error) {
      expect((error as ConfigError).issues).toEqual([
        { path: 'targets.bp.appKey', message: expect.stringContaining('required when api is "changes"') },
      ]);
    }
  });

  it('names the token and the app key as the secrets to resolve', () => {
    const parsed = config({ api: 'changes', token: 'bp-user', appKey: 'bp-app' });
    expect(referencedSecrets(parsed)).toEqual(['api-token', 'bp-app', 'bp-user']);
    expect(bigpandaTarget.secretNames(bigpandaConfigSchema.parse({ type: 'bigpanda', token: 't' }))).toEqual([
      't',
    ]);
  });

  it('rejects a non-http URL and unknown component placeholders', () => {
    const issues = (target: Record<string, unknown>) => {
      try {
        config(target);
        return [];
      } catch (error) {
        return (error as ConfigError).issues.map((i) => i.path);
      }
    };
    expect(issues({ token: 't', url: 'ftp://api.bigpanda.io' })).toEqual(['targets.bp.url']);
    expect(issues({ token: 't', component: '{{service}}-{{colour}}' })).toEqual(['targets.bp.component']);
    expect(issues({ token: 't', component: '{{details.application}}/{{environment}}' })).toEqual([]);
  });
});
