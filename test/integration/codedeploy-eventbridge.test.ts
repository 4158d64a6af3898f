import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/core/config.ts';
import { parseCodeDeployMessage } from '../../functions/core/sources/codedeploy.ts';
import { eventBridgeToTriggerMessage } from '../../functions/core/sources/codedeploy-eventbridge.ts';
import { type LocalShipcast, startLocal } from '../../functions/local/local-shipcast.ts';
import { captureLogs } from '../support/capture-logger.ts';
import { waitFor } from '../support/emulators.ts';
import { startTargetServer, type TargetServer } from '../support/target-server.ts';

const TOKEN = 'eventbridge-test-token-0123456789';
const fixture = (name: string, id: string) =>
  readFileSync(`test/fixtures/codedeploy/${name}`, 'utf8').replaceAll('d-4F2KQ8ZX1', id);

describe('CodeDeploy events from EventBridge', () => {
  it('reads a deployment event as the trigger message CodeDeploy would have published', () => {
    const start = JSON.parse(fixture('eventbridge-deployment-start.documented.json', 'd-4F2KQ8ZX1'));
    const success = JSON.parse(fixture('eventbridge-deployment-success.documented.json', 'd-4F2KQ8ZX1'));
    const where = 'SQS message 1';

    const fromStart = parseCodeDeployMessage(eventBridgeToTriggerMessage(start, where), {
      receivedAt: '2022-10-13T16:00:00Z',
      where,
    });
    const fromSuccess = parseCodeDeployMessage(eventBridgeToTriggerMessage(success, where), {
      receivedAt: '2022-10-13T16:00:00Z',
      where,
    });
    const fromTrigger = parseCodeDeployMessage(
      fixture('deployment-succeeded.real.message.json', 'd-4F2KQ8ZX1'),
      {
        receivedAt: '2022-10-13T16:00:00Z',
        where,
      },
    );

    expect(fromStart).toMatchObject({
      status: 'queued',
      service: 'checkout',
      environment: 'checkout-production',
      startedAt: '2022-10-13T15:50:46.000Z',
    });
    expect(fromSuccess).toMatchObject({ status: 'succeeded', finishedAt: '2022-10-13T15:54:12.000Z' });
    expect(fromSuccess.deploymentId).toBe(fromTrigger.deploymentId);
    expect(fromSuccess.details).toMatchObject({
      account: '123456789012',
      region: 'eu-west-2',
      codeDeployId: 'd-4F2KQ8ZX1',
    });
  });

  it('reads an instance event as an instance message that never finishes the deployment', () => {
    const instance = JSON.parse(fixture('eventbridge-instance-success.documented.json', 'd-4F2KQ8ZX1'));
    const parsed = parseCodeDeployMessage(eventBridgeToTriggerMessage(instance, 'm'), {
      receivedAt: '2022-10-13T16:00:00Z',
      where: 'm',
    });
    expect(parsed).toMatchObject({
      kind: 'instance',
      status: 'in_progress',
      instance: { id: 'i-0000000aaaaaaaaaa', status: 'Succeeded' },
    });
  });

  it('names the field of an event it cannot read', () => {
    const event = JSON.parse(fixture('eventbridge-deployment-success.documented.json', 'd-4F2KQ8ZX1'));
    event.detail.state = 'EXPLODED';
    expect(() => eventBridgeToTriggerMessage(event, 'SQS message 7')).toThrow(
      /SQS message 7.*detail\.state.*unknown CodeDeploy deployment state "EXPLODED"/,
    );
    delete event.account;
    expect(() => eventBridgeToTriggerMessage(event, 'SQS message 7')).toThrow(/account/);
  });

  describe('reported by both an SNS trigger and EventBridge', () => {
    let hook: TargetServer;
    let local: LocalShipcast;
    let sqs: SQSClient;
    let sns: SNSClient;
    const logs = captureLogs();

    beforeAll(async () => {
      hook = await startTargetServer();
      local = await startLocal({
        config: parseConfig({
          api: { tokens: [{ name: 'dev', secret: 'api-token' }] },
          sources: { codedeploy: { enrich: false } },
          targets: { hook: { type: 'webhook', url: `${hook.url}/hook` } },
          routes: [{ targets: ['hook'] }],
        }),
        dataDir: mkdtempSync(join(tmpdir(), 'shipcast-eventbridge-')),
        port: 0,
        queuePort: 0,
        env: { SHIPCAST_SECRET_API_TOKEN: TOKEN },
        logger: logs.logger,
      });
      const client = {
        region: 'us-east-1',
        endpoint: local.sqsSnsEndpoint,
        credentials: { accessKeyId: 'l', secretAccessKey: 'l' },
      };
      sqs = new SQSClient(client);
      sns = new SNSClient(client);
    });
    afterAll(async () => {
      sqs.destroy();
      sns.destroy();
      await local?.stop();
      await hook?.stop();
      logs.restore();
    });

    /** What an EventBridge rule targeting the ingest queue does: the event itself as the message body. */
    const viaEventBridge = (name: string, id: string) =>
      sqs.send(
        new SendMessageCommand({ QueueUrl: local.resources.ingestQueueUrl, MessageBody: fixture(name, id) }),
      );
    const viaTrigger = (name: string, id: string) =>
      sns.send(new PublishCommand({ TopicArn: local.resources.topicArn, Message: fixture(name, id) }));
    const callsFor = (codeDeployId: string) =>
      hook.requests
        .map((r) =>
          r.json<{ deployment: { details: { codeDeployId: string } }; transition: { to: string } }>(),
        )
        .filter((body) => body.deployment.details.codeDeployId === codeDeployId)
        .map((body) => body.transition.to);
    const detail = async (codeDeployId: string, events: number) =>
      waitFor(
        async () => {
          const list = await fetch(`${local.apiUrl}/v1/deployments?service=checkout`, {
            headers: { authorization: `Bearer ${TOKEN}` },
          });
          const { deployments } = (await list.json()) as {
            deployments: { id: string; details: { codeDeployId: string } }[];
          };
          const found = deployments.filter((d) => d.details.codeDeployId === codeDeployId);
          if (found.length !== 1) return false;
          const answer = await fetch(`${local.apiUrl}/v1/deployments/${found[0]!.id}`, {
            headers: { authorization: `Bearer ${TOKEN}` },
          });
          const body = (await answer.json()) as {
            deployment: { transitions: { to: string }[] };
            events: unknown[];
            deliveries: { state: string }[];
          };
          return (
            body.events.length === events && body.deliveries.every((d) => d.state === 'delivered') && body
          );
        },
        { timeoutMs: 20_000, message: `${events} events of ${codeDeployId}` },
      );

    it('is one deployment with one transition and one notification per status when the trigger comes first', async () => {
      const id = 'd-EBORDER01';
      await viaTrigger('deployment-created.real.message.json', id);
      await waitFor(() => callsFor(id).length === 1);
      await viaEventBridge('eventbridge-deployment-start.documented.json', id);
      await viaEventBridge('eventbridge-deployment-success.documented.json', id);
      await waitFor(() => callsFor(id).length === 2);
      await viaTrigger('deployment-succeeded.real.message.json', id);

      const body = await detail(id, 4);

      expect(body.deployment.transitions.map((t) => t.to)).toEqual(['queued', 'succeeded']);
      expect(callsFor(id)).toEqual(['queued', 'succeeded']);
    });

    it('is one deployment with one notification per status when EventBridge comes first', async () => {
      const id = 'd-EBORDER02';
      await viaEventBridge('eventbridge-deployment-start.documented.json', id);
      await waitFor(() => callsFor(id).length === 1);
      await viaTrigger('deployment-created.real.message.json', id);
      await viaTrigger('deployment-succeeded.real.message.json', id);
      await waitFor(() => callsFor(id).length === 2);
      await viaEventBridge('eventbridge-deployment-success.documented.json', id);
      await viaEventBridge('eventbridge-instance-success.documented.json', id);

      const body = await detail(id, 5);

      expect(body.deployment.transitions.map((t) => t.to)).toEqual(['queued', 'succeeded']);
      expect(callsFor(id)).toEqual(['queued', 'succeeded']);
    });
  });
});
