import { createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetQueueAttributesCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DISPATCH_START_RESERVE_MS, dispatchBatch } from '../../functions/core/dispatch.ts';
import { ingestEvent } from '../../functions/core/ingest.ts';
import type { DeploymentEvent } from '../../functions/core/schema.ts';
import { nativeEvent } from '../support/events.ts';
import { createHarness, type Harness, recordingRetries } from '../support/harness.ts';
import { startTargetServer, type TargetServer } from '../support/target-server.ts';

const SECRET = 'whsec-test-0123456789';

const event = (id: string, status: DeploymentEvent['status']) =>
  nativeEvent(id, status, { version: '1.4.2' });

describe('dispatch', () => {
  let h: Harness;
  let hook: TargetServer;
  let other: TargetServer;

  beforeAll(async () => {
    hook = await startTargetServer();
    other = await startTargetServer();
    h = await createHarness({
      maxReceives: 4,
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: {
          hook: { type: 'webhook', url: `${hook.url}/shipcast`, secret: 'hook-secret' },
          other: { type: 'webhook', url: `${other.url}/other` },
        },
        routes: [{ targets: ['hook', 'other'] }],
        dispatch: { maxReceives: 4 },
      },
    });
    writeFileSync(join(h.secretsDir, 'hook-secret'), SECRET);
  });
  afterAll(async () => {
    await h.stop();
    await hook.stop();
    await other.stop();
  });
  beforeEach(() => {
    hook.requests.length = 0;
    other.requests.length = 0;
    hook.fallback = () => ({ status: 200, body: { ok: true } });
    other.fallback = () => ({ status: 200, body: { ok: true } });
  });

  const hookCalls = (deploymentId: string) =>
    hook.requests.filter((r) => r.json<{ deployment: { id: string } }>().deployment.id === deploymentId);

  it('posts a signed JSON notification of each transition, once', async () => {
    const started = event('d1', 'in_progress');
    await ingestEvent(started, h.runtime.ingest);
    await ingestEvent(event('d1', 'succeeded'), h.runtime.ingest);

    await h.drainDispatch();

    const calls = hookCalls(started.deploymentId);
    expect(calls.map((c) => c.json<{ transition: { to: string } }>().transition.to)).toEqual([
      'in_progress',
      'succeeded',
    ]);
    const [first] = calls;
    const signature = String(first?.headers['shipcast-signature']);
    const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(signature) ?? [];
    expect(v1).toBe(createHmac('sha256', SECRET).update(`${t}.${first?.body}`).digest('hex'));
    expect(first?.headers['shipcast-delivery']).toBe(`${started.deploymentId}:1`);
    expect(first?.json()).toMatchObject({
      type: 'deployment.transition',
      deployment: { service: 'checkout', environment: 'production', version: '1.4.2' },
      transition: { seq: 1, from: null, to: 'in_progress' },
    });
    const delivery = await h.store.getDelivery(started.deploymentId, 'hook');
    expect(delivery).toMatchObject({ deliveredSeq: 2, deliveredStatus: 'succeeded', state: 'delivered' });
  });

  it('does not call a target again when a delivered message is redelivered', async () => {
    const started = event('d2', 'in_progress');
    await ingestEvent(started, h.runtime.ingest);
    await h.drainDispatch();
    expect(hookCalls(started.deploymentId)).toHaveLength(1);

    await h.queue.enqueue([{ v: 1, deploymentId: started.deploymentId, seq: 1, target: 'hook' }]);
    await h.drainDispatch();

    expect(hookCalls(started.deploymentId)).toHaveLength(1);
  });

  it('records the deliveries of one transition to every target with one write', async () => {
    const started = event('d-one-write', 'in_progress');
    await ingestEvent(started, h.runtime.ingest);
    const batch = await h.receiveDispatch(1);
    const writes: string[][] = [];
    const real = h.runtime.dispatch.store;
    const store = Object.create(real) as typeof real;
    store.saveDelivery = (next, rev) => {
      writes.push([next.target]);
      return real.saveDelivery(next, rev);
    };
    store.saveDeliveries = (list) => {
      writes.push(list.map((w) => w.next.target).sort());
      return real.saveDeliveries(list);
    };

    const failed = await dispatchBatch(batch, { ...h.runtime.dispatch, store });
    await h.discardHeld(started.deploymentId);

    expect(failed).toEqual([]);
    expect(batch).toHaveLength(2);
    expect(writes).toEqual([['hook', 'other']]);
    expect(
      (await h.store.listDeliveries(started.deploymentId)).map((d) => [d.target, d.deliveredSeq, d.state]),
    ).toEqual([
      ['hook', 1, 'delivered'],
      ['other', 1, 'delivered'],
    ]);
  });

  it("records a fast target's delivery without waiting for a slow one of the same round to answer", async () => {
    const started = event('d-slow-round', 'in_progress');
    await ingestEvent(started, h.runtime.ingest);
    const batch = await h.receiveDispatch(1);
    // `other` never answers: its call ends with the client's 10 s timeout, after the round's 3 s wait.
    other.fallback = () => ({ hang: true });
    const writes: string[][] = [];
    const real = h.runtime.dispatch.store;
    const store = Object.create(real) as typeof real;
    store.saveDeliveries = (list) => {
      writes.push(list.map((w) => `${w.next.target} ${w.next.state}`));
      return real.saveDeliveries(list);
    };

    const failed = await dispatchBatch(batch, { ...h.runtime.dispatch, store });
    await h.discardHeld(started.deploymentId);

    expect(batch).toHaveLength(2);
    expect(failed).toHaveLength(1);
    expect(writes).toEqual([['hook delivered'], ['other retrying']]);
  });

  it('writes each delivery alone when another writer changed one of them since the round read them', async () => {
    const started = event('d-raced-write', 'in_progress');
    await ingestEvent(started, h.runtime.ingest);
    await h.drainDispatch();
    await ingestEvent(event('d-raced-write', 'succeeded'), h.runtime.ingest);
    const batch = await h.receiveDispatch(1);
    const real = h.runtime.dispatch.store;
    const store = Object.create(real) as typeof real;
    // Another writer (a dispatcher holding an older copy, an operator's refresh) bumps `other` right after
    // the round read the deliveries: the shared write must fail as a whole and nothing may be lost.
    store.listDeliveries = async (id) => {
      const read = await real.listDeliveries(id);
      const current = read.find((d) => d.target === 'other');
      if (current)
        await real.saveDelivery(
          { ...current, attempts: current.attempts + 5, rev: current.rev + 1 },
          current.rev,
        );
      return read;
    };
    const shared: boolean[] = [];
    store.saveDeliveries = async (list) => {
      const saved = await real.saveDeliveries(list);
      if (list.length > 1) shared.push(saved);
      return saved;
    };

    const failed = await dispatchBatch(batch, { ...h.runtime.dispatch, store });
    await h.discardHeld(started.deploymentId);

    expect(failed).toEqual([]);
    expect(shared).toEqual([false]);
    expect(hookCalls(started.deploymentId)).toHaveLength(2);
    expect(other.requests).toHaveLength(2);
    const deliveries = await h.store.listDeliveries(started.deploymentId);
    expect(deliveries.map((d) => [d.target, d.deliveredSeq, d.deliveredStatus])).toEqual([
      ['hook', 2, 'succeeded'],
      ['other', 2, 'succeeded'],
    ]);
    // The other writer's change is kept: the delivery was re-read and the outcome applied on top of it.
    expect(deliveries.find((d) => d.target === 'other')?.attempts).toBe(7);
  });

  it('never sends an older state after a newer one', async () => {
    const queued = event('d3', 'queued');
    await ingestEvent(queued, h.runtime.ingest);
    await ingestEvent(event('d3', 'succeeded'), h.runtime.ingest);
    // The queue hands a (deployment, target) out in order; a late copy of the older one (a redrive, say)
    // can still come after the newer one.
    const copy = (seq: number) => ({
      messageId: `d3-copy-${seq}`,
      receiptHandle: `d3-copy-${seq}`,
      body: JSON.stringify({ v: 1, deploymentId: queued.deploymentId, seq, target: 'hook' }),
      receiveCount: 1,
    });

    await dispatchBatch([copy(2)], h.runtime.dispatch);
    await dispatchBatch([copy(1)], h.runtime.dispatch);

    expect(
      hookCalls(queued.deploymentId).map((c) => c.json<{ transition: { to: string } }>().transition.to),
    ).toEqual(['succeeded']);
    await h.drainDispatch();
    expect(hookCalls(queued.deploymentId)).toHaveLength(1);
  });

  it('reads the record eventually consistently, and again consistently when that read lacks the transition, once for all targets of a deployment', async () => {
    // Prepare: a store whose eventually consistent read answers from before the newest write (a replica a
    // second behind: DynamoDB Local is always consistent, so the stale answer is made here).
    await ingestEvent(event('d-stale-read', 'in_progress'), h.runtime.ingest);
    await h.drainDispatch();
    const finished = event('d-stale-read', 'succeeded');
    await ingestEvent(finished, h.runtime.ingest);
    const reads: (string | undefined)[] = [];
    const real = h.runtime.dispatch.store;
    const store = Object.create(real) as typeof real;
    store.getDeployment = async (id, read) => {
      reads.push(read);
      const found = await real.getDeployment(id, read);
      if (read !== 'eventually' || !found) return found;
      return { ...found, transitions: found.transitions.slice(0, -1) };
    };
    const batch = await h.receiveDispatch(1);
    hook.requests.length = 0;

    // Act
    const failed = await dispatchBatch(batch, { ...h.runtime.dispatch, store });
    const body = hookCalls(finished.deploymentId)[0]?.json<{ deployment: { status: string } }>();
    await h.discardHeld(finished.deploymentId);

    // Assess: the newest transition is delivered, not dead-lettered; one stale read, then a consistent one,
    // shared by the messages of the deployment's targets.
    expect(batch.length).toBeGreaterThan(1);
    expect(failed).toEqual([]);
    expect(hookCalls(finished.deploymentId)).toHaveLength(1);
    expect(body?.deployment.status).toBe('succeeded');
    expect(reads).toEqual(['eventually', undefined]);
  });

  it("does not start a message with too little of the function's time left, and counts no attempt", async () => {
    const started = event('d-deadline', 'in_progress');
    await ingestEvent(started, h.runtime.ingest);
    const delays: number[] = [];
    const queue = recordingRetries(delays)(h.runtime.dispatch.queue);
    const batch = await h.receiveDispatch(1);
    expect(batch).toHaveLength(2);

    const failed = await dispatchBatch(batch, {
      ...h.runtime.dispatch,
      queue,
      remainingMs: () => DISPATCH_START_RESERVE_MS - 1,
    });

    expect(failed.sort()).toEqual(batch.map((m) => m.messageId).sort());
    // Handed straight back to the queue, for a fresh invocation: no call, nothing recorded.
    expect(delays).toEqual([0, 0]);
    expect(hookCalls(started.deploymentId)).toEqual([]);
    expect(other.requests).toEqual([]);
    expect(await h.store.getDelivery(started.deploymentId, 'hook')).toBeUndefined();

    // Both come back at once and are delivered by the next receive.
    expect(await h.drainDispatch()).toBe(2);
    expect(hookCalls(started.deploymentId)).toHaveLength(1);
    expect(await h.store.getDelivery(started.deploymentId, 'hook')).toMatchObject({
      state: 'delivered',
      deliveredSeq: 1,
      attempts: 1,
    });
  });

  it('puts a rate-limited message back on the queue for as long as Retry-After says, without failing the others', async () => {
    const started = event('d4', 'in_progress');
    await ingestEvent(started, h.runtime.ingest);
    hook.fallback = () => ({
      status: 429,
      headers: { 'retry-after': '120' },
      body: { message: 'slow down' },
    });
    const batch = await h.receiveDispatch(1);
    const hookMessage = batch.find((m) => JSON.parse(m.body).target === 'hook');

    const failed = await dispatchBatch(batch, h.runtime.dispatch);

    expect(failed).toEqual([hookMessage?.messageId]);
    expect(other.requests).toHaveLength(1);
    const { Attributes } = await h.queues.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: h.resources.dispatchQueueUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    // The message stays invisible well past the 1 s visibility the test received it with.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const { Messages = [] } = await h.queues.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: h.resources.dispatchQueueUrl, MaxNumberOfMessages: 10 }),
    );
    // (The delivered `other` message comes back: dispatchBatch leaves deleting to the event source.)
    expect(Messages.filter((m) => JSON.parse(m.Body as string).target === 'hook')).toHaveLength(0);
    expect(Number(Attributes?.ApproximateNumberOfMessagesNotVisible)).toBeGreaterThanOrEqual(1);
    const delivery = await h.store.getDelivery(started.deploymentId, 'hook');
    expect(delivery).toMatchObject({ state: 'retrying', deliveredSeq: 0, attempts: 1 });
    expect(delivery?.lastError).toContain('429');
  });

  it('records a permanent failure on the delivery and moves the message to the DLQ with the reason', async () => {
    const started = event('d5', 'in_progress');
    await ingestEvent(started, h.runtime.ingest);
    hook.fallback = () => ({ status: 400, body: { error: 'bad payload' } });
    const depthBefore = await h.dlqDepth();

    await h.drainDispatch();

    expect(await h.dlqDepth()).toBe(depthBefore + 1);
    const { Messages = [] } = await h.queues.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: h.resources.dispatchDlqUrl,
        MaxNumberOfMessages: 10,
        MessageAttributeNames: ['All'],
      }),
    );
    const dead = Messages.find((m) => JSON.parse(m.Body as string).deploymentId === started.deploymentId);
    expect(dead?.MessageAttributes?.['shipcast-reason']?.StringValue).toContain('answered 400');
    const delivery = await h.store.getDelivery(started.deploymentId, 'hook');
    expect(delivery).toMatchObject({ state: 'failed', deliveredSeq: 0 });
    expect(delivery?.lastError).toContain('bad payload');
    expect((await h.store.getDelivery(started.deploymentId, 'other'))?.state).toBe('delivered');
  });

  it('gives up on a retryable failure after the configured attempts, counted in the delivery record', async () => {
    const started = event('d6', 'in_progress');
    await ingestEvent(started, h.runtime.ingest);
    hook.fallback = () => ({ status: 503, body: 'unavailable' });
    const batch = (await h.receiveDispatch(30)).filter((m) => JSON.parse(m.body).target === 'hook');
    expect(batch).toHaveLength(1);

    // Three attempts fail and are retried, whatever the queue's receive count says.
    for (let attempt = 1; attempt <= 3; attempt++) {
      expect(await dispatchBatch(batch, h.runtime.dispatch)).toEqual([batch[0]?.messageId]);
      expect(await h.store.getDelivery(started.deploymentId, 'hook')).toMatchObject({
        state: 'retrying',
        failingSeq: 1,
        failedAttempts: attempt,
      });
    }
    const failed = await dispatchBatch(batch, h.runtime.dispatch);

    expect(failed).toEqual([]);
    const delivery = await h.store.getDelivery(started.deploymentId, 'hook');
    expect(delivery?.state).toBe('failed');
    expect(delivery?.lastError).toMatch(/gave up after 4 attempts/);
    expect(hookCalls(started.deploymentId)).toHaveLength(4);

    // Redriven once the target is back: a fresh set of attempts, so one more 503 is retried, not given up.
    const redriven = { ...batch[0], messageId: 'd6-redriven', receiveCount: 1 } as (typeof batch)[number];
    expect(await dispatchBatch([redriven], h.runtime.dispatch)).toEqual(['d6-redriven']);
    expect(await h.store.getDelivery(started.deploymentId, 'hook')).toMatchObject({
      state: 'retrying',
      failingSeq: 1,
      failedAttempts: 1,
    });
    hook.fallback = () => ({ status: 200, body: { ok: true } });
    expect(await dispatchBatch([redriven], h.runtime.dispatch)).toEqual([]);
    expect(await h.store.getDelivery(started.deploymentId, 'hook')).toMatchObject({
      state: 'delivered',
      deliveredSeq: 1,
    });
    expect(hookCalls(started.deploymentId)).toHaveLength(6);
    await h.discardHeld(started.deploymentId);
  });
});
