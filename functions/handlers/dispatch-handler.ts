import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { dispatchBatch } from '../core/dispatch.ts';
import type { Runtime } from './runtime.ts';

/** The dispatcher function: one SQS batch of dispatch messages; failures reported per message. */
export function createDispatchHandler(runtime: () => Promise<Runtime>) {
  return async (event: SQSEvent): Promise<SQSBatchResponse> => {
    const { dispatch } = await runtime();
    const failed = await dispatchBatch(
      event.Records.map((record) => ({
        messageId: record.messageId,
        receiptHandle: record.receiptHandle,
        body: record.body,
        receiveCount: Number(record.attributes?.ApproximateReceiveCount ?? 1),
      })),
      dispatch,
    );
    return { batchItemFailures: failed.map((itemIdentifier) => ({ itemIdentifier })) };
  };
}
