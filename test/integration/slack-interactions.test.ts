import { createHmac } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/core/config.ts';
import { deploymentIdFor } from '../../functions/core/ids.ts';
import { type LocalShipcast, startLocal } from '../../functions/local/local-shipcast.ts';
import { captureLogs } from '../support/capture-logger.ts';
import { type CodeDeployServer, startCodeDeployServer } from '../support/codedeploy-server.ts';
import { waitFor } from '../support/emulators.ts';
import { type SlackServer, type SlackStoredMessage, startSlackServer } from '../support/slack-server.ts';

const API_TOKEN = 'slack-actions-api-token-0123456789';
const SLACK_TOKEN = 'xoxb-actions-0123456789-abcdefghij';
const SIGNING_SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const ACCOUNT = '123456789012';
const OTHER_ACCOUNT = '210987654321';
const REGION = 'eu-west-2';
const CHANNEL = 'C0DEPLOYS1';
const ALLOWED = { id: 'U0ALLOWED1', name: 'alice' };
const GROUP_MEMBER = { id: 'U0ONCALL01', name: 'bob' };
const STRANGER = { id: 'U0STRANGER', name: 'mallory' };
const STOP = 'CodeDeploy_20141006.StopDeployment';

type Block = { type: string; elements?: Record<string, unknown>[]; text?: { text: string } };

/** A CodeDeploy trigger message shaped like the real ones (see test/fixtures/codedeploy/README.md). */
function trigger(codeDeployId: string, status: 'CREATED' | 'IN_PROGRESS' | 'STOPPED', account = ACCOUNT) {
  return JSON.stringify({
    region: REGION,
    accountId: account,
    eventTriggerName: 'shipcast',
    applicationName: 'checkout',
    deploymentId: codeDeployId,
    deploymentGroupName: 'checkout-production',
    createTime: 'Thu Oct 13 15:50:45 UTC 2022',
    completeTime: status === 'STOPPED' ? 'Thu Oct 13 15:53:02 UTC 2022' : null,
    deploymentOverview: JSON.stringify({ Succeeded: 0, Failed: 0, Skipped: 0, InProgress: 1, Pending: 1 }),
    status,
    rollbackInformation: '{}',
  });
}

describe('stop and roll back from Slack (local mode, signed interaction requests, local CodeDeploy)', () => {
  let slack: SlackServer;
  let codedeploy: CodeDeployServer;
  let local: LocalShipcast;
  let sns: SNSClient;
  const logs = captureLogs();
  let clicks = 0;

  beforeAll(async () => {
    slack = await startSlackServer({
      tokens: [SLACK_TOKEN],
      channels: { deploys: CHANNEL },
      userGroups: { S0ONCALL01: [GROUP_MEMBER.id, 'U0SOMEONE1'] },
    });
    codedeploy = await startCodeDeployServer();
    local = await startLocal({
      config: parseConfig({
        api: { tokens: [{ name: 'dev', secret: 'api-token' }] },
        targets: {
          deploys: {
            type: 'slack',
            token: 'slack-token',
            channel: CHANNEL,
            baseUrl: slack.apiUrl,
            timeoutMs: 10_000,
            actions: {
              signingSecret: 'slack-signing-secret',
              stop: { allowedUsers: [ALLOWED.id], allowedUserGroups: ['S0ONCALL01'] },
            },
          },
        },
        routes: [{ match: { source: 'codedeploy' }, targets: ['deploys'] }],
      }),
      dataDir: mkdtempSync(join(tmpdir(), 'shipcast-slack-actions-')),
      port: 0,
      queuePort: 0,
      codeDeployEndpoint: codedeploy.endpoint,
      codeDeployAccounts: [ACCOUNT],
      env: {
        SHIPCAST_SECRET_API_TOKEN: API_TOKEN,
        SHIPCAST_SECRET_SLACK_TOKEN: SLACK_TOKEN,
        SHIPCAST_SECRET_SLACK_SIGNING_SECRET: SIGNING_SECRET,
      },
      visibilityTimeoutSeconds: { ingest: 2, dispatch: 60 },
      logger: logs.logger,
    });
    sns = new SNSClient({
      region: 'us-east-1',
      endpoint: local.sqsSnsEndpoint,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
  });
  afterAll(async () => {
    sns?.destroy();
    await local?.stop();
    await slack?.stop();
    await codedeploy?.close();
    logs.restore();
  });

  const publish = (message: string) =>
    sns.send(new PublishCommand({ TopicArn: local.resources.topicArn, Message: message }));

  async function detail(deploymentId: string) {
    const answer = await fetch(`${local.apiUrl}/v1/deployments/${deploymentId}`, {
      headers: { authorization: `Bearer ${API_TOKEN}` },
    });
    return (await answer.json()) as {
      deployment: { status: string; stopRequest?: Record<string, unknown> };
      events: { kind: string; actor?: string; operator?: Record<string, unknown>; description?: string }[];
      deliveries: { target: string; deliveredSeq: number; refs: Record<string, string> }[];
    };
  }

  /** The deployment's living Slack message, once it shows what `ready` checks. */
  async function messageOf(deploymentId: string, ready: (m: SlackStoredMessage) => boolean, what: string) {
    return waitFor(
      async () => {
        const ts = (await detail(deploymentId)).deliveries?.find((d) => d.target === 'deploys')?.refs.ts;
        const message = slack.messages.find((m) => m.ts === ts);
        return message && ready(message) ? message : undefined;
      },
      { message: what, timeoutMs: 20_000, intervalMs: 100 },
    );
  }

  /** A CodeDeploy deployment in progress (created, then in progress), as its triggers report it. */
  async function deploymentInProgress(codeDeployId: string, account = ACCOUNT) {
    codedeploy.deployments.set(codeDeployId, {
      deploymentId: codeDeployId,
      applicationName: 'checkout',
      deploymentGroupName: 'checkout-production',
      status: 'InProgress',
      creator: 'user',
      createTime: 1_665_676_245,
    });
    const deploymentId = deploymentIdFor('codedeploy', `${account}:${REGION}:${codeDeployId}`);
    for (const status of ['CREATED', 'IN_PROGRESS'] as const)
      await publish(trigger(codeDeployId, status, account));
    const message = await messageOf(
      deploymentId,
      (m) => JSON.stringify(m.blocks).includes('in progress'),
      `${codeDeployId} in progress on Slack`,
    );
    return { deploymentId, message };
  }

  const buttonsOf = (message: SlackStoredMessage) =>
    ((message.blocks as Block[]).find((b) => b.type === 'actions')?.elements ?? []) as {
      action_id: string;
      value: string;
      text: { text: string };
      confirm?: Record<string, { text: string }>;
    }[];

  /** A block_actions payload as Slack sends it when `user` clicks the button `actionId` of `message`. */
  function clickPayload(message: SlackStoredMessage, actionId: string, user: { id: string; name: string }) {
    const button = buttonsOf(message).find((b) => b.action_id === actionId);
    if (!button) throw new Error(`the message has no button ${actionId}`);
    clicks++;
    return {
      type: 'block_actions',
      user: { id: user.id, username: user.name, name: user.name, team_id: 'T0SHIPCAST' },
      api_app_id: 'A0SHIPCAST',
      token: 'legacy-verification-token',
      container: { type: 'message', message_ts: message.ts, channel_id: CHANNEL, is_ephemeral: false },
      trigger_id: `13345224609.738474920.${clicks}`,
      team: { id: 'T0SHIPCAST', domain: 'acme' },
      channel: { id: CHANNEL, name: 'deploys' },
      message: { type: 'message', ts: message.ts, text: message.text, blocks: message.blocks },
      response_url: slack.responseUrl(),
      actions: [
        {
          action_id: actionId,
          block_id: 'shipcast-operator',
          text: button.text,
          value: button.value,
          type: 'button',
          action_ts: `1772359300.${String(clicks).padStart(6, '0')}`,
        },
      ],
    };
  }

  /** Posts a payload form-encoded and signed as Slack does (`v0=` HMAC-SHA256 of `v0:<timestamp>:<body>`). */
  function post(
    payload: unknown,
    { timestamp = Math.floor(Date.now() / 1000), secret = SIGNING_SECRET } = {},
  ): Promise<Response> {
    const body = `payload=${encodeURIComponent(JSON.stringify(payload))}`;
    const signature = `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
    return fetch(`${local.apiUrl}/v1/hooks/slack/interactions`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-slack-request-timestamp': String(timestamp),
        'x-slack-signature': signature,
      },
      body,
    });
  }

  const stopCalls = (codeDeployId: string) =>
    codedeploy.requests.filter(
      (r) => r.target === STOP && (r.body as { deploymentId?: string }).deploymentId === codeDeployId,
    );

  it('stops and rolls back a deployment an allowed user clicks, records who asked, and updates the message up to the outcome', async () => {
    // Prepare: a deployment in progress, its message with both buttons behind a confirmation dialog.
    const { deploymentId, message } = await deploymentInProgress('d-SLACKSTP1');
    const buttons = buttonsOf(message);
    expect(buttons.map((b) => b.text.text)).toEqual(['Stop', 'Stop and roll back']);
    expect(buttons.every((b) => b.value === `deploys ${deploymentId}`)).toBe(true);
    expect(buttons.every((b) => b.confirm?.confirm?.text && b.confirm.deny?.text === 'Cancel')).toBe(true);

    // Act
    const response = await post(clickPayload(message, 'shipcast:stop-and-rollback', ALLOWED));

    // Assess: CodeDeploy told to stop with rollback, once; the user told; the history says who.
    expect(response.status).toBe(200);
    expect(stopCalls('d-SLACKSTP1').map((r) => r.body)).toEqual([
      { deploymentId: 'd-SLACKSTP1', autoRollbackEnabled: true },
    ]);
    expect(slack.responses.at(-1)?.body).toMatchObject({
      response_type: 'ephemeral',
      replace_original: false,
    });
    expect(slack.responses.at(-1)?.body.text).toContain('Stop and roll back requested');
    const recorded = await detail(deploymentId);
    const operator = recorded.events.filter((e) => e.kind === 'operator');
    expect(operator).toHaveLength(1);
    expect(operator[0]).toMatchObject({
      actor: 'alice',
      operator: { action: 'stop-and-rollback', via: 'slack', actorId: ALLOWED.id, outcome: 'requested' },
    });
    expect(recorded.deployment.stopRequest).toMatchObject({ actorId: ALLOWED.id });

    // The message says who stopped it, and its buttons are gone (through the dispatcher).
    const stopping = await messageOf(
      deploymentId,
      (m) => JSON.stringify(m.blocks).includes(`<@${ALLOWED.id}>`),
      'message showing who stopped it',
    );
    expect(buttonsOf(stopping)).toEqual([]);
    expect(JSON.stringify(stopping.blocks)).toContain('Stop and roll back* asked by');

    // CodeDeploy reports the outcome: the message shows it, and still who asked.
    await publish(trigger('d-SLACKSTP1', 'STOPPED'));
    const stopped = await messageOf(
      deploymentId,
      (m) => JSON.stringify(m.blocks).includes('stopped'),
      'message showing the deployment stopped',
    );
    expect(JSON.stringify(stopped.blocks)).toContain(`<@${ALLOWED.id}>`);
    expect(buttonsOf(stopped)).toEqual([]);
  });

  it('calls CodeDeploy once when two allowed users click at the same moment; the other is told it was already asked', async () => {
    const { deploymentId, message } = await deploymentInProgress('d-SLACKTWO1');

    const [first, second] = await Promise.all([
      post(clickPayload(message, 'shipcast:stop', ALLOWED)),
      post(clickPayload(message, 'shipcast:stop-and-rollback', GROUP_MEMBER)),
    ]);

    expect([first.status, second.status]).toEqual([200, 200]);
    expect(stopCalls('d-SLACKTWO1')).toHaveLength(1);
    const outcomes = (await detail(deploymentId)).events
      .filter((e) => e.kind === 'operator')
      .map((e) => e.operator?.outcome)
      .sort();
    expect(outcomes).toEqual(['refused', 'requested']);
  });

  it('lets someone ask again after CodeDeploy refused a stop', async () => {
    const { deploymentId, message } = await deploymentInProgress('d-SLACKAGN1');
    codedeploy.failures.push({
      type: 'DeploymentAlreadyCompletedException',
      message: 'The deployment d-SLACKAGN1 has already completed.',
      status: 400,
      operation: 'StopDeployment',
      times: 1,
    });

    await post(clickPayload(message, 'shipcast:stop', ALLOWED));
    expect((await detail(deploymentId)).deployment.stopRequest).toBeUndefined();
    await post(clickPayload(message, 'shipcast:stop', ALLOWED));

    expect(stopCalls('d-SLACKAGN1')).toHaveLength(2);
    const recorded = await detail(deploymentId);
    const outcomes = recorded.events.filter((e) => e.kind === 'operator').map((e) => e.operator?.outcome);
    expect(outcomes.sort()).toEqual(['failed', 'requested']);
    expect(recorded.deployment.stopRequest).toMatchObject({ actorId: ALLOWED.id, outcome: 'requested' });
  });

  it('lets a member of an allowed user group stop a deployment (looked up with usergroups.users.list)', async () => {
    const { deploymentId, message } = await deploymentInProgress('d-SLACKGRP1');

    const response = await post(clickPayload(message, 'shipcast:stop', GROUP_MEMBER));

    expect(response.status).toBe(200);
    expect(stopCalls('d-SLACKGRP1').map((r) => r.body)).toEqual([
      { deploymentId: 'd-SLACKGRP1', autoRollbackEnabled: false },
    ]);
    const lookup = slack.calls('usergroups.users.list').at(-1);
    expect(lookup?.path).toBe('/api/usergroups.users.list?usergroup=S0ONCALL01');
    expect(lookup?.headers.authorization).toBe(`Bearer ${SLACK_TOKEN}`);
    const events = (await detail(deploymentId)).events.filter((e) => e.kind === 'operator');
    expect(events.map((e) => e.operator)).toMatchObject([
      { action: 'stop', actorId: GROUP_MEMBER.id, outcome: 'requested' },
    ]);
  });

  it('tells a user outside the allowlist, only them, that they may not, records the click, and does not call CodeDeploy', async () => {
    const { deploymentId, message } = await deploymentInProgress('d-SLACKNOT1');

    const response = await post(clickPayload(message, 'shipcast:stop', STRANGER));

    expect(response.status).toBe(200);
    expect(stopCalls('d-SLACKNOT1')).toEqual([]);
    expect(slack.responses.at(-1)?.body).toMatchObject({ response_type: 'ephemeral' });
    expect(slack.responses.at(-1)?.body.text).toContain('not allowed');
    const recorded = await detail(deploymentId);
    expect(recorded.events.filter((e) => e.kind === 'operator').map((e) => e.operator)).toMatchObject([
      { action: 'stop', actorId: STRANGER.id, outcome: 'refused' },
    ]);
    expect(recorded.deployment.stopRequest).toBeUndefined();
    expect(buttonsOf(await messageOf(deploymentId, () => true, 'message'))).toHaveLength(2);
  });

  it('refuses a replayed timestamp and a bad signature with 401, and nothing happens', async () => {
    const { deploymentId, message } = await deploymentInProgress('d-SLACKRPL1');
    const payload = clickPayload(message, 'shipcast:stop', ALLOWED);
    const responsesBefore = slack.responses.length;

    const replayed = await post(payload, { timestamp: Math.floor(Date.now() / 1000) - 6 * 60 });
    const forged = await post(payload, { secret: 'not-the-signing-secret' });

    expect(replayed.status).toBe(401);
    expect(((await replayed.json()) as { message: string }).message).toContain('5 minutes');
    expect(forged.status).toBe(401);
    expect(((await forged.json()) as { message: string }).message).toContain('X-Slack-Signature');
    expect(stopCalls('d-SLACKRPL1')).toEqual([]);
    expect(slack.responses.length).toBe(responsesBefore);
    expect((await detail(deploymentId)).events.filter((e) => e.kind === 'operator')).toEqual([]);
  });

  it('answers a click naming a deployment Shipcast does not have without calling CodeDeploy', async () => {
    const { message } = await deploymentInProgress('d-SLACKUNK1');
    const payload = clickPayload(message, 'shipcast:stop', ALLOWED);
    payload.actions[0]!.value = 'deploys dep_000000000000000000000000';
    const stopsBefore = codedeploy.requests.filter((r) => r.target === STOP).length;

    const response = await post(payload);

    expect(response.status).toBe(200);
    expect(codedeploy.requests.filter((r) => r.target === STOP)).toHaveLength(stopsBefore);
    expect(slack.responses.at(-1)?.body.text).toContain(
      'Shipcast has no deployment dep_000000000000000000000000',
    );
  });

  it('answers a click on a finished deployment, or on one in an account without a role, without calling CodeDeploy', async () => {
    const finished = await deploymentInProgress('d-SLACKFIN1');
    const elsewhere = await deploymentInProgress('d-SLACKACC1', OTHER_ACCOUNT);
    // The click comes from a message shown while it ran (Slack clients can lag behind the update).
    const lateClick = clickPayload(finished.message, 'shipcast:stop', ALLOWED);
    await publish(trigger('d-SLACKFIN1', 'STOPPED'));
    await waitFor(async () => (await detail(finished.deploymentId)).deployment.status === 'stopped', {
      message: 'the first deployment stopped',
    });

    await post(lateClick);
    const finishedAnswer = slack.responses.at(-1)?.body.text;
    await post(clickPayload(elsewhere.message, 'shipcast:stop', ALLOWED));
    const elsewhereAnswer = slack.responses.at(-1)?.body.text;

    expect(stopCalls('d-SLACKFIN1')).toEqual([]);
    expect(stopCalls('d-SLACKACC1')).toEqual([]);
    expect(finishedAnswer).toContain('already ended (stopped)');
    expect(elsewhereAnswer).toContain(`account ${OTHER_ACCOUNT}, where Shipcast has no role`);
    for (const id of [finished.deploymentId, elsewhere.deploymentId]) {
      const events = (await detail(id)).events.filter((e) => e.kind === 'operator');
      expect(events.map((e) => e.operator?.outcome)).toEqual(['refused']);
    }
  });
});
