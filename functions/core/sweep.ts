import type { Clock, DeploymentStore, DispatchQueue } from './ports.ts';
import type { Delivery, Deployment, DispatchMessage } from './schema.ts';
import { count, type Logger, type Metrics } from './telemetry.ts';

/** What the sweep needs: the store, the dispatch queue, the clock and the telemetry (ingest's context fits). */
export interface SweepContext {
  store: DeploymentStore;
  queue: DispatchQueue;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
}

/** The event that makes the dispatcher function sweep (the EventBridge schedule's input). */
export const SWEEP_EVENT = { shipcast: 'sweep-transitions' } as const;
/** How often the sweep runs: the EventBridge schedule in AWS, the local timer under `npm start`. */
export const SWEEP_INTERVAL_MINUTES = 5;
/**
 * Transitions recorded in a minute that started this recently are left to the request that recorded them
 * (so every transition swept is at least 2 minutes old): it is still enqueueing, or its write is still on
 * the way (a function's timeout is at most 60 s). Also covers clocks a little apart. By whole minutes
 * because the store files a deployment's newest transition under its minute (a later transition in the same
 * minute writes no index): a minute is swept once it is over and nothing can still be written into it.
 */
export const SWEEP_GRACE_MS = 3 * 60_000;
/** How far back the first sweep looks, and the furthest back any sweep goes (after a long outage of its own). */
export const SWEEP_LOOKBACK_MS = 24 * 3_600_000;
/** Deployments read per page of the index; each costs two reads (its record and its deliveries). */
const PAGE = 200;
/** Deployments looked at concurrently. */
const CONCURRENCY = 8;
/** A run stops starting pages with less than this left of the function's time. */
const RESERVE_MS = 15_000;

/** What one run of the sweep did. */
export interface SweepReport {
  /** Deployments whose newest transition it looked at. */
  looked: number;
  /** Dispatch messages it enqueued (deliveries owed that had no sign of having been enqueued). */
  enqueued: number;
  /** Position it reached (`<recordedAt>#<deploymentId>`). */
  position?: string;
}

/**
 * Finds transitions recorded (over HTTP, say) whose enqueue was lost — the request died between the record
 * and the enqueue, and the sender did not retry — and enqueues their deliveries. Reads only the transitions
 * recorded since its last run (an index by recording time, from a stored position), each deployment once.
 * A delivery is owed when the target's delivery record shows no sign of the newest transition routed to it
 * (neither delivered nor attempted); enqueueing one that is in fact still waiting in the queue is harmless:
 * FIFO deduplication drops a copy sent within 5 minutes, and the dispatcher skips a transition already
 * delivered, so a target never gets a notification twice.
 */
export async function sweepOrphanedTransitions(
  context: SweepContext,
  remainingMs?: () => number,
): Promise<SweepReport> {
  const { store, clock, logger } = context;
  const now = clock.now().getTime();
  const until = new Date(now - SWEEP_GRACE_MS).toISOString();
  const earliest = new Date(now - SWEEP_LOOKBACK_MS).toISOString();
  const stored = await store.getSweepPosition();
  let position = stored && stored > earliest ? stored : earliest;
  const report: SweepReport = { looked: 0, enqueued: 0 };
  for (;;) {
    if (remainingMs && remainingMs() < RESERVE_MS) break;
    const page = await store.transitionsRecordedBetween(position, until, PAGE);
    if (page.length === 0) break;
    const owed = await mapLimit(page, CONCURRENCY, async ({ deploymentId }) => {
      const deployment = await store.getDeployment(deploymentId);
      return deployment ? owedDeliveries(deployment, await store.listDeliveries(deploymentId)) : [];
    });
    const messages = owed.flat();
    if (messages.length > 0) {
      await context.queue.enqueue(messages);
      count(context.metrics, 'DeliveriesSwept', {}, messages.length);
      logger.warn(
        'enqueued deliveries whose enqueue was lost (the request that recorded them did not finish)',
        {
          deliveries: messages.map((m) => `${m.deploymentId}/${m.seq}/${m.target}`),
        },
      );
    }
    report.looked += page.length;
    report.enqueued += messages.length;
    position = (page.at(-1) as (typeof page)[number]).position;
    await store.saveSweepPosition(position);
    report.position = position;
    if (page.length < PAGE) break;
  }
  logger.info('swept recorded transitions', { ...report });
  return report;
}

/**
 * The deliveries of a deployment with no sign of having been enqueued: per routed target, its newest
 * transition, unless the target's delivery record has it delivered or attempted.
 */
export function owedDeliveries(deployment: Deployment, deliveries: Delivery[]): DispatchMessage[] {
  const newest = new Map<string, number>();
  for (const transition of deployment.transitions)
    for (const target of transition.targets)
      newest.set(target, Math.max(newest.get(target) ?? 0, transition.seq));
  const owed: DispatchMessage[] = [];
  for (const [target, seq] of newest) {
    const delivery = deliveries.find((d) => d.target === target);
    const seen = Math.max(delivery?.deliveredSeq ?? 0, delivery?.failingSeq ?? 0);
    if (seen < seq) owed.push({ v: 1, deploymentId: deployment.id, seq, target });
  }
  return owed;
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
