/** Test helpers: DynamoDB clients and per-test tables, an SQS/SNS emulator with clients, and waitFor(). */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import { type QueueSnapshot, startSqsSns } from '../../functions/local/emulators.ts';
import { ensureTable } from '../../functions/local/provision.ts';

/** Region and fake credentials every test client uses. */
export const TEST_CLIENT_CONFIG = {
  region: 'us-east-1',
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
} as const;

/** A DynamoDBClient for `endpoint` (e.g. `inject('dynamodbEndpoint')`) with region us-east-1 and fake credentials. */
export function dynamoClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({ ...TEST_CLIENT_CONFIG, endpoint });
}

/** Creates a uniquely named table with the stack's schema (`createTableInput`), waits until ACTIVE, returns its name. */
export async function createTestTable(client: DynamoDBClient, name?: string): Promise<string> {
  return ensureTable(client, name ?? `test-${randomUUID()}`);
}

/** A fauxqs instance on a random 127.0.0.1 port with SQS and SNS clients pointed at it. */
export interface TestSqsSns {
  endpoint: string;
  sqs: SQSClient;
  sns: SNSClient;
  /** What the queues hold, by queue name, without receiving anything (in flight too, unless told not to). */
  snapshot(options?: { inFlight?: boolean }): QueueSnapshot;
  /** Destroys the clients and stops the emulator. */
  stop(): Promise<void>;
}

/** Starts fauxqs (SQS + SNS) on a random port with clients; call stop() in afterAll. */
export async function startTestSqsSns(): Promise<TestSqsSns> {
  const emulator = await startSqsSns({ port: 0, region: TEST_CLIENT_CONFIG.region });
  const sqs = new SQSClient({ ...TEST_CLIENT_CONFIG, endpoint: emulator.endpoint });
  const sns = new SNSClient({ ...TEST_CLIENT_CONFIG, endpoint: emulator.endpoint });
  return {
    endpoint: emulator.endpoint,
    sqs,
    sns,
    snapshot: (options) => emulator.snapshot(options),
    async stop() {
      sqs.destroy();
      sns.destroy();
      await emulator.stop();
    },
  };
}

/**
 * Polls `probe` until it returns a value other than undefined/false and returns that value; rejects with
 * `message` after `timeoutMs`. For waiting on conditions instead of sleeping.
 */
export async function waitFor<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  {
    timeoutMs = 10_000,
    intervalMs = 50,
    message = 'condition',
  }: { timeoutMs?: number; intervalMs?: number; message?: string } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${message}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
