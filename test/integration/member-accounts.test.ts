import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { STSClient } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { AssumedRoles } from '../../functions/adapters/aws/assumed-roles.ts';
import { CodeDeployEnricher } from '../../functions/adapters/aws/codedeploy-enricher.ts';
import { parseConfig } from '../../functions/core/config.ts';
import type { DeploymentEvent } from '../../functions/core/schema.ts';
import { parseCodeDeployMessage } from '../../functions/core/sources/codedeploy.ts';
import { eventBridgeToTriggerMessage } from '../../functions/core/sources/codedeploy-eventbridge.ts';
import { memberAccountsOf } from '../../functions/handlers/enrichers.ts';
import { type LocalShipcast, startLocal } from '../../functions/local/local-shipcast.ts';
import { captureLogs } from '../support/capture-logger.ts';
import { type CodeDeployServer, startCodeDeployServer } from '../support/codedeploy-server.ts';
import { waitFor } from '../support/emulators.ts';
import { type StsServer, startStsServer } from '../support/sts-server.ts';
import { startTargetServer, type TargetServer } from '../support/target-server.ts';

const CENTRAL = '999999999999';
const MEMBER_B = '111122223333';
const MEMBER_C = '444455556666';
const ROLE_B = `arn:aws:iam::${MEMBER_B}:role/shipcast-codedeploy-read`;
const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
const TOKEN = 'member-accounts-test-token-0123456789';

/** CodeDeploy's EventBridge event of `account`/`region` for deployment `id`, from the documented fixture. */
function eventBridgeEvent(id: string, account: string, region: string, state = 'SUCCESS') {
  const event = JSON.parse(
    readFileSync('test/fixtures/codedeploy/eventbridge-deployment-success.documented.json', 'utf8'),
  );
  event.account = account;
  event.region = region;
  event.detail.region = region;
  event.detail.deploymentId = id;
  event.detail.state = state;
  event.resources = [];
  return event;
}

function parsed(id: string, account: string, region: string): DeploymentEvent {
  return parseCodeDeployMessage(eventBridgeToTriggerMessage(eventBridgeEvent(id, account, region), 'test'), {
    receivedAt: '2022-10-13T16:00:00.000Z',
    where: 'test',
  });
}

/** deploymentInfo as CodeDeploy answers it, made by `creator`. */
const deploymentInfo = (id: string, creator: string) => ({
  applicationName: 'checkout',
  deploymentGroupName: 'checkout-production',
  deploymentId: id,
  status: 'Succeeded',
  creator,
  description: `made by ${creator}`,
  createTime: 1665676245,
  completeTime: 1665676452,
  revision: { revisionType: 'GitHub', gitHubLocation: { repository: 'acme/checkout', commitId: 'abc1234' } },
});

const config = (routes: unknown[] = [{ targets: ['all'] }], targets: Record<string, unknown> = {}) =>
  parseConfig({
    api: { tokens: [{ name: 'dev', secret: 'api-token' }] },
    targets: { all: { type: 'log' }, ...targets },
    routes,
  });

describe('credentials of member roles', () => {
  let sts: StsServer;
  let client: STSClient;
  let now: number;
  const roles = () =>
    new AssumedRoles({ sts: async () => client, now: () => now, refreshBeforeMs: 5 * 60_000 });

  beforeAll(async () => {
    sts = await startStsServer();
    sts.roles.set(ROLE_B, { account: MEMBER_B });
    client = new STSClient({ region: 'us-east-1', endpoint: sts.endpoint, credentials: LOCAL_CREDENTIALS });
  });
  afterAll(async () => {
    client.destroy();
    await sts.close();
  });
  beforeEach(() => {
    sts.requests.length = 0;
    now = Date.now();
  });

  it('assumes a role once and keeps its credentials until shortly before they expire', async () => {
    const cache = roles();

    const first = await cache.credentialsFor(ROLE_B);
    const again = await cache.credentialsFor(ROLE_B);
    expect(again).toBe(first);
    expect(sts.requests).toHaveLength(1);
    expect(sts.requests[0]).toMatchObject({
      action: 'AssumeRole',
      roleArn: ROLE_B,
      roleSessionName: 'shipcast-ingest',
      durationSeconds: '3600',
      signed: true,
    });
    expect(first.accessKeyId).toMatch(/^ASIA/);
    expect(sts.issued.get(first.accessKeyId)).toBe(MEMBER_B);

    now = first.expiration.getTime() - 4 * 60_000;
    const renewed = await cache.credentialsFor(ROLE_B);
    expect(renewed.accessKeyId).not.toBe(first.accessKeyId);
    expect(sts.requests).toHaveLength(2);
  });

  it('shares one AssumeRole between calls made while it is under way', async () => {
    const cache = roles();
    const [a, b] = await Promise.all([cache.credentialsFor(ROLE_B), cache.credentialsFor(ROLE_B)]);
    expect(a).toBe(b);
    expect(sts.requests).toHaveLength(1);
  });

  it('names the role and STS reason when it cannot assume it, and does not ask again for a minute', async () => {
    const cache = roles();
    const missing = `arn:aws:iam::${MEMBER_C}:role/shipcast-codedeploy-read`;

    await expect(cache.credentialsFor(missing)).rejects.toThrow(
      `AssumeRole ${missing} failed: AccessDenied: User: arn:aws:sts::999999999999:assumed-role/shipcast-ingest/shipcast is not authorized to perform: sts:AssumeRole on resource: ${missing}`,
    );
    await expect(cache.credentialsFor(missing)).rejects.toThrow(/AccessDenied/);
    expect(sts.requests).toHaveLength(1);

    now += 61_000;
    await expect(cache.credentialsFor(missing)).rejects.toThrow(/AccessDenied/);
    expect(sts.requests).toHaveLength(2);
  });
});

describe('enrichment of deployments in other accounts', () => {
  let sts: StsServer;
  let codedeploy: CodeDeployServer;
  let stsClient: STSClient;

  beforeAll(async () => {
    sts = await startStsServer();
    sts.roles.set(ROLE_B, { account: MEMBER_B });
    codedeploy = await startCodeDeployServer([deploymentInfo('d-CENTRAL01', 'central-user')]);
    codedeploy.keyAccounts = sts.issued;
    codedeploy.accountDeployments.set(
      MEMBER_B,
      new Map([['d-MEMBERB01', deploymentInfo('d-MEMBERB01', 'b-user')]]),
    );
    stsClient = new STSClient({
      region: 'us-east-1',
      endpoint: sts.endpoint,
      credentials: LOCAL_CREDENTIALS,
    });
  });
  afterAll(async () => {
    stsClient.destroy();
    await codedeploy.close();
    await sts.close();
  });

  const enricher = (routes: Record<string, string> | undefined = undefined) =>
    new CodeDeployEnricher({
      endpoint: codedeploy.endpoint,
      credentials: LOCAL_CREDENTIALS,
      memberAccounts: memberAccountsOf(
        parseConfig({
          api: { tokens: [{ name: 'dev', secret: 'api-token' }] },
          sources: { codedeploy: routes ? { memberRoles: routes } : {} },
          targets: {},
          routes: [],
        }),
        CENTRAL,
        'aws',
        new AssumedRoles({ sts: async () => stsClient }),
      ),
    });

  it("reads a member account's deployment with the role assumed in that account, and our own without one", async () => {
    codedeploy.requests.length = 0;
    const own = parsed('d-CENTRAL01', CENTRAL, 'eu-west-2');
    const member = parsed('d-MEMBERB01', MEMBER_B, 'eu-west-1');

    const results = await enricher().enrich([own, member]);

    expect(results.get(own.deploymentId)).toEqual({ ok: true });
    expect(results.get(member.deploymentId)).toEqual({ ok: true });
    expect(own.actor).toBe('central-user');
    expect(member.actor).toBe('b-user');
    const byKey = Object.fromEntries(
      codedeploy.requests.map((r) => [
        (r.body as { deploymentIds: string[] }).deploymentIds.join(),
        { key: r.accessKeyId, region: r.region },
      ]),
    );
    expect(byKey['d-CENTRAL01']).toEqual({ key: 'local', region: 'eu-west-2' });
    expect(byKey['d-MEMBERB01']?.region).toBe('eu-west-1');
    expect(sts.issued.get(byKey['d-MEMBERB01']?.key ?? '')).toBe(MEMBER_B);
  });

  it('uses the role ARN the config maps an account to', async () => {
    const mapped = `arn:aws:iam::${MEMBER_B}:role/custom/shipcast-reader`;
    sts.roles.set(mapped, { account: MEMBER_B });
    sts.requests.length = 0;
    const member = parsed('d-MEMBERB01', MEMBER_B, 'eu-west-1');

    const results = await enricher({ [MEMBER_B]: mapped }).enrich([member]);

    expect(results.get(member.deploymentId)).toEqual({ ok: true });
    expect(sts.requests.map((r) => r.roleArn)).toEqual([mapped]);
  });

  it('reports why an account without a role is not enriched, and never calls CodeDeploy for it', async () => {
    codedeploy.requests.length = 0;
    const member = parsed('d-MEMBERC01', MEMBER_C, 'us-east-1');

    const results = await enricher().enrich([member]);

    expect(results.get(member.deploymentId)).toEqual({
      ok: false,
      error: expect.stringMatching(
        /^cannot read deployments of another account: AssumeRole arn:aws:iam::444455556666:role\/shipcast-codedeploy-read failed: AccessDenied/,
      ),
    });
    expect(member.actor).toBeUndefined();
    expect(codedeploy.requests).toEqual([]);
  });
});

describe('events of many accounts in local mode', () => {
  let sts: StsServer;
  let codedeploy: CodeDeployServer;
  let teamB: TargetServer;
  let teamC: TargetServer;
  let local: LocalShipcast;
  let sqs: SQSClient;
  const logs = captureLogs();

  beforeAll(async () => {
    sts = await startStsServer();
    sts.roles.set(ROLE_B, { account: MEMBER_B });
    codedeploy = await startCodeDeployServer();
    codedeploy.keyAccounts = sts.issued;
    codedeploy.accountDeployments.set(
      MEMBER_B,
      new Map([['d-LOCALB001', deploymentInfo('d-LOCALB001', 'b-user')]]),
    );
    teamB = await startTargetServer();
    teamC = await startTargetServer();
    local = await startLocal({
      config: config(
        [
          { match: { account: MEMBER_B, region: 'eu-*' }, targets: ['team-b'] },
          { match: { account: [MEMBER_C] }, targets: ['team-c'] },
        ],
        {
          'team-b': { type: 'webhook', url: `${teamB.url}/hook` },
          'team-c': { type: 'webhook', url: `${teamC.url}/hook` },
        },
      ),
      dataDir: mkdtempSync(join(tmpdir(), 'shipcast-members-')),
      port: 0,
      queuePort: 0,
      dynamodbEndpoint: inject('dynamodbEndpoint'),
      tableName: `members-${process.pid}`,
      codeDeployEndpoint: codedeploy.endpoint,
      memberAccounts: { ownAccount: CENTRAL, stsEndpoint: sts.endpoint },
      env: { SHIPCAST_SECRET_API_TOKEN: TOKEN },
      logger: logs.logger,
    });
    sqs = new SQSClient({
      region: 'us-east-1',
      endpoint: local.sqsSnsEndpoint,
      credentials: LOCAL_CREDENTIALS,
    });
  });
  afterAll(async () => {
    sqs?.destroy();
    await local?.stop();
    await Promise.all([teamB?.stop(), teamC?.stop(), codedeploy?.close(), sts?.close()]);
    logs.restore();
  });

  /** What the central bus's rule does with a member account's forwarded event: the event as the message body. */
  const forward = (event: unknown) =>
    sqs.send(
      new SendMessageCommand({
        QueueUrl: local.resources.ingestQueueUrl,
        MessageBody: JSON.stringify(event),
      }),
    );
  const deploymentOf = async (codeDeployId: string) =>
    waitFor(
      async () => {
        const answer = await fetch(`${local.apiUrl}/v1/deployments?service=checkout`, {
          headers: { authorization: `Bearer ${TOKEN}` },
        });
        const { deployments } = (await answer.json()) as {
          deployments: { details: { codeDeployId: string }; transitions: unknown[] }[];
        };
        return deployments.find((d) => d.details.codeDeployId === codeDeployId && d.transitions.length > 0);
      },
      { timeoutMs: 20_000, message: `deployment ${codeDeployId}` },
    );

  it('records a member account deployment with its account and region, enriched, routed only to its route', async () => {
    await forward(eventBridgeEvent('d-LOCALB001', MEMBER_B, 'eu-west-1'));

    const deployment = await deploymentOf('d-LOCALB001');
    await waitFor(() => teamB.requests.length === 1, { timeoutMs: 20_000, message: 'team-b notified' });

    expect(deployment).toMatchObject({
      account: MEMBER_B,
      region: 'eu-west-1',
      status: 'succeeded',
      actor: 'b-user',
      enrichment: { state: 'done' },
    });
    expect(teamB.requests[0]?.json()).toMatchObject({
      deployment: { account: MEMBER_B, region: 'eu-west-1' },
    });
    expect(teamC.requests).toEqual([]);
  });

  it('records a deployment of an account without a role unenriched, logs why, and routes it by account', async () => {
    await forward(eventBridgeEvent('d-LOCALC001', MEMBER_C, 'us-east-1'));

    const deployment = await deploymentOf('d-LOCALC001');
    await waitFor(() => teamC.requests.length === 1, { timeoutMs: 20_000, message: 'team-c notified' });

    expect(deployment).toMatchObject({
      account: MEMBER_C,
      region: 'us-east-1',
      status: 'succeeded',
      enrichment: {
        state: 'failed',
        error: expect.stringContaining(
          `AssumeRole arn:aws:iam::${MEMBER_C}:role/shipcast-codedeploy-read failed: AccessDenied`,
        ),
      },
    });
    expect(deployment).not.toHaveProperty('actor');
    const warning = logs
      .entries()
      .find((e) => e.message?.startsWith('enrichment failed') && String(e.error).includes(MEMBER_C));
    expect(warning).toBeDefined();
    expect(teamB.requests).toHaveLength(1);
  });
});
