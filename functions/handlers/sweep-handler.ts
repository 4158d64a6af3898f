import type { Context } from 'aws-lambda';
import { SWEEP_EVENT, type SweepReport, sweepOrphanedTransitions } from '../core/sweep.ts';
import type { Runtime } from './runtime.ts';

/** Whether an invocation's event is the sweep's schedule (its EventBridge rule's input). */
export function isSweepEvent(event: unknown): boolean {
  return (event as { shipcast?: unknown } | null)?.shipcast === SWEEP_EVENT.shipcast;
}

/**
 * The scheduled sweep of transitions whose enqueue was lost (an EventBridge schedule in AWS, a timer under
 * `npm start`): it runs in the dispatcher function, which already reads the table and sends to the queue.
 */
export function createSweepHandler(runtime: () => Promise<Runtime>) {
  return async (invocation?: Pick<Context, 'getRemainingTimeInMillis'>): Promise<SweepReport> => {
    const { ingest } = await runtime();
    return sweepOrphanedTransitions(
      ingest,
      invocation ? () => invocation.getRemainingTimeInMillis() : undefined,
    );
  };
}
