import { readFileSync } from 'node:fs';
import { CreateTopicCommand, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidTriggerError, publishTrigger } from '../../functions/ops/publish-trigger.ts';
import { startTestSqsSns, type TestSqsSns } from '../support/emulators.ts';

const FIXTURE = 'test/fixtures/codedeploy/deployment-succeeded.real.message.json';

describe('shipcast publish-trigger', () => {
  let emulator: TestSqsSns;
  let topicArn: string;
  let queueUrl: string;

  beforeAll(async () => {
    emulator = await startTestSqsSns();
    topicArn = (await emulator.sns.send(new CreateTopicCommand({ Name: 'codedeploy' }))).TopicArn!;
    queueUrl = (await emulator.sqs.send(new CreateQueueCommand({ QueueName: 'ingest' }))).QueueUrl!;
    const { Attributes } = await emulator.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
    );
    await emulator.sns.send(
      new SubscribeCommand({ TopicArn: topicArn, Protocol: 'sqs', Endpoint: Attributes!.QueueArn! }),
    );
  });
  afterAll(() => emulator.stop());

  it('publishes the trigger message exactly as written, as CodeDeploy does', async () => {
    const message = readFileSync(FIXTURE, 'utf8');

    const published = await publishTrigger(emulator.sns, { topicArn, message, where: FIXTURE });

    expect(published).toMatchObject({
      service: 'checkout',
      environment: 'checkout-production',
      status: 'SUCCEEDED',
    });
    const { Messages } = await emulator.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 5, MaxNumberOfMessages: 10 }),
    );
    expect(Messages).toHaveLength(1);
    const envelope = JSON.parse(Messages![0]!.Body!);
    expect(envelope).toMatchObject({ Type: 'Notification', TopicArn: topicArn, Message: message });
    expect(envelope.MessageId).toBe(published.messageId);
  });

  it('refuses a file that is not a trigger message, naming the missing fields, and publishes nothing', async () => {
    const attempt = publishTrigger(emulator.sns, {
      topicArn,
      message: '{"status":"SUCCEEDED"}',
      where: 'bad.json',
    });

    await expect(attempt).rejects.toBeInstanceOf(InvalidTriggerError);
    await expect(attempt).rejects.toThrow(/bad\.json .*deploymentId: is required/);
    expect(emulator.snapshot({ inFlight: false }).ingest ?? []).toHaveLength(0);
  });
});
