import { ChangeMessageVisibilityBatchCommand, DeleteMessageBatchCommand } from '@aws-sdk/client-sqs';
import { dispatchBatch } from '../../functions/core/dispatch.ts';
import type { Delivery } from '../../functions/core/schema.ts';
import type { Harness } from './harness.ts';

/**
 * How an injected fault between a target's answer and its delivery record shows:
 * - `blip`: the delivery write fails once (a throttled or timed-out write), then works;
 * - `throw`: the delivery write fails every time until the message is received again (the store is out for a
 *   while: the dispatcher sees the error and hands the message back);
 * - `die`: the process stops there: the write never happens, the batch never finishes, nothing is deleted.
 */
export type CrashMode = 'blip' | 'throw' | 'die';

/** A crash armed for the write that records (deployment, target, seq) as delivered, after the target answered. */
export interface Crash {
  deploymentId: string;
  target: string;
  seq: number;
  mode: CrashMode;
}

/**
 * Wraps the harness store's delivery writes so an armed crash strikes between a target's answer and its
 * delivery record; `drain()` dispatches like an event source that survives its dispatcher dying.
 */
export interface CrashInjector {
  arm(crash: Crash): void;
  /** Crashes that struck so far. */
  struck: Crash[];
  /**
   * Receives and dispatches until nothing is visible; after a `die`, the batch comes back (its visibility
   * ends). A `throw` stops striking once the batch it struck is over.
   */
  drain(): Promise<{ batches: number; deaths: number }>;
}

export function injectCrashes(h: Harness): CrashInjector {
  const armed: Crash[] = [];
  const struck: Crash[] = [];
  let died: (() => void) | undefined;
  // Every delivery write, alone or a dispatch round's shared one, goes through saveDeliveries.
  const real = h.store.saveDeliveries.bind(h.store);
  h.store.saveDeliveries = async (writes: readonly { next: Delivery; expectedRev: number | null }[]) => {
    const crash = armed.find((c) =>
      writes.some(
        ({ next }) =>
          c.deploymentId === next.deploymentId &&
          c.target === next.target &&
          next.state === 'delivered' &&
          next.deliveredSeq === c.seq,
      ),
    );
    if (crash) {
      if (!struck.includes(crash)) struck.push(crash);
      if (crash.mode !== 'throw') armed.splice(armed.indexOf(crash), 1);
      if (crash.mode === 'die') {
        died?.();
        return new Promise<boolean>(() => {});
      }
      throw new Error('injected fault: the delivery record could not be written');
    }
    return real(writes);
  };

  return {
    arm: (crash) => armed.push(crash),
    struck,
    drain: async () => {
      let batches = 0;
      let deaths = 0;
      for (;;) {
        const batch = await h.receiveDispatch(30);
        if (batch.length === 0) return { batches, deaths };
        batches++;
        const death = new Promise<'died'>((resolve) => {
          died = () => resolve('died');
        });
        const outcome = await Promise.race([dispatchBatch(batch, h.runtime.dispatch), death]);
        died = undefined;
        // The store is back for the next receive.
        for (const crash of struck) if (armed.includes(crash)) armed.splice(armed.indexOf(crash), 1);
        if (outcome === 'died') {
          // The dispatcher is gone: nothing was deleted; its messages come back when their visibility ends.
          deaths++;
          await h.queues.sqs.send(
            new ChangeMessageVisibilityBatchCommand({
              QueueUrl: h.resources.dispatchQueueUrl,
              Entries: batch.map((m, i) => ({
                Id: String(i),
                ReceiptHandle: m.receiptHandle,
                VisibilityTimeout: 0,
              })),
            }),
          );
          continue;
        }
        const failed = new Set(outcome);
        const done = batch.filter((m) => !failed.has(m.messageId));
        if (done.length > 0) {
          await h.queues.sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl: h.resources.dispatchQueueUrl,
              Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.receiptHandle })),
            }),
          );
        }
      }
    },
  };
}
