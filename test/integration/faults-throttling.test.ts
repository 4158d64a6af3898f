/**
 * Faults survived, scenario 5 (c): DynamoDB throttling. A middleware in the SDK client answers
 * ProvisionedThroughputExceededException / ThrottlingException (DynamoDB Local never throttles): some
 * attempts once (the SDK's retries get through), some requests on every attempt (the error reaches Shipcast,
 * and its own retry or the queue's redelivery gets through). CodeDeploy messages go through the ingest queue
 * and the real pollers, in waves. Everything is still recorded once and delivered once.
 * Size: FAULTS_THROTTLE_DEPLOYMENTS (60), FAULTS_SEED.
 */
import {
  GetQueueAttributesCommand,
  SendMessageBatchCommand,
  SetQueueAttributesCommand,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDispatchHandler } from '../../functions/handlers/dispatch-handler.ts';
import { createIngestHandler } from '../../functions/handlers/ingest-handler.ts';
import { type Poller, startPoller } from '../../functions/local/poller.ts';
import { waitFor } from '../support/emulators.ts';
import { injectThrottling, type ThrottleStats } from '../support/fault-dynamo.ts';
import { elapsed, envInt, prng, recordingQueue, reportFigures, shuffle } from '../support/fault-kit.ts';
import { codeDeployDeploymentBody, codeDeployDeploymentId } from '../support/fault-sources.ts';
import { type FaultTarget, startFaultTarget } from '../support/fault-targets.ts';
import { createHarness, type Harness } from '../support/harness.ts';

const DEPLOYMENTS = envInt('FAULTS_THROTTLE_DEPLOYMENTS', 30);
const SEED = envInt('FAULTS_SEED', 20260301);
/**
 * Seconds before a failed message is received again: short, so the test does not wait long, yet longer than a
 * batch takes with the SDK's throttling backoff (a message must not come back while it is being handled).
 */
const VISIBILITY = 6;

describe('DynamoDB throttling', () => {
  let h: Harness;
  const targets: FaultTarget[] = [];
  const pollers: Poller[] = [];
  const pollerErrors: string[] = [];
  let stats: ThrottleStats;
  let stopThrottling: () => void;
  const failedItems = { ingest: 0, dispatch: 0 };

  beforeAll(async () => {
    for (const name of ['one', 'two']) targets.push(await startFaultTarget(name));
    h = await createHarness({
      queue: (real) => recordingQueue(real, 0),
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        sources: { codedeploy: { enrich: false } },
        targets: Object.fromEntries(targets.map((t) => [t.name, { type: 'webhook', url: t.url }])),
        routes: [{ targets: targets.map((t) => t.name) }],
      },
    });
    for (const url of [h.resources.ingestQueueUrl, h.resources.dispatchQueueUrl]) {
      await h.queues.sqs.send(
        new SetQueueAttributesCommand({
          QueueUrl: url,
          Attributes: { VisibilityTimeout: String(VISIBILITY) },
        }),
      );
    }
    ({ stats, stop: stopThrottling } = injectThrottling(h.dynamodb, {
      softRate: 0.08,
      hardRate: 0.03,
      seed: SEED,
    }));
    const runtime = () => Promise.resolve(h.runtime);
    const logger = { error: (message: string) => pollerErrors.push(message) };
    const ingest = createIngestHandler(runtime);
    const dispatch = createDispatchHandler(runtime);
    // Several ingest functions at once; one dispatcher (two dispatchers racing is faults-races' subject).
    for (let i = 0; i < 4; i++) {
      pollers.push(
        startPoller({
          sqs: h.queues.sqs,
          queueUrl: h.resources.ingestQueueUrl,
          batchSize: 5,
          waitTimeSeconds: 1,
          logger,
          handler: async (event) => {
            const result = await ingest(event);
            failedItems.ingest += result?.batchItemFailures.length ?? 0;
            return result;
          },
        }),
      );
    }
    pollers.push(
      startPoller({
        sqs: h.queues.sqs,
        queueUrl: h.resources.dispatchQueueUrl,
        waitTimeSeconds: 1,
        logger,
        handler: async (event) => {
          const result = await dispatch(event);
          failedItems.dispatch += result.batchItemFailures.length;
          return result;
        },
      }),
    );
  });
  afterAll(async () => {
    stopThrottling?.();
    await Promise.all(pollers.map((p) => p.stop()));
    await h?.stop();
    for (const t of targets) await t.stop();
  });

  async function empty(url: string): Promise<boolean> {
    const { Attributes = {} } = await h.queues.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: url,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    return (
      Attributes.ApproximateNumberOfMessages === '0' &&
      Attributes.ApproximateNumberOfMessagesNotVisible === '0'
    );
  }

  it('records every deployment once and delivers every transition once while DynamoDB throttles', async () => {
    const started = performance.now();
    const random = prng(SEED + 1);
    const ids = Array.from({ length: DEPLOYMENTS }, (_, i) => `d-THROTTLE${String(i).padStart(4, '0')}`);
    let sent = 0;
    // One transition per deployment in flight at a time, so every transition is owed to every target.
    for (const status of ['CREATED', 'IN_PROGRESS', 'SUCCEEDED']) {
      const bodies = ids.map((codeDeployId, i) =>
        codeDeployDeploymentBody({
          codeDeployId,
          status,
          application: 'throttled-app',
          group: 'throttled-app-production',
          createdMs: Date.UTC(2026, 2, 1, 11, i),
          completedMs: status === 'SUCCEEDED' ? Date.UTC(2026, 2, 1, 11, i, 40) : undefined,
        }),
      );
      // SNS delivers at least once: some messages twice.
      const wave = shuffle([...bodies, ...bodies.filter(() => random() < 0.05)], random);
      for (let i = 0; i < wave.length; i += 10) {
        await h.queues.sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: h.resources.ingestQueueUrl,
            Entries: wave.slice(i, i + 10).map((body, j) => ({ Id: String(j), MessageBody: body })),
          }),
        );
      }
      sent += wave.length;
      await waitFor(
        async () => (await empty(h.resources.ingestQueueUrl)) && (await empty(h.resources.dispatchQueueUrl)),
        { timeoutMs: 120_000, intervalMs: 200, message: `the ${status} wave to be ingested and dispatched` },
      );
    }
    stopThrottling();

    expect(await h.dlqDepth()).toBe(0);
    expect(await empty(h.resources.ingestDlqUrl)).toBe(true);
    for (const codeDeployId of ids) {
      const record = await h.store.getDeployment(codeDeployDeploymentId(codeDeployId));
      expect(record?.status, codeDeployId).toBe('succeeded');
      expect(record?.transitions.map((t) => t.to)).toEqual(['queued', 'in_progress', 'succeeded']);
    }
    const wrong: string[] = [];
    for (const target of targets) {
      for (const codeDeployId of ids) {
        for (const seq of [1, 2, 3]) {
          const key = `${codeDeployDeploymentId(codeDeployId)}:${seq}`;
          const calls = target.answers.get(key)?.length ?? 0;
          if (calls !== 1) wrong.push(`${target.name} ${codeDeployId} seq ${seq}: ${calls} calls`);
        }
      }
    }
    expect(wrong.slice(0, 10)).toEqual([]);
    // The faults did reach Shipcast (not only the SDK's retries), or this test proves nothing.
    expect(stats.surfaced).toBeGreaterThan(0);
    expect(failedItems.ingest + failedItems.dispatch).toBeGreaterThan(0);
    expect(pollerErrors).toEqual([]);
    reportFigures('throttling', {
      deployments: DEPLOYMENTS,
      messagesSent: sent,
      dynamodbCalls: stats.calls,
      throttledAttempts: stats.throttled,
      sdkRetries: stats.sdkRetries,
      surfacedToShipcast: stats.surfaced,
      surfacedBy: stats.surfacedBy,
      ingestItemsRedelivered: failedItems.ingest,
      dispatchItemsRedelivered: failedItems.dispatch,
      targetCalls: targets.reduce((n, t) => n + t.calls(), 0),
      wallMs: elapsed(started),
    });
  }, 300_000);
});
