import { breakMentions, cleanText, cut, escapeAngles } from '../chat/sanitize.ts';
import { DEFAULT_TITLE, renderTemplate } from '../chat/template.ts';
import { type ChatView, chatView } from '../chat/view.ts';
import { PermanentDeliveryError, RetryableDeliveryError } from '../errors.ts';
import { answerOf, jsonOrUndefined, retryAfterSeconds, secondsIn } from '../http-client.ts';
import { maskSecrets } from '../telemetry.ts';
import { defineTarget, type TargetContext } from './target.ts';
import type { TelegramConfig } from './telegram.schema.ts';

/** `text` of sendMessage/editMessageText: 1-4096 characters after entities parsing. */
export const TELEGRAM_MAX_TEXT = 4096;

type Context = TargetContext<TelegramConfig>;

/** What the Bot API answers, successful or not. */
interface TelegramAnswer {
  ok?: boolean;
  result?: { message_id?: number };
  error_code?: number;
  description?: string;
  parameters?: { retry_after?: number; migrate_to_chat_id?: number };
}

/**
 * Telegram: one living message per deployment. The first transition posts it (sendMessage), later ones edit
 * it in place (editMessageText) using the message id kept in the delivery's refs.
 */
export const telegramTarget = defineTarget<TelegramConfig>({
  type: 'telegram',
  secretNames: (config) => [config.token],
  async send({ deployment, transition, delivery }, context) {
    const { config, limiter } = context;
    const token = await context.secrets.get(config.token);
    const text = renderTelegramText(chatView(deployment, transition), {
      title: context.message?.title ?? config.message?.title,
      text: context.message?.text ?? config.message?.text,
    });
    const chatId = String(config.chatId);
    // Telegram asks bots to stay under about one message a second per chat (edits included).
    const wait = await limiter.take(`telegram:${chatId}`, 1, 1);
    if (wait > 0) {
      throw new RetryableDeliveryError(
        `Telegram chat ${chatId} had a message this second; waiting ${wait}s`,
        wait,
      );
    }
    const content = { text, parse_mode: 'HTML', link_preview_options: { is_disabled: true } };

    const known = delivery?.refs?.messageId;
    if (known && delivery?.refs?.chatId === chatId) {
      const edited = await call(context, token, 'editMessageText', {
        chat_id: config.chatId,
        message_id: Number(known),
        ...content,
      });
      // The same text again (a redelivery, or a transition that shows nothing new) is not a failure.
      if (edited.ok || /message is not modified/i.test(edited.description ?? '')) return {};
      // Deleted by someone: post the current state once as the new living message.
      if (!/message to edit not found/i.test(edited.description ?? ''))
        throw failure('editMessageText', edited);
    }

    const posted = await call(context, token, 'sendMessage', {
      chat_id: config.chatId,
      ...(config.messageThreadId ? { message_thread_id: config.messageThreadId } : {}),
      ...content,
    });
    if (!posted.ok) throw failure('sendMessage', posted);
    const messageId = posted.result?.message_id;
    return messageId === undefined ? {} : { refs: { messageId: String(messageId), chatId } };
  },
});

/**
 * Calls a Bot API method. Returns the answer when it is a success or a client error the caller may
 * interpret (400 "message is not modified", …); throws for rate limits (429 with `parameters.retry_after`)
 * and whatever the HTTP client already classified (5xx, timeouts).
 */
async function call(context: Context, token: string, method: string, body: unknown): Promise<TelegramAnswer> {
  const base = context.config.baseUrl.replace(/\/+$/, '');
  let answer: TelegramAnswer;
  try {
    const response = await context.http.send({
      method: 'POST',
      url: `${base}/bot${token}/${method}`,
      body,
      timeoutMs: context.config.timeoutMs,
    });
    answer = (jsonOrUndefined(response.text) as TelegramAnswer | undefined) ?? {
      ok: false,
      description: response.text,
    };
    if (answer.ok !== true && !answer.error_code) answer.error_code = response.status;
  } catch (error) {
    const http = answerOf(error);
    if (!http) throw error;
    answer = (http.json() as TelegramAnswer | undefined) ?? { ok: false, description: http.text };
    answer.ok = false;
    answer.error_code ??= http.status;
    if (http.status === 429 || answer.error_code === 429) {
      const after =
        secondsIn(answer.parameters?.retry_after) ?? retryAfterSeconds(http.headers, Date.now()) ?? 30;
      throw new RetryableDeliveryError(
        `Telegram ${method} was rate limited: ${reason(answer)}; retrying in ${after}s`,
        after,
        { cause: error },
      );
    }
    // 5xx, 408 and the like stay as the HTTP client classified them; 4xx answers are Telegram's verdict.
    if (!(error instanceof PermanentDeliveryError)) throw error;
    // A revoked token: read the secret again next time, so a rotated one is picked up.
    if (http.status === 401) context.secrets.invalidate(context.config.token);
  }
  return answer;
}

/** A permanent failure carrying Telegram's own reason (never the token: it is only in the URL). */
function failure(method: string, answer: TelegramAnswer): PermanentDeliveryError {
  const migrated = answer.parameters?.migrate_to_chat_id;
  const hint = migrated ? ` (the group is now the supergroup ${migrated}: set chatId to it)` : '';
  return new PermanentDeliveryError(
    `Telegram ${method} failed (${answer.error_code ?? 'no code'}): ${reason(answer)}${hint}`,
  );
}

function reason(answer: TelegramAnswer): string {
  return maskSecrets(cleanText(answer.description, 300)) || 'no description';
}

// ---------------------------------------------------------------------------------------------------
// Rendering (Telegram HTML: only <b>, <i>, <code> and <a href> come from Shipcast itself)

/**
 * Renders the message text in Telegram's HTML parse mode. Every value from the event is cleaned, has its
 * mentions broken and `& < >` escaped; only http(s) links become `<a href>`. Values are cut shorter until the
 * visible text fits Telegram's 4096 characters.
 */
export function renderTelegramText(view: ChatView, templates: { title?: string; text?: string }): string {
  for (const cap of [Number.POSITIVE_INFINITY, 1000, 300, 100, 40, 10]) {
    const html = compose(view, templates, cap);
    if (visibleLength(html) <= TELEGRAM_MAX_TEXT) return html;
  }
  return compose(view, { title: templates.title }, 10);
}

function compose(view: ChatView, templates: { title?: string; text?: string }, cap: number): string {
  const esc = (value: string) => escapeAngles(breakMentions(cut(value, cap)));
  const title = renderTemplate(templates.title ?? DEFAULT_TITLE, view, esc);
  const body = templates.text ? renderTemplate(templates.text, view, esc) : defaultBody(view, esc);
  return `<b>${title}</b>\n${body}`;
}

function defaultBody(view: ChatView, esc: (value: string) => string): string {
  const field = (label: string, value: string) => `<b>${label}:</b> ${value}`;
  const commit = view.commit
    ? view.commit.url
      ? link(view.commit.url, `<code>${esc(view.commit.short)}</code>`)
      : `<code>${esc(view.commit.short)}</code>`
    : '';
  return [
    field('Status', `${view.emoji} ${esc(view.statusText)}`),
    field('Service', esc(view.service)),
    field('Environment', esc(view.environment)),
    view.version ? field('Version', `<code>${esc(view.version)}</code>`) : '',
    commit ? field('Commit', commit) : '',
    view.actor ? field('Actor', esc(view.actor)) : '',
    view.duration ? field('Duration', esc(view.duration)) : '',
    view.description ? field('Description', esc(view.description)) : '',
    view.error ? field('Error', `<i>${esc(view.error)}</i>`) : '',
    view.url ? link(view.url, 'Open deployment') : '',
  ]
    .filter(Boolean)
    .join('\n');
}

/** `<a href>` of a URL `safeLink` already accepted (http(s) only), quoted for the attribute. */
function link(url: string, html: string): string {
  return `<a href="${escapeAngles(url).replace(/"/g, '&quot;')}">${html}</a>`;
}

/** Characters Telegram counts: the text without tags, entities as one character (UTF-16 units, as Telegram). */
function visibleLength(html: string): number {
  return html.replace(/<[^>]*>/g, '').replace(/&(?:lt|gt|amp|quot);/g, '_').length;
}
