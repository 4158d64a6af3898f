import { breakMentions, cut, escapeAngles } from '../chat/sanitize.ts';
import { renderTemplate } from '../chat/template.ts';
import { type ChatView, chatView } from '../chat/view.ts';
import { PermanentDeliveryError, RetryableDeliveryError } from '../errors.ts';
import { answerOf } from '../http-client.ts';
import { chooseTemplates, explain, limiterKey, messageOf, readWebhookUrl } from './chat-webhook.ts';
import type { GoogleChatConfig } from './google-chat.schema.ts';
import { defineTarget } from './target.ts';

/** Google Chat's per-space quota: 60 message writes a minute, incoming webhooks included. */
export const GOOGLE_CHAT_WRITES_PER_MINUTE = 60;

/** Google Chat's largest message (text and cards) is 32,000 bytes; the body is kept under this. */
export const GOOGLE_CHAT_MAX_BYTES = 30_000;

/** A text message holds at most 4,096 characters. */
const MAX_TEXT = 4096;

/**
 * Untrusted text made literal in a Google Chat text message (Chat markup: `*bold*`, `_italic_`, `~strike~`,
 * `` `code` ``, `<url|text>` links, `<users/…>` mentions). Chat markup has no escape character, so the
 * markup characters become look-alikes that are not markup: `<` `>` → `‹` `›`, `*` → `∗`, `~` → `∼`,
 * `` ` `` → `ˋ`, and `_` (unless inside a word, where it formats nothing) → `ˍ`; `@` mentions are broken.
 * In case the space reads Markdown instead, `](` (a `[text](url)` link) and a leading `#`, `-`, `+`
 * get a word joiner that stops them being syntax.
 */
export function googleChatText(value: string): string {
  return breakMentions(value)
    .replace(/</g, '‹')
    .replace(/>/g, '›')
    .replace(/\*/g, '∗')
    .replace(/~/g, '∼')
    .replace(/`/g, 'ˋ')
    .replace(/_(?![\p{L}\p{N}])|(?<![\p{L}\p{N}])_/gu, 'ˍ')
    .replace(/\]\(/g, ']\u2060(')
    .replace(/^([#+-])/, '\u2060$1');
}

/** Untrusted text made literal in a card's formatted text (decoratedText, textParagraph: a small HTML subset). */
export function googleChatHtml(value: string): string {
  return escapeAngles(breakMentions(value)).replace(/"/g, '&quot;');
}

/** Untrusted text for a card's plain-text slots (header, labels): no markup character at all. */
export function googleChatPlain(value: string): string {
  return breakMentions(value).replace(/</g, '‹').replace(/>/g, '›');
}

/** The card message of one transition; untrusted values are cut to `cap` characters before escaping. */
export function googleChatPayload(
  view: ChatView,
  templates: { title: string; text?: string },
  cap = Number.POSITIVE_INFINITY,
): Record<string, unknown> {
  const short = (value: string) => (cap === Number.POSITIVE_INFINITY ? value : cut(value, cap));
  const html = (value: string) => googleChatHtml(short(value));
  const plain = (value: string) => googleChatPlain(short(value));

  const sections: Record<string, unknown>[] = [];
  const text = templates.text ? renderTemplate(templates.text, view, html) : html(view.description);
  if (text) sections.push({ widgets: [{ textParagraph: { text } }] });

  const facts: [string, string][] = [
    ['Status', html(`${view.emoji} ${view.statusText}`)],
    ['Service', html(view.service)],
    ['Environment', html(view.environment)],
  ];
  if (view.version) facts.push(['Version', html(view.version)]);
  if (view.commit) {
    const label = html(view.commit.short);
    facts.push([
      'Commit',
      view.commit.url ? `<a href="${googleChatHtml(view.commit.url)}">${label}</a>` : label,
    ]);
  }
  if (view.actor) facts.push(['Actor', html(view.actor)]);
  if (view.duration) facts.push(['Duration', html(view.duration)]);
  if (view.rollbackOf) facts.push(['Rolls back', html(view.rollbackOf)]);
  if (view.rolledBackBy) facts.push(['Rolled back by', html(view.rolledBackBy)]);
  sections.push({
    widgets: facts.map(([topLabel, value]) => ({ decoratedText: { topLabel, text: value } })),
  });

  if (view.error && (view.status === 'failed' || view.status === 'stopped')) {
    sections.push({
      header: 'Error',
      widgets: [{ textParagraph: { text: `<font color="#e01e5a">${html(view.error)}</font>` } }],
    });
  }

  const buttons: Record<string, unknown>[] = [];
  if (view.url) buttons.push({ text: 'Open deployment', onClick: { openLink: { url: view.url } } });
  if (view.commit?.url)
    buttons.push({ text: 'View commit', onClick: { openLink: { url: view.commit.url } } });
  if (buttons.length > 0) sections.push({ widgets: [{ buttonList: { buttons } }] });

  const subtitle = [`${view.emoji} ${view.statusText}`, view.version].filter(Boolean).join(' · ');
  return {
    text: cut(
      renderTemplate(templates.title, view, (v) => googleChatText(short(v))),
      MAX_TEXT,
    ),
    thread: { threadKey: view.deploymentId },
    cardsV2: [
      {
        cardId: `shipcast-${view.seq}`,
        card: {
          header: { title: plain(`${view.service} → ${view.environment}`), subtitle: plain(subtitle) },
          sections,
        },
      },
    ],
  };
}

/** The payload, with untrusted fields cut shorter and shorter until the serialized body fits in `maxBytes`. */
export function fittingGoogleChatPayload(
  view: ChatView,
  templates: { title: string; text?: string },
  maxBytes = GOOGLE_CHAT_MAX_BYTES,
): string {
  for (const cap of [Number.POSITIVE_INFINITY, 2000, 1000, 500, 250, 120, 60, 30, 10]) {
    const serialized = JSON.stringify(googleChatPayload(view, templates, cap));
    if (Buffer.byteLength(serialized, 'utf8') <= maxBytes) return serialized;
  }
  throw new PermanentDeliveryError(
    `the Google Chat message does not fit in ${maxBytes} bytes even with every value cut short: shorten the message templates`,
  );
}

/**
 * Google Chat through a space's incoming webhook: one card message per transition, all messages of one
 * deployment in one thread (`threadKey` = the Shipcast deployment id; a reply, or a new thread if it fails).
 */
export const googleChatTarget = defineTarget<GoogleChatConfig>({
  type: 'google-chat',
  secretNames: (config) => [config.webhookUrl],
  async send({ deployment, transition }, { config, http, secrets, limiter, message }) {
    const view = chatView(deployment, transition);
    const body = fittingGoogleChatPayload(view, chooseTemplates(config.message, message));
    const url = await readWebhookUrl(secrets, config.webhookUrl, 'Google Chat');
    url.searchParams.set('messageReplyOption', 'REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD');
    // The quota is per space (the path names it); the key and token in the query are the credential.
    const wait = await limiter.take(
      limiterKey('google-chat', url.pathname),
      GOOGLE_CHAT_WRITES_PER_MINUTE,
      60,
    );
    if (wait > 0) {
      throw new RetryableDeliveryError(
        `Google Chat accepts ${GOOGLE_CHAT_WRITES_PER_MINUTE} messages a minute per space; this one waits ${wait}s`,
        wait,
      );
    }
    let answer: { name?: unknown; thread?: { name?: unknown } } | undefined;
    try {
      const response = await http.send({
        method: 'POST',
        url: url.href,
        headers: { 'content-type': 'application/json; charset=UTF-8' },
        body,
        timeoutMs: config.timeoutMs,
      });
      answer = safeJson(() => response.json());
    } catch (error) {
      throw explain(error, `Google Chat: ${reasonOf(error)}`);
    }
    const refs: Record<string, string> = { threadKey: deployment.id };
    if (typeof answer?.thread?.name === 'string') refs.thread = answer.thread.name;
    if (typeof answer?.name === 'string') refs.message = answer.name;
    return { refs };
  },
});

function safeJson<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

/** Google answers `{"error":{"code","message","status"}}`; the reason says that, without the URL. */
function reasonOf(error: unknown): string {
  const answer = answerOf(error);
  if (!answer) return messageOf(error);
  const detail = answer.json<{ error?: { message?: unknown; status?: unknown } }>()?.error;
  const parts = [detail?.status, detail?.message].filter(
    (p): p is string => typeof p === 'string' && p !== '',
  );
  const reason = parts.length > 0 ? parts.join(': ') : cut(answer.text.replace(/\s+/g, ' ').trim(), 300);
  return `answered ${answer.status}${reason ? `: ${reason}` : ''}`;
}
