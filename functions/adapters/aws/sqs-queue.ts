import { randomUUID } from 'node:crypto';
import {
  ChangeMessageVisibilityCommand,
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { stableHash } from '../../core/ids.ts';
import type { DispatchQueue, IngestQueue } from '../../core/ports.ts';
import type { DispatchMessage } from '../../core/schema.ts';
import { MAX_VISIBILITY_SECONDS } from '../../core/visibility.ts';

const SQS_BATCH_LIMIT = 10;

/** FIFO queue names (and so URLs) end in `.fifo`; SQS requires it. */
export const isFifoQueue = (queueUrl: string) => queueUrl.endsWith('.fifo');

/**
 * The FIFO message group of a dispatch message: one per (deployment, target). SQS hands out one group's
 * messages one at a time, in order, and none while one of them is in flight (being dispatched or
 * waiting out a retry): so two dispatchers never work on the same delivery at once.
 */
export function dispatchGroupId(deploymentId: string, target: string): string {
  const readable = `${deploymentId}/${target}`;
  // Group ids are up to 128 characters of letters, digits and punctuation.
  return readable.length <= 128 && /^[\x21-\x7e]+$/.test(readable)
    ? readable
    : `h/${stableHash(deploymentId, target)}`;
}

/** The group of a message body: its dispatch group, or one of its own for anything else. */
export function groupIdOfBody(body: string): string {
  try {
    const parsed = JSON.parse(body) as Partial<DispatchMessage>;
    if (typeof parsed?.deploymentId === 'string' && typeof parsed.target === 'string') {
      return dispatchGroupId(parsed.deploymentId, parsed.target);
    }
  } catch {
    // not JSON
  }
  return 'unparsed';
}

/**
 * The dispatch queue on SQS: batched sends, visibility changes for retries, explicit dead-lettering.
 * On a FIFO queue (the one the stack and local mode create) every message carries its (deployment, target)
 * group and a deduplication id of its transition, so a transition enqueued twice within SQS's 5-minute
 * window (a redelivered event completing a crashed enqueue) is one message.
 */
export class SqsDispatchQueue implements DispatchQueue {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
    private readonly deadLetterQueueUrl: string,
  ) {}

  async enqueue(messages: DispatchMessage[]): Promise<void> {
    const fifo = isFifoQueue(this.queueUrl);
    for (let start = 0; start < messages.length; start += SQS_BATCH_LIMIT) {
      let entries: SendMessageBatchRequestEntry[] = messages
        .slice(start, start + SQS_BATCH_LIMIT)
        .map((message, index) => ({
          Id: String(index),
          MessageBody: JSON.stringify(message),
          ...(fifo && {
            MessageGroupId: dispatchGroupId(message.deploymentId, message.target),
            MessageDeduplicationId: this.deduplicationId(message),
          }),
        }));
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

  /** One id per transition and target (and refresh): SQS keeps one message of it per 5 minutes. */
  protected deduplicationId(message: DispatchMessage): string {
    const id = [message.deploymentId, String(message.seq), message.target];
    return stableHash(...(message.refresh ? [...id, message.refresh] : id));
  }

  async retryLater(receiptHandle: string, seconds: number): Promise<void> {
    await this.sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: this.queueUrl,
        ReceiptHandle: receiptHandle,
        VisibilityTimeout: Math.min(MAX_VISIBILITY_SECONDS, Math.max(0, Math.round(seconds))),
      }),
    );
  }

  async deadLetter(body: string, reason: string, messageId?: string): Promise<void> {
    await this.sqs.send(
      new SendMessageCommand({
        QueueUrl: this.deadLetterQueueUrl,
        MessageBody: body,
        MessageAttributes: {
          'shipcast-reason': { DataType: 'String', StringValue: reason.slice(0, 1000) },
        },
        ...(isFifoQueue(this.deadLetterQueueUrl) && {
          MessageGroupId: groupIdOfBody(body),
          // Per received message: a repeat for the same one adds no copy; a redriven one is a new message.
          MessageDeduplicationId: messageId ? stableHash('dead', messageId) : randomUUID(),
        }),
      }),
    );
  }
}

/** The ingest queue (standard): the API forwards verified SNS HTTP(S) notifications to it. */
export class SqsIngestQueue implements IngestQueue {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async sendSnsNotification(envelopeJson: string): Promise<void> {
    await this.sqs.send(new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: envelopeJson }));
  }
}
