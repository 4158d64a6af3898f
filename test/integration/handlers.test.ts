import { readFileSync } from 'node:fs';
import type { SNSEvent, SQSEvent, SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReceivedMessage } from '../../functions/core/dispatch.ts';
import { InvalidInputError } from '../../functions/core/errors.ts';
import { parseCodeDeployMessage } from '../../functions/core/sources/codedeploy.ts';
import { createDispatchHandler } from '../../functions/handlers/dispatch-handler.ts';
import { createIngestHandler } from '../../functions/handlers/ingest-handler.ts';
import { createHarness, type Harness } from '../support/harness.ts';
import { startTargetServer, type TargetServer } from '../support/target-server.ts';

const fixture = (name: string) => readFileSync(`test/fixtures/codedeploy/${name}`, 'utf8');

/** The SNS→SQS body fixture with the CodeDeploy message's deployment id (and optionally application) changed. */
function sqsBody(deploymentId: string, applicationName?: string): string {
  const envelope = JSON.parse(fixture('sns-sqs-body.json')) as { Message: string; MessageId: string };
  const message = JSON.parse(envelope.Message) as Record<string, unknown>;
  message.deploymentId = deploymentId;
  if (applicationName) message.applicationName = applicationName;
  return JSON.stringify({ ...envelope, MessageId: `msg-${deploymentId}`, Message: JSON.stringify(message) });
}

/** The id Shipcast gives the deployment a body announces. */
function deploymentIdOf(body: string): string {
  const { Message } = JSON.parse(body) as { Message: string };
  return parseCodeDeployMessage(Message, { receivedAt: '2026-03-01T10:00:00.000Z', where: 'test' })
    .deploymentId;
}

function sqsRecord(
  messageId: string,
  body: string,
  receiveCount = 1,
  receiptHandle = `rh-${messageId}`,
): SQSRecord {
  return {
    messageId,
    receiptHandle,
    body,
    attributes: {
      ApproximateReceiveCount: String(receiveCount),
      SentTimestamp: '1772359200000',
      SenderId: 'AIDAEXAMPLE',
      ApproximateFirstReceiveTimestamp: '1772359200100',
    },
    messageAttributes: {},
    md5OfBody: '00000000000000000000000000000000',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:eu-west-2:123456789012:shipcast-ingest',
    awsRegion: 'eu-west-2',
  };
}

const sqsEvent = (...records: SQSRecord[]): SQSEvent => ({ Records: records });
const fromReceived = (m: ReceivedMessage) => sqsRecord(m.messageId, m.body, m.receiveCount, m.receiptHandle);

describe('Lambda handlers', () => {
  let h: Harness;
  let good: TargetServer;
  let broken: TargetServer;

  beforeAll(async () => {
    good = await startTargetServer();
    broken = await startTargetServer();
    broken.fallback = () => ({ status: 500, body: 'internal error' });
    h = await createHarness({
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: {
          console: { type: 'log' },
          ok: { type: 'webhook', url: `${good.url}/hook` },
          failing: { type: 'webhook', url: `${broken.url}/hook` },
          refusing: { type: 'webhook', url: `${good.url}/refuse` },
        },
        routes: [
          { match: { service: 'checkout' }, targets: ['console'] },
          { match: { service: 'dispatch-app' }, targets: ['ok', 'failing'] },
          { match: { service: 'refuse-app' }, targets: ['refusing'] },
        ],
      },
    });
    good.fallback = (request) =>
      request.path === '/refuse'
        ? { status: 404, body: 'no such hook' }
        : { status: 200, body: { ok: true } };
  });
  afterAll(async () => {
    await h?.stop();
    await good?.stop();
    await broken?.stop();
  });

  const runtime = () => Promise.resolve(h.runtime);

  describe('ingest handler', () => {
    it('ingests the SNS→SQS body of a real CodeDeploy delivery', async () => {
      const body = fixture('sns-sqs-body.json');
      const handler = createIngestHandler(runtime);

      const result = await handler(sqsEvent(sqsRecord('m-fixture', body)));

      expect(result).toEqual({ batchItemFailures: [] });
      const record = await h.store.getDeployment(deploymentIdOf(body));
      expect(record).toMatchObject({
        source: 'codedeploy',
        service: 'checkout',
        environment: 'checkout-production',
        status: 'succeeded',
        sourceStatus: 'SUCCEEDED',
      });
      expect(record?.transitions.map((t) => t.targets)).toEqual([['console']]);
    });

    it('reports only the invalid message of a batch and ingests the others', async () => {
      const first = sqsBody('d-BATCH0001');
      const second = sqsBody('d-BATCH0002');
      const envelope = JSON.parse(first) as Record<string, unknown>;
      const badMessage = JSON.stringify({ ...envelope, Message: '{"status":"SUCCEEDED"}' });
      const notAnEnvelope = JSON.stringify({ Type: 'SubscriptionConfirmation', Token: 'x' });
      const handler = createIngestHandler(runtime);

      const result = await handler(
        sqsEvent(
          sqsRecord('m-good-1', first),
          sqsRecord('m-bad-message', badMessage),
          sqsRecord('m-good-2', second),
          sqsRecord('m-bad-envelope', notAnEnvelope),
          sqsRecord('m-not-json', 'hello'),
        ),
      );

      expect(result?.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual([
        'm-bad-envelope',
        'm-bad-message',
        'm-not-json',
      ]);
      for (const body of [first, second]) {
        expect((await h.store.getDeployment(deploymentIdOf(body)))?.status).toBe('succeeded');
      }
      const rejected = h.logs.entries().filter((e) => e.message === 'ingest message rejected');
      expect(rejected.map((e) => e.queueMessageId).sort()).toEqual([
        'm-bad-envelope',
        'm-bad-message',
        'm-not-json',
      ]);
    });

    it('acknowledges a redelivered message without a second history entry', async () => {
      const body = sqsBody('d-REDELIVER1');
      const handler = createIngestHandler(runtime);

      await handler(sqsEvent(sqsRecord('m-redeliver', body)));
      const again = await handler(sqsEvent(sqsRecord('m-redeliver', body, 2)));

      expect(again).toEqual({ batchItemFailures: [] });
      const id = deploymentIdOf(body);
      expect(await h.store.listEvents(id)).toHaveLength(1);
      expect((await h.store.getDeployment(id))?.transitions).toHaveLength(1);
    });

    it('ingests an SNS→Lambda event', async () => {
      const event = JSON.parse(fixture('sns-lambda-event.json')) as SNSEvent;
      const sns = event.Records[0]!.Sns;
      const message = JSON.parse(sns.Message) as Record<string, unknown>;
      sns.Message = JSON.stringify({ ...message, deploymentId: 'd-SNSLAMBDA1' });
      const handler = createIngestHandler(runtime);

      const result = await handler(event);

      expect(result).toBeUndefined();
      const id = parseCodeDeployMessage(sns.Message, { receivedAt: 'x', where: 'test' }).deploymentId;
      expect(await h.store.getDeployment(id)).toMatchObject({ status: 'succeeded', service: 'checkout' });
    });

    it('ingests the good records of an SNS→Lambda event and fails the invocation for the bad one', async () => {
      const event = JSON.parse(fixture('sns-lambda-event.json')) as SNSEvent;
      const template = event.Records[0]!;
      const message = JSON.parse(template.Sns.Message) as Record<string, unknown>;
      const goodMessage = JSON.stringify({ ...message, deploymentId: 'd-SNSLAMBDA2' });
      event.Records = [
        { ...template, Sns: { ...template.Sns, Message: 'not a trigger message' } },
        { ...template, Sns: { ...template.Sns, Message: goodMessage } },
      ];
      const handler = createIngestHandler(runtime);

      await expect(handler(event)).rejects.toBeInstanceOf(InvalidInputError);

      const id = parseCodeDeployMessage(goodMessage, { receivedAt: 'x', where: 'test' }).deploymentId;
      expect((await h.store.getDeployment(id))?.status).toBe('succeeded');
    });
  });

  describe('dispatch handler', () => {
    /** Ingests a CodeDeploy success for `application` and returns the dispatch messages it queued. */
    async function dispatchMessagesFor(application: string, codeDeployId: string) {
      await h.drainDispatch();
      const body = sqsBody(codeDeployId, application);
      expect(await createIngestHandler(runtime)(sqsEvent(sqsRecord(`m-${codeDeployId}`, body)))).toEqual({
        batchItemFailures: [],
      });
      const messages = await h.receiveDispatch();
      const deploymentId = deploymentIdOf(body);
      expect(messages.every((m) => JSON.parse(m.body).deploymentId === deploymentId)).toBe(true);
      return { deploymentId, messages };
    }

    const targetOf = (m: ReceivedMessage) => JSON.parse(m.body).target as string;

    it('reports the message of a target answering 500 as failed and not the one answering 200', async () => {
      const { deploymentId, messages } = await dispatchMessagesFor('dispatch-app', 'd-DISPATCH01');
      expect(messages.map(targetOf).sort()).toEqual(['failing', 'ok']);
      const failing = messages.find((m) => targetOf(m) === 'failing')!;
      const handler = createDispatchHandler(runtime);

      const result = await handler(sqsEvent(...messages.map(fromReceived)));

      expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: failing.messageId }] });
      expect(good.requests.filter((r) => r.path === '/hook')).toHaveLength(1);
      expect(broken.requests).toHaveLength(1);
      expect(await h.store.getDelivery(deploymentId, 'ok')).toMatchObject({
        state: 'delivered',
        deliveredSeq: 1,
      });
      expect(await h.store.getDelivery(deploymentId, 'failing')).toMatchObject({
        state: 'retrying',
        deliveredSeq: 0,
        lastError: expect.stringContaining('500'),
      });
      // Its retry (in 5 s) must not turn up among the next test's messages.
      await h.discardHeld(deploymentId);
    });

    it('does not report a message it dead-letters: a permanent refusal, a last attempt, or a body it cannot read', async () => {
      const { deploymentId, messages } = await dispatchMessagesFor('refuse-app', 'd-DISPATCH02');
      const depthBefore = await h.dlqDepth();
      const lastTry = await dispatchMessagesFor('dispatch-app', 'd-DISPATCH03');
      const failingLastTry = lastTry.messages.find((m) => targetOf(m) === 'failing')!;
      // Nine attempts at this transition failed before.
      await h.store.saveDelivery(
        {
          deploymentId: lastTry.deploymentId,
          target: 'failing',
          deliveredSeq: 0,
          state: 'retrying',
          attempts: 9,
          failedAttempts: 9,
          failingSeq: 1,
          updatedAt: '2026-03-01T10:00:00.000Z',
          rev: 1,
        },
        null,
      );
      const handler = createDispatchHandler(runtime);

      const result = await handler(
        sqsEvent(
          ...messages.map(fromReceived),
          sqsRecord(failingLastTry.messageId, failingLastTry.body, 10, failingLastTry.receiptHandle),
          sqsRecord('m-garbage', 'not a dispatch message'),
        ),
      );

      expect(result).toEqual({ batchItemFailures: [] });
      expect(await h.dlqDepth()).toBe(depthBefore + 3);
      expect(await h.store.getDelivery(deploymentId, 'refusing')).toMatchObject({
        state: 'failed',
        lastError: expect.stringContaining('404'),
      });
      expect(await h.store.getDelivery(lastTry.deploymentId, 'failing')).toMatchObject({
        state: 'failed',
        lastError: expect.stringContaining('gave up after 10 attempts'),
      });
    });
  });
});
