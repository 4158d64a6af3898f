import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dispatchGroupId } from '../../functions/adapters/aws/sqs-queue.ts';
import { ingestEvent } from '../../functions/core/ingest.ts';
import type { DispatchMessage } from '../../functions/core/schema.ts';
import { createDispatchHandler } from '../../functions/handlers/dispatch-handler.ts';
import { type Poller, startPoller, waitForQueueEmpty } from '../../functions/local/poller.ts';
import { redrive } from '../../functions/ops/redrive.ts';
import { waitFor } from '../support/emulators.ts';
import { nativeEvent } from '../support/events.ts';
import { createHarness, type Harness } from '../support/harness.ts';

/**
 * A webhook receiver that takes a while to answer (so a second dispatcher has every chance to call it
 * meanwhile) and keeps, per deployment, every call and the most calls it had in flight at once.
 */
async function startSlowReceiver(answerAfterMs: number) {
  const calls: { deploymentId: string; seq: number; to: string }[] = [];
  const inFlight = new Map<string, number>();
  const mostInFlight = new Map<string, number>();
  let failNext = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        deployment: { id: string };
        transition: { seq: number; to: string };
      };
      const id = body.deployment.id;
      calls.push({ deploymentId: id, seq: body.transition.seq, to: body.transition.to });
      inFlight.set(id, (inFlight.get(id) ?? 0) + 1);
      mostInFlight.set(id, Math.max(mostInFlight.get(id) ?? 0, inFlight.get(id) ?? 0));
      const failing = failNext > 0;
      if (failing) failNext--;
      setTimeout(() => {
        inFlight.set(id, (inFlight.get(id) ?? 1) - 1);
        res.writeHead(failing ? 503 : 200, {
          'content-type': 'application/json',
          ...(failing && { 'retry-after': '1' }),
        });
        res.end(JSON.stringify(failing ? { error: 'busy' } : { ok: true }));
      }, answerAfterMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    calls,
    mostInFlight,
    /** The next `n` calls answer 503 with Retry-After: 1. */
    failNextCalls(n: number) {
      failNext = n;
    },
    callsFor: (deploymentId: string) => calls.filter((c) => c.deploymentId === deploymentId),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('two dispatchers, one delivery', () => {
  let first: Harness;
  let second: Harness;
  let receiver: Awaited<ReturnType<typeof startSlowReceiver>>;
  const pollers: Poller[] = [];

  beforeAll(async () => {
    receiver = await startSlowReceiver(300);
    const config = {
      api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
      targets: { hook: { type: 'webhook', url: receiver.url } },
      routes: [{ targets: ['hook'] }],
    };
    // As in AWS (6x the function's timeout), a message stays invisible well past the time it takes to dispatch.
    first = await createHarness({ config, dispatchVisibilitySeconds: 30 });
    // Another dispatcher process: its own runtime and store client, on the same table and queues.
    second = await createHarness({ config, share: first });
  });
  afterEach(async () => {
    await Promise.all(pollers.splice(0).map((poller) => poller.stop()));
  });
  afterAll(async () => {
    await second?.stop();
    await first?.stop();
    await receiver?.stop();
  });

  /** A dispatcher polling the dispatch queue the way Lambda's event source does, one message per batch. */
  const poll = (h: Harness) =>
    pollers.push(
      startPoller({
        sqs: first.queues.sqs,
        queueUrl: first.resources.dispatchQueueUrl,
        handler: createDispatchHandler(() => Promise.resolve(h.runtime)),
        // One message per batch: copies and transitions of one delivery can only meet in two dispatchers.
        batchSize: 1,
        waitTimeSeconds: 1,
      }),
    );

  /** Both dispatchers, each with two pollers, until the dispatch queue is empty. */
  async function runBothDispatchers() {
    for (const h of [first, second, first, second]) poll(h);
    await waitForQueueEmpty(first.queues.sqs, first.resources.dispatchQueueUrl, 20_000);
  }

  const copyOf = (message: DispatchMessage) => JSON.stringify(message);

  it('keeps one message of a transition enqueued twice (a redelivered event completing a crashed enqueue)', async () => {
    const started = nativeEvent('lease-dup', 'in_progress');
    await ingestEvent(started, first.runtime.ingest);
    await first.runtime.ingest.queue.enqueue([
      { v: 1, deploymentId: started.deploymentId, seq: 1, target: 'hook' },
    ]);

    const { Attributes } = await first.queues.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: first.resources.dispatchQueueUrl,
        AttributeNames: ['ApproximateNumberOfMessages'],
      }),
    );
    expect(Attributes?.ApproximateNumberOfMessages).toBe('1');
    await runBothDispatchers();
    expect(receiver.callsFor(started.deploymentId)).toHaveLength(1);
  });

  it('calls the target once when copies of one delivery reach both dispatchers at the same time', async () => {
    const started = nativeEvent('lease-race', 'in_progress');
    await ingestEvent(started, first.runtime.ingest);
    // Two more copies of the same message: dead-lettered ones an operator redrives while the original is queued.
    const message: DispatchMessage = { v: 1, deploymentId: started.deploymentId, seq: 1, target: 'hook' };
    await first.queue.deadLetter(copyOf(message), 'an earlier copy', 'copy-1');
    await first.queue.deadLetter(copyOf(message), 'an earlier copy', 'copy-2');
    expect(
      await redrive(first.queues.sqs, {
        deadLetterQueueUrl: first.resources.dispatchDlqUrl,
        queueUrl: first.resources.dispatchQueueUrl,
      }),
    ).toEqual({ moved: 2, failed: 0 });

    await runBothDispatchers();

    expect(receiver.callsFor(started.deploymentId)).toEqual([
      { deploymentId: started.deploymentId, seq: 1, to: 'in_progress' },
    ]);
    expect(receiver.mostInFlight.get(started.deploymentId)).toBe(1);
    expect(await first.store.getDelivery(started.deploymentId, 'hook')).toMatchObject({
      state: 'delivered',
      deliveredSeq: 1,
      attempts: 1,
    });
  });

  it('calls the target once per transition, in order and one at a time, when two transitions of one deployment wait in the queue', async () => {
    const ids = ['lease-pair-1', 'lease-pair-2', 'lease-pair-3'];
    for (const id of ids) {
      await ingestEvent(nativeEvent(id, 'in_progress'), first.runtime.ingest);
      await ingestEvent(nativeEvent(id, 'succeeded'), second.runtime.ingest);
    }

    await runBothDispatchers();

    for (const id of ids) {
      const deploymentId = nativeEvent(id, 'queued').deploymentId;
      expect(receiver.callsFor(deploymentId).map((c) => c.to)).toEqual(['in_progress', 'succeeded']);
      expect(receiver.mostInFlight.get(deploymentId)).toBe(1);
      expect(await first.store.getDelivery(deploymentId, 'hook')).toMatchObject({
        state: 'delivered',
        deliveredSeq: 2,
        deliveredStatus: 'succeeded',
      });
    }
  });

  it('holds a redriven copy back until the retry of the original is over, then skips it', async () => {
    const started = nativeEvent('lease-retry', 'in_progress');
    await ingestEvent(started, first.runtime.ingest);
    receiver.failNextCalls(1);
    poll(first);
    // The first call fails: the original now waits out its Retry-After, invisible, in its message group.
    await waitFor(
      async () => (await first.store.getDelivery(started.deploymentId, 'hook'))?.state === 'retrying',
      {
        message: 'the failed first attempt',
      },
    );
    const copy: DispatchMessage = { v: 1, deploymentId: started.deploymentId, seq: 1, target: 'hook' };
    await first.queue.deadLetter(copyOf(copy), 'an earlier copy', 'copy-retry');
    await redrive(first.queues.sqs, {
      deadLetterQueueUrl: first.resources.dispatchDlqUrl,
      queueUrl: first.resources.dispatchQueueUrl,
    });

    await runBothDispatchers();

    expect(receiver.callsFor(started.deploymentId)).toHaveLength(2);
    expect(receiver.mostInFlight.get(started.deploymentId)).toBe(1);
    expect(await first.store.getDelivery(started.deploymentId, 'hook')).toMatchObject({
      state: 'delivered',
      deliveredSeq: 1,
      attempts: 2,
    });
    // The original failed, then delivered on its retry; the copy only came after, and was skipped.
    const lines = [...first.logs.entries(), ...second.logs.entries()].filter(
      (e) => e.deploymentId === started.deploymentId,
    );
    const idOf = (message: string) => lines.filter((e) => e.message === message).map((e) => e.queueMessageId);
    const [original] = idOf('delivery failed; retrying through the queue');
    expect(idOf('delivered')).toEqual([original]);
    expect(idOf('skipped')).toHaveLength(1);
    expect(idOf('skipped')).not.toContain(original);
  });

  it('gives every (deployment, target) its own message group', () => {
    expect(dispatchGroupId('dep_a', 'hook')).toBe('dep_a/hook');
    expect(dispatchGroupId('dep_a', 'hook')).not.toBe(dispatchGroupId('dep_a', 'other'));
    expect(dispatchGroupId('dep_a', 'hook')).not.toBe(dispatchGroupId('dep_b', 'hook'));
    // Too long (or not printable ASCII) for a group id: hashed, still one per pair.
    const long = `dep_${'x'.repeat(200)}`;
    expect(dispatchGroupId(long, 'hook')).toMatch(/^h\/[0-9a-f]{24}$/);
    expect(dispatchGroupId(long, 'hook')).not.toBe(dispatchGroupId(long, 'other'));
  });
});
