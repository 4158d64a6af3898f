import {
  DeleteMessageBatchCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { groupIdOfBody, isFifoQueue } from '../adapters/aws/sqs-queue.ts';

/** What a redrive did. */
export interface RedriveResult {
  moved: number;
  /** Messages that could not be sent back; they stay in the DLQ. */
  failed: number;
}

/**
 * Moves every message from a dead-letter queue back to its source queue: send first, delete from the
 * DLQ only what was sent, so a crash in between duplicates a message rather than losing it (Shipcast's
 * dispatcher never calls a target twice for a transition it already delivered, so duplicates are harmless).
 * Shipcast's own `shipcast-reason` attribute is dropped; everything else is kept. Into a FIFO queue (the
 * dispatch queue) a message goes back to its message group (the one it had, else its (deployment, target)
 * group), at the end of it, with a deduplication id of the dead-lettered message: sending the same one twice
 * within five minutes (an interrupted run repeated) adds no second copy.
 */
export async function redrive(
  sqs: SQSClient,
  options: { deadLetterQueueUrl: string; queueUrl: string; max?: number },
): Promise<RedriveResult> {
  const max = options.max ?? Number.POSITIVE_INFINITY;
  const result: RedriveResult = { moved: 0, failed: 0 };
  while (result.moved + result.failed < max) {
    const { Messages: messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: options.deadLetterQueueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        VisibilityTimeout: 60,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['MessageGroupId'],
      }),
    );
    if (messages.length === 0) break;
    const sent = await sendBack(sqs, options.queueUrl, messages);
    result.moved += sent.length;
    result.failed += messages.length - sent.length;
    if (sent.length > 0) {
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: options.deadLetterQueueUrl,
          Entries: sent.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle as string })),
        }),
      );
    }
    if (sent.length < messages.length) break;
  }
  return result;
}

async function sendBack(sqs: SQSClient, queueUrl: string, messages: Message[]): Promise<Message[]> {
  const fifo = isFifoQueue(queueUrl);
  const entries = messages.map((message, i) => {
    const attributes: Record<string, MessageAttributeValue> = { ...message.MessageAttributes };
    delete attributes['shipcast-reason'];
    const body = message.Body as string;
    return {
      Id: String(i),
      MessageBody: body,
      MessageAttributes: Object.keys(attributes).length > 0 ? attributes : undefined,
      ...(fifo && {
        MessageGroupId: message.Attributes?.MessageGroupId ?? groupIdOfBody(body),
        MessageDeduplicationId: `redrive-${message.MessageId}`,
      }),
    };
  });
  const answer = await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
  const failed = new Set((answer.Failed ?? []).map((f) => f.Id));
  return messages.filter((_, i) => !failed.has(String(i)));
}
