import { randomUUID } from 'node:crypto';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startSqsSns } from '../../functions/local/emulators.ts';
import {
  type Poller,
  type SqsBatchHandler,
  startPoller,
  waitForQueueEmpty,
} from '../../functions/local/poller.ts';
import { startTestSqsSns, TEST_CLIENT_CONFIG, type TestSqsSns, waitFor } from '../support/emulators.ts';

let fauxqs: TestSqsSns;
const pollers: Poller[] = [];

beforeAll(async () => {
  fauxqs = await startTestSqsSns();
});
afterEach(async () => {
  await Promise.all(pollers.splice(0).map((poller) => poller.stop()));
});
afterAll(async () => {
  await fauxqs?.stop();
});

/** A fresh queue (1 s visibility timeout) with a DLQ after `maxReceives`. */
async function createQueues(maxReceives = 3) {
  const id = randomUUID().slice(0, 8);
  const { QueueUrl: dlqUrl } = await fauxqs.sqs.send(new CreateQueueCommand({ QueueName: `dlq-${id}` }));
  const dlqArn = await queueArn(dlqUrl!);
  const { QueueUrl: queueUrl } = await fauxqs.sqs.send(
    new CreateQueueCommand({
      QueueName: `queue-${id}`,
      Attributes: {
        VisibilityTimeout: '1',
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: maxReceives }),
      },
    }),
  );
  return { queueUrl: queueUrl!, queueArn: await queueArn(queueUrl!), dlqUrl: dlqUrl! };
}

async function queueArn(queueUrl: string) {
  const { Attributes } = await fauxqs.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
  );
  return Attributes!.QueueArn!;
}

async function sendBatch(queueUrl: string, bodies: string[]) {
  await fauxqs.sqs.send(
    new SendMessageBatchCommand({
      QueueUrl: queueUrl,
      Entries: bodies.map((body, i) => ({ Id: String(i), MessageBody: body })),
    }),
  );
}

/** Records every record the handler saw, with its receive count. */
function recording(decide: (record: SQSRecord, event: SQSEvent) => 'ok' | 'fail' | 'throw' = () => 'ok') {
  const seen: { body: string; receiveCount: string }[] = [];
  const handler: SqsBatchHandler = async (event) => {
    for (const record of event.Records) {
      seen.push({ body: record.body, receiveCount: record.attributes.ApproximateReceiveCount });
    }
    const decisions = event.Records.map((record) => decide(record, event));
    if (decisions.includes('throw')) throw new Error('handler blew up');
    return {
      batchItemFailures: event.Records.filter((_, i) => decisions[i] === 'fail').map((record) => ({
        itemIdentifier: record.messageId,
      })),
    };
  };
  return { seen, handler };
}

const silentLogger = () => ({ error: vi.fn() });

describe('startPoller', () => {
  it('delivers a Lambda-shaped SQSEvent', async () => {
    const { queueUrl, queueArn } = await createQueues();
    await fauxqs.sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: 'hello',
        MessageAttributes: {
          kind: { DataType: 'String', StringValue: 'test' },
          blob: { DataType: 'Binary', BinaryValue: Buffer.from('bytes') },
        },
      }),
    );
    const events: SQSEvent[] = [];
    pollers.push(
      startPoller({
        sqs: fauxqs.sqs,
        queueUrl,
        handler: async (event) => {
          events.push(event);
        },
      }),
    );
    await waitForQueueEmpty(fauxqs.sqs, queueUrl);

    expect(events).toHaveLength(1);
    const record = events[0]?.Records[0];
    expect(record).toMatchObject({
      body: 'hello',
      eventSource: 'aws:sqs',
      eventSourceARN: queueArn,
      awsRegion: 'us-east-1',
      attributes: { ApproximateReceiveCount: '1', SenderId: expect.any(String) },
      messageAttributes: {
        kind: { dataType: 'String', stringValue: 'test', stringListValues: [], binaryListValues: [] },
        blob: { dataType: 'Binary', binaryValue: Buffer.from('bytes').toString('base64') },
      },
    });
    expect(record?.messageId).toEqual(expect.any(String));
    expect(record?.receiptHandle).toEqual(expect.any(String));
    expect(record?.md5OfBody).toMatch(/^[0-9a-f]{32}$/);
    expect(Number(record?.attributes.SentTimestamp)).toBeGreaterThan(0);
    expect(Number(record?.attributes.ApproximateFirstReceiveTimestamp)).toBeGreaterThan(0);
  });

  it("tells the handler how long it has left of its timeout, as Lambda's context does", async () => {
    const { queueUrl } = await createQueues();
    await sendBatch(queueUrl, ['tick']);
    const readings: number[] = [];
    pollers.push(
      startPoller({
        sqs: fauxqs.sqs,
        queueUrl,
        timeoutSeconds: 1,
        handler: async (_event, context) => {
          readings.push(context.getRemainingTimeInMillis());
          // The time left runs out: wait for it to reach zero (it never goes below).
          while (context.getRemainingTimeInMillis() > 0)
            await new Promise((resolve) => setTimeout(resolve, 20));
          readings.push(context.getRemainingTimeInMillis());
        },
      }),
    );
    await waitForQueueEmpty(fauxqs.sqs, queueUrl);

    expect(readings).toHaveLength(2);
    expect(readings[0]).toBeGreaterThan(0);
    expect(readings[0]).toBeLessThanOrEqual(1000);
    expect(readings[1]).toBe(0);
  });

  it('deletes the successes of a batch and redelivers the reported failure', async () => {
    const { queueUrl } = await createQueues();
    await sendBatch(queueUrl, ['a', 'b', 'c']);
    const { seen, handler } = recording((record) =>
      record.body === 'b' && record.attributes.ApproximateReceiveCount === '1' ? 'fail' : 'ok',
    );
    pollers.push(startPoller({ sqs: fauxqs.sqs, queueUrl, handler }));

    await waitFor(() => seen.some((s) => s.body === 'b' && s.receiveCount === '2'), {
      message: 'b redelivered',
    });
    await waitForQueueEmpty(fauxqs.sqs, queueUrl);
    expect(seen).toEqual([
      { body: 'a', receiveCount: '1' },
      { body: 'b', receiveCount: '1' },
      { body: 'c', receiveCount: '1' },
      { body: 'b', receiveCount: '2' },
    ]);
  });

  it('redelivers the whole batch when the handler throws', async () => {
    const { queueUrl } = await createQueues();
    await sendBatch(queueUrl, ['a', 'b']);
    const logger = silentLogger();
    const { seen, handler } = recording((record) =>
      record.attributes.ApproximateReceiveCount === '1' ? 'throw' : 'ok',
    );
    pollers.push(startPoller({ sqs: fauxqs.sqs, queueUrl, handler, logger }));

    await waitFor(() => seen.filter((s) => s.receiveCount === '2').length === 2, {
      message: 'both redelivered',
    });
    await waitForQueueEmpty(fauxqs.sqs, queueUrl);
    expect(seen.map((s) => `${s.body}:${s.receiveCount}`).sort()).toEqual(['a:1', 'a:2', 'b:1', 'b:2']);
    expect(logger.error).toHaveBeenCalled();
  });

  it('treats an itemIdentifier that is not in the batch as a whole-batch failure', async () => {
    const { queueUrl } = await createQueues();
    await sendBatch(queueUrl, ['a', 'b']);
    const seen: string[] = [];
    const logger = silentLogger();
    pollers.push(
      startPoller({
        sqs: fauxqs.sqs,
        queueUrl,
        logger,
        handler: async (event) => {
          seen.push(...event.Records.map((r) => `${r.body}:${r.attributes.ApproximateReceiveCount}`));
          const first = event.Records[0]?.attributes.ApproximateReceiveCount === '1';
          return { batchItemFailures: first ? [{ itemIdentifier: 'not-in-this-batch' }] : [] };
        },
      }),
    );
    await waitFor(() => seen.filter((s) => s.endsWith(':2')).length === 2, { message: 'both redelivered' });
    await waitForQueueEmpty(fauxqs.sqs, queueUrl);
    expect(seen.sort()).toEqual(['a:1', 'a:2', 'b:1', 'b:2']);
    expect(String(logger.error.mock.calls[0]?.[0])).toContain('invalid handler response');
  });

  it('lets a message that always fails end in the DLQ after maxReceives', async () => {
    const maxReceives = 2;
    const { queueUrl, dlqUrl } = await createQueues(maxReceives);
    await sendBatch(queueUrl, ['poison', 'fine']);
    const { seen, handler } = recording((record) => (record.body === 'poison' ? 'fail' : 'ok'));
    pollers.push(startPoller({ sqs: fauxqs.sqs, queueUrl, handler }));

    // The poller's next receive after the last failure moves the message (fauxqs: on receive, like SQS).
    await waitForQueueEmpty(fauxqs.sqs, queueUrl);
    const { Messages = [] } = await fauxqs.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: dlqUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    expect(Messages.map((m) => m.Body)).toEqual(['poison']);
    expect(seen.filter((s) => s.body === 'poison').map((s) => s.receiveCount)).toEqual(['1', '2']);
    expect(seen.filter((s) => s.body === 'fine')).toHaveLength(1);
  });

  it('stop() waits for the in-flight batch to finish', async () => {
    const { queueUrl } = await createQueues();
    await sendBatch(queueUrl, ['slow']);
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let started = false;
    let finished = false;
    const poller = startPoller({
      sqs: fauxqs.sqs,
      queueUrl,
      handler: async () => {
        started = true;
        await released;
        finished = true;
      },
    });
    await waitFor(() => started, { message: 'handler started' });

    let stopped = false;
    const stopping = poller.stop().then(() => {
      stopped = true;
    });
    // Give stop() every chance to resolve early; it must not while the handler is blocked.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(stopped).toBe(false);

    release();
    await stopping;
    expect(finished).toBe(true);
    // The batch completed before stop() resolved, so its message was deleted.
    await waitForQueueEmpty(fauxqs.sqs, queueUrl, 2_000);
  });

  it('logs SQS errors instead of throwing, and still stops', async () => {
    const emulator = await startSqsSns({ port: 0 });
    const sqs = new SQSClient({ ...TEST_CLIENT_CONFIG, endpoint: emulator.endpoint });
    try {
      const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'short-lived' }));
      const logger = silentLogger();
      const poller = startPoller({ sqs, queueUrl: QueueUrl!, logger, handler: async () => undefined });
      await emulator.stop();
      await waitFor(() => logger.error.mock.calls.length > 0, { message: 'an error logged' });
      await poller.stop();
      expect(String(logger.error.mock.calls[0]?.[0])).toContain('polling failed');
    } finally {
      sqs.destroy();
    }
  });
});
