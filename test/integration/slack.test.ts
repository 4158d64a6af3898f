import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { slackMessage } from '../../functions/core/chat/slack-blocks.ts';
import { chatView } from '../../functions/core/chat/view.ts';
import { parseConfig } from '../../functions/core/config.ts';
import { referencedSecrets } from '../../functions/core/config-secrets.ts';
import { ConfigError } from '../../functions/core/errors.ts';
import { HttpClient } from '../../functions/core/http-client.ts';
import { ingestEvent } from '../../functions/core/ingest.ts';
import type { DeploymentEvent } from '../../functions/core/schema.ts';
import { chatFixture } from '../support/chat-fixtures.ts';
import { nativeEvent } from '../support/events.ts';
import { createHarness, type Harness, recordingRetries } from '../support/harness.ts';
import { type SlackRequest, type SlackServer, startSlackServer } from '../support/slack-server.ts';

const BOT_TOKEN = 'xoxb-1111-2222-TestBotToken4f9a';
const REVOKED_TOKEN = 'xoxb-3333-4444-RevokedToken7c2e';
// 24 characters: a path segment the HTTP client's URL redaction would not shorten.
const HOOK_KEY = 'Wh00kS3cr3tK3yAbCdEfGhIj';

/** Untrusted text carrying every trick a chat message must not fall for. */
const HOSTILE =
  '@channel @here @everyone <!channel> <!here> <@U123> <@&123> *bold* _x_ <b>x</b> ' +
  '[click](https://evil.example) <https://evil.example|docs> \u202Eevil\u2066 iso\u2069 zero\u200Bwidth';

type Body = Record<string, unknown>;
interface TextObject {
  type: string;
  text: string;
  verbatim?: boolean;
}

describe('slack target', () => {
  let h: Harness;
  let slack: SlackServer;
  const retryDelays: number[] = [];
  const limiterTakes: [string, number, number][] = [];
  const limiterWaits = new Map<string, number>();

  beforeAll(async () => {
    slack = await startSlackServer({
      tokens: [BOT_TOKEN],
      channels: { deploys: 'C0DEPLOYS', quiet: 'C0QUIET', busy: 'C0BUSY' },
    });
    const bot = { type: 'slack', token: 'slack-bot-token', baseUrl: slack.apiUrl };
    h = await createHarness({
      maxReceives: 5,
      http: new HttpClient({ timeoutMs: 10_000 }),
      queue: recordingRetries(retryDelays),
      // Slack's one-message-a-second-per-channel limit is checked by what the target asks of the limiter.
      limiter: () => ({
        take: async (key, limit, windowSeconds) => {
          limiterTakes.push([key, limit, windowSeconds]);
          return limiterWaits.get(key) ?? 0;
        },
      }),
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: {
          bot: { ...bot, channel: 'deploys' },
          quiet: { ...bot, channel: 'quiet', threadDetails: false },
          limited: { ...bot, channel: 'busy' },
          lost: { ...bot, channel: 'nowhere' },
          revoked: { type: 'slack', token: 'slack-revoked-token', channel: 'deploys', baseUrl: slack.apiUrl },
          templated: {
            ...bot,
            channel: 'deploys',
            message: { title: '{{service}} is {{status}}', text: 'Shipped by *{{actor}}*' },
          },
          hook: { type: 'slack', webhookUrl: 'slack-hook-url' },
        },
        routes: [
          { match: { service: 'bot-*' }, targets: ['bot'] },
          { match: { service: 'quiet-*' }, targets: ['quiet'] },
          { match: { service: 'busy-*' }, targets: ['limited'] },
          { match: { service: 'lost-*' }, targets: ['lost'] },
          { match: { service: 'revoked-*' }, targets: ['revoked'] },
          { match: { service: 'tpl-*' }, targets: ['templated'] },
          { match: { service: 'route-*' }, targets: ['templated'], message: { title: 'Route: {{service}}' } },
          { match: { service: 'hook-*' }, targets: ['hook'] },
        ],
        dispatch: { maxReceives: 5 },
      },
    });
    writeFileSync(join(h.secretsDir, 'slack-bot-token'), BOT_TOKEN);
    writeFileSync(join(h.secretsDir, 'slack-revoked-token'), REVOKED_TOKEN);
    writeFileSync(join(h.secretsDir, 'slack-hook-url'), `${slack.url}/services/T0TEST/B0TEST/${HOOK_KEY}`);
  });
  afterAll(async () => {
    await h.stop();
    await slack.stop();
  });
  beforeEach(() => {
    slack.reset();
    retryDelays.length = 0;
    limiterTakes.length = 0;
    limiterWaits.clear();
  });

  const ingest = (event: DeploymentEvent) => ingestEvent(event, h.runtime.ingest);
  /** Requests of `call` about `service` (every message names its service). */
  const callsOf = (service: string, call: string) =>
    slack.calls(call).filter((r) => r.body.includes(service));
  const redeliver = (event: DeploymentEvent, seq: number, target: string) =>
    h.queue.enqueue([{ v: 1, deploymentId: event.deploymentId, seq, target }]);

  describe('bot token: one living message', () => {
    it('posts one message on the first transition and updates it in place on every later one', async () => {
      const started = nativeEvent('sl-1', 'in_progress', { service: 'bot-one', version: '1.4.2' });
      await ingest(started);
      await h.drainDispatch();
      await ingest(nativeEvent('sl-1', 'succeeded', { service: 'bot-one', version: '1.4.2' }));
      await h.drainDispatch();

      const [post] = callsOf('bot-one', 'chat.postMessage');
      expect(callsOf('bot-one', 'chat.postMessage')).toHaveLength(1);
      expect(post?.headers.authorization).toBe(`Bearer ${BOT_TOKEN}`);
      expect(post?.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(post?.json()).toMatchObject({
        channel: 'deploys',
        unfurl_links: false,
        unfurl_media: false,
        parse: 'none',
        link_names: false,
      });
      const updates = callsOf('bot-one', 'chat.update');
      expect(updates).toHaveLength(1);
      // chat.update gets the channel ID Slack answered with, not the configured name.
      const ts = slack.messages[0]?.ts;
      expect(updates[0]?.json()).toMatchObject({ channel: 'C0DEPLOYS', ts });
      expect(JSON.stringify(updates[0]?.json<Body>().blocks)).toContain('succeeded');
      expect(slack.messages).toHaveLength(1);
      expect(slack.messages[0]?.updates).toBe(1);
      expect(await h.store.getDelivery(started.deploymentId, 'bot')).toMatchObject({
        state: 'delivered',
        deliveredSeq: 2,
        refs: { channel: 'C0DEPLOYS', ts },
      });
    });

    it('keeps the message id when an update fails and updates it again on the retry, never re-posting', async () => {
      const started = nativeEvent('sl-2', 'in_progress', { service: 'bot-two' });
      await ingest(started);
      await h.drainDispatch();
      const ts = slack.messages[0]?.ts;
      await ingest(nativeEvent('sl-2', 'succeeded', { service: 'bot-two' }));
      slack.script('chat.update', { status: 200, body: { ok: false, error: 'internal_error' } });

      await h.drainDispatch();

      const retrying = await h.store.getDelivery(started.deploymentId, 'bot');
      expect(retrying).toMatchObject({
        state: 'retrying',
        deliveredSeq: 1,
        refs: { channel: 'C0DEPLOYS', ts },
      });
      expect(retrying?.lastError).toContain('internal_error');

      await redeliver(started, 2, 'bot');
      await h.drainDispatch();

      expect(callsOf('bot-two', 'chat.postMessage')).toHaveLength(1);
      expect(callsOf('bot-two', 'chat.update').map((u) => u.json<Body>().ts)).toEqual([ts, ts]);
      expect(await h.store.getDelivery(started.deploymentId, 'bot')).toMatchObject({
        state: 'delivered',
        deliveredSeq: 2,
      });
    });

    it('posts at most one extra message when the answer to the first post is lost, then updates that one', async () => {
      const started = nativeEvent('sl-3', 'in_progress', { service: 'bot-three' });
      await ingest(started);
      slack.script('chat.postMessage', { resetAfterHandling: true });

      await h.drainDispatch();
      expect((await h.store.getDelivery(started.deploymentId, 'bot'))?.state).toBe('retrying');
      await redeliver(started, 1, 'bot');
      await h.drainDispatch();
      await ingest(nativeEvent('sl-3', 'succeeded', { service: 'bot-three' }));
      await h.drainDispatch();

      expect(callsOf('bot-three', 'chat.postMessage')).toHaveLength(2);
      const second = slack.messages[1]?.ts;
      expect(callsOf('bot-three', 'chat.update').map((u) => u.json<Body>().ts)).toEqual([second]);
      expect((await h.store.getDelivery(started.deploymentId, 'bot'))?.refs).toMatchObject({ ts: second });
    });

    it('posts a new message once when the one to update was deleted, and keeps its id', async () => {
      const started = nativeEvent('sl-4', 'queued', { service: 'bot-four' });
      await ingest(started);
      await h.drainDispatch();
      slack.deleteMessage(slack.messages[0]?.ts as string);
      await ingest(nativeEvent('sl-4', 'in_progress', { service: 'bot-four' }));
      await h.drainDispatch();
      await ingest(nativeEvent('sl-4', 'succeeded', { service: 'bot-four' }));
      await h.drainDispatch();

      expect(slack.requests.filter((r) => r.body.includes('bot-four')).map((r) => r.call)).toEqual([
        'chat.postMessage',
        'chat.update',
        'chat.postMessage',
        'chat.update',
      ]);
      const replacement = slack.messages[0]?.ts;
      expect(callsOf('bot-four', 'chat.update')[1]?.json<Body>().ts).toBe(replacement);
      expect((await h.store.getDelivery(started.deploymentId, 'bot'))?.refs).toMatchObject({
        ts: replacement,
      });
    });

    it('replies once in the thread with the error of a failed deployment, keeping the message id when the reply is retried', async () => {
      const started = nativeEvent('sl-5', 'in_progress', { service: 'bot-five' });
      await ingest(started);
      await h.drainDispatch();
      const ts = slack.messages[0]?.ts;
      await ingest(
        nativeEvent('sl-5', 'failed', {
          service: 'bot-five',
          error: { code: 'HEALTH_CONSTRAINTS', message: 'Too many instances failed' },
        }),
      );
      slack.script('chat.postMessage', { status: 429, headers: { 'retry-after': '5' }, body: { ok: false } });

      await h.drainDispatch();

      expect(retryDelays).toContain(5);
      expect(await h.store.getDelivery(started.deploymentId, 'bot')).toMatchObject({
        state: 'retrying',
        refs: { channel: 'C0DEPLOYS', ts },
      });
      await redeliver(started, 2, 'bot');
      await h.drainDispatch();

      const replies = callsOf('bot-five', 'chat.postMessage').filter((r) => r.json<Body>().thread_ts);
      expect(replies).toHaveLength(2);
      expect(replies[1]?.json()).toMatchObject({ channel: 'C0DEPLOYS', thread_ts: ts });
      expect(JSON.stringify(replies[1]?.json<Body>().blocks)).toContain(
        'HEALTH_CONSTRAINTS: Too many instances failed',
      );
      expect(slack.messages.filter((m) => m.thread_ts === ts)).toHaveLength(1);
      expect(callsOf('bot-five', 'chat.postMessage').filter((r) => !r.json<Body>().thread_ts)).toHaveLength(
        1,
      );
      const delivery = await h.store.getDelivery(started.deploymentId, 'bot');
      expect(delivery).toMatchObject({ state: 'delivered', deliveredSeq: 2 });
      expect(delivery?.refs?.detailsTs).toBe(slack.messages[1]?.ts);
    });

    it('does not repeat a chat.update that succeeded when the thread reply waits for the channel', async () => {
      const started = nativeEvent('sl-5b', 'in_progress', { service: 'bot-five-b' });
      await ingest(started);
      await h.drainDispatch();
      const ts = slack.messages[0]?.ts;
      await ingest(
        nativeEvent('sl-5b', 'failed', { service: 'bot-five-b', error: { message: 'smoke test' } }),
      );
      limiterWaits.set('slack:deploys', 1);

      await h.drainDispatch();
      expect(callsOf('bot-five-b', 'chat.update')).toHaveLength(1);
      expect(await h.store.getDelivery(started.deploymentId, 'bot')).toMatchObject({
        state: 'retrying',
        refs: { ts, shownSeq: '2' },
      });
      limiterWaits.delete('slack:deploys');
      await redeliver(started, 2, 'bot');
      await h.drainDispatch();

      expect(callsOf('bot-five-b', 'chat.update')).toHaveLength(1);
      expect(slack.messages.filter((m) => m.thread_ts === ts)).toHaveLength(1);
      expect(await h.store.getDelivery(started.deploymentId, 'bot')).toMatchObject({
        state: 'delivered',
        deliveredSeq: 2,
      });
    });

    it('keeps the id of a message it just posted when the thread reply after it fails', async () => {
      const failed = nativeEvent('sl-6', 'failed', {
        service: 'bot-six',
        error: { message: 'bundle missing' },
      });
      await ingest(failed);
      slack.script('chat.postMessage', { pass: true }, { status: 500, body: 'upstream error' });

      await h.drainDispatch();

      const ts = slack.messages[0]?.ts;
      expect(await h.store.getDelivery(failed.deploymentId, 'bot')).toMatchObject({
        state: 'retrying',
        deliveredSeq: 0,
        refs: { channel: 'C0DEPLOYS', ts },
      });
      await redeliver(failed, 1, 'bot');
      await h.drainDispatch();

      // The retry only replies: the message it posted already shows this transition.
      expect(callsOf('bot-six', 'chat.update')).toEqual([]);
      expect(slack.messages.filter((m) => !m.thread_ts)).toHaveLength(1);
      expect(slack.messages.filter((m) => m.thread_ts === ts)).toHaveLength(1);
    });

    it('does not reply in the thread when threadDetails is off', async () => {
      await ingest(nativeEvent('sl-7', 'failed', { service: 'quiet-seven', error: { message: 'boom' } }));
      await h.drainDispatch();

      expect(callsOf('quiet-seven', 'chat.postMessage')).toHaveLength(1);
      expect(slack.messages[0]).toMatchObject({ channel: 'C0QUIET', thread_ts: undefined });
    });

    it("fails permanently with Slack's reason for an ok:false error such as channel_not_found", async () => {
      const started = nativeEvent('sl-8', 'in_progress', { service: 'lost-eight' });
      await ingest(started);
      const dlq = await h.dlqDepth();

      await h.drainDispatch();

      expect(await h.dlqDepth()).toBe(dlq + 1);
      const delivery = await h.store.getDelivery(started.deploymentId, 'lost');
      expect(delivery).toMatchObject({ state: 'failed', deliveredSeq: 0 });
      expect(delivery?.lastError).toBe('Slack chat.postMessage failed: channel_not_found');
    });

    it('fails permanently on invalid_auth without the token appearing in the error, the delivery or the logs', async () => {
      const started = nativeEvent('sl-9', 'in_progress', { service: 'revoked-nine' });
      await ingest(started);

      await h.drainDispatch();

      const delivery = await h.store.getDelivery(started.deploymentId, 'revoked');
      expect(delivery).toMatchObject({ state: 'failed' });
      expect(delivery?.lastError).toContain('invalid_auth');
      expect(JSON.stringify(delivery)).not.toContain(REVOKED_TOKEN);
      expect(h.logs.lines.join('\n')).not.toContain(REVOKED_TOKEN);
    });

    it('puts the message back for as long as a 429 Retry-After says', async () => {
      const started = nativeEvent('sl-10', 'in_progress', { service: 'bot-ten' });
      await ingest(started);
      slack.script('chat.postMessage', { status: 429, headers: { 'retry-after': '7' }, body: '' });

      await h.drainDispatch();

      expect(retryDelays).toContain(7);
      expect(await h.store.getDelivery(started.deploymentId, 'bot')).toMatchObject({ state: 'retrying' });
    });

    it('retries an ok:false ratelimited answer after its Retry-After', async () => {
      const started = nativeEvent('sl-11', 'in_progress', { service: 'bot-eleven' });
      await ingest(started);
      slack.script('chat.postMessage', {
        status: 200,
        headers: { 'retry-after': '11' },
        body: { ok: false, error: 'ratelimited' },
      });

      await h.drainDispatch();

      expect(retryDelays).toContain(11);
      expect((await h.store.getDelivery(started.deploymentId, 'bot'))?.lastError).toContain('ratelimited');
    });

    it('waits for the shared one-message-a-second limit of the channel before posting', async () => {
      const started = nativeEvent('sl-12', 'in_progress', { service: 'busy-twelve' });
      await ingest(started);
      limiterWaits.set('slack:busy', 3);

      await h.drainDispatch();

      expect(limiterTakes.filter(([key]) => key === 'slack:busy')).toEqual([['slack:busy', 1, 1]]);
      expect(retryDelays).toContain(3);
      expect(slack.requests.filter((r) => r.body.includes('busy-twelve'))).toHaveLength(0);
    });

    it('uses no attempt while it waits for the channel: more waits than maxReceives, then posted once', async () => {
      const started = nativeEvent('sl-busy-burst', 'in_progress', { service: 'busy-thirteen' });
      await ingest(started);
      limiterWaits.set('slack:busy', 1);
      const dead = await h.dlqDepth();

      for (let round = 0; round < 7; round++) {
        if (round > 0)
          await h.queue.enqueue([{ v: 1, deploymentId: started.deploymentId, seq: 1, target: 'limited' }]);
        await h.drainDispatch();
      }

      const waiting = await h.store.getDelivery(started.deploymentId, 'limited');
      expect(waiting).toMatchObject({ state: 'retrying', deliveredSeq: 0, attempts: 7 });
      expect(waiting?.failedAttempts ?? 0).toBe(0);
      expect(await h.dlqDepth()).toBe(dead);
      expect(slack.requests.filter((r) => r.body.includes('busy-thirteen'))).toHaveLength(0);

      limiterWaits.delete('slack:busy');
      await h.queue.enqueue([{ v: 1, deploymentId: started.deploymentId, seq: 1, target: 'limited' }]);
      await h.drainDispatch();
      expect(slack.requests.filter((r) => r.body.includes('busy-thirteen'))).toHaveLength(1);
      expect(await h.store.getDelivery(started.deploymentId, 'limited')).toMatchObject({
        state: 'delivered',
        deliveredSeq: 1,
      });
    });

    it('asks the limiter only for new messages, not for updates', async () => {
      const started = nativeEvent('sl-13', 'in_progress', { service: 'quiet-thirteen' });
      await ingest(started);
      await h.drainDispatch();
      await ingest(nativeEvent('sl-13', 'succeeded', { service: 'quiet-thirteen' }));
      await h.drainDispatch();

      expect(limiterTakes.filter(([key]) => key === 'slack:quiet')).toEqual([['slack:quiet', 1, 1]]);
      expect(callsOf('quiet-thirteen', 'chat.update')).toHaveLength(1);
    });
  });

  describe('templates', () => {
    it("uses the target's title and text templates, escaping every value", async () => {
      await ingest(nativeEvent('sl-20', 'succeeded', { service: 'tpl-twenty', actor: '*mallory*' }));
      await h.drainDispatch();

      const body = callsOf('tpl-twenty', 'chat.postMessage')[0]?.json<{ text: string; blocks: Body[] }>();
      expect(body?.text).toBe('tpl-twenty is succeeded');
      expect(body?.blocks[0]).toEqual({
        type: 'header',
        text: { type: 'plain_text', text: 'tpl-twenty is succeeded', emoji: true },
      });
      expect(body?.blocks).toContainEqual({
        type: 'section',
        text: { type: 'mrkdwn', text: 'Shipped by *`*mallory*`*', verbatim: true },
      });
    });

    it("prefers a route's template to the target's own", async () => {
      await ingest(nativeEvent('sl-21', 'succeeded', { service: 'route-twentyone' }));
      await h.drainDispatch();

      const body = callsOf('route-twentyone', 'chat.postMessage')[0]?.json<{ text: string }>();
      expect(body?.text).toBe('Route: route-twentyone');
    });
  });

  describe('hostile text', () => {
    it('leaves no mention, markup, spoofed link, script URL or invisible character active', async () => {
      const first = nativeEvent('sl-30', 'in_progress', {
        service: 'bot-hostile',
        version: '1.0 <https://evil.example|docs> *bold*',
        description: HOSTILE,
        actor: '<!here> @everyone',
        url: 'javascript:alert(1)',
        revision: { repository: 'acme/checkout', commit: 'abc1234<!channel>' },
      });
      await ingest(first);
      await h.drainDispatch();
      await ingest(
        nativeEvent('sl-30', 'failed', {
          service: 'bot-hostile',
          error: { code: 'E_<b>', message: HOSTILE },
        }),
      );
      await h.drainDispatch();

      const sent = slack.requests.filter((r) => r.body.includes('bot-hostile'));
      expect(sent.map((r) => r.call)).toEqual(['chat.postMessage', 'chat.update', 'chat.postMessage']);
      for (const request of sent) assertInert(request);
    });

    it('links nothing from an event but http(s) URLs', async () => {
      await ingest(
        nativeEvent('sl-31', 'succeeded', { service: 'bot-links', url: 'https://ci.example.com/runs/7' }),
      );
      await h.drainDispatch();

      const body = callsOf('bot-links', 'chat.postMessage')[0]?.body ?? '';
      expect(body).toContain('<https://ci.example.com/runs/7|Open deployment>');
    });
  });

  describe('incoming webhook', () => {
    const hookPath = `/services/T0TEST/B0TEST/${HOOK_KEY}`;

    it('posts a message per transition with the same blocks, and keeps no ids', async () => {
      const started = nativeEvent('sl-40', 'in_progress', { service: 'hook-forty' });
      await ingest(started);
      await h.drainDispatch();
      await ingest(nativeEvent('sl-40', 'succeeded', { service: 'hook-forty' }));
      await h.drainDispatch();

      const posts = callsOf('hook-forty', `webhook:${hookPath}`);
      expect(posts).toHaveLength(2);
      expect(posts[1]?.headers.authorization).toBeUndefined();
      const body = posts[1]?.json<Body>();
      expect(Object.keys(body ?? {}).sort()).toEqual([
        'blocks',
        'mrkdwn',
        'text',
        'unfurl_links',
        'unfurl_media',
      ]);
      expect(JSON.stringify(body?.blocks)).toContain('succeeded');
      expect(limiterTakes.filter(([key]) => key.startsWith('slack:webhook:'))).toEqual([
        ['slack:webhook:slack-hook-url', 1, 1],
        ['slack:webhook:slack-hook-url', 1, 1],
      ]);
      expect((await h.store.getDelivery(started.deploymentId, 'hook'))?.refs).toBeUndefined();
    });

    it.each([
      [404, 'channel_not_found'],
      [410, 'channel_is_archived'],
      [403, 'action_prohibited'],
      [400, 'invalid_payload'],
    ])('fails permanently on %i %s, never showing the webhook URL', async (status, reason) => {
      const started = nativeEvent(`sl-41-${status}`, 'in_progress', { service: `hook-err-${status}` });
      await ingest(started);
      slack.script(`webhook:${hookPath}`, { status, headers: { 'content-type': 'text/html' }, body: reason });

      await h.drainDispatch();

      const delivery = await h.store.getDelivery(started.deploymentId, 'hook');
      expect(delivery).toMatchObject({ state: 'failed' });
      expect(delivery?.lastError).toBe(`Slack incoming webhook answered ${status}: ${reason}`);
      expect(JSON.stringify(delivery)).not.toContain(HOOK_KEY);
      expect(h.logs.lines.join('\n')).not.toContain(HOOK_KEY);
    });

    it('retries a 5xx or a 429 through the queue, after Retry-After when given', async () => {
      const started = nativeEvent('sl-42', 'in_progress', { service: 'hook-fortytwo' });
      await ingest(started);
      slack.script(`webhook:${hookPath}`, {
        status: 429,
        headers: { 'retry-after': '9' },
        body: 'rate_limited',
      });
      await h.drainDispatch();
      await redeliver(started, 1, 'hook');
      slack.script(`webhook:${hookPath}`, { status: 503, body: 'service unavailable' });
      await h.drainDispatch();

      expect(retryDelays[0]).toBe(9);
      const delivery = await h.store.getDelivery(started.deploymentId, 'hook');
      expect(delivery).toMatchObject({ state: 'retrying' });
      expect(delivery?.lastError).toBe('Slack incoming webhook answered 503: service unavailable');
      expect(h.logs.lines.join('\n')).not.toContain(HOOK_KEY);
    });
  });

  describe('config', () => {
    const config = (target: Record<string, unknown>) => ({
      api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
      targets: { s: { type: 'slack', ...target } },
      routes: [{ targets: ['s'] }],
    });
    const issues = (target: Record<string, unknown>) => {
      try {
        parseConfig(config(target), 'test');
      } catch (error) {
        if (error instanceof ConfigError) return error.issues;
        throw error;
      }
      return [];
    };

    it('infers the mode from which secret is named and grants that secret', () => {
      expect(referencedSecrets(parseConfig(config({ token: 'slack-bot', channel: 'C1' }), 'test'))).toContain(
        'slack-bot',
      );
      expect(referencedSecrets(parseConfig(config({ webhookUrl: 'slack-hook' }), 'test'))).toContain(
        'slack-hook',
      );
    });

    it('asks for a mode when both a token and a webhook URL are named', () => {
      expect(issues({ token: 'a', channel: 'C1', webhookUrl: 'b' })).toEqual([
        expect.objectContaining({ path: 'targets.s.mode' }),
      ]);
    });

    it('requires a channel in bot mode and refuses one in webhook mode', () => {
      expect(issues({ token: 'a' })).toEqual([expect.objectContaining({ path: 'targets.s.channel' })]);
      expect(issues({ webhookUrl: 'b', channel: 'C1' })).toEqual([
        expect.objectContaining({ path: 'targets.s.channel' }),
      ]);
    });

    it('refuses a webhook URL written into the config instead of a secret name', () => {
      expect(issues({ webhookUrl: 'https://hooks.slack.com/services/T0/B0/x' })).toEqual([
        expect.objectContaining({ path: 'targets.s.webhookUrl' }),
      ]);
    });
  });

  describe('rendering', () => {
    it.each(['started', 'succeeded', 'failed', 'rolled-back'] as const)(
      'renders the %s message as in its snapshot',
      async (kind) => {
        const { deployment, transition } = chatFixture(kind);
        const message = slackMessage(chatView(deployment, transition));
        await expect(`${JSON.stringify(message, null, 2)}\n`).toMatchFileSnapshot(
          `./__snapshots__/slack/${kind}.json`,
        );
      },
    );
  });
});

/** Asserts a request Shipcast sent to Slack carries nothing from the event as active markup. */
function assertInert(request: SlackRequest): void {
  expect(request.body).not.toMatch(/[\u202a-\u202e\u2066-\u2069\u200b]/);
  expect(request.body).not.toContain('javascript:');
  const body = request.json<{ text: string; blocks: Body[]; parse?: string; link_names?: boolean }>();
  if (request.call.startsWith('chat.')) {
    expect(body).toMatchObject({ parse: 'none', link_names: false, mrkdwn: false });
  }
  // The fallback text: escaped, no mention.
  expect(body.text).not.toMatch(/[<>]/);
  expect(body.text).not.toMatch(/@[\p{L}\p{N}]/u);
  for (const object of textObjects(body.blocks)) {
    expect(object.text).not.toMatch(/@[\p{L}\p{N}]/u);
    if (object.type === 'plain_text') {
      // Never parsed; and no `<` that could start a control sequence anyway.
      expect(object.text).not.toMatch(/<(?!\u2060)/);
      continue;
    }
    expect(object.verbatim).toBe(true);
    const spans = object.text.match(/`[^`]*`/g) ?? [];
    for (const span of spans) expect(span.slice(1, -1)).not.toMatch(/[<>`]/);
    // Outside code spans only Shipcast's own labels and links remain.
    const outside = object.text.replace(/`[^`]*`/g, '');
    expect(outside).not.toMatch(/evil|bold|_x_|\[click\]|<b>|<!|<@/);
    for (const link of outside.match(/<[^>]*>/g) ?? []) {
      expect(link).toMatch(/^<https:\/\/github\.com\/acme\/checkout\/commit\/[^|>]+\|[A-Za-z0-9 ]+>$/);
    }
  }
}

function textObjects(blocks: Body[]): TextObject[] {
  const out: TextObject[] = [];
  for (const block of blocks) {
    if (block.text) out.push(block.text as TextObject);
    for (const field of (block.fields as TextObject[] | undefined) ?? []) out.push(field);
    for (const element of (block.elements as TextObject[] | undefined) ?? []) out.push(element);
  }
  return out;
}
