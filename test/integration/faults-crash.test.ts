/**
 * Faults survived, scenario 3: a crash between a target's answer and the delivery record. The write fails
 * once (`blip`), fails until the message comes back (`throw`), or the dispatcher dies there (`die`: the batch
 * never finishes, its messages come back when their visibility ends). At most one repeated call; targets that
 * keep one living message (Slack bot `chat.update`, Discord webhook edit) repeat an update as an update, never
 * as a new message.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient } from '../../functions/core/http-client.ts';
import { ingestEvent } from '../../functions/core/ingest.ts';
import type { DeploymentEvent } from '../../functions/core/schema.ts';
import { type DiscordServer, startDiscordServer } from '../support/discord-server.ts';
import { nativeEvent } from '../support/events.ts';
import { type CrashInjector, type CrashMode, injectCrashes } from '../support/fault-crash.ts';
import { recordingQueue } from '../support/fault-kit.ts';
import { type FaultTarget, startFaultTarget } from '../support/fault-targets.ts';
import { createHarness, type Harness } from '../support/harness.ts';
import { type SlackServer, startSlackServer } from '../support/slack-server.ts';

const BOT_TOKEN = 'xoxb-5555-6666-CrashBotToken0a1b';

describe('a crash between the target call and the delivery record', () => {
  let h: Harness;
  let hook: FaultTarget;
  let slack: SlackServer;
  let discord: DiscordServer;
  let crashes: CrashInjector;
  let n = 0;

  beforeAll(async () => {
    hook = await startFaultTarget('hook');
    slack = await startSlackServer({ tokens: [BOT_TOKEN], channels: { deploys: 'C0CRASH' } });
    discord = await startDiscordServer();
    h = await createHarness({
      http: new HttpClient({ timeoutMs: 2_000 }),
      queue: (real) => recordingQueue(real, 0),
      // Slack's per-channel posting limit is not under test here.
      limiter: () => ({ take: async () => 0 }),
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: {
          hook: { type: 'webhook', url: hook.url },
          slack: { type: 'slack', token: 'slack-bot-token', channel: 'deploys', baseUrl: slack.apiUrl },
          discord: { type: 'discord', webhookUrl: 'discord-webhook' },
        },
        routes: [
          { match: { service: 'hook-*' }, targets: ['hook'] },
          { match: { service: 'slack-*' }, targets: ['slack'] },
          { match: { service: 'discord-*' }, targets: ['discord'] },
        ],
      },
    });
    writeFileSync(join(h.secretsDir, 'slack-bot-token'), BOT_TOKEN);
    writeFileSync(join(h.secretsDir, 'discord-webhook'), discord.webhookUrl);
    crashes = injectCrashes(h);
  });
  afterAll(async () => {
    await h?.stop();
    await hook?.stop();
    await slack?.stop();
    await discord?.stop();
  });

  /** Sends one deployment through `statuses`, dispatching after each; arms a crash on transition `crashAt`. */
  async function run(
    target: string,
    mode: CrashMode,
    crashAt: number,
    statuses: DeploymentEvent['status'][],
  ) {
    const service = `${target}-${mode}-${crashAt}-${++n}`;
    const discordFrom = discord.requests.length;
    const discordBefore = new Set(discord.messages.keys());
    let deploymentId = '';
    const deaths: number[] = [];
    for (const [i, status] of statuses.entries()) {
      const error = status === 'failed' ? { error: { message: `${service} ran out of disk` } } : {};
      const event = nativeEvent(service, status, { service, version: '3.1.4', ...error });
      deploymentId = event.deploymentId;
      if (i + 1 === crashAt) crashes.arm({ deploymentId, target, seq: crashAt, mode });
      await ingestEvent(event, h.runtime.ingest);
      deaths.push((await crashes.drain()).deaths);
    }
    expect(crashes.struck.filter((c) => c.deploymentId === deploymentId)).toHaveLength(1);
    expect(deaths.reduce((a, b) => a + b, 0)).toBe(mode === 'die' ? 1 : 0);
    const delivery = await h.store.getDelivery(deploymentId, target);
    expect(delivery).toMatchObject({ state: 'delivered', deliveredSeq: statuses.length });
    // Discord escapes the text it is sent, so its calls are told apart by when they came.
    const discordRequests = discord.requests.slice(discordFrom);
    const discordMessages = [...discord.messages.values()].filter((m) => !discordBefore.has(m.id));
    return { service, deploymentId, discordRequests, discordMessages };
  }

  const slackTopLevel = (service: string) =>
    slack.calls('chat.postMessage').filter((r) => r.body.includes(service) && !r.json().thread_ts);
  const slackUpdates = (service: string) =>
    slack.calls('chat.update').filter((r) => r.body.includes(service));
  const slackReplies = (service: string) =>
    slack.calls('chat.postMessage').filter((r) => r.body.includes(service) && r.json().thread_ts);
  const discordCalls = (requests: { method: string }[], method: string) =>
    requests.filter((r) => r.method === method);

  it('calls nobody again when the delivery write fails once: the dispatcher writes it again in place', async () => {
    const { deploymentId } = await run('hook', 'blip', 2, ['queued', 'in_progress', 'succeeded']);
    expect([1, 2, 3].map((seq) => hook.answers.get(`${deploymentId}:${seq}`)?.length)).toEqual([1, 1, 1]);
    const { service } = await run('slack', 'blip', 1, ['in_progress', 'succeeded']);
    expect(slackTopLevel(service)).toHaveLength(1);
    expect(slackUpdates(service)).toHaveLength(1);
  });

  describe.each<CrashMode>(['throw', 'die'])('when the record write %s', (mode) => {
    it('calls a webhook at most once more for the transition it crashed on, and never repeats the others', async () => {
      const { deploymentId } = await run('hook', mode, 2, ['queued', 'in_progress', 'succeeded']);
      expect([1, 2, 3].map((seq) => hook.answers.get(`${deploymentId}:${seq}`)?.length)).toEqual([1, 2, 1]);
    });

    it('repeats a Slack update only as chat.update on the same message, and not at all when the error kept its progress', async () => {
      const { service } = await run('slack', mode, 2, ['in_progress', 'succeeded']);
      expect(slackTopLevel(service)).toHaveLength(1);
      // A write that throws keeps what the send did (the message shows the transition): nothing is repeated.
      expect(slackUpdates(service)).toHaveLength(mode === 'throw' ? 1 : 2);
      const messages = slack.messages.filter(
        (m) => JSON.stringify(m.blocks).includes(service) && !m.thread_ts,
      );
      expect(messages).toHaveLength(1);
      expect(JSON.stringify(messages[0]?.blocks)).toContain('succeeded');
    });

    it('repeats a Discord edit as an edit of the same message, not as a new message', async () => {
      const { discordRequests, discordMessages } = await run('discord', mode, 2, [
        'in_progress',
        'succeeded',
      ]);
      expect(discordCalls(discordRequests, 'POST')).toHaveLength(1);
      expect(discordCalls(discordRequests, 'PATCH')).toHaveLength(2);
      expect(discordMessages).toHaveLength(1);
      expect(discordMessages[0]?.edits).toBe(2);
    });

    it(
      mode === 'throw'
        ? 'repeats no Slack call after the first post, since the error left its id and progress known'
        : 'repeats the first post at most once when the dispatcher dies right after it',
      async () => {
        const slackRun = await run('slack', mode, 1, ['in_progress', 'succeeded']);
        const discordRun = await run('discord', mode, 1, ['in_progress', 'succeeded']);
        if (mode === 'throw') {
          expect(slackTopLevel(slackRun.service)).toHaveLength(1);
          expect(slackUpdates(slackRun.service)).toHaveLength(1);
          expect(discordCalls(discordRun.discordRequests, 'POST')).toHaveLength(1);
          expect(discordCalls(discordRun.discordRequests, 'PATCH')).toHaveLength(2);
          expect(discordRun.discordMessages).toHaveLength(1);
        } else {
          // Nothing recorded the new message's id: one more post, then the later transition updates one.
          expect(slackTopLevel(slackRun.service)).toHaveLength(2);
          expect(discordCalls(discordRun.discordRequests, 'POST')).toHaveLength(2);
          expect(slackUpdates(slackRun.service)).toHaveLength(1);
          expect(discordCalls(discordRun.discordRequests, 'PATCH')).toHaveLength(1);
        }
      },
    );

    it('replies the error of a failed deployment in its Slack thread once, or at most twice if the dispatcher dies', async () => {
      const { service } = await run('slack', mode, 2, ['in_progress', 'failed']);
      expect(slackTopLevel(service)).toHaveLength(1);
      expect(slackUpdates(service)).toHaveLength(mode === 'throw' ? 1 : 2);
      expect(slackReplies(service)).toHaveLength(mode === 'throw' ? 1 : 2);
    });
  });
});
