import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { chatView } from '../../functions/core/chat/view.ts';
import { ingestEvent } from '../../functions/core/ingest.ts';
import type { DeploymentEvent } from '../../functions/core/schema.ts';
import { chooseTemplates } from '../../functions/core/targets/chat-webhook.ts';
import {
  fittingGoogleChatPayload,
  GOOGLE_CHAT_MAX_BYTES,
  googleChatText,
} from '../../functions/core/targets/google-chat.ts';
import {
  hostileScenario,
  INVISIBLE,
  SCENARIOS,
  scenario,
  strings,
} from '../support/chat-webhook-fixtures.ts';
import { nativeEvent } from '../support/events.ts';
import {
  chatQuotaExhausted,
  type GoogleChatServer,
  startGoogleChatServer,
} from '../support/google-chat-server.ts';
import { createHarness, type Harness, recordingRetries } from '../support/harness.ts';

type Widget = {
  textParagraph?: { text: string };
  decoratedText?: { topLabel: string; text: string };
  buttonList?: { buttons: { text: string; onClick: { openLink: { url: string } } }[] };
};
type Card = {
  header: { title: string; subtitle: string };
  sections: { header?: string; widgets: Widget[] }[];
};
type Body = { text: string; thread: { threadKey: string }; cardsV2: { cardId: string; card: Card }[] };

const render = (name: (typeof SCENARIOS)[number]): Body => {
  const { deployment, transition } = scenario(name);
  return JSON.parse(
    fittingGoogleChatPayload(chatView(deployment, transition), chooseTemplates(undefined, undefined)),
  );
};

/** The formatted (HTML subset) texts of a card. */
const cardTexts = (card: Card) =>
  card.sections.flatMap((s) =>
    s.widgets.flatMap((w) => [w.textParagraph?.text, w.decoratedText?.text].filter((t): t is string => !!t)),
  );

describe('google-chat target', () => {
  let h: Harness;
  let chat: GoogleChatServer;
  const retries: number[] = [];

  beforeAll(async () => {
    chat = await startGoogleChatServer();
    h = await createHarness({
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: { chat: { type: 'google-chat', webhookUrl: 'chat-webhook' } },
        routes: [{ targets: ['chat'] }],
      },
      queue: recordingRetries(retries),
    });
    writeFileSync(join(h.secretsDir, 'chat-webhook'), chat.webhookUrl);
  });
  afterAll(async () => {
    await h.stop();
    await chat.stop();
  });
  beforeEach(() => {
    chat.requests.length = 0;
    chat.messages.length = 0;
    retries.length = 0;
  });

  const event = (id: string, status: DeploymentEvent['status']) =>
    nativeEvent(id, status, { version: '1.4.2' });
  const deliveryOf = (id: string) => h.store.getDelivery(event(id, 'queued').deploymentId, 'chat');

  it('posts every transition of a deployment into one thread keyed by the deployment id', async () => {
    const started = event('g1', 'in_progress');
    await ingestEvent(started, h.runtime.ingest);
    await h.drainDispatch();
    await ingestEvent(event('g1', 'succeeded'), h.runtime.ingest);
    await h.drainDispatch();
    await ingestEvent(event('g2', 'in_progress'), h.runtime.ingest);
    await h.drainDispatch();

    expect(chat.messages).toHaveLength(3);
    const [first, second, other] = chat.messages;
    expect(first?.thread).toBe(second?.thread);
    expect(other?.thread).not.toBe(first?.thread);
    const query = new URL(chat.requests[0]?.path ?? '', 'http://x').searchParams;
    expect(query.get('messageReplyOption')).toBe('REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD');
    expect(chat.requests[0]?.json<Body>().thread).toEqual({ threadKey: started.deploymentId });
    expect(first?.body.text).toBe('🚀 checkout 1.4.2 → production in progress');
    expect(second?.body.text).toBe('✅ checkout 1.4.2 → production succeeded');
    const delivery = await deliveryOf('g1');
    expect(delivery).toMatchObject({
      state: 'delivered',
      deliveredSeq: 2,
      refs: { threadKey: started.deploymentId, thread: first?.thread, message: second?.name },
    });
  });

  it.each(SCENARIOS)('renders the %s card message as in its snapshot', async (name) => {
    await expect(`${JSON.stringify(render(name), null, 2)}\n`).toMatchFileSnapshot(
      `./__snapshots__/google-chat/${name}.json`,
    );
  });

  it('shows the facts, the linked commit, the error of a failed deployment and link buttons', () => {
    const card = render('failed').cardsV2[0]?.card as Card;
    const facts = card.sections.flatMap((s) => s.widgets.map((w) => w.decoratedText).filter((d) => !!d));
    expect(facts.map((f) => f?.topLabel)).toEqual([
      'Status',
      'Service',
      'Environment',
      'Version',
      'Commit',
      'Actor',
      'Duration',
    ]);
    expect(facts.find((f) => f?.topLabel === 'Commit')?.text).toBe(
      '<a href="https://github.com/acme/checkout/commit/9fceb02d0ae598e95dc970b74767f19372d61af8">9fceb02</a>',
    );
    const error = card.sections.find((s) => s.header === 'Error');
    expect(error?.widgets[0]?.textParagraph?.text).toContain(
      'HEALTH_CONSTRAINTS: The overall deployment failed',
    );
    const buttons = card.sections.flatMap((s) => s.widgets.flatMap((w) => w.buttonList?.buttons ?? []));
    expect(buttons.map((b) => b.text)).toEqual(['Open deployment', 'View commit']);
  });

  it('renders hostile event text inert: no mention, markup, spoofed link, script URL or invisible character', () => {
    const { deployment, transition } = hostileScenario();
    const serialized = fittingGoogleChatPayload(
      chatView(deployment, transition),
      chooseTemplates(undefined, undefined),
    );
    const body = JSON.parse(serialized) as Body;
    const card = body.cardsV2[0]?.card as Card;

    expect(serialized).not.toContain('javascript:');
    expect(serialized).not.toMatch(INVISIBLE);
    // Text message (Chat markup): no `<users/all>`, `<url|text>`, `*bold*`, `_italic_`, `~strike~`, `` `code` ``.
    expect(body.text).not.toMatch(/[<>*~`]/);
    expect(body.text).not.toMatch(/(?<![\p{L}\p{N}])_|_(?![\p{L}\p{N}])/u);
    expect(body.text).not.toMatch(/@(?!\u2060)(channel|here|everyone|all)\b/);
    expect(body.text).not.toContain('](');
    // Card headers are plain text.
    expect(`${card.header.title}${card.header.subtitle}`).not.toMatch(/[<>]/);
    // Card texts (HTML subset): only Shipcast's own tags, links only to trusted URLs.
    for (const text of cardTexts(card)) {
      const tags = [...text.matchAll(/<\/?([a-z]+)[^>]*>/gi)].map((m) => m[1]);
      expect(tags.every((tag) => tag === 'a' || tag === 'font')).toBe(true);
      for (const [, href] of text.matchAll(/<a href="([^"]*)"/g))
        expect(href).toMatch(/^https:\/\/github\.com\//);
      expect(text).not.toMatch(/@(?!\u2060)(channel|here|everyone|all)\b/);
    }
    const all = strings(card).join('\n');
    expect(all).toContain('&lt;b&gt;x&lt;/b&gt;');
    expect(all).toContain('&lt;users/all&gt;');
    expect(all).toContain('&lt;https://evil.example|docs&gt;');
    const buttons = card.sections.flatMap((s) => s.widgets.flatMap((w) => w.buttonList?.buttons ?? []));
    // The deployment's URL is javascript: and its commit is no hex id: no button at all.
    expect(buttons.map((b) => b.onClick.openLink.url)).toEqual([]);
  });

  it('keeps intra-word underscores in the text message and neutralizes every character that could format or link', () => {
    expect(googleChatText('checkout_api _x_ *b* `c` ~s~ <users/all> [a](https://e.example)')).toBe(
      'checkout_api ˍxˍ ∗b∗ ˋcˋ ∼s∼ ‹users/all› [a]\u2060(https://e.example)',
    );
    expect(googleChatText('# heading')).toBe('\u2060# heading');
  });

  it('cuts long values until the serialized message fits under the size limit', () => {
    const { deployment, transition } = scenario('failed');
    const huge = { ...deployment, description: '<'.repeat(300), error: { message: '&'.repeat(500) } };
    const template = '{{description}} {{error}} '.repeat(35);

    const serialized = fittingGoogleChatPayload(chatView(huge, transition), {
      title: template,
      text: template,
    });

    expect(Buffer.byteLength(serialized, 'utf8')).toBeLessThanOrEqual(GOOGLE_CHAT_MAX_BYTES);
    expect((JSON.parse(serialized) as Body).text.length).toBeLessThanOrEqual(4096);
  });

  it('puts a RESOURCE_EXHAUSTED answer back on the queue for as long as Retry-After says', async () => {
    chat.script(chatQuotaExhausted(21));
    await ingestEvent(event('g3', 'in_progress'), h.runtime.ingest);

    await h.drainDispatch();

    expect(retries).toEqual([21]);
    const delivery = await deliveryOf('g3');
    expect(delivery).toMatchObject({ state: 'retrying', deliveredSeq: 0 });
    expect(delivery?.lastError).toMatch(
      /^Google Chat: answered 429: RESOURCE_EXHAUSTED: Resource has been exhausted/,
    );
  });

  it("fails permanently with Google's reason, never showing the webhook key or token", async () => {
    writeFileSync(
      join(h.secretsDir, 'chat-webhook'),
      chat.webhookUrl.replace(chat.token, 'stolen-token-0000'),
    );
    h.runtime.dispatch.secrets.invalidate('chat-webhook');
    try {
      await ingestEvent(event('g4', 'in_progress'), h.runtime.ingest);

      await h.drainDispatch();

      const delivery = await deliveryOf('g4');
      expect(delivery).toMatchObject({ state: 'failed', deliveredSeq: 0 });
      expect(delivery?.lastError).toMatch(/^Google Chat: answered 401: UNAUTHENTICATED: Request had invalid/);
      const everything = `${JSON.stringify(delivery)}\n${h.logs.lines.join('\n')}`;
      expect(everything).not.toContain('stolen-token-0000');
      expect(everything).not.toContain(chat.token);
      expect(everything).not.toContain('key=');
    } finally {
      writeFileSync(join(h.secretsDir, 'chat-webhook'), chat.webhookUrl);
      h.runtime.dispatch.secrets.invalidate('chat-webhook');
    }
  });
});
