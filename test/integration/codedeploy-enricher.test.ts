import { readFileSync } from 'node:fs';
import { BatchGetDeploymentsCommand, CodeDeployClient } from '@aws-sdk/client-codedeploy';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CodeDeployEnricher } from '../../functions/adapters/aws/codedeploy-enricher.ts';
import type { DeploymentEvent } from '../../functions/core/schema.ts';
import { parseCodeDeployMessage } from '../../functions/core/sources/codedeploy.ts';
import { type CodeDeployServer, startCodeDeployServer } from '../support/codedeploy-server.ts';

const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'fake-secret-for-tests' };
const receivedAt = '2022-10-13T16:00:00.000Z';

function fixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`../fixtures/codedeploy/${name}`, import.meta.url), 'utf8'));
}

/** A parsed trigger event for `deploymentId`, based on a real fixture. */
function deploymentEvent(deploymentId: string, overrides: Record<string, unknown> = {}): DeploymentEvent {
  const message = { ...fixture('deployment-created.real.message.json'), deploymentId, ...overrides };
  return parseCodeDeployMessage(JSON.stringify(message), { receivedAt, where: 'test' });
}

function instanceEvent(deploymentId: string, region = 'eu-west-2'): DeploymentEvent {
  const message = {
    ...fixture('instance-succeeded.documented.message.json'),
    deploymentId,
    region,
    accountId: '123456789012',
  };
  return parseCodeDeployMessage(message, { receivedAt, where: 'test' });
}

/** deploymentInfo as CodeDeploy puts it on the wire: epoch-second number timestamps. */
const githubDeployment = {
  applicationName: 'checkout',
  deploymentGroupName: 'checkout-production',
  deploymentConfigName: 'CodeDeployDefault.OneAtATime',
  deploymentId: 'd-4F2KQ8ZX1',
  revision: {
    revisionType: 'GitHub',
    gitHubLocation: { repository: 'acme/checkout', commitId: '0f5a4c1e9b7d3a2f6e8c0b1a9d7e5f3c2b4a6d8e' },
  },
  status: 'Succeeded',
  createTime: 1665676245.123,
  startTime: 1665676246.5,
  completeTime: 1665676622.0,
  deploymentOverview: { Pending: 0, InProgress: 0, Succeeded: 2, Failed: 0, Skipped: 0, Ready: 0 },
  description: 'Release 2022.10.13',
  creator: 'user',
  computePlatform: 'Server',
  ignoreApplicationStopFailures: false,
  updateOutdatedInstancesOnly: false,
};

const s3Deployment = {
  applicationName: 'billing-api',
  deploymentGroupName: 'billing-api-prod',
  deploymentConfigName: 'CodeDeployDefault.AllAtOnce',
  deploymentId: 'd-S3BUNDLE1',
  revision: {
    revisionType: 'S3',
    s3Location: {
      bucket: 'acme-artifacts',
      key: 'billing-api/build-812.zip',
      bundleType: 'zip',
      version: '3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY',
      eTag: '"a1b2c3d4e5f6"',
    },
  },
  status: 'InProgress',
  createTime: 1665676245,
  deploymentOverview: { Pending: 3, InProgress: 1, Succeeded: 0, Failed: 0, Skipped: 0 },
  creator: 'autoscaling',
  computePlatform: 'Server',
};

const rollbackDeployment = {
  applicationName: 'checkout',
  deploymentGroupName: 'checkout-production',
  deploymentConfigName: 'CodeDeployDefault.ECSAllAtOnce',
  deploymentId: 'd-7XN3RB0PQ',
  revision: {
    revisionType: 'AppSpecContent',
    appSpecContent: {
      content: '{"version":0.0}',
      sha256: 'b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b878ae4944c',
    },
  },
  status: 'InProgress',
  errorInformation: { code: 'ECS_UPDATE_ERROR', message: 'The replacement task set is unhealthy.' },
  createTime: 1665736979,
  creator: 'codeDeployRollback',
  rollbackInfo: {
    rollbackTriggeringDeploymentId: 'd-9RBK2L7QA',
    rollbackMessage: 'Deployment d-7XN3RB0PQ is triggered to roll back deployment d-9RBK2L7QA.',
  },
  computePlatform: 'ECS',
};

let server: CodeDeployServer;
const created: string[] = [];

function enricher(): CodeDeployEnricher {
  return new CodeDeployEnricher({
    clientFor: (region) => {
      created.push(region);
      // maxAttempts 1: a throttled call must surface instead of being retried.
      return new CodeDeployClient({ region, endpoint: server.endpoint, credentials, maxAttempts: 1 });
    },
  });
}

beforeAll(async () => {
  server = await startCodeDeployServer([githubDeployment, s3Deployment, rollbackDeployment]);
});

afterAll(async () => {
  await server?.close();
});

beforeEach(() => {
  server.requests.length = 0;
  server.failures.length = 0;
  server.extraOutput = {};
  created.length = 0;
});

describe('CodeDeployEnricher against a CodeDeploy wire-protocol fake', () => {
  it('sends a signed AWS JSON 1.1 BatchGetDeployments call and fills a GitHub revision', async () => {
    const event = instanceEvent('d-4F2KQ8ZX1');
    const results = await enricher().enrich([event]);

    expect(results.get(event.deploymentId)).toEqual({ ok: true });
    expect(server.requests).toEqual([
      {
        target: 'CodeDeploy_20141006.BatchGetDeployments',
        contentType: 'application/x-amz-json-1.1',
        signed: true,
        // Signed for the deployment's own region (the SigV4 credential scope).
        region: 'eu-west-2',
        accessKeyId: 'AKIDEXAMPLE',
        body: { deploymentIds: ['d-4F2KQ8ZX1'] },
      },
    ]);
    expect(event).toMatchObject({
      kind: 'instance',
      status: 'in_progress',
      service: 'checkout',
      environment: 'checkout-production',
      revision: { repository: 'acme/checkout', commit: '0f5a4c1e9b7d3a2f6e8c0b1a9d7e5f3c2b4a6d8e' },
      actor: 'user',
      description: 'Release 2022.10.13',
      startedAt: '2022-10-13T15:50:45.123Z',
      finishedAt: '2022-10-13T15:57:02.000Z',
      counts: { pending: 0, inProgress: 0, succeeded: 2, failed: 0, skipped: 0, ready: 0 },
      details: {
        application: 'checkout',
        deploymentGroup: 'checkout-production',
        computePlatform: 'Server',
        deploymentConfig: 'CodeDeployDefault.OneAtATime',
        region: 'eu-west-2',
        account: '123456789012',
        codeDeployId: 'd-4F2KQ8ZX1',
      },
    });
  });

  it('fills an S3 revision with bucket, key, bundle type, version and ETag', async () => {
    const event = instanceEvent('d-S3BUNDLE1');
    await enricher().enrich([event]);

    expect(event.revision).toEqual({
      s3: {
        bucket: 'acme-artifacts',
        key: 'billing-api/build-812.zip',
        bundleType: 'zip',
        version: '3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY',
        eTag: '"a1b2c3d4e5f6"',
      },
    });
    expect(event.actor).toBe('autoscaling');
    expect(event.finishedAt).toBeUndefined();
  });

  it('fills rollback info, the error and an AppSpec hash, but no revision, for an ECS rollback', async () => {
    const event = deploymentEvent('d-7XN3RB0PQ', { rollbackInformation: '{}' });
    expect(event.rollbackOfSourceId).toBeUndefined();

    const results = await enricher().enrich([event]);

    expect(results.get(event.deploymentId)).toEqual({ ok: true });
    expect(event.rollbackOfSourceId).toBe('123456789012:eu-west-2:d-9RBK2L7QA');
    expect(event.actor).toBe('codeDeployRollback');
    expect(event.error).toEqual({
      code: 'ECS_UPDATE_ERROR',
      message: 'The replacement task set is unhealthy.',
    });
    expect(event.revision).toBeUndefined();
    expect(event.details?.revisionSha256).toBe(
      'b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b878ae4944c',
    );
    expect(event.details?.computePlatform).toBe('ECS');
  });

  it('only fills fields the event lacks and never changes its status', async () => {
    const event = deploymentEvent('d-4F2KQ8ZX1', {
      applicationName: 'checkout-from-trigger',
      deploymentOverview: '{"Succeeded":0,"Failed":0,"Skipped":0,"InProgress":1,"Pending":1}',
    });
    await enricher().enrich([event]);

    expect(event.service).toBe('checkout-from-trigger');
    expect(event.status).toBe('queued');
    expect(event.sourceStatus).toBe('CREATED');
    expect(event.startedAt).toBe('2022-10-13T15:50:45.000Z');
    expect(event.counts).toEqual({ pending: 1, inProgress: 1, succeeded: 0, failed: 0, skipped: 0 });
    expect(event.details?.application).toBe('checkout-from-trigger');
    expect(event.revision?.commit).toBe('0f5a4c1e9b7d3a2f6e8c0b1a9d7e5f3c2b4a6d8e');
  });

  it('asks for each deployment once and chunks ids by 25 per region', async () => {
    const ids = Array.from({ length: 30 }, (_, i) => `d-CHUNK${String(i).padStart(4, '0')}`);
    for (const id of ids) server.deployments.set(id, { ...githubDeployment, deploymentId: id });
    const events = [
      ...ids.map((id) => instanceEvent(id)),
      instanceEvent(ids[0]!), // a second event of the same deployment
      instanceEvent('d-4F2KQ8ZX1', 'us-east-1'),
    ];
    const target = enricher();

    const results = await target.enrich(events);

    const bodies = server.requests.map((r) => (r.body as { deploymentIds: string[] }).deploymentIds);
    expect(bodies.map((b) => b.length).sort((a, b) => a - b)).toEqual([1, 5, 25]);
    expect(bodies.flat().sort()).toEqual([...ids, 'd-4F2KQ8ZX1'].sort());
    expect(bodies.every((b) => b.length <= 25)).toBe(true);
    expect([...results.values()].every((r) => r.ok)).toBe(true);
    expect(events.every((e) => e.revision?.repository === 'acme/checkout')).toBe(true);
    expect(created.sort()).toEqual(['eu-west-2', 'us-east-1']);

    await target.enrich([instanceEvent('d-4F2KQ8ZX1')]);
    expect(created).toHaveLength(2); // clients are cached per region
  });

  it('marks the deployments of a throttled call ok:false with the AWS error name, without throwing', async () => {
    server.failures.push({ type: 'ThrottlingException', message: 'Rate exceeded', whenIds: ['d-4F2KQ8ZX1'] });
    const throttled = instanceEvent('d-4F2KQ8ZX1');
    const other = instanceEvent('d-S3BUNDLE1', 'us-east-1');

    const results = await enricher().enrich([throttled, other]);

    expect(results.get(throttled.deploymentId)).toEqual({
      ok: false,
      error: expect.stringContaining('ThrottlingException: Rate exceeded'),
    });
    expect(throttled.revision).toBeUndefined();
    expect(results.get(other.deploymentId)).toEqual({ ok: true });
    expect(server.requests).toHaveLength(2); // maxAttempts 1: no retry of the throttled call
  });

  it('reports access denied as ok:false for every deployment of the call', async () => {
    server.failures.push({
      type: 'AccessDeniedException',
      message: 'User is not authorized to perform: codedeploy:BatchGetDeployments',
    });
    const events = [instanceEvent('d-4F2KQ8ZX1'), instanceEvent('d-S3BUNDLE1')];

    const results = await enricher().enrich(events);

    for (const event of events) {
      const result = results.get(event.deploymentId);
      expect(result?.ok).toBe(false);
      expect(result).toHaveProperty('error', expect.stringContaining('AccessDeniedException'));
    }
  });

  it('reports a deployment CodeDeploy does not know as not found', async () => {
    const known = instanceEvent('d-4F2KQ8ZX1');
    const unknown = instanceEvent('d-NOSUCH001');

    const results = await enricher().enrich([known, unknown]);

    expect(results.get(known.deploymentId)).toEqual({ ok: true });
    expect(results.get(unknown.deploymentId)).toEqual({
      ok: false,
      error: 'deployment d-NOSUCH001 not found in eu-west-2',
    });
  });

  it('keeps a malformed id out of the batch so it cannot fail the others', async () => {
    const bad = instanceEvent('not-a-deployment-id');
    const good = instanceEvent('d-4F2KQ8ZX1');

    const results = await enricher().enrich([bad, good]);

    expect(results.get(bad.deploymentId)).toMatchObject({ ok: false });
    expect(results.get(good.deploymentId)).toEqual({ ok: true });
    expect(server.requests.map((r) => r.body)).toEqual([{ deploymentIds: ['d-4F2KQ8ZX1'] }]);
  });

  it('ignores events of other sources', async () => {
    const native = { ...instanceEvent('d-4F2KQ8ZX1'), source: 'native', deploymentId: 'dep_native' };

    const results = await enricher().enrich([native]);

    expect(results.size).toBe(0);
    expect(server.requests).toHaveLength(0);
  });

  it('builds its own client from endpoint and credentials', async () => {
    const event = instanceEvent('d-S3BUNDLE1');

    const results = await new CodeDeployEnricher({ endpoint: server.endpoint, credentials }).enrich([event]);

    expect(results.get(event.deploymentId)).toEqual({ ok: true });
    expect(event.revision?.s3?.bucket).toBe('acme-artifacts');
  });

  it('adds an errorMessage of the answer to the not-found error', async () => {
    // BatchGetDeployments' model has no errorMessage, so the real SDK drops it from the wire answer;
    // a client that does pass it through (a wrapper, a future model) is still understood.
    server.extraOutput = { errorMessage: 'dropped by the SDK' };
    const viaWire = instanceEvent('d-NOSUCH002');
    expect((await enricher().enrich([viaWire])).get(viaWire.deploymentId)).toEqual({
      ok: false,
      error: 'deployment d-NOSUCH002 not found in eu-west-2',
    });

    const passThrough = {
      send: async () => ({ deploymentsInfo: [], errorMessage: 'd-NOSUCH002 is in another account' }),
    } as unknown as CodeDeployClient;
    const event = instanceEvent('d-NOSUCH002');
    const results = await new CodeDeployEnricher({ clientFor: () => passThrough }).enrich([event]);

    expect(results.get(event.deploymentId)).toEqual({
      ok: false,
      error: 'deployment d-NOSUCH002 not found in eu-west-2: d-NOSUCH002 is in another account',
    });
  });

  it('never throws, even when the client itself throws something odd', async () => {
    const broken = {
      send: async () => {
        throw 'socket hang up';
      },
    } as unknown as CodeDeployClient;
    const event = instanceEvent('d-4F2KQ8ZX1');

    const results = await new CodeDeployEnricher({ clientFor: () => broken }).enrich([event]);

    expect(results.get(event.deploymentId)).toEqual({
      ok: false,
      error: 'BatchGetDeployments in eu-west-2 failed: socket hang up',
    });
  });

  it('the fake rejects more than 25 ids the way CodeDeploy does', async () => {
    const client = new CodeDeployClient({
      region: 'eu-west-2',
      endpoint: server.endpoint,
      credentials,
      maxAttempts: 1,
    });
    const ids = Array.from({ length: 26 }, (_, i) => `d-LIMIT${String(i).padStart(4, '0')}`);

    await expect(client.send(new BatchGetDeploymentsCommand({ deploymentIds: ids }))).rejects.toMatchObject({
      name: 'BatchLimitExceededException',
    });
  });
});
