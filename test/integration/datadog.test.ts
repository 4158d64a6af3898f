import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { referencedSecrets } from '../../functions/core/config-secrets.ts';
import type { DeploymentEvent } from '../../functions/core/schema.ts';
import { datadogApiBase } from '../../functions/core/targets/datadog.ts';
import { type DatadogServer, datadogRateLimited, startDatadogServer } from '../support/datadog-server.ts';
import { nativeEvent } from '../support/events.ts';
import type { Harness } from '../support/harness.ts';
import {
  configWithTarget,
  createTargetHarness,
  type TargetHarness,
  targetConfigIssues,
} from '../support/target-harness.ts';

const API_KEY = 'dd0api0key0a1b2c3d4e5f60718293a4b5';
const WRONG_KEY = 'dd0wrong0key0ffeeddccbbaa99887766';
const COMMIT = '9f1c2d3e4b5a69788796a5b4c3d2e1f0a9b8c7d6';

describe('datadog target', () => {
  let h: Harness;
  let datadog: DatadogServer;
  let t: TargetHarness;

  beforeAll(async () => {
    datadog = await startDatadogServer({ apiKeys: [API_KEY] });
    t = await createTargetHarness({
      targets: {
        dora: { type: 'datadog', baseUrl: datadog.url, apiKey: 'dd-api-key', team: 'shop' },
        both: {
          type: 'datadog',
          baseUrl: `${datadog.url}/`,
          apiKey: 'dd-api-key',
          events: true,
          tags: ['team:pay'],
        },
        wrong: { type: 'datadog', baseUrl: datadog.url, apiKey: 'dd-wrong-key' },
      },
      routes: { 'checkout*': 'dora', 'payments*': 'both', 'wrong*': 'wrong' },
      secrets: { 'dd-api-key': API_KEY, 'dd-wrong-key': WRONG_KEY },
    });
    h = t.h;
  });
  afterAll(async () => {
    await t.stop();
    await datadog.stop();
  });
  beforeEach(() => {
    t.retryDelays.length = 0;
  });

  const ingest = (event: DeploymentEvent) => t.ingest(event);
  const eventsOf = (deploymentId: string) => datadog.events.filter((e) => e.aggregation_key === deploymentId);
  const doraSendsOf = (deploymentId: string) => datadog.doraSends.filter((d) => d.id === deploymentId);
  const redeliver = (deploymentId: string, seq: number, target: string) =>
    t.redeliver(deploymentId, seq, target);

  it('sends a finished deployment to DORA Metrics once, with nanosecond times, git and version', async () => {
    const base = {
      service: 'checkout-api',
      version: '1.4.2',
      actor: 'ana',
      revision: { repository: 'acme/checkout', commit: COMMIT },
    };
    const queued = nativeEvent('dd-1', 'queued', base);
    await ingest(queued);
    await ingest(nativeEvent('dd-1', 'in_progress', { ...base, startedAt: '2026-03-01T10:01:00.000Z' }));
    await ingest(nativeEvent('dd-1', 'succeeded', { ...base, finishedAt: '2026-03-01T10:07:17.250Z' }));

    await h.drainDispatch();

    expect(doraSendsOf(queued.deploymentId)).toEqual([
      {
        service: 'checkout-api',
        env: 'production',
        started_at: 1772359260000000000,
        finished_at: 1772359637250000000,
        git: { repository_url: 'https://github.com/acme/checkout', commit_sha: COMMIT },
        version: '1.4.2',
        id: queued.deploymentId,
        team: 'shop',
        custom_tags: [
          'service:checkout-api',
          'env:production',
          'version:1.4.2',
          'deployment_status:succeeded',
          'deployed_by:ana',
          `git.commit.sha:${COMMIT}`,
          'shipcast_source:native',
          `shipcast_deployment_id:${queued.deploymentId}`,
        ],
      },
    ]);
    const raw = datadog.requests.find((r) => r.body.includes(queued.deploymentId));
    expect(raw?.body).toContain('"started_at":1772359260000000000');
    expect(raw?.headers['dd-api-key']).toBe(API_KEY);
    expect(eventsOf(queued.deploymentId)).toEqual([]);
    expect(await h.store.getDelivery(queued.deploymentId, 'dora')).toMatchObject({
      state: 'delivered',
      deliveredSeq: 3,
      refs: { dora: '3' },
    });
  });

  it('with events, posts one event per transition grouped by deployment, and no DORA deployment for a failure', async () => {
    const started = nativeEvent('dd-2', 'in_progress', {
      service: 'payments',
      version: '7',
      url: 'https://ci.example.com/runs/7',
    });
    await ingest(started);
    await h.drainDispatch();
    await ingest(
      nativeEvent('dd-2', 'failed', {
        service: 'payments',
        error: { code: 'HEALTH_CONSTRAINTS', message: 'Too many instances failed' },
      }),
    );

    await h.drainDispatch();

    const events = eventsOf(started.deploymentId);
    expect(events.map((e) => [e.title, e.alert_type])).toEqual([
      ['Deployment: payments 7 → production in progress', 'info'],
      ['Deployment: payments 7 → production failed', 'error'],
    ]);
    expect(events[1]?.text).toBe(
      '%%% \nError: HEALTH_CONSTRAINTS: Too many instances failed\n\n[native deployment](https://ci.example.com/runs/7)\n %%%',
    );
    expect(events[1]?.tags).toEqual([
      'service:payments',
      'env:production',
      'version:7',
      'deployment_status:failed',
      'shipcast_source:native',
      `shipcast_deployment_id:${started.deploymentId}`,
      'team:pay',
    ]);
    expect(events.every((e) => Number.isInteger(e.date_happened))).toBe(true);
    expect(doraSendsOf(started.deploymentId)).toEqual([]);
  });

  it('retries only the DORA deployment when it failed after the event was accepted', async () => {
    const done = nativeEvent('dd-3', 'succeeded', { service: 'payments-api', version: '2' });
    await ingest(done);
    datadog.script(
      { status: 202, body: { status: 'ok', event: { id: 1 } } },
      { status: 500, body: { errors: ['Internal Server Error'] } },
    );

    await h.drainDispatch();

    const failing = await h.store.getDelivery(done.deploymentId, 'both');
    expect(failing).toMatchObject({ state: 'retrying', refs: { event: '1' } });
    expect(failing?.lastError).toBe('Datadog DORA deployment answered 500: Internal Server Error');

    await redeliver(done.deploymentId, 1, 'both');
    await h.drainDispatch();

    const calls = datadog.requests.filter((r) => r.body.includes(done.deploymentId)).map((r) => r.path);
    expect(calls).toEqual(['/api/v1/events', '/api/v2/dora/deployment', '/api/v2/dora/deployment']);
    expect(doraSendsOf(done.deploymentId)).toHaveLength(1);
    expect(await h.store.getDelivery(done.deploymentId, 'both')).toMatchObject({
      state: 'delivered',
      refs: { event: '1', dora: '1' },
    });
  });

  it('waits for as long as X-RateLimit-Reset says (seconds until the window resets) after a 429', async () => {
    const done = nativeEvent('dd-4', 'succeeded', { service: 'checkout-web', version: '3' });
    await ingest(done);
    datadog.script(datadogRateLimited(17));

    await h.drainDispatch();

    expect(t.retryDelays).toEqual([17]);
    const delivery = await h.store.getDelivery(done.deploymentId, 'dora');
    expect(delivery).toMatchObject({ state: 'retrying', deliveredSeq: 0 });
    expect(delivery?.lastError).toBe('Datadog DORA deployment answered 429: Too many requests');
    await h.discardHeld(done.deploymentId);
  });

  it('fails a deployment Datadog refuses with its own words: 400 JSON:API details, 403 for the key', async () => {
    const refused = nativeEvent('dd-5', 'succeeded', { service: 'checkout-cron', version: '1' });
    await ingest(refused);
    datadog.script({
      status: 400,
      body: { errors: [{ status: '400', title: 'Bad Request', detail: 'service is not in the catalog' }] },
    });
    // One at a time: the scripted 400 is the stand-in's next answer, whichever delivery asks first.
    await h.drainDispatch();
    const wrong = nativeEvent('dd-6', 'succeeded', { service: 'wrong-svc', version: '1' });
    await ingest(wrong);
    await h.drainDispatch();

    const first = await h.store.getDelivery(refused.deploymentId, 'dora');
    const second = await h.store.getDelivery(wrong.deploymentId, 'wrong');
    expect([first?.lastError, second?.lastError].sort()).toEqual([
      'Datadog DORA deployment answered 400: Bad Request: service is not in the catalog',
      'Datadog DORA deployment answered 403: Forbidden',
    ]);
    expect([first?.state, second?.state]).toEqual(['failed', 'failed']);
    for (const text of [JSON.stringify(second), ...h.logs.lines]) {
      expect(text).not.toContain(WRONG_KEY);
      expect(text).not.toContain(API_KEY);
    }
  });
});

describe('datadog target config', () => {
  const config = (target: Record<string, unknown>) => configWithTarget({ type: 'datadog', ...target });
  const issues = (target: Record<string, unknown>) => targetConfigIssues({ type: 'datadog', ...target });

  it('defaults to US1, DORA deployments of successes and no events, and names the API key as a secret', () => {
    const parsed = config({ apiKey: 'dd-key' });
    expect(parsed.targets.t).toEqual({
      type: 'datadog',
      site: 'datadoghq.com',
      apiKey: 'dd-key',
      dora: true,
      doraOn: ['succeeded'],
      events: false,
      tags: [],
    });
    expect(referencedSecrets(parsed)).toEqual(['api-token', 'dd-key']);
  });

  it('calls the API host of each site, or baseUrl', () => {
    expect(datadogApiBase({ site: 'datadoghq.com' })).toBe('https://api.datadoghq.com');
    expect(datadogApiBase({ site: 'datadoghq.eu' })).toBe('https://api.datadoghq.eu');
    expect(datadogApiBase({ site: 'us3.datadoghq.com' })).toBe('https://api.us3.datadoghq.com');
    expect(datadogApiBase({ site: 'us5.datadoghq.com' })).toBe('https://api.us5.datadoghq.com');
    expect(datadogApiBase({ site: 'ap1.datadoghq.com' })).toBe('https://api.ap1.datadoghq.com');
    expect(datadogApiBase({ site: 'ddog-gov.com' })).toBe('https://api.ddog-gov.com');
    expect(datadogApiBase({ site: 'datadoghq.eu', baseUrl: 'http://127.0.0.1:9/dd/' })).toBe(
      'http://127.0.0.1:9/dd',
    );
  });

  it('refuses DORA on GovCloud, nothing to send, an unknown site and a tag that is not key:value', () => {
    expect(issues({ apiKey: 'k', site: 'ddog-gov.com' })).toEqual([
      expect.stringMatching(/^targets\.t\.dora: DORA Metrics are not available on the GovCloud site/),
    ]);
    expect(issues({ apiKey: 'k', site: 'ddog-gov.com', dora: false, events: true })).toEqual([]);
    expect(issues({ apiKey: 'k', dora: false })).toEqual([expect.stringMatching(/^targets\.t\.events: /)]);
    expect(issues({ apiKey: 'k', site: 'datadoghq.fr' }).map((i) => i.split(':')[0])).toEqual([
      'targets.t.site',
    ]);
    expect(issues({ apiKey: 'k', tags: ['payments'] }).map((i) => i.split(':')[0])).toEqual([
      'targets.t.tags[0]',
    ]);
  });
});
