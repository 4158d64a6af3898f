import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { DynamoStore } from '../../functions/adapters/aws/dynamo-store.ts';
import { createApi } from '../../functions/core/api/app.ts';
import { parseConfig } from '../../functions/core/config.ts';
import { ingestEvent } from '../../functions/core/ingest.ts';
import type { DispatchQueue } from '../../functions/core/ports.ts';
import type { DispatchMessage } from '../../functions/core/schema.ts';
import { SWEEP_GRACE_MS, sweepOrphanedTransitions } from '../../functions/core/sweep.ts';
import { createSweepHandler } from '../../functions/handlers/sweep-handler.ts';
import { type LocalShipcast, startLocal } from '../../functions/local/local-shipcast.ts';
import { captureLogs } from '../support/capture-logger.ts';
import { dynamoClient, waitFor } from '../support/emulators.ts';
import { nativeEvent } from '../support/events.ts';
import { createHarness, type Harness, TestClock } from '../support/harness.ts';
import { startTargetServer, type TargetServer } from '../support/target-server.ts';

const TOKEN = 'sweep-test-token-0123456789';

/** The dispatch queue adapter, with a fault: a crash before the send, or a send held back until released. */
function faultyQueue(real: DispatchQueue) {
  const control = {
    crashNext: false,
    holdNext: false,
    held: [] as (() => void)[],
    sent: [] as DispatchMessage[],
  };
  const queue: DispatchQueue = {
    enqueue: async (messages) => {
      if (control.crashNext) {
        control.crashNext = false;
        throw new Error('injected: the function died between the record and the enqueue');
      }
      if (control.holdNext) {
        control.holdNext = false;
        await new Promise<void>((resolve) => control.held.push(resolve));
      }
      control.sent.push(...messages);
      await real.enqueue(messages);
    },
    retryLater: (receiptHandle, seconds) => real.retryLater(receiptHandle, seconds),
    deadLetter: (body, reason, messageId) => real.deadLetter(body, reason, messageId),
  };
  return { queue, control };
}

describe('sweep of transitions whose enqueue was lost', () => {
  let h: Harness;
  let hook: TargetServer;
  let control: ReturnType<typeof faultyQueue>['control'];
  let api: ReturnType<typeof createApi>;
  let version = 0;

  beforeAll(async () => {
    hook = await startTargetServer();
    h = await createHarness({
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: { hook: { type: 'webhook', url: `${hook.url}/deploys` } },
        routes: [{ targets: ['hook'] }],
      },
      env: { SHIPCAST_SECRET_API_TOKEN: TOKEN },
      queue: (real) => {
        const faulty = faultyQueue(real);
        control = faulty.control;
        return faulty.queue;
      },
    });
    api = createApi(h.runtime.api);
  });
  afterAll(async () => {
    await h?.stop();
    await hook?.stop();
  });
  beforeEach(() => {
    h.clock.advance(1000);
  });

  /** POST /v1/events: one native event of a fresh deployment of checkout. */
  const post = (service = 'checkout') =>
    api.request('/v1/events', {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        service,
        environment: 'production',
        status: 'succeeded',
        version: `${++version}`,
      }),
    });
  const callsFor = (deploymentId: string) =>
    hook.requests.filter((r) => r.json<{ deployment: { id: string } }>().deployment.id === deploymentId);
  const deploymentIdOf = async (service: string) => {
    const { items } = await h.store.listDeployments({ service, limit: 1 });
    return (items[0] as { id: string }).id;
  };

  it('delivers exactly once a transition recorded over HTTP whose enqueue crashed, once the sweep runs', async () => {
    control.crashNext = true;
    const answer = await post('orphan');
    expect(answer.status).toBe(500);
    const deploymentId = await deploymentIdOf('orphan');
    expect(await h.drainDispatch()).toBe(0);

    // Too recent: left to the request that recorded it.
    const early = await sweepOrphanedTransitions(h.runtime.ingest);
    expect(early.enqueued).toBe(0);

    h.clock.advance(SWEEP_GRACE_MS + 1000);
    const swept = await createSweepHandler(async () => h.runtime)();
    expect(swept.enqueued).toBe(1);
    await h.drainDispatch();

    expect(callsFor(deploymentId)).toHaveLength(1);
    expect(await h.store.getDelivery(deploymentId, 'hook')).toMatchObject({
      state: 'delivered',
      deliveredSeq: 1,
    });
    // The next run goes on from where this one stopped: nothing is read or sent again.
    h.clock.advance(5 * 60_000);
    expect(await sweepOrphanedTransitions(h.runtime.ingest)).toMatchObject({ looked: 0, enqueued: 0 });
    await h.drainDispatch();
    expect(callsFor(deploymentId)).toHaveLength(1);
  });

  it('sends one notification when the sweep races an enqueue that came late', async () => {
    control.holdNext = true;
    const request = post('late');
    while (control.held.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    const deploymentId = await deploymentIdOf('late');

    // The request is still on its way to the queue when the sweep finds its transition.
    h.clock.advance(SWEEP_GRACE_MS + 1000);
    expect((await sweepOrphanedTransitions(h.runtime.ingest)).enqueued).toBe(1);
    await h.drainDispatch();
    (control.held.shift() as () => void)();
    expect((await request).status).toBe(202);
    await h.drainDispatch();

    expect(callsFor(deploymentId)).toHaveLength(1);
    expect(control.sent.filter((m) => m.deploymentId === deploymentId)).toHaveLength(2);
  });

  it('leaves alone a transition whose delivery was made or attempted', async () => {
    expect((await post('delivered')).status).toBe(202);
    const deliveredId = await deploymentIdOf('delivered');
    await h.drainDispatch();
    hook.fallback = () => ({ status: 503, body: { error: 'down' } });
    expect((await post('retrying')).status).toBe(202);
    const retryingId = await deploymentIdOf('retrying');
    await h.drainDispatch();
    hook.fallback = () => ({ status: 200, body: { ok: true } });
    await h.discardHeld(retryingId);
    const sentBefore = control.sent.length;

    h.clock.advance(SWEEP_GRACE_MS + 1000);
    const report = await sweepOrphanedTransitions(h.runtime.ingest);

    expect(report).toMatchObject({ looked: 2, enqueued: 0 });
    expect(control.sent).toHaveLength(sentBefore);
    expect(await h.store.getDelivery(deliveredId, 'hook')).toMatchObject({ state: 'delivered' });
    expect(await h.store.getDelivery(retryingId, 'hook')).toMatchObject({ state: 'retrying', failingSeq: 1 });
  });
});

describe('sweep under npm start', () => {
  let hook: TargetServer;
  let local: LocalShipcast | undefined;
  const logs = captureLogs();

  beforeAll(async () => {
    hook = await startTargetServer();
  });
  afterAll(async () => {
    await local?.stop();
    await hook?.stop();
    logs.restore();
  });

  it('runs on its schedule and delivers, exactly once, a transition recorded by a request that died before its enqueue', async () => {
    const clock = new TestClock();
    const config = parseConfig({
      api: { tokens: [{ name: 'dev', secret: 'api-token' }] },
      targets: { hook: { type: 'webhook', url: `${hook.url}/deploys` } },
      routes: [{ targets: ['hook'] }],
    });
    const tableName = `sweep-local-${process.pid}-${Date.now()}`;
    local = await startLocal({
      config,
      dataDir: mkdtempSync(join(tmpdir(), 'shipcast-sweep-')),
      port: 0,
      queuePort: 0,
      dynamodbEndpoint: inject('dynamodbEndpoint'),
      tableName,
      clock,
      env: { SHIPCAST_SECRET_API_TOKEN: TOKEN },
      logger: logs.logger,
      sweepIntervalSeconds: 1,
    });
    // A request recorded its event on the same table, then died before it enqueued the deliveries.
    const dynamodb = dynamoClient(inject('dynamodbEndpoint'));
    const crashing: DispatchQueue = {
      enqueue: async () => {
        throw new Error('injected: the function died between the record and the enqueue');
      },
      retryLater: async () => {},
      deadLetter: async () => {},
    };
    const event = nativeEvent('local-orphan', 'succeeded', {
      service: 'local-orphan',
      environment: 'production',
    });
    await expect(
      ingestEvent(event, {
        store: new DynamoStore(dynamodb, tableName, clock),
        queue: crashing,
        clock,
        config,
        logger: logs.logger,
        metrics: { enabled: false, service: 'test' },
      }),
    ).rejects.toThrow('injected');
    dynamodb.destroy();

    clock.advance(SWEEP_GRACE_MS + 1000);
    const call = await waitFor(() => hook.requests[0], { message: 'the swept delivery', timeoutMs: 20_000 });
    expect(call.json<{ deployment: { id: string } }>().deployment.id).toBe(event.deploymentId);

    // Later runs find nothing more to send.
    const runs = () => logs.entries().filter((e) => e.message === 'swept recorded transitions').length;
    const after = runs();
    await waitFor(() => runs() >= after + 2, { message: 'two more sweeps', timeoutMs: 20_000 });
    expect(hook.requests).toHaveLength(1);
  });
});
