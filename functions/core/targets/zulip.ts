import { cleanText, cut } from '../chat/sanitize.ts';
import { DEFAULT_TITLE, renderTemplate } from '../chat/template.ts';
import { type ChatView, chatView } from '../chat/view.ts';
import { PermanentDeliveryError, RetryableDeliveryError } from '../errors.ts';
import { answerOf, jsonOrUndefined, retryAfterSeconds, secondsIn } from '../http-client.ts';
import { maskSecrets, registerSecret } from '../telemetry.ts';
import { defineTarget, type TargetContext } from './target.ts';
import type { ZulipConfig } from './zulip.schema.ts';

/** Zulip's limit on a topic name. */
export const ZULIP_MAX_TOPIC = 60;

/** Zulip's default limit on a message's content (servers truncate longer ones). */
export const ZULIP_MAX_CONTENT = 10_000;

type Context = TargetContext<ZulipConfig>;

/** What Zulip answers: `{"result":"success","msg":"","id":42}` or `{"result":"error","msg":"…","code":"…"}`. */
interface ZulipAnswer {
  result?: string;
  msg?: string;
  code?: string;
  id?: number;
  'retry-after'?: number;
}

/**
 * Zulip: one living message per deployment in the topic of its service/environment. The first transition
 * posts it (POST /api/v1/messages), later ones edit its content (PATCH /api/v1/messages/{id}) using the id
 * kept in the delivery's refs.
 */
export const zulipTarget = defineTarget<ZulipConfig>({
  type: 'zulip',
  secretNames: (config) => [config.apiKey],
  async send({ deployment, transition, delivery }, context) {
    const { config } = context;
    const apiKey = await context.secrets.get(config.apiKey);
    const view = chatView(deployment, transition);
    const content = renderZulipContent(view, {
      title: context.message?.title ?? config.message?.title,
      text: context.message?.text ?? config.message?.text,
    });
    const site = config.site.replace(/\/+$/, '');
    const call = (method: 'POST' | 'PATCH', path: string, fields: Record<string, string>) =>
      request(context, apiKey, method, `${site}${path}`, fields);

    const known = delivery?.refs?.messageId;
    if (known) {
      const edited = await call('PATCH', `/api/v1/messages/${encodeURIComponent(known)}`, { content });
      // Content identical to what the message shows already: nothing to do.
      if (edited.result === 'success' || /nothing to change/i.test(edited.msg ?? '')) return {};
      // 400: Zulip refused the edit for good (the organization's edit time limit — 10 minutes by default —
      // has passed, editing is off, or the message was deleted). Post the current state once as the new
      // living message rather than leave the outcome unannounced.
      context.logger.warn('Zulip refused to edit the message; posting a new one', {
        messageId: known,
        reason: reason(edited),
      });
    }

    const posted = await call('POST', '/api/v1/messages', {
      type: config.messageType,
      to: config.stream,
      topic: renderZulipTopic(view, config.topic),
      content,
    });
    if (posted.result !== 'success') throw failure('send', posted);
    return typeof posted.id === 'number' ? { refs: { messageId: String(posted.id) } } : {};
  },
});

/**
 * Sends one form-encoded API request with HTTP Basic auth. Returns the answer when it is a success or a
 * 400 (Zulip's verdict, for the caller to interpret); throws for rate limits (429 `RATE_LIMIT_HIT`: the
 * Retry-After header, else the body's `retry-after`), other client errors (401 bad key, …) and whatever the
 * HTTP client already classified (5xx, timeouts).
 */
async function request(
  context: Context,
  apiKey: string,
  method: 'POST' | 'PATCH',
  url: string,
  fields: Record<string, string>,
): Promise<ZulipAnswer> {
  const action = method === 'POST' ? 'send' : 'edit';
  const basic = Buffer.from(`${context.config.email}:${apiKey}`).toString('base64');
  // The encoded credential is what an echoing server or proxy would show: masked like the key itself.
  registerSecret(basic);
  try {
    const response = await context.http.send({
      method,
      url,
      headers: {
        authorization: `Basic ${basic}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams(fields).toString(),
      timeoutMs: context.config.timeoutMs,
    });
    return (jsonOrUndefined(response.text) as ZulipAnswer | undefined) ?? { result: 'success' };
  } catch (error) {
    const http = answerOf(error);
    if (!http) throw error;
    const answer = (http.json() as ZulipAnswer | undefined) ?? { result: 'error', msg: http.text };
    if (http.status === 429 || answer.code === 'RATE_LIMIT_HIT') {
      const after = retryAfterSeconds(http.headers, Date.now()) ?? secondsIn(answer['retry-after']) ?? 30;
      throw new RetryableDeliveryError(
        `Zulip ${action} was rate limited: ${reason(answer)}; retrying in ${after}s`,
        after,
        { cause: error },
      );
    }
    if (!(error instanceof PermanentDeliveryError)) throw error;
    if (http.status === 400) return { ...answer, result: 'error' };
    // A revoked or mistyped key: read the secret again next time, so a rotated one is picked up.
    if (http.status === 401) context.secrets.invalidate(context.config.apiKey);
    throw failure(action, answer, http.status);
  }
}

/** A permanent failure carrying Zulip's own reason (the API key is only in the Authorization header). */
function failure(action: string, answer: ZulipAnswer, status?: number): PermanentDeliveryError {
  return new PermanentDeliveryError(
    `Zulip ${action} failed${status ? ` (${status})` : ''}: ${reason(answer)}`,
  );
}

function reason(answer: ZulipAnswer): string {
  const msg = maskSecrets(cleanText(answer.msg, 300)) || 'no message';
  return answer.code ? `${msg} [${cleanText(answer.code, 60)}]` : msg;
}

// ---------------------------------------------------------------------------------------------------
// Rendering (Zulip Markdown)

/**
 * Characters that start Zulip Markdown syntax: emphasis and mentions (`*`, `@`, `_`), code (`` ` ``), TeX
 * (`$$`), strikethrough (`~~`), links and images (`[`, `]`, `(`, `)`, `!`), channel links and headings (`#`),
 * timestamps and quotes (`<`, `>`), emoji (`:`), tables (`|`), lists and rules (`-`, `+`, `=`), auto-links of
 * bare domains, e-mails and URLs (`.`, `@`, `:`) and `&` itself.
 */
const ZULIP_SYNTAX = /[&<>*_`~$[\]()!#@:|+\-=.\\]/g;

/**
 * Makes event text inert in Zulip Markdown. Zulip's renderer has no backslash escapes (it drops Python-Markdown's
 * `escape` pattern), so each syntax character becomes a numeric character reference (`*` → `&#42;`): none of
 * Zulip's patterns (mentions, links, auto-links, TeX, emphasis…) sees the character, and the reader does.
 */
export function escapeZulip(text: string): string {
  return text.replace(ZULIP_SYNTAX, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * A link target for `[text](url)`: a URL `safeLink` accepted, with the characters that Zulip's earlier patterns
 * (code, mentions, TeX, timestamps) or the link syntax itself would act on percent-encoded.
 */
function zulipUrl(url: string): string {
  return url.replace(
    /[\s()[\]<>`*@$]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`,
  );
}

/** The topic: the template with the event's values as plain text (topics are not Markdown), cut to 60. */
export function renderZulipTopic(view: ChatView, template: string): string {
  const topic = cleanText(
    renderTemplate(template, view, (value) => value),
    ZULIP_MAX_TOPIC,
  );
  return topic || 'deployments';
}

/**
 * Renders the message content: a bold title, then the fields in a quote block. Zulip shows no link previews
 * for links inside a quote, and event values are made inert (`escapeZulip`); only http(s) links are made.
 */
export function renderZulipContent(view: ChatView, templates: { title?: string; text?: string }): string {
  for (const cap of [Number.POSITIVE_INFINITY, 1000, 300, 100, 40, 10]) {
    const content = compose(view, templates, cap);
    if (Buffer.byteLength(content) <= ZULIP_MAX_CONTENT) return content;
  }
  return compose(view, { title: templates.title }, 10);
}

function compose(view: ChatView, templates: { title?: string; text?: string }, cap: number): string {
  const esc = (value: string) => escapeZulip(cut(value, cap));
  const title = renderTemplate(templates.title ?? DEFAULT_TITLE, view, esc);
  const body = templates.text ? renderTemplate(templates.text, view, esc) : defaultBody(view, esc);
  return `**${title}**\n${body}`;
}

function defaultBody(view: ChatView, esc: (value: string) => string): string {
  const field = (label: string, value: string) => `> **${label}:** ${value}`;
  const commit = view.commit
    ? view.commit.url
      ? `[${esc(view.commit.short)}](${zulipUrl(view.commit.url)})`
      : esc(view.commit.short)
    : '';
  return [
    field('Status', `${view.emoji} ${esc(view.statusText)}`),
    field('Service', esc(view.service)),
    field('Environment', esc(view.environment)),
    view.version ? field('Version', esc(view.version)) : '',
    commit ? field('Commit', commit) : '',
    view.actor ? field('Actor', esc(view.actor)) : '',
    view.duration ? field('Duration', esc(view.duration)) : '',
    view.description ? field('Description', esc(view.description)) : '',
    view.error ? field('Error', esc(view.error)) : '',
    view.url ? `> [Open deployment](${zulipUrl(view.url)})` : '',
  ]
    .filter(Boolean)
    .join('\n');
}
