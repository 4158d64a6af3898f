import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { chatView } from '../../functions/core/chat/view.ts';
import { parseConfig } from '../../functions/core/config.ts';
import { ConfigError, RetryableDeliveryError } from '../../functions/core/errors.ts';
import { HttpClient, redactUrl } from '../../functions/core/http-client.ts';
import { ingestEvent } from '../../functions/core/ingest.ts';
import type { DeploymentEvent } from '../../functions/core/schema.ts';
import type { TargetContext } from '../../functions/core/targets/target.ts';
import { type TelegramConfig, telegramConfigSchema } from '../../functions/core/targets/telegram.schema.ts';
import { renderTelegramText, telegramTarget } from '../../functions/core/targets/telegram.ts';
import { createLogger, registerSecret } from '../../functions/core/telemetry.ts';
import { nativeEvent } from '../support/events.ts';
import { createHarness, type Harness, recordingRetries, TestClock } from '../support/harness.ts';
import { parseHtml, startTelegramServer, type TelegramServer } from '../support/telegram-server.ts';
import { fixedDeployment, hostileDeployment } from '../support/telegram-zulip-fixtures.ts';

const TOKEN = '7351908426:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0';
const REVOKED = '6120457733:AAEr0kedT0kenN0L0ngerValid_x9Qp2Lm4Z';
const CHAT = '-1001234567890';

type Body = Record<string, unknown>;

describe('telegram target', () => {
  let h: Harness;
  let tg: TelegramServer;
  const retryDelays: number[] = [];
  const takes: Array<[string, number, number]> = [];

  beforeAll(async () => {
    tg = await startTelegramServer({ tokens: [TOKEN], chats: [CHAT, '@shipcast_deploys'] });
    h = await createHarness({
      maxReceives: 5,
      http: new HttpClient({ timeoutMs: 10_000 }),
      // The real limiter's one-second windows follow the wall clock; this one records and lets everything go.
      limiter: () => ({
        take: async (key, limit, windowSeconds) => {
          takes.push([key, limit, windowSeconds]);
          return 0;
        },
      }),
      queue: recordingRetries(retryDelays),
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: {
          tg: {
            type: 'telegram',
            token: 'telegram-token',
            chatId: Number(CHAT),
            messageThreadId: 7,
            baseUrl: tg.url,
            message: { title: 'Target title: {{service}}' },
          },
          tgPlain: {
            type: 'telegram',
            token: 'telegram-token',
            chatId: '@shipcast_deploys',
            baseUrl: tg.url,
          },
          tgMissing: { type: 'telegram', token: 'telegram-token', chatId: '@no_such_chat', baseUrl: tg.url },
          tgRevoked: { type: 'telegram', token: 'telegram-revoked', chatId: CHAT, baseUrl: tg.url },
          tgDown: { type: 'telegram', token: 'telegram-token', chatId: CHAT, baseUrl: 'http://127.0.0.1:1' },
        },
        routes: [
          { match: { service: 'tg-*' }, targets: ['tg'] },
          { match: { service: 'plain-*' }, targets: ['tgPlain'] },
          {
            match: { service: 'routed-*' },
            targets: ['tgPlain'],
            message: { title: '<i>Route</i> {{version}}' },
          },
          { match: { service: 'missing-*' }, targets: ['tgMissing'] },
          { match: { service: 'revoked-*' }, targets: ['tgRevoked'] },
          { match: { service: 'down-*' }, targets: ['tgDown'] },
        ],
        dispatch: { maxReceives: 5 },
      },
    });
    writeFileSync(join(h.secretsDir, 'telegram-token'), TOKEN);
    writeFileSync(join(h.secretsDir, 'telegram-revoked'), REVOKED);
  });
  afterAll(async () => {
    await h.stop();
    await tg.stop();
  });
  beforeEach(() => {
    retryDelays.length = 0;
  });

  const event = (id: string, status: DeploymentEvent['status'], extra: Partial<DeploymentEvent> = {}) =>
    nativeEvent(id, status, { service: id, version: '1.4.2', ...extra });
  const sends = (service: string) =>
    tg.calls('sendMessage').filter((b) => String(b.text).includes(`<b>Service:</b> ${service}\n`));
  const editsOf = (messageId: unknown) =>
    tg.calls('editMessageText').filter((b) => b.message_id === messageId);
  const messageIdOf = async (deploymentId: string, target: string) =>
    Number((await h.store.getDelivery(deploymentId, target))?.refs?.messageId);

  it('posts one message on the first transition and edits it in place on later ones', async () => {
    const started = event('tg-flow', 'in_progress');
    await ingestEvent(started, h.runtime.ingest);
    await h.drainDispatch();
    await ingestEvent(event('tg-flow', 'succeeded'), h.runtime.ingest);
    await h.drainDispatch();

    const [post, ...more] = sends('tg-flow');
    expect(more).toHaveLength(0);
    expect(post).toMatchObject({
      chat_id: Number(CHAT),
      message_thread_id: 7,
      parse_mode: 'HTML',
      link_preview_options: { is_disabled: true },
    });
    const id = await messageIdOf(started.deploymentId, 'tg');
    const edits = editsOf(id);
    expect(edits).toHaveLength(1);
    expect(edits[0]).toMatchObject({
      chat_id: Number(CHAT),
      message_id: id,
      parse_mode: 'HTML',
      link_preview_options: { is_disabled: true },
    });
    expect(edits[0]).not.toHaveProperty('message_thread_id');
    expect(tg.messages.get(id)?.text).toContain('✅ succeeded');
    expect(await h.store.getDelivery(started.deploymentId, 'tg')).toMatchObject({
      deliveredSeq: 2,
      state: 'delivered',
      refs: { messageId: String(id), chatId: CHAT },
    });
    expect(takes).toContainEqual([`telegram:${CHAT}`, 1, 1]);
  });

  it('keeps the message id when an edit fails and edits again on the retry instead of posting', async () => {
    const started = event('tg-retry', 'in_progress');
    await ingestEvent(started, h.runtime.ingest);
    await h.drainDispatch();
    const id = await messageIdOf(started.deploymentId, 'tg');

    tg.script({ status: 502, body: { ok: false, error_code: 502, description: 'Bad Gateway' } });
    await ingestEvent(event('tg-retry', 'failed'), h.runtime.ingest);
    await h.drainDispatch();
    const failedOnce = await h.store.getDelivery(started.deploymentId, 'tg');
    expect(failedOnce).toMatchObject({ state: 'retrying', deliveredSeq: 1, refs: { messageId: String(id) } });

    // The queue hands the message out again later; here it is sent again at once.
    await h.queue.enqueue([{ v: 1, deploymentId: started.deploymentId, seq: 2, target: 'tg' }]);
    await h.drainDispatch();

    expect(sends('tg-retry')).toHaveLength(1);
    expect(editsOf(id)).toHaveLength(2);
    expect(tg.messages.get(id)?.text).toContain('❌ failed');
    expect(await h.store.getDelivery(started.deploymentId, 'tg')).toMatchObject({
      state: 'delivered',
      deliveredSeq: 2,
      refs: { messageId: String(id) },
    });
  });

  it('counts Telegram\'s "message is not modified" answer as delivered', async () => {
    const started = event('tg-same', 'in_progress');
    await ingestEvent(started, h.runtime.ingest);
    await h.drainDispatch();
    tg.script({
      status: 400,
      body: {
        ok: false,
        error_code: 400,
        description:
          'Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message',
      },
    });

    await ingestEvent(event('tg-same', 'succeeded'), h.runtime.ingest);
    await h.drainDispatch();

    expect(sends('tg-same')).toHaveLength(1);
    expect(await h.store.getDelivery(started.deploymentId, 'tg')).toMatchObject({
      state: 'delivered',
      deliveredSeq: 2,
    });
    expect(await h.dlqDepth()).toBe(0);
  });

  it('posts a new message once when the one to edit was deleted, then keeps editing the new one', async () => {
    const queued = event('tg-deleted', 'queued');
    await ingestEvent(queued, h.runtime.ingest);
    await h.drainDispatch();
    const first = await messageIdOf(queued.deploymentId, 'tg');
    tg.messages.delete(first);

    await ingestEvent(event('tg-deleted', 'in_progress'), h.runtime.ingest);
    await h.drainDispatch();
    const second = await messageIdOf(queued.deploymentId, 'tg');
    await ingestEvent(event('tg-deleted', 'succeeded'), h.runtime.ingest);
    await h.drainDispatch();

    expect(second).not.toBe(first);
    expect(sends('tg-deleted')).toHaveLength(2);
    expect(editsOf(second)).toHaveLength(1);
    expect(tg.messages.get(second)?.text).toContain('✅ succeeded');
  });

  it("waits through the queue for as long as Telegram's parameters.retry_after says", async () => {
    const started = event('plain-limited', 'in_progress');
    await ingestEvent(started, h.runtime.ingest);
    tg.rateLimitNext(1, 7);

    await h.drainDispatch();

    expect(retryDelays).toEqual([7]);
    const delivery = await h.store.getDelivery(started.deploymentId, 'tgPlain');
    expect(delivery).toMatchObject({ state: 'retrying', deliveredSeq: 0 });
    expect(delivery?.lastError).toContain('Too Many Requests: retry after 7');
    expect([...tg.messages.values()].filter((m) => m.text.includes('plain-limited'))).toHaveLength(0);
  });

  it("fails permanently with Telegram's own reason when the chat does not exist", async () => {
    const started = event('missing-chat', 'in_progress');
    await ingestEvent(started, h.runtime.ingest);
    const dlqBefore = await h.dlqDepth();

    await h.drainDispatch();

    const delivery = await h.store.getDelivery(started.deploymentId, 'tgMissing');
    expect(delivery).toMatchObject({ state: 'failed', deliveredSeq: 0 });
    expect(delivery?.lastError).toBe('Telegram sendMessage failed (400): Bad Request: chat not found');
    expect(await h.dlqDepth()).toBe(dlqBefore + 1);
  });

  it('never lets the bot token (part of the URL path) reach logs, errors or the stored delivery', async () => {
    const revoked = event('revoked-token', 'in_progress');
    const down = event('down-api', 'in_progress');
    await ingestEvent(revoked, h.runtime.ingest);
    await ingestEvent(down, h.runtime.ingest);

    await h.drainDispatch();

    const failed = await h.store.getDelivery(revoked.deploymentId, 'tgRevoked');
    expect(failed?.lastError).toBe('Telegram sendMessage failed (401): Unauthorized');
    const unreachable = await h.store.getDelivery(down.deploymentId, 'tgDown');
    expect(unreachable?.state).toBe('retrying');
    expect(unreachable?.lastError).toContain('POST http://127.0.0.1:1/bot****/sendMessage failed');
    const everything = [...h.logs.lines, JSON.stringify(failed), JSON.stringify(unreachable)].join('\n');
    for (const secret of [TOKEN, REVOKED, TOKEN.split(':')[1], REVOKED.split(':')[1]]) {
      expect(everything).not.toContain(secret);
    }
    // Even a token no secret source registered is cut from URLs in errors (long path segments).
    expect(
      redactUrl('https://api.telegram.org/bot1234567890:AAUnregisteredTokenValue0123456789/sendMessage'),
    ).toBe('https://api.telegram.org/bot1…/sendMessage');
  });

  it("prefers the route's title template to the target's own, escaping the event's values", async () => {
    await ingestEvent(event('routed-one', 'in_progress', { version: '<b>2.0</b>' }), h.runtime.ingest);
    await ingestEvent(event('tg-own-template', 'in_progress'), h.runtime.ingest);

    await h.drainDispatch();

    const routed = tg.calls('sendMessage').find((b) => String(b.text).includes('routed-one'));
    expect(String(routed?.text).split('\n')[0]).toBe('<b><i>Route</i> &lt;b&gt;2.0&lt;/b&gt;</b>');
    const own = sends('tg-own-template')[0];
    expect(String(own?.text).split('\n')[0]).toBe('<b>Target title: tg-own-template</b>');
  });

  describe('sent directly', () => {
    let clock: TestClock;
    beforeAll(() => {
      clock = new TestClock();
      registerSecret(TOKEN);
    });

    const contextFor = (
      config: Record<string, unknown>,
      extra: Partial<TargetContext<TelegramConfig>> = {},
    ): TargetContext<TelegramConfig> => ({
      name: 'chat',
      config: telegramConfigSchema.parse({
        type: 'telegram',
        token: 'tok',
        chatId: CHAT,
        baseUrl: tg.url,
        ...config,
      }),
      http: new HttpClient({ timeoutMs: 10_000 }),
      secrets: { get: async () => TOKEN, invalidate: () => {} },
      logger: createLogger('telegram-test'),
      clock,
      limiter: { take: async () => 0 },
      deliveryOf: async () => undefined,
      ...extra,
    });

    for (const moment of ['started', 'succeeded', 'failed', 'rolled-back'] as const) {
      it(`sends the ${moment} message as in its snapshot`, async () => {
        const before = tg.requests.length;
        await telegramTarget.send(fixedDeployment(moment), contextFor({}));
        const body = tg.requests[before]?.json<Body>();
        await expect(`${JSON.stringify(body, null, 2)}\n`).toMatchFileSnapshot(
          `__snapshots__/telegram/${moment}.json.txt`,
        );
      });
    }

    it('leaves no active markup, mention, spoofed link or hidden character from hostile event text', async () => {
      const before = tg.requests.length;
      await telegramTarget.send(hostileDeployment(), contextFor({}));
      const text = String(tg.requests[before]?.json<Body>().text);

      // Telegram (the fake parses like it) accepted it: every tag is one of Shipcast's own.
      expect('text' in parseHtml(text)).toBe(true);
      const tags = text.match(/<[^>]*>/g) ?? [];
      for (const tag of tags)
        expect(tag).toMatch(
          /^<\/?(b|i|code|a)>$|^<a href="https:\/\/github\.com\/acme\/checkout\/commit\/[0-9a-f]{40}">$/,
        );
      expect(text).not.toContain('<a href="https://evil');
      expect(text).not.toContain('href="javascript');
      // Every @ is followed by a word joiner, so no platform reads a mention.
      expect(text).not.toMatch(/@[^\u2060]/u);
      expect(text).not.toMatch(/[\u200b\u202a-\u202e\u2066-\u2069]/u);
      // The reader still sees what was written, as text.
      expect(text).toContain('&lt;b&gt;x&lt;/b&gt;');
      expect(text).toContain('&lt;a href="https://evil.example"&gt;docs&lt;/a&gt;');
      expect(text).toContain('[1.4.2](https://evil.example/phish)');
      expect(text).not.toContain('Open deployment');
    });

    it('waits through the queue, sending nothing, when the chat already had its message this second', async () => {
      const before = tg.requests.length;
      const asked: Array<[string, number, number]> = [];
      const sending = telegramTarget.send(
        fixedDeployment('started'),
        contextFor(
          {},
          {
            limiter: {
              take: async (key, limit, window) => {
                asked.push([key, limit, window]);
                return 1;
              },
            },
          },
        ),
      );

      await expect(sending).rejects.toBeInstanceOf(RetryableDeliveryError);
      await expect(sending).rejects.toMatchObject({ retryAfterSeconds: 1 });
      expect(asked).toEqual([[`telegram:${CHAT}`, 1, 1]]);
      expect(tg.requests.length).toBe(before);
    });

    it('cuts event values until the visible text fits 4096 characters', () => {
      const { deployment, transition } = fixedDeployment('failed');
      const long = 'x'.repeat(1900);
      const view = chatView({ ...deployment, url: `https://ci.example.com/${long}` }, transition);

      const text = renderTelegramText(view, { text: `{{url}} {{description}} `.repeat(40) });

      const parsed = parseHtml(text);
      expect('text' in parsed && parsed.text.length).toBeLessThanOrEqual(4096);
      expect(text).toContain('https://ci.example.com/xxx');
    });
  });

  it('rejects a plain-http API URL to another host and a chat id that is neither numeric nor @name', () => {
    const config = (target: Record<string, unknown>) => () =>
      parseConfig(
        {
          api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
          targets: { t: { type: 'telegram', token: 'tok', chatId: CHAT, ...target } },
          routes: [{ targets: ['t'] }],
        },
        't',
      );

    expect(config({ baseUrl: 'http://api.example.com' })).toThrow(
      /targets\.t\.baseUrl: must be an https URL/,
    );
    expect(config({ chatId: 'deploys' })).toThrow(ConfigError);
    expect(config({ chatId: 'deploys' })).toThrow(/targets\.t\.chatId/);
    expect(config({})).not.toThrow();
  });
});
