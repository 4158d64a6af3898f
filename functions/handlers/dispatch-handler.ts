import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { dispatchBatch } from '../core/dispatch.ts';
import { receivedAtOf } from '../core/visibility.ts';
import type { Runtime } from './runtime.ts';

/**
 * The dispatcher function: one SQS batch of dispatch messages; failures reported per message. The
 * invocation's context (Lambda's, or the local poller's) tells how long the function has left: a message
 * that could not be finished in it is not started.
 */
export function createDispatchHandler(runtime: () => Promise<Runtime>) {
  return async (
    event: SQSEvent,
    invocation?: Pick<Context, 'getRemainingTimeInMillis'>,
  ): Promise<SQSBatchResponse> => {
    const { dispatch: shared } = await runtime();
    const startedAt = shared.clock.now().getTime();
    const dispatch = invocation
      ? { ...shared, remainingMs: () => invocation.getRemainingTimeInMillis() }
      : shared;
    const failed = await dispatchBatch(
      event.Records.map((record) => ({
        messageId: record.messageId,
        receiptHandle: record.receiptHandle,
        body: record.body,
        receiveCount: Number(record.attributes?.ApproximateReceiveCount ?? 1),
        receivedAt: receivedAtOf(record.attributes, startedAt),
      })),
      dispatch,
    );
    return { batchItemFailures: failed.map((itemIdentifier) => ({ itemIdentifier })) };
  };
}
