import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand, type Message, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { inject } from 'vitest';
import { DynamoStore } from '../../functions/adapters/aws/dynamo-store.ts';
import { SqsDispatchQueue } from '../../functions/adapters/aws/sqs-queue.ts';
import { EnvFileSecretSource } from '../../functions/adapters/local/env-file-secrets.ts';
import { parseConfig } from '../../functions/core/config.ts';
import { dispatchBatch, type ReceivedMessage } from '../../functions/core/dispatch.ts';
import { HttpClient } from '../../functions/core/http-client.ts';
import type { Clock, DispatchQueue, RateLimiter } from '../../functions/core/ports.ts';
import type { DispatchMessage } from '../../functions/core/schema.ts';
import { buildRuntime, type Runtime } from '../../functions/handlers/runtime.ts';
import { DEFAULT_NAMES, type ProvisionedResources, provision } from '../../functions/local/provision.ts';
import { captureLogs } from './capture-logger.ts';
import { dynamoClient, startTestSqsSns, type TestSqsSns } from './emulators.ts';

/** A clock tests move by hand. */
export class TestClock implements Clock {
  constructor(private current = new Date('2026-03-01T10:00:00.000Z')) {}
  now(): Date {
    return new Date(this.current);
  }
  advance(ms: number): void {
    this.current = new Date(this.current.getTime() + ms);
  }
}

/** Everything an integration test needs: real DynamoDB Local table, real SQS emulator queues, the runtime. */
export interface Harness {
  runtime: Runtime;
  store: DynamoStore;
  queue: SqsDispatchQueue;
  resources: ProvisionedResources;
  queues: TestSqsSns;
  dynamodb: DynamoDBClient;
  clock: TestClock;
  secretsDir: string;
  logs: ReturnType<typeof captureLogs>;
  /** Receives up to 10 visible dispatch messages (they become invisible for `visibility` seconds). */
  receiveDispatch(visibility?: number): Promise<ReceivedMessage[]>;
  /** The dispatch messages currently visible, parsed, without consuming them for long. */
  dispatchMessages(): Promise<DispatchMessage[]>;
  /** Receives and dispatches until the dispatch queue has no visible message; returns how many were handled. */
  drainDispatch(): Promise<number>;
  dlqDepth(): Promise<number>;
  stop(): Promise<void>;
}

/** Options for createHarness. */
export interface HarnessOptions {
  config: unknown;
  env?: NodeJS.ProcessEnv;
  queue?: (real: SqsDispatchQueue) => DispatchQueue;
  http?: HttpClient;
  maxReceives?: number;
  /** Replaces the rate limiter shared through DynamoDB (given the real one). */
  limiter?: (real: RateLimiter) => RateLimiter;
}

let counter = 0;

/** Builds a harness on the run's DynamoDB Local and a fresh SQS/SNS emulator. */
export async function createHarness(options: HarnessOptions): Promise<Harness> {
  const config = parseConfig(options.config, 'test config');
  const dynamodb = dynamoClient(inject('dynamodbEndpoint'));
  const queues = await startTestSqsSns();
  const suffix = `${process.pid}-${Date.now()}-${counter++}`;
  const resources = await provision({
    dynamodb,
    sqs: queues.sqs,
    sns: queues.sns,
    names: { ...DEFAULT_NAMES, table: `test-${suffix}` },
    maxReceives: { ingest: 3, dispatch: options.maxReceives ?? config.dispatch.maxReceives },
    visibilityTimeoutSeconds: { ingest: 1, dispatch: 1 },
  });
  const store = new DynamoStore(dynamodb, resources.tableName);
  const queue = new SqsDispatchQueue(queues.sqs, resources.dispatchQueueUrl, resources.dispatchDlqUrl);
  const secretsDir = mkdtempSync(join(tmpdir(), 'shipcast-secrets-'));
  const clock = new TestClock();
  const logs = captureLogs();
  const runtime = buildRuntime({
    config,
    store,
    limiter: options.limiter ? options.limiter(store) : store,
    queue: options.queue ? options.queue(queue) : queue,
    secrets: new EnvFileSecretSource(secretsDir, options.env ?? {}),
    clock,
    logger: logs.logger,
    http: options.http ?? new HttpClient({ timeoutMs: 2_000 }),
  });

  const receive = async (visibility = 30, wait = 0): Promise<Message[]> => {
    const { Messages = [] } = await queues.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: resources.dispatchQueueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: wait,
        VisibilityTimeout: visibility,
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      }),
    );
    return Messages;
  };
  const toReceived = (m: Message): ReceivedMessage => ({
    messageId: m.MessageId as string,
    receiptHandle: m.ReceiptHandle as string,
    body: m.Body as string,
    receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 1),
  });

  const harness: Harness = {
    runtime,
    store,
    queue,
    resources,
    queues,
    dynamodb,
    clock,
    secretsDir,
    logs,
    receiveDispatch: async (visibility = 30) => (await receive(visibility)).map(toReceived),
    dispatchMessages: async () =>
      (await receive(1)).map((m) => JSON.parse(m.Body as string) as DispatchMessage),
    drainDispatch: async () => {
      let handled = 0;
      for (;;) {
        const batch = (await receive(30)).map(toReceived);
        if (batch.length === 0) return handled;
        handled += batch.length;
        const failed = new Set(await dispatchBatch(batch, runtime.dispatch));
        const { DeleteMessageBatchCommand } = await import('@aws-sdk/client-sqs');
        const done = batch.filter((m) => !failed.has(m.messageId));
        if (done.length > 0) {
          await queues.sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl: resources.dispatchQueueUrl,
              Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.receiptHandle })),
            }),
          );
        }
      }
    },
    dlqDepth: async () => {
      const { Attributes } = await queues.sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: resources.dispatchDlqUrl,
          AttributeNames: ['ApproximateNumberOfMessages'],
        }),
      );
      return Number(Attributes?.ApproximateNumberOfMessages ?? 0);
    },
    stop: async () => {
      logs.restore();
      dynamodb.destroy();
      await queues.stop();
    },
  };
  return harness;
}
