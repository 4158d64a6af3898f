/**
 * Shared pieces of the fault-injection tests (test/integration/faults-*.test.ts): a seeded PRNG, sizes from
 * the environment, an ordered concurrent runner, an independent model of the forward-only status machine,
 * and a dispatch drain that sees every batch.
 */
import { DeleteMessageBatchCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { dispatchBatch, type ReceivedMessage } from '../../functions/core/dispatch.ts';
import type { DispatchQueue } from '../../functions/core/ports.ts';
import type { Harness } from './harness.ts';

/** A small seeded PRNG (mulberry32): the same seed gives the same sequence of numbers in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [min, max] from `random`. */
export function randomInt(random: () => number, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

/** A seeded Fisher–Yates shuffle (a new array). */
export function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** A positive integer from the environment variable `name`, else `fallback`. */
export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0)
    throw new Error(`${name} must be a non-negative integer, got ${raw}`);
  return value;
}

/** One unit of work for runOrdered: it runs only after every earlier unit sharing one of its keys finished. */
export interface OrderedUnit<T> {
  keys: readonly string[];
  run: () => Promise<T>;
}

/**
 * Runs `units` with at most `concurrency` at once, keeping list order among units that share a key (the
 * arrival order of one deployment's events) and running the rest concurrently. Settles every unit.
 */
export async function runOrdered<T>(
  units: readonly OrderedUnit<T>[],
  concurrency: number,
): Promise<PromiseSettledResult<T>[]> {
  let active = 0;
  const waiting: (() => void)[] = [];
  const acquire = async () => {
    if (active < concurrency) {
      active++;
      return;
    }
    await new Promise<void>((resolve) => waiting.push(resolve));
  };
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else active--;
  };
  const tails = new Map<string, Promise<unknown>>();
  const runs = units.map((unit) => {
    const before = unit.keys.map((key) => tails.get(key)).filter((p) => p !== undefined);
    const run = (async () => {
      await Promise.all(before);
      await acquire();
      try {
        return await unit.run();
      } finally {
        release();
      }
    })();
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    for (const key of unit.keys) tails.set(key, settled);
    return run;
  });
  return Promise.allSettled(runs);
}

/** Runs `fn` over `items` with at most `concurrency` at once; settles every item. */
export function mapLimit<I, T>(
  items: readonly I[],
  concurrency: number,
  fn: (item: I, index: number) => Promise<T>,
): Promise<PromiseSettledResult<T>[]> {
  return runOrdered(
    items.map((item, i) => ({ keys: [], run: () => fn(item, i) })),
    concurrency,
  );
}

/** The statuses, as the fault tests model them (kept apart from functions/core/status.ts on purpose). */
export type ModelStatus = 'queued' | 'in_progress' | 'succeeded' | 'failed' | 'stopped';
const MODEL_RANK: Record<ModelStatus, number> = {
  queued: 0,
  in_progress: 1,
  succeeded: 2,
  failed: 2,
  stopped: 2,
};

/**
 * What a correct forward-only machine makes of one deployment's statuses in arrival order (null: an event
 * that implies no status): the final status and the statuses it moved to, in order. A status is applied
 * when it ranks higher than the current one; once terminal, nothing is applied (the first terminal wins).
 */
export function forwardOnly(arrivals: readonly (ModelStatus | null)[]): {
  final: ModelStatus | null;
  moves: ModelStatus[];
} {
  let current: ModelStatus | null = null;
  const moves: ModelStatus[] = [];
  for (const status of arrivals) {
    if (status === null) continue;
    if (current === null || (MODEL_RANK[current] < 2 && MODEL_RANK[status] > MODEL_RANK[current])) {
      current = status;
      moves.push(status);
    }
  }
  return { final: current, moves };
}

/** The rank of a status in the model (queued 0, in_progress 1, terminal 2). */
export const modelRank = (status: ModelStatus): number => MODEL_RANK[status];

/** A dispatch queue wrapper that records every delay the dispatcher asks for, and shortens the real wait. */
export interface RecordingQueue extends DispatchQueue {
  /** Every `retryLater` call: the receipt handle and the seconds asked for. */
  delays: { receiptHandle: string; seconds: number }[];
  deadLetters: { body: string; reason: string }[];
}

/**
 * Wraps the real queue: `retryLater` records the seconds asked, then makes the message visible again after
 * `actualSeconds` (0 by default) so a test never waits out a long Retry-After.
 */
export function recordingQueue(real: DispatchQueue, actualSeconds = 0): RecordingQueue {
  const queue: RecordingQueue = {
    delays: [],
    deadLetters: [],
    enqueue: (messages) => real.enqueue(messages),
    retryLater: async (receiptHandle, seconds) => {
      queue.delays.push({ receiptHandle, seconds });
      await real.retryLater(receiptHandle, Math.min(seconds, actualSeconds));
    },
    deadLetter: async (body, reason) => {
      queue.deadLetters.push({ body, reason });
      await real.deadLetter(body, reason);
    },
  };
  return queue;
}

/** What drainDispatchBatches saw. */
export interface DrainReport {
  batches: number;
  /** Messages handled (a message received three times counts three times). */
  messages: number;
  /** Every message received, by receipt handle (to tell which message a `retryLater` was about). */
  byReceipt: Map<string, ReceivedMessage>;
}

/**
 * Like `h.drainDispatch()`, but keeps every received message by receipt handle and receives with
 * `visibility` seconds. Stops when a receive finds nothing visible. Batches run one after another, like one
 * event-source poller, so the messages of one deployment are handled in the order they were queued.
 */
export async function drainDispatchBatches(
  h: Harness,
  { visibility = 30, report }: { visibility?: number; report?: DrainReport } = {},
): Promise<DrainReport> {
  const out: DrainReport = report ?? { batches: 0, messages: 0, byReceipt: new Map() };
  for (;;) {
    const { Messages = [] } = await h.queues.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: h.resources.dispatchQueueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        VisibilityTimeout: visibility,
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      }),
    );
    if (Messages.length === 0) return out;
    const batch: ReceivedMessage[] = Messages.map((m) => ({
      messageId: m.MessageId as string,
      receiptHandle: m.ReceiptHandle as string,
      body: m.Body as string,
      receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 1),
    }));
    for (const m of batch) out.byReceipt.set(m.receiptHandle, m);
    out.batches++;
    out.messages += batch.length;
    const failed = new Set(await dispatchBatch(batch, h.runtime.dispatch));
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
}

/** Milliseconds since `start`, rounded, for the figures the tests print. */
export const elapsed = (start: number): number => Math.round(performance.now() - start);

/** Prints one line of figures (they go into docs/reliability.md); vitest shows it with the test's output. */
export function reportFigures(scenario: string, figures: Record<string, unknown>): void {
  console.log(`[faults] ${scenario}: ${JSON.stringify(figures)}`);
}
