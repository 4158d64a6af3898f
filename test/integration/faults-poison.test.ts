/**
 * Faults survived, scenario 4: poison messages with the real event-source poller (1 s visibility timeouts, so
 * ApproximateReceiveCount grows as in AWS): an unreadable ingest message, a dispatch message whose target
 * always fails, and one that makes the dispatcher throw. Each ends in its DLQ after the configured receives
 * while the rest of its batch is handled once; a redrive moves them back, and an interrupted redrive repeated
 * calls nobody twice. (test/integration/redrive.test.ts covers a 400 poison and the command-line tool.)
 */
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { groupIdOfBody } from '../../functions/adapters/aws/sqs-queue.ts';
import { ingestEvent } from '../../functions/core/ingest.ts';
import { createDispatchHandler } from '../../functions/handlers/dispatch-handler.ts';
import { createIngestHandler } from '../../functions/handlers/ingest-handler.ts';
import { type Poller, startPoller } from '../../functions/local/poller.ts';
import { redrive } from '../../functions/ops/redrive.ts';
import { waitFor } from '../support/emulators.ts';
import { nativeEvent } from '../support/events.ts';
import { type RecordingQueue, recordingQueue, reportFigures } from '../support/fault-kit.ts';
import { codeDeployDeploymentBody, codeDeployDeploymentId } from '../support/fault-sources.ts';
import { type FaultTarget, startFaultTarget } from '../support/fault-targets.ts';
import { createHarness, type Harness } from '../support/harness.ts';

const MAX_RECEIVES = 4;
/** The harness provisions the ingest queue with 3 receives before its DLQ. */
const INGEST_MAX_RECEIVES = 3;

describe('poison messages with the real event-source poller', () => {
  let h: Harness;
  let hook: FaultTarget;
  let queue: RecordingQueue;
  const broken = new Set<string>();
  const pollers: Poller[] = [];
  const pollerErrors: string[] = [];
  /** How often each message body reached a handler. */
  const seen = new Map<string, number>();

  beforeAll(async () => {
    hook = await startFaultTarget('hook', (key) =>
      broken.has(key.split(':')[0] as string) ? { kind: 'error' } : { kind: 'ok' },
    );
    h = await createHarness({
      maxReceives: MAX_RECEIVES,
      // Backoff delays are recorded, not waited out.
      queue: (real) => {
        queue = recordingQueue(real, 0);
        return queue;
      },
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        sources: { codedeploy: { enrich: false } },
        targets: { hook: { type: 'webhook', url: hook.url } },
        routes: [{ targets: ['hook'] }],
        dispatch: { maxReceives: MAX_RECEIVES },
      },
    });
  });
  afterEach(async () => {
    await Promise.all(pollers.splice(0).map((p) => p.stop()));
  });
  afterAll(async () => {
    await h?.stop();
    await hook?.stop();
  });

  const counting =
    (handler: (event: SQSEvent) => Promise<unknown>) =>
    (event: SQSEvent): Promise<never> => {
      for (const record of event.Records) seen.set(record.body, (seen.get(record.body) ?? 0) + 1);
      return handler(event) as Promise<never>;
    };
  const logger = { error: (message: string) => pollerErrors.push(message) };
  const runtime = () => Promise.resolve(h.runtime);
  const poll = (queueUrl: string, handler: (event: SQSEvent) => Promise<unknown>) =>
    pollers.push(
      startPoller({ sqs: h.queues.sqs, queueUrl, handler: counting(handler), waitTimeSeconds: 1, logger }),
    );

  async function depth(queueUrl: string): Promise<{ visible: number; inFlight: number }> {
    const { Attributes = {} } = await h.queues.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    return {
      visible: Number(Attributes.ApproximateNumberOfMessages),
      inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible),
    };
  }
  const settled = async (queueUrl: string, dlqUrl: string, dead: number) => {
    const [main, dlq] = await Promise.all([depth(queueUrl), depth(dlqUrl)]);
    return main.visible === 0 && main.inFlight === 0 && dlq.visible === dead;
  };
  const dlqBodies = async (dlqUrl: string) => {
    const { Messages = [] } = await h.queues.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: dlqUrl,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 0,
        MessageAttributeNames: ['All'],
      }),
    );
    return Messages;
  };

  it('dead-letters an unreadable ingest message after the configured receives and ingests the rest of its batch once', async () => {
    const good = Array.from({ length: 9 }, (_, i) =>
      codeDeployDeploymentBody({
        codeDeployId: `d-POISON${i}`,
        status: 'SUCCEEDED',
        application: 'poison-app',
        group: 'poison-app-production',
        createdMs: Date.UTC(2026, 2, 1, 10, i),
        completedMs: Date.UTC(2026, 2, 1, 10, i, 30),
      }),
    );
    const poison = '{"Type":"Notification","Message":"{\\"deploymentId\\": not json';
    await h.queues.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: h.resources.ingestQueueUrl,
        Entries: [...good.slice(0, 5), poison, ...good.slice(5)].map((body, i) => ({
          Id: String(i),
          MessageBody: body,
        })),
      }),
    );
    poll(h.resources.ingestQueueUrl, createIngestHandler(runtime));

    await waitFor(() => settled(h.resources.ingestQueueUrl, h.resources.ingestDlqUrl, 1), {
      timeoutMs: 20_000,
      message: 'the ingest queue to empty into its DLQ',
    });

    expect(seen.get(poison)).toBe(INGEST_MAX_RECEIVES);
    expect(good.map((body) => seen.get(body))).toEqual(good.map(() => 1));
    for (let i = 0; i < 9; i++) {
      expect((await h.store.getDeployment(codeDeployDeploymentId(`d-POISON${i}`)))?.status).toBe('succeeded');
    }
    expect((await dlqBodies(h.resources.ingestDlqUrl)).map((m) => m.Body)).toEqual([poison]);
    expect(pollerErrors).toEqual([]);

    // Moved back, it is still unreadable: it returns to the DLQ after as many receives, touching nothing else.
    expect(
      await redrive(h.queues.sqs, {
        deadLetterQueueUrl: h.resources.ingestDlqUrl,
        queueUrl: h.resources.ingestQueueUrl,
      }),
    ).toEqual({ moved: 1, failed: 0 });
    await waitFor(() => settled(h.resources.ingestQueueUrl, h.resources.ingestDlqUrl, 1), {
      timeoutMs: 20_000,
      message: 'the redriven poison to return to the DLQ',
    });
    expect(seen.get(poison)).toBe(2 * INGEST_MAX_RECEIVES);
    expect(good.map((body) => seen.get(body))).toEqual(good.map(() => 1));
  }, 60_000);

  it('dead-letters what keeps failing or crashes the dispatcher after the configured receives, delivers the rest of the batch once, and redrives safely', async () => {
    const deployments = Array.from({ length: 9 }, (_, i) => nativeEvent(`poison-${i}`, 'succeeded'));
    const failing = deployments[0] as (typeof deployments)[number];
    broken.add(failing.deploymentId);
    for (const e of deployments) await ingestEvent(e, h.runtime.ingest);
    // A message no dispatcher can handle: a deployment id over DynamoDB's key size makes every read throw.
    const crashing = JSON.stringify({
      v: 1,
      deploymentId: `dep_${'f'.repeat(3000)}`,
      seq: 1,
      target: 'hook',
    });
    await h.queues.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: h.resources.dispatchQueueUrl,
        // The dispatch queue is FIFO: its message group (one per deployment and target) and a deduplication id.
        Entries: [
          {
            Id: 'poison',
            MessageBody: crashing,
            MessageGroupId: groupIdOfBody(crashing),
            MessageDeduplicationId: 'poison',
          },
        ],
      }),
    );
    poll(h.resources.dispatchQueueUrl, createDispatchHandler(runtime));

    await waitFor(() => settled(h.resources.dispatchQueueUrl, h.resources.dispatchDlqUrl, 2), {
      timeoutMs: 30_000,
      message: 'the dispatch queue to empty into its DLQ',
    });

    // The rest of the batch: one call each, no dead letter.
    for (const e of deployments.slice(1)) expect(hook.answers.get(`${e.deploymentId}:1`)).toHaveLength(1);
    // The failing target: one call per receive, then the dispatcher itself dead-letters it with the reason.
    expect(hook.answers.get(`${failing.deploymentId}:1`)).toHaveLength(MAX_RECEIVES);
    const dead = await dlqBodies(h.resources.dispatchDlqUrl);
    expect(dead.map((m) => m.Body).sort()).toEqual(
      [crashing, JSON.stringify({ v: 1, deploymentId: failing.deploymentId, seq: 1, target: 'hook' })].sort(),
    );
    const reason = dead.find((m) => m.Body !== crashing)?.MessageAttributes?.['shipcast-reason']?.StringValue;
    expect(reason).toMatch(new RegExp(`gave up after ${MAX_RECEIVES} attempts: .*answered 500`));
    // The crashing message was seen once per receive and moved by the queue's redrive policy.
    expect(seen.get(crashing)).toBe(MAX_RECEIVES);
    // Every receive but the last asked the queue to wait before the next.
    expect(queue.delays).toHaveLength(MAX_RECEIVES - 1);
    expect(queue.delays.every((d) => d.seconds >= 1)).toBe(true);
    expect(await h.store.getDelivery(failing.deploymentId, 'hook')).toMatchObject({ state: 'failed' });

    // The target is fixed, the dispatcher stopped for the operator's redrive. The first redrive is interrupted
    // after sending, before deleting from the DLQ, so the operator runs it again: the messages it sends again
    // carry the same deduplication ids (one per dead-lettered message), so the FIFO queue keeps one copy each.
    broken.clear();
    await Promise.all(pollers.splice(0).map((p) => p.stop()));
    const taken: string[] = [];
    const interrupted = {
      send: async (command: object) => {
        if (command instanceof DeleteMessageBatchCommand) throw new Error('redrive interrupted');
        const answer = await h.queues.sqs.send(command as never);
        if (command instanceof ReceiveMessageCommand) {
          for (const m of (answer as { Messages?: { ReceiptHandle?: string }[] }).Messages ?? [])
            taken.push(m.ReceiptHandle as string);
        }
        return answer;
      },
    } as unknown as SQSClient;
    await expect(
      redrive(interrupted, {
        deadLetterQueueUrl: h.resources.dispatchDlqUrl,
        queueUrl: h.resources.dispatchQueueUrl,
      }),
    ).rejects.toThrow('redrive interrupted');
    // What it had received shows in the DLQ again once its visibility ends (made to end now).
    for (const handle of taken) {
      await h.queues.sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: h.resources.dispatchDlqUrl,
          ReceiptHandle: handle,
          VisibilityTimeout: 0,
        }),
      );
    }
    const again = await redrive(h.queues.sqs, {
      deadLetterQueueUrl: h.resources.dispatchDlqUrl,
      queueUrl: h.resources.dispatchQueueUrl,
    });
    expect(again).toEqual({ moved: 2, failed: 0 });
    expect((await depth(h.resources.dispatchQueueUrl)).visible).toBe(2);
    poll(h.resources.dispatchQueueUrl, createDispatchHandler(runtime));
    // The crashing message returns to the DLQ; the fixed one is delivered once.
    await waitFor(() => settled(h.resources.dispatchQueueUrl, h.resources.dispatchDlqUrl, 1), {
      timeoutMs: 30_000,
      message: 'the redriven messages to be handled',
    });
    const answers = hook.answers.get(`${failing.deploymentId}:1`) ?? [];
    expect(answers.filter((a) => a.kind === 'ok')).toHaveLength(1);
    expect(answers).toHaveLength(MAX_RECEIVES + 1);
    expect((await dlqBodies(h.resources.dispatchDlqUrl)).map((m) => m.Body)).toEqual([crashing]);
    for (const e of deployments.slice(1)) expect(hook.answers.get(`${e.deploymentId}:1`)).toHaveLength(1);
    expect(await h.store.getDelivery(failing.deploymentId, 'hook')).toMatchObject({
      state: 'delivered',
      deliveredSeq: 1,
    });
    reportFigures('poison', {
      targetCalls: hook.calls(),
      crashingReceives: seen.get(crashing),
      retriesAsked: queue.delays.length,
      pollerErrors: pollerErrors.length,
    });
  }, 90_000);
});
