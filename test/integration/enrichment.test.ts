import { CodeDeployClient } from '@aws-sdk/client-codedeploy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CodeDeployEnricher } from '../../functions/adapters/aws/codedeploy-enricher.ts';
import { ingestEvents } from '../../functions/core/ingest.ts';
import { parseCodeDeployMessage } from '../../functions/core/sources/codedeploy.ts';
import { type CodeDeployServer, startCodeDeployServer } from '../support/codedeploy-server.ts';
import { createHarness, type Harness } from '../support/harness.ts';

const message = (status: string, completeTime: string | null) =>
  JSON.stringify({
    region: 'eu-west-2',
    accountId: '123456789012',
    eventTriggerName: 'shipcast-all-events',
    applicationName: 'checkout',
    deploymentId: 'd-ENRICH0001',
    deploymentGroupName: 'checkout-production',
    createTime: 'Thu Oct 13 15:50:45 UTC 2022',
    completeTime,
    deploymentOverview: '{"Succeeded":0,"Failed":0,"Skipped":0,"InProgress":1,"Pending":0}',
    status,
    rollbackInformation: '{}',
  });

describe('CodeDeploy enrichment during ingest', () => {
  let h: Harness;
  let codedeploy: CodeDeployServer;

  beforeAll(async () => {
    codedeploy = await startCodeDeployServer([
      {
        deploymentId: 'd-ENRICH0001',
        applicationName: 'checkout',
        deploymentGroupName: 'checkout-production',
        status: 'InProgress',
        creator: 'user',
        description: 'Release 2022.10.13',
        createTime: 1665676245,
        revision: {
          revisionType: 'GitHub',
          gitHubLocation: {
            repository: 'acme/checkout',
            commitId: '9fceb02d0ae598e95dc970b74767f19372d61af8',
          },
        },
      },
    ]);
    h = await createHarness({
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: { console: { type: 'log' } },
        routes: [{ targets: ['console'] }],
      },
    });
    h.runtime.ingest.enrichers = {
      codedeploy: new CodeDeployEnricher({
        clientFor: (region) =>
          new CodeDeployClient({
            region,
            endpoint: codedeploy.endpoint,
            credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
            maxAttempts: 1,
          }),
      }),
    };
  });
  afterAll(async () => {
    await h.stop();
    await codedeploy.close();
  });

  it('records the event when CodeDeploy throttles, and enriches on the next event of the same deployment', async () => {
    codedeploy.failures.push({ type: 'ThrottlingException', message: 'Rate exceeded', times: 1 });
    const created = parseCodeDeployMessage(message('CREATED', null), {
      receivedAt: '2026-03-01T10:00:00Z',
      where: 'test',
    });

    await ingestEvents([created], h.runtime.ingest);

    const first = await h.store.getDeployment(created.deploymentId);
    expect(first?.status).toBe('queued');
    expect(first?.enrichment).toMatchObject({ state: 'failed', attempts: 1 });
    expect(first?.enrichment?.error).toContain('ThrottlingException');
    expect(first?.revision).toBeUndefined();

    const started = parseCodeDeployMessage(message('IN_PROGRESS', null), {
      receivedAt: '2026-03-01T10:01:00Z',
      where: 'test',
    });
    await ingestEvents([started], h.runtime.ingest);

    const second = await h.store.getDeployment(created.deploymentId);
    expect(second).toMatchObject({
      status: 'in_progress',
      enrichment: { state: 'done', attempts: 2 },
      revision: { repository: 'acme/checkout', commit: '9fceb02d0ae598e95dc970b74767f19372d61af8' },
      actor: 'user',
      description: 'Release 2022.10.13',
    });
  });

  it('asks CodeDeploy once per deployment: an enriched deployment is not looked up again', async () => {
    const calls = codedeploy.requests.length;
    const done = parseCodeDeployMessage(message('SUCCEEDED', 'Thu Oct 13 15:57:02 UTC 2022'), {
      receivedAt: '2026-03-01T10:02:00Z',
      where: 'test',
    });

    await ingestEvents([done], h.runtime.ingest);

    expect(codedeploy.requests.length).toBe(calls);
    expect((await h.store.getDeployment(done.deploymentId))?.status).toBe('succeeded');
  });
});
