import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/core/config.ts';
import { deploymentIdFor } from '../../functions/core/ids.ts';
import { ingestEvent } from '../../functions/core/ingest.ts';
import type { DeploymentEvent } from '../../functions/core/schema.ts';
import { nativeEvent } from '../support/events.ts';
import { createHarness, type Harness } from '../support/harness.ts';
import { type HoneycombServer, startHoneycombServer } from '../support/honeycomb-server.ts';

const KEY = 'hcxik_01hqk4example7Tq9Zr';
const OTHER_ENV_KEY = 'hcxik_01hqk4otherenv3Lm8Wd';
const REVOKED = 'hcxik_01hqk4revoked5Pn2Xc';

const epoch = (iso: string) => Math.floor(Date.parse(iso) / 1000);

describe('honeycomb target', () => {
  let h: Harness;
  let honeycomb: HoneycombServer;

  beforeAll(async () => {
    honeycomb = await startHoneycombServer({ keys: { [KEY]: ['checkout'], [OTHER_ENV_KEY]: ['billing'] } });
    h = await createHarness({
      maxReceives: 5,
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: {
          hc: { type: 'honeycomb', apiKey: 'honeycomb-key', baseUrl: honeycomb.url },
          dataset: {
            type: 'honeycomb',
            apiKey: 'honeycomb-key',
            baseUrl: `${honeycomb.url}/`,
            dataset: 'checkout',
          },
          wrongEnv: {
            type: 'honeycomb',
            apiKey: 'honeycomb-other',
            baseUrl: honeycomb.url,
            dataset: 'checkout',
          },
          revoked: { type: 'honeycomb', apiKey: 'honeycomb-revoked', baseUrl: honeycomb.url },
        },
        routes: [
          { match: { service: 'hc-*' }, targets: ['hc'] },
          { match: { service: 'ds-*' }, targets: ['dataset'] },
          { match: { service: 'env-*' }, targets: ['wrongEnv'] },
          { match: { service: 'revoked-*' }, targets: ['revoked'] },
        ],
        dispatch: { maxReceives: 5 },
      },
    });
    writeFileSync(join(h.secretsDir, 'honeycomb-key'), KEY);
    writeFileSync(join(h.secretsDir, 'honeycomb-other'), OTHER_ENV_KEY);
    writeFileSync(join(h.secretsDir, 'honeycomb-revoked'), REVOKED);
  });
  afterAll(async () => {
    await h.stop();
    await honeycomb.stop();
  });

  const ingest = (event: DeploymentEvent) => ingestEvent(event, h.runtime.ingest);
  const markersOf = (service: string) =>
    [...honeycomb.markers.values()].filter((m) => m.message?.startsWith(`${service} `));
  /** The marker calls about one service's deployments, as `METHOD path`. */
  const callsFor = (service: string) =>
    honeycomb.requests
      .filter((r) => r.method !== 'GET')
      .filter((r) => String(r.json<{ message?: string }>().message).startsWith(`${service} `))
      .map((r) => `${r.method} ${r.path}`);

  it('creates an environment-wide marker when a deployment starts and makes it a region when it ends', async () => {
    const base = {
      service: 'hc-api',
      version: '1.4.2',
      actor: 'ana',
      url: 'https://ci.example.com/runs/42',
      startedAt: '2026-03-01T10:00:00.000Z',
    };
    await ingest(nativeEvent('hc-1', 'in_progress', base));
    await h.drainDispatch();
    const [started] = markersOf('hc-api');
    expect(started).toMatchObject({
      dataset: '__all__',
      start_time: epoch(base.startedAt),
      message: `hc-api 1.4.2 → production: in progress (ana) [${deploymentIdFor('native', 'hc-1')}]`,
      type: 'deploy',
      url: base.url,
    });
    expect(started?.end_time).toBeUndefined();

    await ingest(nativeEvent('hc-1', 'succeeded', { ...base, finishedAt: '2026-03-01T10:04:30.000Z' }));
    await h.drainDispatch();

    expect(markersOf('hc-api')).toHaveLength(1);
    expect(markersOf('hc-api')[0]).toMatchObject({
      id: started?.id,
      start_time: epoch(base.startedAt),
      end_time: epoch('2026-03-01T10:04:30.000Z'),
      message: `hc-api 1.4.2 → production: succeeded (ana) [${deploymentIdFor('native', 'hc-1')}]`,
    });
    const id = started?.id as string;
    expect(callsFor('hc-api')).toEqual(['POST /1/markers/__all__', `PUT /1/markers/__all__/${id}`]);
    expect(honeycomb.requests.at(-1)?.headers['x-honeycomb-team']).toBe(KEY);
    expect(await h.store.getDelivery(deploymentIdFor('native', 'hc-1'), 'hc')).toMatchObject({
      refs: { markerId: id, markerDataset: '__all__' },
    });
  });

  it("marks a deployment first seen finished with one marker from its start to its end, in the dataset's own markers", async () => {
    await ingest(
      nativeEvent('ds-1', 'failed', {
        service: 'ds-api',
        startedAt: '2026-03-01T11:00:00.000Z',
        finishedAt: '2026-03-01T11:02:00.000Z',
      }),
    );

    await h.drainDispatch();

    expect(markersOf('ds-api')).toEqual([
      expect.objectContaining({
        dataset: 'checkout',
        start_time: epoch('2026-03-01T11:00:00.000Z'),
        end_time: epoch('2026-03-01T11:02:00.000Z'),
      }),
    ]);
    expect(markersOf('ds-api')[0]?.message).toBe(
      `ds-api ${markersOf('ds-api')[0]?.message?.split(' ')[1]} → production: failed [${deploymentIdFor('native', 'ds-1')}]`,
    );
  });

  it('updates the same marker when the end is retried after a server error, never creating a second one', async () => {
    const id = deploymentIdFor('native', 'hc-2');
    await ingest(nativeEvent('hc-2', 'in_progress', { service: 'hc-worker', version: '2.0.0' }));
    await h.drainDispatch();
    honeycomb.script({ status: 503, body: { error: 'service unavailable' } });
    await ingest(nativeEvent('hc-2', 'succeeded', { service: 'hc-worker', version: '2.0.0' }));
    await h.drainDispatch();
    expect((await h.store.getDelivery(id, 'hc'))?.state).toBe('retrying');

    await h.queue.enqueue([{ v: 1, deploymentId: id, seq: 2, target: 'hc' }]);
    await h.drainDispatch();

    const markers = markersOf('hc-worker');
    expect(markers).toHaveLength(1);
    expect(markers[0]?.message).toBe(`hc-worker 2.0.0 → production: succeeded [${id}]`);
    expect(markers[0]?.end_time).toEqual(expect.any(Number));
    const markerId = markers[0]?.id as string;
    expect(honeycomb.requests.filter((r) => r.path === `/1/markers/__all__/${markerId}`)).toHaveLength(2);
  });

  it('creates one marker when the answer to its create was lost', async () => {
    const id = deploymentIdFor('native', 'hc-4');
    honeycomb.loseCreateAnswers(1);
    await ingest(nativeEvent('hc-4', 'in_progress', { service: 'hc-lost', version: '4.0.0' }));
    await h.drainDispatch();
    expect((await h.store.getDelivery(id, 'hc'))?.state).toBe('retrying');
    expect(markersOf('hc-lost')).toHaveLength(1);

    await h.queue.enqueue([{ v: 1, deploymentId: id, seq: 1, target: 'hc' }]);
    await h.drainDispatch();

    const markers = markersOf('hc-lost');
    expect(markers).toHaveLength(1);
    expect(await h.store.getDelivery(id, 'hc')).toMatchObject({
      state: 'delivered',
      refs: { markerId: markers[0]?.id, markerDataset: '__all__' },
    });
    expect(
      honeycomb.requests.filter((r) => r.method === 'GET' && r.path === '/1/markers/__all__'),
    ).toHaveLength(1);
  });

  it('creates another marker when the first was deleted in Honeycomb meanwhile', async () => {
    const id = deploymentIdFor('native', 'hc-3');
    await ingest(nativeEvent('hc-3', 'in_progress', { service: 'hc-deleted', version: '3.0.0' }));
    await h.drainDispatch();
    const first = markersOf('hc-deleted')[0]?.id as string;
    honeycomb.markers.delete(first);

    await ingest(nativeEvent('hc-3', 'succeeded', { service: 'hc-deleted', version: '3.0.0' }));
    await h.drainDispatch();

    const [second] = markersOf('hc-deleted');
    expect(second?.id).not.toBe(first);
    expect(second?.message).toBe(`hc-deleted 3.0.0 → production: succeeded [${id}]`);
    expect((await h.store.getDelivery(id, 'hc'))?.refs?.markerId).toBe(second?.id);
  });

  it("gives up on a key Honeycomb does not know and on a dataset the key's environment lacks, the key in no error", async () => {
    await ingest(nativeEvent('revoked-1', 'succeeded', { service: 'revoked-api' }));
    await ingest(nativeEvent('env-1', 'succeeded', { service: 'env-api' }));

    await h.drainDispatch();

    const revoked = await h.store.getDelivery(deploymentIdFor('native', 'revoked-1'), 'revoked');
    expect(revoked?.state).toBe('failed');
    expect(revoked?.lastError).toContain(
      'answered 401: {"error":"unknown API key - check your credentials"}',
    );
    const wrongEnv = await h.store.getDelivery(deploymentIdFor('native', 'env-1'), 'wrongEnv');
    expect(wrongEnv?.state).toBe('failed');
    expect(wrongEnv?.lastError).toContain('answered 404');
    const logged = JSON.stringify(h.logs.lines);
    for (const key of [REVOKED, OTHER_ENV_KEY, KEY]) {
      expect(revoked?.lastError).not.toContain(key);
      expect(logged).not.toContain(key);
    }
  });

  it('rejects a config without the API key secret or with a bad dataset, naming the field', () => {
    const config = (target: Record<string, unknown>) => ({
      api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
      targets: { hc: { type: 'honeycomb', ...target } },
      routes: [],
    });
    expect(() => parseConfig(config({}), 't')).toThrow(/targets\.hc\.apiKey/);
    expect(() => parseConfig(config({ apiKey: 'k', dataset: 'my dataset' }), 't')).toThrow(
      /targets\.hc\.dataset: a dataset slug/,
    );
  });
});
