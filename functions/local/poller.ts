/**
 * A local stand-in for Lambda's SQS event source mapping: long-polls a queue, hands batches to a handler
 * as a real-shaped SQSEvent, and deletes what the handler did not report as failed (ReportBatchItemFailures).
 * Failed messages are left alone: they reappear after the queue's visibility timeout and go to the DLQ
 * after the RedrivePolicy's maxReceiveCount, exactly as in AWS.
 */
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSMessageAttributes, SQSRecord } from 'aws-lambda';

/** The part of Lambda's context a poller gives its handler: the time left before the function's timeout. */
export type InvocationDeadline = Pick<Context, 'getRemainingTimeInMillis'>;

/** The handler a poller calls: a Lambda SQS handler with ReportBatchItemFailures. */
export type SqsBatchHandler = (
  event: SQSEvent,
  context: InvocationDeadline,
  // biome-ignore lint/suspicious/noConfusingVoidType: Lambda handlers may return nothing at all.
) => Promise<SQSBatchResponse | undefined | void>;

/** Where the poller reports errors (console by default; Shipcast's Logger fits). */
export interface PollerLogger {
  error(message: string, ...details: unknown[]): void;
}

/** Options of startPoller(). */
export interface PollerOptions {
  sqs: SQSClient;
  queueUrl: string;
  /** eventSourceARN of the records; looked up with GetQueueAttributes when absent. */
  queueArn?: string;
  handler: SqsBatchHandler;
  /** Messages per batch, 1–10 (one ReceiveMessage call). Default 10. */
  batchSize?: number;
  /**
   * Batches handled at once, each from its own receive, like the concurrent invocations of Lambda's event
   * source (which its maximum concurrency caps): a batch waiting for a slow call holds back only itself.
   * Default 1.
   */
  concurrency?: number;
  /** Long-poll wait, 0–20 s; also bounds how long stop() waits for an idle poller. Default 1. */
  waitTimeSeconds?: number;
  logger?: PollerLogger;
  /** Label in log messages; defaults to the queue name. */
  name?: string;
  /**
   * The function timeout the handler is told about (its context's getRemainingTimeInMillis), as Lambda
   * tells it; Shipcast's handlers start no work they could not finish in it. Default 60.
   */
  timeoutSeconds?: number;
}

/** A running poller. */
export interface Poller {
  /** Stops receiving, waits for the current receives and in-flight batches to finish, then resolves. */
  stop(): Promise<void>;
}

const ERROR_BACKOFF_MS = 500;

/** Starts polling `queueUrl` like a Lambda SQS event source mapping with ReportBatchItemFailures. */
export function startPoller(options: PollerOptions): Poller {
  const { sqs, queueUrl, handler } = options;
  const batchSize = options.batchSize ?? 10;
  const waitTimeSeconds = options.waitTimeSeconds ?? 1;
  const logger = options.logger ?? console;
  const name = options.name ?? queueUrl.slice(queueUrl.lastIndexOf('/') + 1);
  const timeoutMs = (options.timeoutSeconds ?? 60) * 1000;
  const concurrency = options.concurrency ?? 1;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10) {
    throw new Error(`batchSize must be an integer from 1 to 10, got ${batchSize}`);
  }
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new Error(`concurrency must be a positive integer, got ${concurrency}`);
  }

  let running = true;
  const sleepers = new Set<() => void>();
  let queueArn = options.queueArn;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      sleepers.add(wake);
    });

  // One long poll at a time, whatever the concurrency: a loop that is free waits its turn to receive, and
  // hands the receive on as soon as it has a batch. SQS gives a new message to one waiting receive; fauxqs
  // wakes every waiting receive for each message, so concurrent long polls would come back empty and be
  // counted (and billed, in the benchmark's projection) where AWS's event source mapping makes no call.
  let receiving: Promise<unknown> = Promise.resolve();
  const receive = () => {
    const turn = receiving.then(async () =>
      // Stopped while waiting its turn: no receive (its messages would only wait for their visibility timeout).
      !running
        ? { Messages: [] }
        : sqs.send(
            new ReceiveMessageCommand({
              QueueUrl: queueUrl,
              MaxNumberOfMessages: batchSize,
              WaitTimeSeconds: waitTimeSeconds,
              MessageSystemAttributeNames: ['All'],
              MessageAttributeNames: ['All'],
            }),
          ),
    );
    receiving = turn.catch(() => undefined);
    return turn;
  };

  async function pollOnce(): Promise<void> {
    queueArn ??= await lookUpQueueArn(sqs, queueUrl);
    const { Messages: messages = [] } = await receive();
    // Messages received while stopping are processed anyway: they are already invisible, and handing them
    // back would count a receive (toward maxReceiveCount) that was never processed.
    if (messages.length === 0) return;
    const region = queueArn.split(':')[3] || (await sqs.config.region());
    const records = messages.map((message) => toSqsRecord(message, queueArn as string, region));

    // Like Lambda: a thrown error (or an invalid batchItemFailures answer) fails the whole batch; nothing is
    // deleted and every message becomes visible again when its visibility timeout expires.
    let response: unknown;
    const deadline = Date.now() + timeoutMs;
    try {
      response = await handler(
        { Records: records },
        { getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()) },
      );
    } catch (err) {
      logger.error(`[poller ${name}] handler failed for a batch of ${records.length}`, err);
      return;
    }
    let failedIds: Set<string>;
    try {
      failedIds = failedMessageIds(response, records);
    } catch (err) {
      logger.error(`[poller ${name}] invalid handler response; the whole batch failed`, err);
      return;
    }
    const done = records.filter((record) => !failedIds.has(record.messageId));
    if (done.length === 0) return;
    const { Failed = [] } = await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: done.map((record, i) => ({ Id: String(i), ReceiptHandle: record.receiptHandle })),
      }),
    );
    if (Failed.length > 0)
      logger.error(`[poller ${name}] DeleteMessageBatch failed for some entries`, Failed);
  }

  const poll = async () => {
    while (running) {
      try {
        await pollOnce();
      } catch (err) {
        // Typically the emulator going away during shutdown: log, back off a little, retry until stopped.
        if (running) {
          logger.error(`[poller ${name}] polling failed; retrying in ${ERROR_BACKOFF_MS} ms`, err);
          await sleep(ERROR_BACKOFF_MS);
        }
      }
    }
  };
  const loops = Array.from({ length: concurrency }, poll);

  return {
    async stop() {
      running = false;
      for (const wake of [...sleepers]) wake();
      await Promise.all(loops);
    },
  };
}

/**
 * Lambda's rules for a ReportBatchItemFailures answer: no answer or an empty list = all succeeded; a listed
 * itemIdentifier = that message failed; an identifier that is empty, null or not in the batch makes the
 * whole batch fail.
 */
function failedMessageIds(response: unknown, records: readonly SQSRecord[]): Set<string> {
  const all = new Set(records.map((record) => record.messageId));
  const failures = (response as Partial<SQSBatchResponse> | undefined | null)?.batchItemFailures;
  if (failures == null) return new Set();
  if (!Array.isArray(failures)) throw new Error('batchItemFailures is not an array');
  const failed = new Set<string>();
  for (const failure of failures) {
    const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    if (typeof id !== 'string' || id === '' || !all.has(id)) {
      throw new Error(
        `invalid batchItemFailures itemIdentifier ${JSON.stringify(id)}: failing the whole batch`,
      );
    }
    failed.add(id);
  }
  return failed;
}

async function lookUpQueueArn(sqs: SQSClient, queueUrl: string): Promise<string> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
  );
  if (!Attributes?.QueueArn) throw new Error(`no QueueArn for ${queueUrl}`);
  return Attributes.QueueArn;
}

/** An SQS message in the shape Lambda delivers it (camelCase fields, base64 binary attributes). */
export function toSqsRecord(message: Message, eventSourceARN: string, awsRegion: string): SQSRecord {
  const attributes = message.Attributes ?? {};
  const record: SQSRecord = {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes: {
      ...attributes,
      ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? '1',
      SentTimestamp: attributes.SentTimestamp ?? String(Date.now()),
      SenderId: attributes.SenderId ?? '',
      ApproximateFirstReceiveTimestamp: attributes.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
    },
    messageAttributes: toRecordAttributes(message.MessageAttributes),
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN,
    awsRegion,
  };
  if (message.MD5OfMessageAttributes) record.md5OfMessageAttributes = message.MD5OfMessageAttributes;
  return record;
}

function toRecordAttributes(
  attributes: Record<string, MessageAttributeValue> | undefined,
): SQSMessageAttributes {
  const base64 = (value: Uint8Array) => Buffer.from(value).toString('base64');
  const result: SQSMessageAttributes = {};
  for (const [key, value] of Object.entries(attributes ?? {})) {
    result[key] = {
      dataType: value.DataType ?? 'String',
      ...(value.StringValue !== undefined && { stringValue: value.StringValue }),
      ...(value.BinaryValue !== undefined && { binaryValue: base64(value.BinaryValue) }),
      stringListValues: value.StringListValues ?? [],
      binaryListValues: (value.BinaryListValues ?? []).map(base64),
    };
  }
  return result;
}

/**
 * Resolves once the queue holds no visible, in-flight or delayed messages (all three approximate counts 0),
 * polling GetQueueAttributes; rejects after `timeoutMs`. With fauxqs the counts are exact, and a message
 * whose visibility timeout expired but has not been received again still counts as in flight.
 */
export async function waitForQueueEmpty(sqs: SQSClient, queueUrl: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const names = [
    'ApproximateNumberOfMessages',
    'ApproximateNumberOfMessagesNotVisible',
    'ApproximateNumberOfMessagesDelayed',
  ] as const;
  let last: Record<string, string> = {};
  while (Date.now() <= deadline) {
    const { Attributes = {} } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: [...names] }),
    );
    last = Attributes;
    if (names.every((name) => Attributes[name] === '0')) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`queue ${queueUrl} not empty after ${timeoutMs} ms: ${JSON.stringify(last)}`);
}
