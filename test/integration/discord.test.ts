import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { chatView } from '../../functions/core/chat/view.ts';
import { ingestEvent } from '../../functions/core/ingest.ts';
import type { DeploymentEvent } from '../../functions/core/schema.ts';
import { chooseTemplates } from '../../functions/core/targets/chat-webhook.ts';
import { DISCORD_LIMITS, discordPayload } from '../../functions/core/targets/discord.ts';
import {
  hostileScenario,
  INVISIBLE,
  SCENARIOS,
  scenario,
  strings,
} from '../support/chat-webhook-fixtures.ts';
import { type DiscordServer, discordRateLimited, startDiscordServer } from '../support/discord-server.ts';
import { nativeEvent } from '../support/events.ts';
import { createHarness, type Harness, recordingRetries } from '../support/harness.ts';

type Embed = {
  title: string;
  description?: string;
  url?: string;
  color: number;
  fields: { name: string; value: string; inline: boolean }[];
  footer: { text: string };
};
type Body = { embeds: Embed[]; allowed_mentions: { parse: string[] } };

const render = (name: (typeof SCENARIOS)[number]) => {
  const { deployment, transition } = scenario(name);
  return discordPayload(
    chatView(deployment, transition),
    chooseTemplates(undefined, undefined),
    transition.at,
  );
};

/** Markdown links `[text](url)` Discord would render (not backslash-escaped). */
const activeLinks = (text: string) =>
  [...text.matchAll(/(?<!\\)\[(?:[^\]\\]|\\.)*(?<!\\)\]\(([^)]*)\)/g)].map((m) => m[1]);

const embedLength = (embed: Embed) =>
  embed.title.length +
  (embed.description?.length ?? 0) +
  embed.footer.text.length +
  embed.fields.reduce((sum, f) => sum + f.name.length + f.value.length, 0);

describe('discord target', () => {
  let h: Harness;
  let discord: DiscordServer;
  const retries: number[] = [];

  beforeAll(async () => {
    discord = await startDiscordServer();
    h = await createHarness({
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: { discord: { type: 'discord', webhookUrl: 'discord-webhook' } },
        routes: [{ targets: ['discord'] }],
      },
      queue: recordingRetries(retries),
    });
    writeFileSync(join(h.secretsDir, 'discord-webhook'), discord.webhookUrl);
  });
  afterAll(async () => {
    await h.stop();
    await discord.stop();
  });
  beforeEach(() => {
    discord.requests.length = 0;
    retries.length = 0;
  });

  const event = (id: string, status: DeploymentEvent['status']) =>
    nativeEvent(id, status, { version: '1.4.2' });
  const deliveryOf = (id: string) => h.store.getDelivery(event(id, 'queued').deploymentId, 'discord');
  const pathOf = (request: { path: string }) => new URL(request.path, 'http://x').pathname;

  it('posts the first transition with wait=true, keeps the message id, then edits that message in place', async () => {
    await ingestEvent(event('c1', 'in_progress'), h.runtime.ingest);
    await h.drainDispatch();
    await ingestEvent(event('c1', 'succeeded'), h.runtime.ingest);
    await h.drainDispatch();

    const [post, edit] = discord.requests;
    expect(discord.requests).toHaveLength(2);
    expect(post?.method).toBe('POST');
    expect(new URL(post?.path ?? '', 'http://x').searchParams.get('wait')).toBe('true');
    const delivery = await deliveryOf('c1');
    const messageId = delivery?.refs?.messageId as string;
    expect(messageId).toMatch(/^\d+$/);
    expect(edit?.method).toBe('PATCH');
    expect(pathOf(edit as { path: string })).toBe(
      `${pathOf(post as { path: string })}/messages/${messageId}`,
    );
    expect(discord.messages.get(messageId)?.edits).toBe(1);
    const embed = (discord.messages.get(messageId)?.body as Body | undefined)?.embeds[0];
    expect(embed?.title).toBe('✅ checkout 1\\.4\\.2 → production succeeded');
    expect(embed?.color).toBe(0x2eb67d);
    expect(edit?.json<Body>().allowed_mentions).toEqual({ parse: [] });
    expect(delivery).toMatchObject({ state: 'delivered', deliveredSeq: 2 });
  });

  it.each(SCENARIOS)('renders the %s embed as in its snapshot', async (name) => {
    await expect(`${JSON.stringify(render(name), null, 2)}\n`).toMatchFileSnapshot(
      `./__snapshots__/discord/${name}.json`,
    );
  });

  it('shows status, service, environment, version, linked commit, actor, duration, links and the error', () => {
    const embed = (render('failed') as Body).embeds[0] as Embed;
    expect(embed.fields.map((f) => f.name)).toEqual([
      'Status',
      'Service',
      'Environment',
      'Version',
      'Commit',
      'Actor',
      'Duration',
      'Links',
      'Error',
    ]);
    const field = (name: string) => embed.fields.find((f) => f.name === name)?.value;
    expect(field('Commit')).toBe(
      '[9fceb02](https://github.com/acme/checkout/commit/9fceb02d0ae598e95dc970b74767f19372d61af8)',
    );
    expect(field('Duration')).toBe('6m 17s');
    expect(field('Error')).toContain('HEALTH\\_CONSTRAINTS\\: The overall deployment failed');
    expect(embed.url).toBe('https://deploy.example.com/deployments/d-4F2KQ8ZX1');
  });

  it('renders hostile event text inert: no mention, markup, spoofed link, script URL or invisible character', () => {
    const { deployment, transition } = hostileScenario();
    const body = discordPayload(
      chatView(deployment, transition),
      chooseTemplates(undefined, undefined),
      transition.at,
    ) as Body;
    const serialized = JSON.stringify(body);
    const embed = body.embeds[0] as Embed;
    // The footer is plain text (Discord renders no markdown there) and Shipcast's own.
    const texts = strings([embed.title, embed.description, embed.fields]);

    expect(body.allowed_mentions).toEqual({ parse: [] });
    expect(serialized).not.toContain('javascript:');
    expect(serialized).not.toMatch(INVISIBLE);
    expect(body.embeds[0]?.url).toBeUndefined();
    for (const text of texts) {
      expect(text).not.toMatch(/@(?!\u2060)(channel|here|everyone)\b/);
      expect(text).not.toMatch(/(?<!\\)<(?!\\)/); // no `<@U123>`, `<@&123>`, `<#456>`, `<b>`, `<https://…|…>`
      expect(text).not.toMatch(/(?<!\\)[*_~`|>#]/);
      for (const url of activeLinks(text)) expect(url).toMatch(/^https:\/\/github\.com\//);
    }
    const all = texts.join('\n');
    expect(all).toContain('\\<@⁠U123\\>');
    expect(all).toContain('\\[click\\]\\(https\\://evil\\.example\\)');
    expect(all).toContain('\\[1\\.4\\.2\\]\\(https\\://evil\\.example/spoof\\)');
  });

  it('keeps every embed within Discord limits when templates expand to huge text', () => {
    const { deployment, transition } = scenario('failed');
    const huge = { ...deployment, description: '*'.repeat(300), error: { message: '_'.repeat(500) } };
    const template = '{{description}}'.repeat(60);

    const embed = (
      discordPayload(chatView(huge, transition), { title: template, text: template }, transition.at) as Body
    ).embeds[0] as Embed;

    expect(embed.title.length).toBeLessThanOrEqual(DISCORD_LIMITS.title);
    expect(embed.title).toMatch(/^(\\\*)+…$/);
    expect(embed.description?.length).toBeLessThanOrEqual(DISCORD_LIMITS.description);
    expect(embed.fields.every((f) => f.value.length <= DISCORD_LIMITS.fieldValue)).toBe(true);
    expect(embedLength(embed)).toBeLessThanOrEqual(DISCORD_LIMITS.total);
  });

  it('posts a new message, once, when the message to edit was deleted', async () => {
    await ingestEvent(event('c2', 'in_progress'), h.runtime.ingest);
    await h.drainDispatch();
    const first = (await deliveryOf('c2'))?.refs?.messageId as string;
    discord.messages.delete(first);

    await ingestEvent(event('c2', 'failed'), h.runtime.ingest);
    await h.drainDispatch();

    expect(discord.requests.map((r) => r.method)).toEqual(['POST', 'PATCH', 'POST']);
    const second = (await deliveryOf('c2'))?.refs?.messageId as string;
    expect(second).not.toBe(first);
    expect((discord.messages.get(second)?.body as Body | undefined)?.embeds[0]?.title).toContain('failed');
    expect(await deliveryOf('c2')).toMatchObject({ state: 'delivered', deliveredSeq: 2 });
  });

  it("waits as long as a 429's retry_after says, even without a Retry-After header", async () => {
    discord.script(discordRateLimited(12.3, { header: false }));
    await ingestEvent(event('c3', 'in_progress'), h.runtime.ingest);

    await h.drainDispatch();

    expect(retries).toEqual([13]);
    const delivery = await deliveryOf('c3');
    expect(delivery).toMatchObject({ state: 'retrying', deliveredSeq: 0 });
    expect(delivery?.lastError).toBe(
      'Discord, posting the message: answered 429: You are being rate limited.',
    );
  });

  it.each([
    [
      'a wrong token',
      (url: string, token: string) => url.replace(token, 'x'.repeat(68)),
      'Invalid Webhook Token (code 50027)',
    ],
    [
      'an unknown webhook',
      (url: string) => url.replace(/webhooks\/\d+/, 'webhooks/42'),
      'Unknown Webhook (code 10015)',
    ],
  ])(
    'fails permanently on %s with Discord’s reason, never showing the webhook URL',
    async (_what, wrong, reason) => {
      const bad = wrong(discord.webhookUrl, discord.token);
      writeFileSync(join(h.secretsDir, 'discord-webhook'), bad);
      h.runtime.dispatch.secrets.invalidate('discord-webhook');
      const id = `c4-${reason.length}`;
      try {
        await ingestEvent(event(id, 'in_progress'), h.runtime.ingest);

        await h.drainDispatch();

        const delivery = await deliveryOf(id);
        expect(delivery).toMatchObject({ state: 'failed', deliveredSeq: 0 });
        expect(delivery?.lastError).toBe(
          `Discord, posting the message: answered ${reason.includes('Token') ? 401 : 404}: ${reason}`,
        );
        const everything = `${JSON.stringify(delivery)}\n${h.logs.lines.join('\n')}`;
        expect(everything).not.toContain(discord.token);
        expect(everything).not.toContain('x'.repeat(68));
        expect(everything).not.toContain('/api/webhooks/');
      } finally {
        writeFileSync(join(h.secretsDir, 'discord-webhook'), discord.webhookUrl);
        h.runtime.dispatch.secrets.invalidate('discord-webhook');
      }
    },
  );
});
