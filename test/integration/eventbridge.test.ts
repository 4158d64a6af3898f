import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { CloudEvent } from 'cloudevents';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventBridgeBus } from '../../functions/adapters/aws/eventbridge-bus.ts';
import { parseConfig } from '../../functions/core/config.ts';
import { ConfigError } from '../../functions/core/errors.ts';
import { deploymentIdFor } from '../../functions/core/ids.ts';
import { ingestEvent } from '../../functions/core/ingest.ts';
import type { DeploymentEvent } from '../../functions/core/schema.ts';
import { Shipcast } from '../../lib/index.ts';
import { awsError } from '../support/aws-json-server.ts';
import { cdeventProblems } from '../support/cdevents-schemas.ts';
import { type EventBridgeServer, startEventBridgeServer } from '../support/eventbridge-server.ts';
import { nativeEvent } from '../support/events.ts';
import { createHarness, type Harness } from '../support/harness.ts';

const DEPLOYS = 'arn:aws:events:us-east-1:123456789012:event-bus/deploys';
const CENTRAL = 'arn:aws:events:eu-west-1:999999999999:event-bus/central';
const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'fake-secret-for-tests' };

// biome-ignore lint/suspicious/noExplicitAny: the events are read field by field
type Json = Record<string, any>;

describe('eventbridge target', () => {
  let h: Harness;
  let eventbridge: EventBridgeServer;

  beforeAll(async () => {
    eventbridge = await startEventBridgeServer([DEPLOYS, CENTRAL]);
    h = await createHarness({
      maxReceives: 5,
      eventBus: new EventBridgeBus({ endpoint: eventbridge.endpoint, credentials, region: 'us-east-1' }),
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: {
          bus: { type: 'eventbridge', bus: 'deploys' },
          central: { type: 'eventbridge', bus: CENTRAL, source: 'com.example.shipcast' },
          cd: { type: 'eventbridge', bus: 'deploys', format: 'cdevents' },
          missing: { type: 'eventbridge', bus: 'no-such-bus' },
        },
        routes: [
          { match: { service: 'eb-*' }, targets: ['bus'] },
          { match: { service: 'central-*' }, targets: ['central'] },
          { match: { service: 'cd-*' }, targets: ['cd'] },
          { match: { service: 'missing-*' }, targets: ['missing'] },
        ],
        dispatch: { maxReceives: 5 },
      },
    });
  });
  afterAll(async () => {
    await h.stop();
    await eventbridge.close();
  });

  const ingest = (event: DeploymentEvent) => ingestEvent(event, h.runtime.ingest);
  const eventsOf = (deploymentId: string) =>
    eventbridge.events.filter((e) => String(e.detail.id).startsWith(`${deploymentId}:`));
  const redeliver = (deploymentId: string, target: string, seq = 1) =>
    h.queue.enqueue([{ v: 1, deploymentId, seq, target }]);

  it("puts every transition on the bus as a CloudEvent of Shipcast's type", async () => {
    const id = deploymentIdFor('native', 'eb-1');
    await ingest(nativeEvent('eb-1', 'in_progress', { service: 'eb-api', version: '4.2.0' }));
    await ingest(nativeEvent('eb-1', 'succeeded', { service: 'eb-api', version: '4.2.0' }));

    await h.drainDispatch();

    const events = eventsOf(id);
    expect(events.map((e) => [e.bus, e.source, e.detailType])).toEqual([
      [DEPLOYS, 'shipcast', 'dev.shipcast.deployment.in_progress'],
      [DEPLOYS, 'shipcast', 'dev.shipcast.deployment.succeeded'],
    ]);
    const detail = events[1]?.detail as Json;
    expect(new CloudEvent(detail as never).validate()).toBe(true);
    expect(detail).toMatchObject({ specversion: '1.0', id: `${id}:2`, source: 'shipcast', subject: id });
    expect(detail.data.deployment).toMatchObject({
      service: 'eb-api',
      version: '4.2.0',
      status: 'succeeded',
    });
    expect(await h.store.getDelivery(id, 'bus')).toMatchObject({
      state: 'delivered',
      deliveredSeq: 2,
      refs: { eventId: events[1]?.eventId, cloudEventId: `${id}:2` },
    });
  });

  it("puts on another account's bus by its ARN, signed for the bus's region", async () => {
    const id = deploymentIdFor('native', 'central-1');
    await ingest(nativeEvent('central-1', 'failed', { service: 'central-api' }));

    await h.drainDispatch();

    expect(eventsOf(id).map((e) => [e.bus, e.source, e.detailType])).toEqual([
      [CENTRAL, 'com.example.shipcast', 'dev.shipcast.deployment.failed'],
    ]);
    const request = eventbridge.requests.find((r) => JSON.stringify(r.body).includes(`${id}:1`));
    expect(request).toMatchObject({ target: 'AWSEvents.PutEvents', signed: true, region: 'eu-west-1' });
  });

  it('puts a CDEvent per successful deployment only, valid against the CDEvents v0.5.1 schema', async () => {
    const ok = deploymentIdFor('native', 'cd-1');
    const failed = deploymentIdFor('native', 'cd-2');
    await ingest(nativeEvent('cd-1', 'in_progress', { service: 'cd-api', version: '7.0.0' }));
    await ingest(nativeEvent('cd-1', 'succeeded', { service: 'cd-api', version: '7.0.0' }));
    await ingest(nativeEvent('cd-2', 'failed', { service: 'cd-web', version: '7.0.1' }));

    await h.drainDispatch();

    expect(eventsOf(failed)).toEqual([]);
    expect((await h.store.getDelivery(failed, 'cd'))?.state).toBe('delivered');
    const [deployed] = eventsOf(ok);
    expect(eventsOf(ok)).toHaveLength(1);
    expect(deployed?.detailType).toBe('dev.cdevents.service.deployed.0.3.0');
    const detail = deployed?.detail as Json;
    expect(new CloudEvent(detail as never).validate()).toBe(true);
    expect(detail).toMatchObject({
      id: `${ok}:2`,
      subject: 'cd-api',
      type: 'dev.cdevents.service.deployed.0.3.0',
    });
    expect(cdeventProblems(detail.data)).toEqual([]);
    expect(detail.data.subject.content).toEqual({
      environment: { id: 'production', source: 'shipcast' },
      artifactId: 'pkg:generic/cd-api@7.0.0',
    });
  });

  it('retries an entry EventBridge failed in a partial failure (ThrottlingException) and puts it once, same id', async () => {
    const id = deploymentIdFor('native', 'eb-2');
    eventbridge.script({ entryErrors: [{ code: 'ThrottlingException', message: 'Rate exceeded' }] });
    await ingest(nativeEvent('eb-2', 'succeeded', { service: 'eb-worker' }));

    await h.drainDispatch();

    const retrying = await h.store.getDelivery(id, 'bus');
    expect(retrying).toMatchObject({ state: 'retrying', deliveredSeq: 0 });
    expect(retrying?.lastError).toContain('ThrottlingException (Rate exceeded)');
    expect(eventsOf(id)).toEqual([]);

    await redeliver(id, 'bus');
    await h.drainDispatch();

    const tried = eventbridge.requests.filter((r) => JSON.stringify(r.body).includes(`${id}:1`));
    expect(tried).toHaveLength(2);
    expect(eventsOf(id).map((e) => e.detail.id)).toEqual([`${id}:1`]);
    expect((await h.store.getDelivery(id, 'bus'))?.state).toBe('delivered');
  });

  it('retries a call throttled as a whole, and gives up on an entry EventBridge refuses for good', async () => {
    const throttled = deploymentIdFor('native', 'eb-3');
    eventbridge.script({ callError: awsError('ThrottlingException', 'Rate exceeded') });
    await ingest(nativeEvent('eb-3', 'succeeded', { service: 'eb-throttled' }));
    await h.drainDispatch();
    expect(await h.store.getDelivery(throttled, 'bus')).toMatchObject({ state: 'retrying' });
    await redeliver(throttled, 'bus');
    await h.drainDispatch();
    expect(eventsOf(throttled)).toHaveLength(1);

    const refused = deploymentIdFor('native', 'eb-4');
    eventbridge.script({
      entryErrors: [
        { code: 'NotAuthorizedForDetailTypeException', message: 'Not authorized for the detail type.' },
      ],
    });
    await ingest(nativeEvent('eb-4', 'succeeded', { service: 'eb-refused' }));
    await h.drainDispatch();
    const failed = await h.store.getDelivery(refused, 'bus');
    expect(failed?.state).toBe('failed');
    expect(failed?.lastError).toContain('NotAuthorizedForDetailTypeException');
  });

  it('gives up on a bus that does not exist, naming it', async () => {
    const id = deploymentIdFor('native', 'missing-1');
    await ingest(nativeEvent('missing-1', 'succeeded', { service: 'missing-api' }));

    await h.drainDispatch();

    const delivery = await h.store.getDelivery(id, 'missing');
    expect(delivery?.state).toBe('failed');
    expect(delivery?.lastError).toContain('PutEvents to no-such-bus failed: ResourceNotFoundException');
  });

  it('answers one result per entry, in order, when EventBridge fails some entries of a call', async () => {
    const bus = new EventBridgeBus({ endpoint: eventbridge.endpoint, credentials, region: 'us-east-1' });
    const entry = (n: number) => ({ source: 'shipcast', detailType: 'test', detail: JSON.stringify({ n }) });

    const results = await bus.putEvents('deploys', [entry(1), { ...entry(2), detail: 'not json' }, entry(3)]);

    expect(results).toEqual([
      { eventId: expect.any(String) },
      { errorCode: 'MalformedDetail', errorMessage: 'Detail is malformed.' },
      { eventId: expect.any(String) },
    ]);
  });

  it('rejects a bus that is neither a name nor an ARN, and an aws.* source, naming the fields', () => {
    const config = (target: Record<string, unknown>) => ({
      api: { tokens: [] },
      targets: { bus: { type: 'eventbridge', ...target } },
      routes: [],
    });
    expect(() => parseConfig(config({ bus: 'arn:aws:sqs:us-east-1:123456789012:queue' }), 't')).toThrow(
      /targets\.bus\.bus: an event bus name/,
    );
    expect(() => parseConfig(config({ bus: 'deploys', source: 'aws.codedeploy' }), 't')).toThrow(ConfigError);
    expect(() => parseConfig(config({ bus: 'deploys', source: 'aws.codedeploy' }), 't')).toThrow(
      /targets\.bus\.source: EventBridge reserves/,
    );
  });

  it('grants the dispatcher events:PutEvents on each configured bus only', () => {
    // Bundling skipped: only the IAM policy is looked at. Synthesizing still takes a while on a loaded machine.
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'Grants', { env: { account: '123456789012', region: 'us-east-1' } });
    new Shipcast(stack, 'Shipcast', {
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: {
          own: { type: 'eventbridge', bus: 'deploys' },
          other: { type: 'eventbridge', bus: CENTRAL, format: 'cdevents' },
        },
        routes: [{ targets: ['own', 'other'] }],
      },
    });

    const policies = Object.entries(
      Template.fromStack(stack).toJSON().Resources as Record<string, Json>,
    ).filter(([, r]) => r.Type === 'AWS::IAM::Policy');
    const putEvents = policies.flatMap(([id, r]) =>
      (r.Properties.PolicyDocument.Statement as Json[])
        .filter((s) => JSON.stringify(s.Action).includes('events:'))
        .map((s) => ({ policy: id, action: s.Action, resource: s.Resource })),
    );
    expect(putEvents).toHaveLength(2);
    expect(putEvents.every((p) => p.policy.includes('DispatchFunctionRole'))).toBe(true);
    expect(putEvents.map((p) => [p.action, p.resource])).toEqual([
      [
        'events:PutEvents',
        {
          'Fn::Join': [
            '',
            ['arn:', { Ref: 'AWS::Partition' }, ':events:us-east-1:123456789012:event-bus/deploys'],
          ],
        },
      ],
      ['events:PutEvents', CENTRAL],
    ]);
  }, 120_000);
});
