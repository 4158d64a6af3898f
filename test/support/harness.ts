import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { inject } from 'vitest';
import { DynamoStore } from '../../functions/adapters/aws/dynamo-store.ts';
import { SqsDispatchQueue, SqsIngestQueue } from '../../functions/adapters/aws/sqs-queue.ts';
import { EnvFileSecretSource } from '../../functions/adapters/local/env-file-secrets.ts';
import { openApiDocument } from '../../functions/core/api/openapi.ts';
import { DISPATCH_QUEUE_MAX_RECEIVES, parseConfig } from '../../functions/core/config.ts';
import { dispatchBatch, type ReceivedMessage } from '../../functions/core/dispatch.ts';
import { HttpClient } from '../../functions/core/http-client.ts';
import type { Clock, DispatchQueue, EventBus, RateLimiter, SesSender } from '../../functions/core/ports.ts';
import type { DispatchMessage } from '../../functions/core/schema.ts';
import { createIngestHandler } from '../../functions/handlers/ingest-handler.ts';
import { buildRuntime, type Runtime } from '../../functions/handlers/runtime.ts';
import { toSqsRecord } from '../../functions/local/poller.ts';
import { DEFAULT_NAMES, type ProvisionedResources, provision } from '../../functions/local/provision.ts';
import { importRareRoutes } from '../../functions/local/rare-routes.ts';
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

/**
 * The dispatch queue as tests drive it. `enqueue` redelivers: as if the queue handed the message out again
 * now (after its retry delay, or as a duplicate), so a copy always goes in (no deduplication), and a copy of
 * the same message the harness received and still holds in flight (waiting out a retry) is taken off the
 * queue first: in a FIFO message group it would hold the copy back until its delay is over.
 */
class RedeliveringQueue extends SqsDispatchQueue {
  constructor(
    sqs: SQSClient,
    queueUrl: string,
    deadLetterQueueUrl: string,
    private readonly release: (message: DispatchMessage) => Promise<void>,
  ) {
    super(sqs, queueUrl, deadLetterQueueUrl);
  }

  protected override deduplicationId(): string {
    return randomUUID();
  }

  override async enqueue(messages: DispatchMessage[]): Promise<void> {
    for (const message of messages) await this.release(message);
    await super.enqueue(messages);
  }
}

/** Everything an integration test needs: real DynamoDB Local table, real SQS emulator queues, the runtime. */
export interface Harness {
  runtime: Runtime;
  store: DynamoStore;
  /** The dispatch queue the runtime uses, except that `enqueue` redelivers (see RedeliveringQueue). */
  queue: SqsDispatchQueue;
  resources: ProvisionedResources;
  queues: TestSqsSns;
  dynamodb: DynamoDBClient;
  clock: TestClock;
  secretsDir: string;
  logs: ReturnType<typeof captureLogs>;
  /** Receives up to 10 visible dispatch messages (they become invisible for `visibility` seconds). */
  receiveDispatch(visibility?: number): Promise<ReceivedMessage[]>;
  /** The dispatch messages waiting in the queue (not in flight), parsed, without receiving them. */
  dispatchMessages(): Promise<DispatchMessage[]>;
  /** Receives and dispatches until the dispatch queue has no visible message; returns how many were handled. */
  drainDispatch(): Promise<number>;
  /**
   * Runs the ingest function's handler (as Lambda's SQS event source would) on everything in the ingest
   * queue, deleting what it accepted; the batch responses, one per batch.
   */
  drainIngest(): Promise<SQSBatchResponse[]>;
  dlqDepth(): Promise<number>;
  /**
   * Deletes the dispatch messages of a deployment that this harness received and still holds (waiting out
   * a retry), so that a test's retry cannot come back during a later test of the same file.
   */
  discardHeld(deploymentId: string): Promise<void>;
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
  /** The dispatch queue's visibility timeout (seconds); default 1, so a failed batch comes back at once. */
  dispatchVisibilitySeconds?: number;
  /**
   * Another harness whose table and queues this one uses: a second Shipcast runtime (another dispatcher,
   * with its own store client, circuit breakers and logs) on the same deployment. Stopping it leaves them.
   */
  share?: Harness;
  /** The dispatcher's event bus adapter (the `eventbridge` target). */
  eventBus?: EventBus;
  /** Amazon SES for the `email` target (an SesV2Sender pointed at a local stand-in by the target's endpoint). */
  ses?: SesSender;
}

/** A `queue` option for createHarness: the real queue, recording the delay of every retryLater in `delays`. */
export function recordingRetries(delays: number[]): (real: DispatchQueue) => DispatchQueue {
  return (real) => ({
    enqueue: (messages) => real.enqueue(messages),
    deadLetter: (body, reason, messageId) => real.deadLetter(body, reason, messageId),
    retryLater: (receiptHandle, seconds) => {
      delays.push(seconds);
      return real.retryLater(receiptHandle, seconds);
    },
  });
}

let counter = 0;

/** Builds a harness on the run's DynamoDB Local and a fresh SQS/SNS emulator. */
export async function createHarness(options: HarnessOptions): Promise<Harness> {
  const config = parseConfig(withoutCircuit(options.config), 'test config');
  const dynamodb = dynamoClient(inject('dynamodbEndpoint'));
  const queues = options.share?.queues ?? (await startTestSqsSns());
  const suffix = `${process.pid}-${Date.now()}-${counter++}`;
  const resources =
    options.share?.resources ??
    (await provision({
      dynamodb,
      sqs: queues.sqs,
      sns: queues.sns,
      names: { ...DEFAULT_NAMES, table: `test-${suffix}` },
      // As in AWS: SQS's own count is a backstop; the dispatcher gives up on its attempts.
      maxReceives: { ingest: 3, dispatch: options.maxReceives ?? DISPATCH_QUEUE_MAX_RECEIVES },
      visibilityTimeoutSeconds: { ingest: 1, dispatch: options.dispatchVisibilitySeconds ?? 1 },
    }));
  const clock = new TestClock();
  // The limiter's windows follow the test clock too: a test decides when a minute is over, not the run.
  const store = new DynamoStore(dynamodb, resources.tableName, clock);
  const queue = new SqsDispatchQueue(queues.sqs, resources.dispatchQueueUrl, resources.dispatchDlqUrl);
  // Receipt handles of the dispatch messages this harness received and has not deleted, by message.
  const held = new Map<string, Set<string>>();
  const keyOf = (m: Partial<DispatchMessage>) => `${m.deploymentId}/${m.seq}/${m.target}`;
  const parsedKey = (body: string | undefined) => {
    try {
      return keyOf(JSON.parse(body ?? '') as DispatchMessage);
    } catch {
      return 'unparsed';
    }
  };
  /** Deletes the copies of one message the harness holds (a handle gone stale is no matter). */
  const dropHeld = async (key: string) => {
    for (const receiptHandle of held.get(key) ?? []) {
      await queues.sqs
        .send(
          new DeleteMessageCommand({ QueueUrl: resources.dispatchQueueUrl, ReceiptHandle: receiptHandle }),
        )
        .catch(() => {});
    }
    held.delete(key);
  };
  const testQueue = new RedeliveringQueue(
    queues.sqs,
    resources.dispatchQueueUrl,
    resources.dispatchDlqUrl,
    (message) => dropHeld(keyOf(message)),
  );
  const secretsDir = mkdtempSync(join(tmpdir(), 'shipcast-secrets-'));
  const logs = captureLogs();
  const runtime = buildRuntime({
    config,
    store,
    limiter: options.limiter ? options.limiter(store) : store,
    queue: options.queue ? options.queue(queue) : queue,
    secrets: new EnvFileSecretSource(secretsDir, options.env ?? {}),
    clock,
    logger: logs.logger,
    http: options.http ?? new HttpClient({ timeoutMs: 10_000 }),
    ingestQueue: new SqsIngestQueue(queues.sqs, resources.ingestQueueUrl),
    openApi: openApiDocument,
    rareRoutes: importRareRoutes,
    eventBus: options.eventBus,
    ses: options.ses,
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
    for (const m of Messages) {
      const key = parsedKey(m.Body);
      held.set(key, new Set([...(held.get(key) ?? []), m.ReceiptHandle as string]));
    }
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
    queue: testQueue,
    resources,
    queues,
    dynamodb,
    clock,
    secretsDir,
    logs,
    receiveDispatch: async (visibility = 30) => (await receive(visibility)).map(toReceived),
    // A FIFO queue hands out one message of a group at a time: look at all of them in the emulator instead.
    dispatchMessages: async () =>
      (
        queues.snapshot({ inFlight: false })[
          resources.dispatchQueueUrl.slice(resources.dispatchQueueUrl.lastIndexOf('/') + 1)
        ] ?? []
      ).map((m) => JSON.parse(m.body) as DispatchMessage),
    drainDispatch: async () => {
      let handled = 0;
      for (;;) {
        const batch = (await receive(30)).map(toReceived);
        if (batch.length === 0) return handled;
        handled += batch.length;
        const failed = new Set(await dispatchBatch(batch, runtime.dispatch));
        const done = batch.filter((m) => !failed.has(m.messageId));
        for (const m of done) held.get(parsedKey(m.body))?.delete(m.receiptHandle);
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
    discardHeld: async (deploymentId) => {
      for (const key of [...held.keys()]) if (key.startsWith(`${deploymentId}/`)) await dropHeld(key);
    },
    drainIngest: async () => {
      const ingest = createIngestHandler(async () => runtime);
      const responses: SQSBatchResponse[] = [];
      for (;;) {
        const { Messages = [] } = await queues.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: resources.ingestQueueUrl,
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: 0,
            VisibilityTimeout: 30,
            AttributeNames: ['All'],
          }),
        );
        if (Messages.length === 0) return responses;
        const event: SQSEvent = {
          Records: Messages.map((m) =>
            toSqsRecord(m, 'arn:aws:sqs:us-east-1:000000000000:shipcast-ingest', 'us-east-1'),
          ),
        };
        const response = (await ingest(event)) ?? { batchItemFailures: [] };
        responses.push(response);
        const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
        const done = Messages.filter((m) => !failed.has(m.MessageId!));
        if (done.length > 0) {
          await queues.sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl: resources.ingestQueueUrl,
              Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
            }),
          );
        }
        if (done.length === 0) return responses;
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
      if (!options.share) await queues.stop();
    },
  };
  return harness;
}

/**
 * The per-target circuit breaker is off in tests that do not configure it: their clock stands still, so
 * an open circuit would never cool down, and they count calls and retries of one target at a time.
 */
function withoutCircuit(config: unknown): unknown {
  const input = config as { dispatch?: { circuit?: unknown } } | undefined;
  if (!input || typeof input !== 'object' || input.dispatch?.circuit !== undefined) return config;
  return { ...input, dispatch: { ...input.dispatch, circuit: { enabled: false } } };
}
