import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { referencedSecrets } from '../../functions/core/config-secrets.ts';
import type { DeploymentEvent } from '../../functions/core/schema.ts';
import { nativeEvent } from '../support/events.ts';
import { type GrafanaServer, startGrafanaServer } from '../support/grafana-server.ts';
import type { Harness } from '../support/harness.ts';
import {
  configWithTarget,
  createTargetHarness,
  type TargetHarness,
  targetConfigIssues,
} from '../support/target-harness.ts';

const EDITOR = 'glsa_Ed1torT0kenAbCdEfGh12345678_0a1b2c3d';
const VIEWER = 'glsa_V1ewerT0kenZyXwVuTs87654321_9f8e7d6c';
const COMMIT = '9f1c2d3e4b5a69788796a5b4c3d2e1f0a9b8c7d6';

describe('grafana target', () => {
  let h: Harness;
  let grafana: GrafanaServer;
  let t: TargetHarness;

  beforeAll(async () => {
    grafana = await startGrafanaServer({ editorTokens: [EDITOR], viewerTokens: [VIEWER] });
    t = await createTargetHarness({
      targets: {
        graf: { type: 'grafana', url: grafana.url, token: 'grafana-token', tags: ['team:payments'] },
        panel: {
          type: 'grafana',
          url: `${grafana.url}/`,
          token: 'grafana-token',
          dashboardUID: 'svc-ov',
          panelId: 4,
        },
        viewer: { type: 'grafana', url: grafana.url, token: 'grafana-viewer' },
      },
      routes: { 'checkout*': 'graf', 'panel*': 'panel', 'viewer*': 'viewer' },
      secrets: { 'grafana-token': EDITOR, 'grafana-viewer': VIEWER },
    });
    h = t.h;
  });
  afterAll(async () => {
    await t.stop();
    await grafana.stop();
  });
  beforeEach(() => {
    t.retryDelays.length = 0;
  });

  const ingest = (event: DeploymentEvent) => t.ingest(event);
  const annotationsOf = (deploymentId: string) =>
    [...grafana.annotations.values()].filter((a) => a.tags.includes(`shipcast:${deploymentId}`));
  const redeliver = (deploymentId: string, seq: number, target: string) =>
    t.redeliver(deploymentId, seq, target);

  it('creates an annotation when the deployment starts and turns it into a region when it ends', async () => {
    const base = {
      service: 'checkout-api',
      version: '1.4.2',
      actor: 'ana',
      url: 'https://ci.example.com/runs/42?a=1&b=2',
      revision: { repository: 'acme/checkout', commit: COMMIT },
    };
    const started = nativeEvent('gf-1', 'in_progress', { ...base, startedAt: '2026-03-01T10:01:00.000Z' });
    await ingest(started);
    await h.drainDispatch();
    const created = annotationsOf(started.deploymentId);
    expect(created).toHaveLength(1);
    expect(created[0]).toMatchObject({
      time: Date.parse('2026-03-01T10:01:00.000Z'),
      timeEnd: Date.parse('2026-03-01T10:01:00.000Z'),
      tags: [
        'deploy',
        'service:checkout-api',
        'environment:production',
        'version:1.4.2',
        'status:in_progress',
        `shipcast:${started.deploymentId}`,
        'team:payments',
      ],
    });

    await ingest(nativeEvent('gf-1', 'succeeded', { ...base, finishedAt: '2026-03-01T10:07:17.000Z' }));
    await h.drainDispatch();

    const [annotation] = annotationsOf(started.deploymentId);
    expect(annotationsOf(started.deploymentId)).toHaveLength(1);
    expect(annotation).toMatchObject({
      id: created[0]?.id,
      time: Date.parse('2026-03-01T10:01:00.000Z'),
      timeEnd: Date.parse('2026-03-01T10:07:17.000Z'),
      patches: 1,
    });
    expect(annotation?.tags).toContain('status:succeeded');
    expect(annotation?.text).toBe(
      [
        '<b>checkout-api 1.4.2 → production succeeded (by ana)</b>',
        'commit 9f1c2d3, took 6m 17s',
        '<a href="https://ci.example.com/runs/42?a=1&amp;b=2">native deployment</a> · ' +
          `<a href="https://github.com/acme/checkout/commit/${COMMIT}">Commit 9f1c2d3</a>`,
      ].join('<br>'),
    );
    const calls = grafana.requests.filter((r) => r.path.startsWith('/api/annotations'));
    expect(calls.every((r) => r.headers.authorization === `Bearer ${EDITOR}`)).toBe(true);
    expect(await h.store.getDelivery(started.deploymentId, 'graf')).toMatchObject({
      state: 'delivered',
      deliveredSeq: 2,
      refs: { annotationId: String(created[0]?.id) },
    });
  });

  it('puts a deployment first seen finished on the configured dashboard panel as a region in one call', async () => {
    const done = nativeEvent('gf-2', 'failed', {
      service: 'panel-svc',
      version: '9',
      startedAt: '2026-03-01T09:00:00.000Z',
      finishedAt: '2026-03-01T09:02:00.000Z',
      error: { code: 'HEALTH_CONSTRAINTS', message: 'Too many <b>instances</b> failed' },
    });
    await ingest(done);

    await h.drainDispatch();

    expect(annotationsOf(done.deploymentId)).toEqual([
      expect.objectContaining({
        dashboardUID: 'svc-ov',
        panelId: 4,
        time: Date.parse('2026-03-01T09:00:00.000Z'),
        timeEnd: Date.parse('2026-03-01T09:02:00.000Z'),
        patches: 0,
        text: expect.stringContaining('HEALTH_CONSTRAINTS: Too many &lt;b&gt;instances&lt;/b&gt; failed'),
      }),
    ]);
  });

  it('finds the annotation a call created before its answer was lost, instead of creating a second one', async () => {
    const started = nativeEvent('gf-3', 'in_progress', { service: 'checkout-web', version: '3' });
    await ingest(started);
    grafana.loseNextAnswer();

    await h.drainDispatch();

    expect(await h.store.getDelivery(started.deploymentId, 'graf')).toMatchObject({ state: 'retrying' });
    expect(annotationsOf(started.deploymentId)).toHaveLength(1);

    await redeliver(started.deploymentId, 1, 'graf');
    await h.drainDispatch();

    const [annotation] = annotationsOf(started.deploymentId);
    expect(annotationsOf(started.deploymentId)).toHaveLength(1);
    expect(annotation?.patches).toBe(1);
    const lookup = grafana.requests.find(
      (r) => r.method === 'GET' && r.path.includes(encodeURIComponent(`shipcast:${started.deploymentId}`)),
    );
    expect(lookup?.path).toContain('type=annotation');
    expect(await h.store.getDelivery(started.deploymentId, 'graf')).toMatchObject({
      state: 'delivered',
      refs: { annotationId: String(annotation?.id) },
    });
  });

  it('creates the annotation again when someone deleted it before the deployment ended', async () => {
    const started = nativeEvent('gf-4', 'in_progress', { service: 'checkout-cron', version: '1' });
    await ingest(started);
    await h.drainDispatch();
    const first = annotationsOf(started.deploymentId)[0];
    grafana.annotations.delete(first?.id as number);

    await ingest(nativeEvent('gf-4', 'succeeded', { service: 'checkout-cron' }));
    await h.drainDispatch();

    const again = annotationsOf(started.deploymentId);
    expect(again).toHaveLength(1);
    expect(again[0]?.id).not.toBe(first?.id);
    expect(again[0]?.tags).toContain('status:succeeded');
    expect((await h.store.getDelivery(started.deploymentId, 'graf'))?.refs).toEqual({
      annotationId: String(again[0]?.id),
    });
  });

  it('retries after a 429 for as long as Retry-After says, and after a 5xx', async () => {
    const started = nativeEvent('gf-5', 'in_progress', { service: 'checkout-search', version: '2' });
    await ingest(started);
    grafana.script({ status: 429, headers: { 'retry-after': '30' }, body: { message: 'Too many requests' } });

    await h.drainDispatch();

    expect(t.retryDelays).toEqual([30]);
    const throttled = await h.store.getDelivery(started.deploymentId, 'graf');
    expect(throttled?.lastError).toBe('create the Grafana annotation answered 429: Too many requests');

    grafana.script({ status: 503, body: { message: 'service unavailable' } });
    await redeliver(started.deploymentId, 1, 'graf');
    await h.drainDispatch();
    expect((await h.store.getDelivery(started.deploymentId, 'graf'))?.state).toBe('retrying');

    await redeliver(started.deploymentId, 1, 'graf');
    await h.drainDispatch();

    expect(annotationsOf(started.deploymentId)).toHaveLength(1);
    expect((await h.store.getDelivery(started.deploymentId, 'graf'))?.state).toBe('delivered');
  });

  it('fails for a token without the permission, with Grafana’s message and no token anywhere', async () => {
    const started = nativeEvent('gf-6', 'in_progress', { service: 'viewer-svc', version: '1' });
    await ingest(started);

    await h.drainDispatch();

    const delivery = await h.store.getDelivery(started.deploymentId, 'viewer');
    expect(delivery?.state).toBe('failed');
    expect(delivery?.lastError).toBe(
      "create the Grafana annotation answered 403: You'll need additional permissions to perform this action. Permissions needed: annotations:create",
    );
    for (const text of [JSON.stringify(delivery), ...h.logs.lines]) {
      expect(text).not.toContain(VIEWER);
      expect(text).not.toContain(EDITOR);
    }
  });
});

describe('grafana target config', () => {
  const config = (target: Record<string, unknown>) => configWithTarget({ type: 'grafana', ...target });
  const issues = (target: Record<string, unknown>) =>
    targetConfigIssues({ type: 'grafana', ...target }).map((i) => i.split(':')[0]);

  it('takes the URL and the token’s secret name, with no extra tags by default', () => {
    const parsed = config({ url: 'https://grafana.example.com', token: 'grafana-sa' });
    expect(parsed.targets.t).toEqual({
      type: 'grafana',
      url: 'https://grafana.example.com',
      token: 'grafana-sa',
      tags: [],
    });
    expect(referencedSecrets(parsed)).toEqual(['api-token', 'grafana-sa']);
  });

  it('rejects a panel without its dashboard, a missing URL and a token value, naming the fields', () => {
    expect(issues({ url: 'https://g.example.com', token: 't', panelId: 2 })).toEqual(['targets.t.panelId']);
    expect(issues({ token: 'glsa_abc def' })).toEqual(['targets.t.url', 'targets.t.token']);
    expect(targetConfigIssues({ type: 'grafana', url: 'https://g.example.com', token: EDITOR })).toEqual([
      "targets.t.token: this looks like the service account token itself: put it in a secret and give the secret's name here",
    ]);
  });
});
