import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { referencedSecrets } from '../../functions/core/config-secrets.ts';
import type { DeploymentEvent } from '../../functions/core/schema.ts';
import { nativeEvent } from '../support/events.ts';
import type { Harness } from '../support/harness.ts';
import {
  type PagerDutyServer,
  pagerdutyThrottled,
  startPagerDutyServer,
} from '../support/pagerduty-server.ts';
import {
  configWithTarget,
  createTargetHarness,
  type TargetHarness,
  targetConfigIssues,
} from '../support/target-harness.ts';

const ROUTING_KEY = 'e93facc04764012d7bfb002500d5d1a6';
const OTHER_KEY = 'f5d8b6a1c2e34f7a9b0c1d2e3f405162';
const REVOKED_KEY = '0a1b2c3d4e5f60718293a4b5c6d7e8f9';
const COMMIT = '9f1c2d3e4b5a69788796a5b4c3d2e1f0a9b8c7d6';

type Body = { routing_key: string; payload: Record<string, unknown>; links?: unknown[] };

describe('pagerduty target', () => {
  let h: Harness;
  let pagerduty: PagerDutyServer;
  let t: TargetHarness;

  beforeAll(async () => {
    pagerduty = await startPagerDutyServer({
      routingKeys: { [ROUTING_KEY]: 'checkout', [OTHER_KEY]: 'payments' },
    });
    t = await createTargetHarness({
      targets: {
        pd: { type: 'pagerduty', url: pagerduty.url, routingKey: 'pd-checkout' },
        pdStart: { type: 'pagerduty', url: pagerduty.url, routingKey: 'pd-payments', onStart: true },
        pdRevoked: { type: 'pagerduty', url: `${pagerduty.url}/`, routingKey: 'pd-revoked', source: 'ci' },
      },
      routes: { 'checkout*': 'pd', 'payments*': 'pdStart', 'revoked*': 'pdRevoked' },
      secrets: { 'pd-checkout': ROUTING_KEY, 'pd-payments': OTHER_KEY, 'pd-revoked': REVOKED_KEY },
    });
    h = t.h;
  });
  afterAll(async () => {
    await t.stop();
    await pagerduty.stop();
  });
  beforeEach(() => {
    t.retryDelays.length = 0;
  });

  const ingest = (event: DeploymentEvent) => t.ingest(event);
  /** What was sent about one deployment (by its Shipcast id in the custom details). */
  const sent = (deploymentId: string) =>
    pagerduty.requests
      .map((r) => r.json<Body>())
      .filter(
        (b) =>
          (b.payload?.custom_details as Record<string, unknown>)?.shipcast_deployment_id === deploymentId,
      );
  const accepted = (deploymentId: string) =>
    pagerduty.changeEvents.filter(
      (e) => (e.payload.custom_details as Record<string, unknown>).shipcast_deployment_id === deploymentId,
    );

  it('sends one change event when the deployment finishes, with its facts and deep links', async () => {
    const base = {
      service: 'checkout-api',
      version: '1.4.2',
      actor: 'ana',
      url: 'https://ci.example.com/runs/42',
      revision: { repository: 'acme/checkout', commit: COMMIT },
    };
    const queued = nativeEvent('pd-1', 'queued', base);
    await ingest(queued);
    await ingest(nativeEvent('pd-1', 'in_progress', { ...base, startedAt: '2026-03-01T10:01:00.000Z' }));
    await ingest(nativeEvent('pd-1', 'succeeded', { ...base, finishedAt: '2026-03-01T10:07:17.000Z' }));

    await h.drainDispatch();

    const bodies = sent(queued.deploymentId);
    expect(bodies).toHaveLength(1);
    expect(bodies[0]).toEqual({
      routing_key: ROUTING_KEY,
      payload: {
        summary: 'checkout-api 1.4.2 → production succeeded (by ana)',
        source: 'checkout-api/production',
        timestamp: '2026-03-01T10:07:17.000Z',
        custom_details: {
          service: 'checkout-api',
          environment: 'production',
          version: '1.4.2',
          commit: COMMIT,
          repository: 'acme/checkout',
          actor: 'ana',
          outcome: 'succeeded',
          status: 'succeeded',
          duration: '6m 17s',
          shipcast_deployment_id: queued.deploymentId,
          source: 'native',
          source_deployment_id: 'pd-1',
        },
      },
      links: [
        { href: 'https://ci.example.com/runs/42', text: 'native deployment' },
        { href: `https://github.com/acme/checkout/commit/${COMMIT}`, text: 'Commit 9f1c2d3' },
      ],
    });
    expect(accepted(queued.deploymentId).map((e) => e.service)).toEqual(['checkout']);
    expect(await h.store.getDelivery(queued.deploymentId, 'pd')).toMatchObject({
      state: 'delivered',
      deliveredSeq: 3,
      refs: { finished: '3' },
    });
  });

  it('with onStart, sends the start once (queued then in progress) and the end, and reports a failure with its error', async () => {
    const queued = nativeEvent('pd-2', 'queued', { service: 'payments', version: '7' });
    await ingest(queued);
    await h.drainDispatch();
    await ingest(nativeEvent('pd-2', 'in_progress', { service: 'payments' }));
    await h.drainDispatch();
    await ingest(
      nativeEvent('pd-2', 'failed', {
        service: 'payments',
        error: { code: 'HEALTH_CONSTRAINTS', message: 'Too many instances failed' },
      }),
    );

    await h.drainDispatch();

    const events = accepted(queued.deploymentId);
    expect(events.map((e) => e.payload.summary)).toEqual([
      'payments 7 → production queued',
      'payments 7 → production failed',
    ]);
    expect(events[1]?.payload.custom_details).toMatchObject({
      outcome: 'failed',
      error: 'HEALTH_CONSTRAINTS: Too many instances failed',
    });
    expect(events.every((e) => e.service === 'payments')).toBe(true);
    expect((await h.store.getDelivery(queued.deploymentId, 'pdStart'))?.refs).toEqual({
      started: '1',
      finished: '3',
    });
  });

  it('retries a change event PagerDuty throttled or failed, then sends it once', async () => {
    const done = nativeEvent('pd-3', 'succeeded', { service: 'checkout-web', version: '3' });
    await ingest(done);
    pagerduty.script(pagerdutyThrottled);

    await h.drainDispatch();

    const throttled = await h.store.getDelivery(done.deploymentId, 'pd');
    expect(throttled).toMatchObject({ state: 'retrying', deliveredSeq: 0 });
    expect(throttled?.lastError).toContain(
      'PagerDuty change event answered 429: Requests for this service are arriving too quickly',
    );
    expect(accepted(done.deploymentId)).toEqual([]);

    pagerduty.script({ status: 502, body: 'Bad Gateway' });
    await t.redeliver(done.deploymentId, 1, 'pd');
    await h.drainDispatch();
    expect((await h.store.getDelivery(done.deploymentId, 'pd'))?.lastError).toContain(
      'PagerDuty change event answered 502: POST',
    );

    await t.redeliver(done.deploymentId, 1, 'pd');
    await h.drainDispatch();
    // A copy of the message after it was delivered (a redrive, a duplicate) calls PagerDuty no more.
    await t.redeliver(done.deploymentId, 1, 'pd');
    await h.drainDispatch();

    expect(sent(done.deploymentId)).toHaveLength(3);
    expect(accepted(done.deploymentId)).toHaveLength(1);
    expect(await h.store.getDelivery(done.deploymentId, 'pd')).toMatchObject({
      state: 'delivered',
      deliveredSeq: 1,
      refs: { finished: '1' },
    });
  });

  it('fails a change event PagerDuty refuses with 400, with its message and without the routing key', async () => {
    const done = nativeEvent('pd-4', 'succeeded', { service: 'revoked-svc', version: '1' });
    await ingest(done);

    await h.drainDispatch();

    const delivery = await h.store.getDelivery(done.deploymentId, 'pdRevoked');
    expect(delivery?.state).toBe('failed');
    expect(delivery?.lastError).toBe(
      'PagerDuty change event answered 400: Event object is invalid; Invalid routing key',
    );
    expect(sent(done.deploymentId)[0]?.routing_key).toBe(REVOKED_KEY);
    expect(sent(done.deploymentId)[0]?.payload.source).toBe('ci');
    expect(await h.dlqDepth()).toBeGreaterThan(0);
    for (const text of [JSON.stringify(delivery), ...h.logs.lines]) {
      for (const key of [ROUTING_KEY, OTHER_KEY, REVOKED_KEY]) expect(text).not.toContain(key);
    }
  });
});

describe('pagerduty target config', () => {
  it('defaults to PagerDuty’s US Events API host and end-only events, and names the routing key as a secret', () => {
    const parsed = configWithTarget({ type: 'pagerduty', routingKey: 'pd-key' });
    expect(parsed.targets.t).toEqual({
      type: 'pagerduty',
      routingKey: 'pd-key',
      onStart: false,
      url: 'https://events.pagerduty.com',
    });
    expect(referencedSecrets(parsed)).toEqual(['api-token', 'pd-key']);
  });

  it('rejects a routing key given as a value and a non-http URL, naming the fields', () => {
    const issues = targetConfigIssues({
      type: 'pagerduty',
      routingKey: 'e93facc0 4764!',
      url: 'ftp://events.pagerduty.com',
    });
    expect(issues.map((i) => i.split(':')[0])).toEqual(['targets.t.routingKey', 'targets.t.url']);
  });

  it('tells where a routing key pasted into the config belongs', () => {
    expect(targetConfigIssues({ type: 'pagerduty', routingKey: ROUTING_KEY })).toEqual([
      "targets.t.routingKey: this looks like the routing key itself: put it in a secret and give the secret's name here",
    ]);
  });
});
