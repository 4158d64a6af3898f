import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { slackSignatureValid } from '../../functions/core/api/slack-interactions.ts';
import { slackMessage } from '../../functions/core/chat/slack-blocks.ts';
import { chatView } from '../../functions/core/chat/view.ts';
import { parseConfig } from '../../functions/core/config.ts';
import { codeDeployRef } from '../../functions/core/operator-actions.ts';
import type { Deployment, Transition } from '../../functions/core/schema.ts';
import type { Status } from '../../functions/core/status.ts';

const SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const BODY = new TextEncoder().encode('payload=%7B%22type%22%3A%22block_actions%22%7D');
const TIMESTAMP = '1531420618';
const sign = (secret = SECRET, body = BODY) =>
  `v0=${createHmac('sha256', secret).update(`v0:${TIMESTAMP}:`).update(body).digest('hex')}`;

describe('Slack request signatures', () => {
  it('accepts the v0 HMAC-SHA256 of "v0:<timestamp>:<body>" under the signing secret', () => {
    expect(slackSignatureValid(sign(), TIMESTAMP, BODY, SECRET)).toBe(true);
  });

  it('refuses another secret, another timestamp, a changed body, another version or malformed hex', () => {
    expect(slackSignatureValid(sign('another-secret'), TIMESTAMP, BODY, SECRET)).toBe(false);
    expect(slackSignatureValid(sign(), '1531420619', BODY, SECRET)).toBe(false);
    expect(slackSignatureValid(sign(), TIMESTAMP, new TextEncoder().encode('payload=%7B%7D'), SECRET)).toBe(
      false,
    );
    expect(slackSignatureValid(sign().replace('v0=', 'v1='), TIMESTAMP, BODY, SECRET)).toBe(false);
    expect(slackSignatureValid(sign().toUpperCase().replace('V0=', 'v0='), TIMESTAMP, BODY, SECRET)).toBe(
      false,
    );
    expect(slackSignatureValid(undefined, TIMESTAMP, BODY, SECRET)).toBe(false);
  });
});

describe('slack actions config', () => {
  const config = (target: Record<string, unknown>) => () =>
    parseConfig({
      api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
      targets: { deploys: target },
      routes: [],
    });
  const bot = { type: 'slack', token: 'slack-bot-token', channel: 'C0123456789' };

  it('takes a signing secret name and users and/or user groups allowed to stop', () => {
    expect(
      config({
        ...bot,
        actions: { signingSecret: 'slack-signing', stop: { allowedUserGroups: ['S0ONCALL1'] } },
      }),
    ).not.toThrow();
  });

  it('refuses an empty allowlist, a user name instead of an id, and buttons in webhook mode, naming the field', () => {
    expect(config({ ...bot, actions: { signingSecret: 'slack-signing', stop: {} } })).toThrow(
      /targets\.deploys\.actions\.stop.*name who may stop deployments/s,
    );
    expect(
      config({ ...bot, actions: { signingSecret: 'slack-signing', stop: { allowedUsers: ['@alice'] } } }),
    ).toThrow(/targets\.deploys\.actions\.stop\.allowedUsers\[0\].*Slack user id/s);
    expect(
      config({
        type: 'slack',
        webhookUrl: 'slack-webhook',
        actions: { signingSecret: 'slack-signing', stop: { allowedUsers: ['U0123ABCD'] } },
      }),
    ).toThrow(/targets\.deploys\.actions.*bot mode/s);
  });
});

describe('Stop buttons on the Slack message', () => {
  const deployment = (status: Status): Deployment => ({
    id: 'dep_0123456789abcdef01234567',
    source: 'codedeploy',
    sourceDeploymentId: '123456789012:eu-west-2:d-4F2KQ8ZX1',
    service: 'checkout',
    environment: 'production',
    status,
    sourceStatus: status,
    createdAt: '2026-03-01T10:00:00.000Z',
    updatedAt: '2026-03-01T10:00:00.000Z',
    transitions: [],
    rev: 1,
  });
  const at = (status: Status): Transition => ({
    seq: 2,
    from: 'queued',
    to: status,
    at: '2026-03-01T10:00:00.000Z',
    eventId: 'evt_1',
    targets: ['deploys'],
  });
  const blocks = (status: Status, operator: Parameters<typeof slackMessage>[2]) =>
    slackMessage(chatView(deployment(status), at(status)), {}, operator).blocks;

  it('shows Stop and Stop and roll back behind a danger confirmation while the deployment runs', () => {
    const actions = blocks('in_progress', { stopButtons: { target: 'deploys' } }).find(
      (b) => b.type === 'actions',
    );

    expect(actions).toMatchObject({
      elements: [
        {
          action_id: 'shipcast:stop',
          value: 'deploys dep_0123456789abcdef01234567',
          confirm: { style: 'danger' },
        },
        { action_id: 'shipcast:stop-and-rollback', style: 'danger', confirm: { deny: { text: 'Cancel' } } },
      ],
    });
  });

  it('drops the buttons once the deployment ended, and shows who asked instead once someone did', () => {
    expect(
      blocks('succeeded', { stopButtons: { target: 'deploys' } }).some((b) => b.type === 'actions'),
    ).toBe(false);
    const asked = blocks('in_progress', {
      stopButtons: { target: 'deploys' },
      stopRequest: {
        action: 'stop',
        via: 'api',
        actor: '<!channel> alice',
        actorId: 'token:ci',
        at: '2026-03-01T10:02:00.000Z',
      },
    });
    expect(asked.some((b) => b.type === 'actions')).toBe(false);
    const line = JSON.stringify(asked.at(-1));
    expect(line).toContain('*Stop* asked by');
    expect(line).toContain('through the API at 2026-03-01 10:02 UTC');
    // The API caller's words are escaped: no mention reaches Slack.
    expect(line).not.toContain('<!channel>');
  });

  it('finds the CodeDeploy account, region and id of a record from its source id', () => {
    expect(codeDeployRef(deployment('in_progress'))).toEqual({
      account: '123456789012',
      region: 'eu-west-2',
      deploymentId: 'd-4F2KQ8ZX1',
    });
    expect(codeDeployRef({ ...deployment('in_progress'), sourceDeploymentId: 'garbage' })).toBeUndefined();
  });
});
