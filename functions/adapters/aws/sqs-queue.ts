import {
  ChangeMessageVisibilityCommand,
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { DispatchQueue } from '../../core/ports.ts';
import type { DispatchMessage } from '../../core/schema.ts';

const SQS_BATCH_LIMIT = 10;

/** The dispatch queue on SQS: batched sends, visibility changes for retries, explicit dead-lettering. */
export class SqsDispatchQueue implements DispatchQueue {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
    private readonly deadLetterQueueUrl: string,
  ) {}

  async enqueue(messages: DispatchMessage[]): Promise<void> {
    for (let start = 0; start < messages.length; start += SQS_BATCH_LIMIT) {
      let entries: SendMessageBatchRequestEntry[] = messages
        .slice(start, start + SQS_BATCH_LIMIT)
        .map((message, index) => ({ Id: String(index), MessageBody: JSON.stringify(message) }));
      // SendMessageBatch can fail some entries and succeed others: resend only the failed ones.
      for (let attempt = 1; entries.length > 0; attempt++) {
        const result = await this.sqs.send(
          new SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: entries }),
        );
        const failed = new Set((result.Failed ?? []).map((f) => f.Id));
        if (failed.size === 0) break;
        if (attempt >= 3) {
          const reasons = (result.Failed ?? []).map((f) => `${f.Code}: ${f.Message}`).join('; ');
          throw new Error(`could not enqueue ${failed.size} dispatch message(s): ${reasons}`);
        }
        entries = entries.filter((entry) => failed.has(entry.Id));
      }
    }
  }

  async retryLater(receiptHandle: string, seconds: number): Promise<void> {
    await this.sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: this.queueUrl,
        ReceiptHandle: receiptHandle,
        VisibilityTimeout: Math.min(43_200, Math.max(0, Math.round(seconds))),
      }),
    );
  }

  async deadLetter(body: string, reason: string): Promise<void> {
    await this.sqs.send(
      new SendMessageCommand({
        QueueUrl: this.deadLetterQueueUrl,
        MessageBody: body,
        MessageAttributes: {
          'shipcast-reason': { DataType: 'String', StringValue: reason.slice(0, 1000) },
        },
      }),
    );
  }
}
