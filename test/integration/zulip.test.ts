import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { chatView } from '../../functions/core/chat/view.ts';
import { parseConfig } from '../../functions/core/config.ts';
import { HttpClient } from '../../functions/core/http-client.ts';
import { ingestEvent } from '../../functions/core/ingest.ts';
import type { DeploymentEvent } from '../../functions/core/schema.ts';
import type { TargetContext } from '../../functions/core/targets/target.ts';
import { type ZulipConfig, zulipConfigSchema } from '../../functions/core/targets/zulip.schema.ts';
import { renderZulipContent, renderZulipTopic, zulipTarget } from '../../functions/core/targets/zulip.ts';
import { createLogger } from '../../functions/core/telemetry.ts';
import { nativeEvent } from '../support/events.ts';
import { createHarness, type Harness, recordingRetries, TestClock } from '../support/harness.ts';
import { fixedDeployment, HOSTILE, hostileDeployment } from '../support/telegram-zulip-fixtures.ts';
import { startZulipServer, type ZulipServer } from '../support/zulip-server.ts';

const EMAIL = 'shipcast-bot@chat.example.com';
const API_KEY = 'zk9QeT3vLmW7xRp2NsYb4HcJ8dFgA1uE';
const WRONG_KEY = 'zkWrongKey000000000000000000000000';

/** Zulip's own patterns that make text active, run before any entity is decoded (zerver/lib/mention.py, markdown). */
const ZULIP_ACTIVE = [
  /(?<![^\s'"(,:<])@_?\*\*[^*]+\*\*/, // user and wildcard mentions, silent ones too
  /(?<![^\s'"(,:<])@_?\*[^*]+\*/, // user group mentions
  /#\*\*[^*]+\*\*/, // channel and topic links
  /\$\$[^$\n]+\$\$/, // TeX
  /<time:[^>]*>/, // timestamps
  /\[[^\]]*\]\([^)]*\)/, // links
  /https?:\/\//, // auto-linked URLs
  /\b[\w-]+\.(com|example)\b/, // auto-linked bare domains
  /`[^`]+`/, // code
  /~~[^~]+~~/, // strikethrough
  /\*[^*\n]+\*/, // emphasis and strong
  /:[\w+-]+:/, // emoji
];

describe('zulip target', () => {
  let h: Harness;
  let zulip: ZulipServer;
  const retryDelays: number[] = [];

  beforeAll(async () => {
    zulip = await startZulipServer({ users: { [EMAIL]: API_KEY }, streams: ['deploys', 'ops'] });
    h = await createHarness({
      maxReceives: 5,
      http: new HttpClient({ timeoutMs: 10_000 }),
      queue: recordingRetries(retryDelays),
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: {
          zl: { type: 'zulip', site: zulip.url, email: EMAIL, apiKey: 'zulip-key', stream: 'deploys' },
          zlChannel: {
            type: 'zulip',
            site: `${zulip.url}/`,
            email: EMAIL,
            apiKey: 'zulip-key',
            stream: 'ops',
            messageType: 'channel',
            topic: 'deploys of {{service}} in {{environment}}, by {{actor}} (long enough to be cut)',
          },
          zlMissing: { type: 'zulip', site: zulip.url, email: EMAIL, apiKey: 'zulip-key', stream: 'nope' },
          zlWrongKey: {
            type: 'zulip',
            site: zulip.url,
            email: EMAIL,
            apiKey: 'zulip-wrong',
            stream: 'deploys',
          },
        },
        routes: [
          { match: { service: 'zl-*' }, targets: ['zl'] },
          { match: { service: 'channel-*' }, targets: ['zlChannel'] },
          { match: { service: 'missing-*' }, targets: ['zlMissing'] },
          { match: { service: 'wrongkey-*' }, targets: ['zlWrongKey'] },
        ],
        dispatch: { maxReceives: 5 },
      },
    });
    writeFileSync(join(h.secretsDir, 'zulip-key'), API_KEY);
    writeFileSync(join(h.secretsDir, 'zulip-wrong'), WRONG_KEY);
  });
  afterAll(async () => {
    await h.stop();
    await zulip.stop();
  });
  beforeEach(() => {
    retryDelays.length = 0;
    zulip.refuseEdits = false;
  });

  const event = (id: string, status: DeploymentEvent['status'], extra: Partial<DeploymentEvent> = {}) =>
    nativeEvent(id, status, { service: id, version: '1.4.2', actor: 'alice', ...extra });
  const posts = (service: string) =>
    zulip.calls('POST').filter((f) => (f.content ?? '').includes(`**Service:** ${escaped(service)}\n`));
  const escaped = (text: string) => text.replace(/[-.]/g, (c) => `&#${c.charCodeAt(0)};`);
  const idOf = async (deploymentId: string, target: string) =>
    Number((await h.store.getDelivery(deploymentId, target))?.refs?.messageId);

  it('posts one message in the service/environment topic, then edits its content on later transitions', async () => {
    const started = event('zl-flow', 'in_progress');
    await ingestEvent(started, h.runtime.ingest);
    await h.drainDispatch();
    await ingestEvent(event('zl-flow', 'succeeded'), h.runtime.ingest);
    await h.drainDispatch();

    const [post, ...more] = posts('zl-flow');
    expect(more).toHaveLength(0);
    expect(post).toMatchObject({ type: 'stream', to: 'deploys', topic: 'zl-flow / production' });
    const sent = zulip.requests.find((r) => r.method === 'POST' && r.body.includes('zl-flow'));
    expect(sent?.headers.authorization).toBe(
      `Basic ${Buffer.from(`${EMAIL}:${API_KEY}`).toString('base64')}`,
    );
    const id = await idOf(started.deploymentId, 'zl');
    const message = zulip.messages.get(id);
    expect(message?.edits).toBe(1);
    expect(message?.content).toContain('**Status:** ✅ succeeded');
    const edit = zulip.requests.find((r) => r.method === 'PATCH' && r.path === `/api/v1/messages/${id}`);
    expect(Object.keys(Object.fromEntries(new URLSearchParams(edit?.body)))).toEqual(['content']);
    expect(await h.store.getDelivery(started.deploymentId, 'zl')).toMatchObject({
      deliveredSeq: 2,
      state: 'delivered',
      refs: { messageId: String(id) },
    });
  });

  it('keeps the message id when an edit fails for a while and edits again on the retry instead of posting', async () => {
    const started = event('zl-retry', 'in_progress');
    await ingestEvent(started, h.runtime.ingest);
    await h.drainDispatch();
    const id = await idOf(started.deploymentId, 'zl');

    zulip.script({ status: 503, body: { result: 'error', msg: 'Service unavailable' } });
    await ingestEvent(event('zl-retry', 'failed'), h.runtime.ingest);
    await h.drainDispatch();
    expect(await h.store.getDelivery(started.deploymentId, 'zl')).toMatchObject({
      state: 'retrying',
      deliveredSeq: 1,
      refs: { messageId: String(id) },
    });

    await h.queue.enqueue([{ v: 1, deploymentId: started.deploymentId, seq: 2, target: 'zl' }]);
    await h.drainDispatch();

    expect(posts('zl-retry')).toHaveLength(1);
    expect(
      zulip.requests.filter((r) => r.method === 'PATCH' && r.path === `/api/v1/messages/${id}`),
    ).toHaveLength(2);
    expect(zulip.messages.get(id)?.content).toContain('**Status:** ❌ failed');
  });

  it('posts the outcome once as a new message when Zulip refuses the edit (edit time limit passed)', async () => {
    const started = event('zl-refused', 'in_progress');
    await ingestEvent(started, h.runtime.ingest);
    await h.drainDispatch();
    const first = await idOf(started.deploymentId, 'zl');
    zulip.refuseEdits = true;

    await ingestEvent(event('zl-refused', 'succeeded'), h.runtime.ingest);
    await h.drainDispatch();

    const second = await idOf(started.deploymentId, 'zl');
    expect(second).not.toBe(first);
    expect(posts('zl-refused')).toHaveLength(2);
    expect(zulip.messages.get(second)?.content).toContain('**Status:** ✅ succeeded');
    expect(await h.store.getDelivery(started.deploymentId, 'zl')).toMatchObject({ state: 'delivered' });
    const warning = h.logs
      .entries()
      .find((e) => e.message === 'Zulip refused to edit the message; posting a new one');
    expect(warning?.reason).toBe('The time limit for editing this message has passed [BAD_REQUEST]');
  });

  it('waits through the queue as long as Retry-After says, or the body\'s "retry-after" without the header', async () => {
    const withHeader = event('zl-limited', 'in_progress');
    await ingestEvent(withHeader, h.runtime.ingest);
    zulip.rateLimitNext(1, 12);
    await h.drainDispatch();
    const bodyOnly = event('zl-limited-body', 'in_progress');
    await ingestEvent(bodyOnly, h.runtime.ingest);
    zulip.rateLimitNext(1, 9, { header: false });
    await h.drainDispatch();

    expect(retryDelays).toEqual([12, 9]);
    const delivery = await h.store.getDelivery(withHeader.deploymentId, 'zl');
    expect(delivery).toMatchObject({ state: 'retrying', deliveredSeq: 0 });
    expect(delivery?.lastError).toBe(
      'Zulip send was rate limited: API usage exceeded rate limit [RATE_LIMIT_HIT]; retrying in 12s',
    );
  });

  it("fails permanently with Zulip's own reason when the stream does not exist", async () => {
    const started = event('missing-stream', 'in_progress');
    await ingestEvent(started, h.runtime.ingest);
    const dlqBefore = await h.dlqDepth();

    await h.drainDispatch();

    const delivery = await h.store.getDelivery(started.deploymentId, 'zlMissing');
    expect(delivery).toMatchObject({ state: 'failed', deliveredSeq: 0 });
    expect(delivery?.lastError).toBe(
      "Zulip send failed: Channel 'nope' does not exist [STREAM_DOES_NOT_EXIST]",
    );
    expect(await h.dlqDepth()).toBe(dlqBefore + 1);
  });

  it('never lets the API key reach logs, errors or the stored delivery', async () => {
    const started = event('wrongkey-one', 'in_progress');
    await ingestEvent(started, h.runtime.ingest);

    await h.drainDispatch();

    const delivery = await h.store.getDelivery(started.deploymentId, 'zlWrongKey');
    expect(delivery?.lastError).toBe('Zulip send failed (401): Invalid API key [UNAUTHORIZED]');
    const everything = [...h.logs.lines, JSON.stringify(delivery)].join('\n');
    expect(everything).not.toContain(WRONG_KEY);
    expect(everything).not.toContain(API_KEY);
    expect(everything).not.toContain(Buffer.from(`${EMAIL}:${WRONG_KEY}`).toString('base64'));
  });

  it('uses the channel type and a topic template cut to 60 characters', async () => {
    await ingestEvent(event('channel-topic', 'in_progress'), h.runtime.ingest);

    await h.drainDispatch();

    const post = zulip.calls('POST').find((f) => f.to === 'ops');
    expect(post?.type).toBe('channel');
    expect(post?.topic).toBe('deploys of channel-topic in production, by alice (long enou…');
    expect([...(post?.topic ?? '')]).toHaveLength(60);
  });

  describe('sent directly', () => {
    const contextFor = (extra: Partial<TargetContext<ZulipConfig>> = {}): TargetContext<ZulipConfig> => ({
      name: 'chat',
      config: zulipConfigSchema.parse({
        type: 'zulip',
        site: zulip.url,
        email: EMAIL,
        apiKey: 'zulip-key',
        stream: 'deploys',
      }),
      http: new HttpClient({ timeoutMs: 10_000 }),
      secrets: { get: async () => API_KEY, invalidate: () => {} },
      logger: createLogger('zulip-test'),
      clock: new TestClock(),
      limiter: { take: async () => 0 },
      deliveryOf: async () => undefined,
      ...extra,
    });

    for (const moment of ['started', 'succeeded', 'failed', 'rolled-back'] as const) {
      it(`sends the ${moment} message as in its snapshot`, async () => {
        const before = zulip.requests.length;
        await zulipTarget.send(fixedDeployment(moment), contextFor());
        const fields = Object.fromEntries(new URLSearchParams(zulip.requests[before]?.body));
        await expect(`${JSON.stringify(fields, null, 2)}\n\n${fields.content}\n`).toMatchFileSnapshot(
          `__snapshots__/zulip/${moment}.txt`,
        );
      });
    }

    it('leaves no mention, markup, spoofed link or hidden character from hostile event text', async () => {
      const before = zulip.requests.length;
      await zulipTarget.send(hostileDeployment(), contextFor());
      const { content = '', topic = '' } = Object.fromEntries(
        new URLSearchParams(zulip.requests[before]?.body),
      );

      // Without Shipcast's own layout (bold labels, the quote, the commit link), nothing Zulip acts on is left.
      const own = content
        .replace(/^\*\*(.*)\*\*$/m, '$1')
        .replace(/^> \*\*[A-Za-z]+:\*\* /gm, '')
        .replace(/\[3f9c2e1\]\(https:\/\/github\.com\/acme\/checkout\/commit\/[0-9a-f]{40}\)/, '');
      for (const pattern of ZULIP_ACTIVE) expect(own).not.toMatch(pattern);
      expect(own.replace(/&#\d+;/g, '')).not.toMatch(/[@*_`~$[\]()<>#|:]/);
      expect(content).not.toMatch(/[\u200b\u202a-\u202e\u2066-\u2069]/u);
      expect(content).not.toContain('Open deployment');
      // The reader sees the words as written: the character references decode to them.
      const decoded = own.replace(/&#(\d+);/g, (_m, code: string) => String.fromCharCode(Number(code)));
      expect(decoded).toContain(
        '@**all** @*admins* @_**silent** <@U123> *bold* _x_ <b>x</b> [click](https://evil.example)',
      );
      expect(decoded).toContain('[1.4.2](https://evil.example/phish)');
      // The topic is plain text (Zulip does not render topics as Markdown), cleaned of hidden characters.
      expect(topic).toBe('checkout <b>@everyone</b> / prod @here');
    });

    it('keeps its own links free of characters Zulip would act on before the link', () => {
      const { deployment, transition } = fixedDeployment('started');
      const view = chatView(
        { ...deployment, url: 'https://ci.example.com/a,@**all**/$$x$$/`c`/(p)' },
        transition,
      );

      const content = renderZulipContent(view, {});

      expect(content).toContain(
        '> [Open deployment](https://ci.example.com/a,%40%2A%2Aall%2A%2A/%24%24x%24%24/%60c%60/%28p%29)',
      );
    });

    it('cuts event values until the content fits 10000 bytes, and an empty topic falls back', () => {
      const { deployment, transition } = fixedDeployment('failed');
      const view = chatView({ ...deployment, description: HOSTILE }, transition);

      const content = renderZulipContent(view, { text: '{{description}} {{error}} {{url}} '.repeat(28) });

      expect(Buffer.byteLength(content)).toBeLessThanOrEqual(10_000);
      expect(renderZulipTopic(view, '{{repository}}')).toBe('acme/checkout');
      expect(renderZulipTopic({ ...view, actor: '' }, '{{actor}}')).toBe('deployments');
    });
  });

  it('rejects a plain-http site other than localhost and an email that is not one', () => {
    const config = (target: Record<string, unknown>) => () =>
      parseConfig(
        {
          api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
          targets: {
            t: {
              type: 'zulip',
              site: 'https://chat.example.com',
              email: EMAIL,
              apiKey: 'k',
              stream: 'deploys',
              ...target,
            },
          },
          routes: [{ targets: ['t'] }],
        },
        't',
      );

    expect(config({ site: 'http://chat.example.com' })).toThrow(/targets\.t\.site: must be an https URL/);
    expect(config({ email: 'bot' })).toThrow(/targets\.t\.email/);
    expect(config({ topic: '{{nope}}' })).toThrow(/targets\.t\.topic: unknown placeholder \{\{nope\}\}/);
    expect(config({})).not.toThrow();
  });
});
