import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/core/config.ts';
import { deploymentIdFor } from '../../functions/core/ids.ts';
import { type LocalShipcast, startLocal } from '../../functions/local/local-shipcast.ts';
import { type BigPandaServer, startBigPandaServer } from '../support/bigpanda-server.ts';
import { captureLogs } from '../support/capture-logger.ts';
import { type CodeDeployServer, startCodeDeployServer } from '../support/codedeploy-server.ts';
import { type DiscordServer, startDiscordServer } from '../support/discord-server.ts';
import { waitFor } from '../support/emulators.ts';
import { type GitHubServer, startGitHubServer } from '../support/github-server.ts';
import { type SlackServer, startSlackServer } from '../support/slack-server.ts';

const GITHUB_TOKEN = 'ghp_e2eToken0123456789abcdefghijklmnopqr';
const BIGPANDA_TOKEN = 'bp-e2e-token-0123456789';
const SLACK_TOKEN = 'xoxb-e2e-0123456789-abcdefghij';
const COMMIT = '9fceb02d0ae598e95dc970b74767f19372d61af8';
const ACCOUNT = '123456789012';
const REGION = 'eu-west-2';

/** A CodeDeploy trigger message shaped like the real ones (see test/fixtures/codedeploy/README.md). */
function trigger(
  codeDeployId: string,
  status: 'CREATED' | 'IN_PROGRESS' | 'SUCCEEDED',
  application = 'checkout',
): string {
  return JSON.stringify({
    region: REGION,
    accountId: ACCOUNT,
    eventTriggerName: 'shipcast-all-events',
    applicationName: application,
    deploymentId: codeDeployId,
    deploymentGroupName: 'checkout-production',
    createTime: 'Thu Oct 13 15:50:45 UTC 2022',
    completeTime: status === 'SUCCEEDED' ? 'Thu Oct 13 15:57:02 UTC 2022' : null,
    deploymentOverview: JSON.stringify({
      Succeeded: status === 'SUCCEEDED' ? 2 : 0,
      Failed: 0,
      Skipped: 0,
      InProgress: 0,
      Pending: 0,
    }),
    status,
    rollbackInformation: '{}',
  });
}

describe('local mode end to end: one CodeDeploy deployment announced to GitHub, BigPanda, Slack and Discord', () => {
  let github: GitHubServer;
  let bigpanda: BigPandaServer;
  let slack: SlackServer;
  let discord: DiscordServer;
  let codedeploy: CodeDeployServer;
  let local: LocalShipcast;
  let sns: SNSClient;
  const logs = captureLogs();

  beforeAll(async () => {
    github = await startGitHubServer({ tokens: [GITHUB_TOKEN] });
    bigpanda = await startBigPandaServer({ tokens: [BIGPANDA_TOKEN] });
    slack = await startSlackServer({ tokens: [SLACK_TOKEN], channels: { deploys: 'C0DEPLOYS1' } });
    discord = await startDiscordServer();
    codedeploy = await startCodeDeployServer(
      ['d-E2EGITHUB1', 'd-E2ECHAT01'].map((id) => ({
        deploymentId: id,
        applicationName: 'checkout',
        deploymentGroupName: 'checkout-production',
        status: 'InProgress',
        creator: 'user',
        description: 'Release 2022.10.13',
        createTime: 1665676245,
        revision: {
          revisionType: 'GitHub',
          gitHubLocation: { repository: 'acme/checkout', commitId: COMMIT },
        },
      })),
    );
    local = await startLocal({
      config: parseConfig({
        api: { tokens: [{ name: 'dev', secret: 'api-token' }] },
        targets: {
          'gh-deployments': { type: 'github-deployment', token: 'github-token', baseUrl: github.url },
          'gh-statuses': { type: 'github-status', token: 'github-token', baseUrl: github.url },
          bigpanda: { type: 'bigpanda', token: 'bigpanda-token', url: bigpanda.url },
          slack: { type: 'slack', token: 'slack-token', channel: 'C0DEPLOYS1', baseUrl: slack.apiUrl },
          discord: { type: 'discord', webhookUrl: 'discord-webhook' },
        },
        routes: [
          { match: { source: 'codedeploy' }, targets: ['gh-deployments', 'gh-statuses', 'bigpanda'] },
          { match: { service: 'chat-*' }, targets: ['slack', 'discord'] },
        ],
      }),
      dataDir: mkdtempSync(join(tmpdir(), 'shipcast-e2e-')),
      port: 0,
      queuePort: 0,
      codeDeployEndpoint: codedeploy.endpoint,
      env: {
        SHIPCAST_SECRET_API_TOKEN: 'e2e-api-token-0123456789',
        SHIPCAST_SECRET_GITHUB_TOKEN: GITHUB_TOKEN,
        SHIPCAST_SECRET_BIGPANDA_TOKEN: BIGPANDA_TOKEN,
        SHIPCAST_SECRET_SLACK_TOKEN: SLACK_TOKEN,
        SHIPCAST_SECRET_DISCORD_WEBHOOK: discord.webhookUrl,
      },
      // Dispatch batches run concurrently (as in AWS): a visibility shorter than a batch on a loaded machine would
      // hand its messages to another batch while the first still sends them.
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
    await Promise.all([github, bigpanda, slack, discord].map((s) => s?.stop()));
    await codedeploy?.close();
    logs.restore();
  });

  const publish = (message: string) =>
    sns.send(new PublishCommand({ TopicArn: local.resources.topicArn, Message: message }));

  /** Publishes each trigger as CodeDeploy would and waits until every routed target has it. */
  async function deploy(codeDeployId: string, targets: string[], application = 'checkout') {
    const deploymentId = deploymentIdFor('codedeploy', `${ACCOUNT}:${REGION}:${codeDeployId}`);
    let seq = 0;
    for (const status of ['CREATED', 'IN_PROGRESS', 'SUCCEEDED'] as const) {
      await publish(trigger(codeDeployId, status, application));
      seq++;
      await waitFor(
        async () => {
          const answer = await fetch(`${local.apiUrl}/v1/deployments/${deploymentId}`, {
            headers: { authorization: 'Bearer e2e-api-token-0123456789' },
          });
          if (answer.status !== 200) return false;
          const body = (await answer.json()) as { deliveries: { target: string; deliveredSeq: number }[] };
          return targets.every((t) => body.deliveries.some((d) => d.target === t && d.deliveredSeq >= seq));
        },
        { message: `${status} delivered to ${targets.join(', ')}`, timeoutMs: 20_000, intervalMs: 100 },
      );
    }
    return deploymentId;
  }

  it('creates exactly one GitHub deployment with its statuses in order, one commit status per transition, and a BigPanda start and end that match', async () => {
    const deploymentId = await deploy('d-E2EGITHUB1', ['gh-deployments', 'gh-statuses', 'bigpanda']);

    const created = github.deploymentsOf(deploymentId);
    expect(created).toHaveLength(1);
    expect(created[0]).toMatchObject({
      owner: 'acme',
      repo: 'checkout',
      sha: COMMIT,
      ref: COMMIT,
      environment: 'checkout-production',
    });
    expect(created[0]?.statuses.map((s) => s.state)).toEqual(['queued', 'in_progress', 'success']);
    const statuses = github.commitStatuses.filter((s) => s.sha === COMMIT);
    expect(statuses.map((s) => s.state)).toEqual(['pending', 'pending', 'success']);
    expect(new Set(statuses.map((s) => `${s.state}|${s.description}`)).size).toBe(3);
    expect(github.violations).toEqual([]);

    const starts = bigpanda.requests
      .filter((r) => r.path.endsWith('/deployments/start'))
      .map((r) => r.json<Record<string, unknown>>());
    const ends = bigpanda.requests
      .filter((r) => r.path.endsWith('/deployments/end'))
      .map((r) => r.json<Record<string, unknown>>());
    expect(starts).toHaveLength(1);
    expect(ends).toHaveLength(1);
    const same = (b: Record<string, unknown>) => ({
      component: b.component,
      version: b.version,
      hosts: b.hosts,
    });
    expect(same(ends[0] as Record<string, unknown>)).toEqual(same(starts[0] as Record<string, unknown>));
    expect(starts[0]).toMatchObject({ component: 'checkout', env: 'checkout-production' });
    expect(ends[0]).toMatchObject({ status: 'success' });
    expect(bigpanda.unmatchedEnds).toEqual([]);
  });

  it('keeps one living chat message per deployment: Slack posted once and updated twice, Discord created once and edited twice', async () => {
    // The chat route matches services named chat-*.
    await deploy('d-E2ECHAT01', ['slack', 'discord'], 'chat-api');

    expect(slack.calls('chat.postMessage')).toHaveLength(1);
    expect(slack.calls('chat.update')).toHaveLength(2);
    expect(slack.messages.filter((m) => !('thread_ts' in m && m.thread_ts))).toHaveLength(1);
    const posts = discord.requests.filter((r) => r.method === 'POST');
    const edits = discord.requests.filter((r) => r.method === 'PATCH');
    expect(posts).toHaveLength(1);
    expect(edits).toHaveLength(2);
    expect(discord.messages.size).toBe(1);
    expect([...discord.messages.values()][0]?.edits).toBe(2);
  });
});
