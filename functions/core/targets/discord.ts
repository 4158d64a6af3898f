import { breakMentions, escapeMarkdown } from '../chat/sanitize.ts';
import { renderTemplate } from '../chat/template.ts';
import { type ChatView, chatView } from '../chat/view.ts';
import { RetryableDeliveryError } from '../errors.ts';
import { answerOf, type HttpClient } from '../http-client.ts';
import { chooseTemplates, explain, markdownUrl, messageOf, readWebhookUrl } from './chat-webhook.ts';
import type { DiscordConfig } from './discord.schema.ts';
import { defineTarget } from './target.ts';

/** Discord's embed limits (characters). */
export const DISCORD_LIMITS = {
  title: 256,
  description: 4096,
  fields: 25,
  fieldName: 256,
  fieldValue: 1024,
  footer: 2048,
  total: 6000,
} as const;

/** Discord's JSON error codes Shipcast acts on. */
const UNKNOWN_MESSAGE = 10008;

/**
 * Untrusted text made literal in Discord markdown: mentions (`@everyone`, `@here`) broken, every markdown
 * character backslash-escaped — `<@id>`, `<@&id>`, `<#id>`, `[text](url)`, `*`, `_`, `~`, `` ` ``, `|`, `>`
 * and `#` all stay plain text. (`allowed_mentions: {parse: []}` also stops any ping.)
 */
export function discordText(value: string): string {
  return escapeMarkdown(breakMentions(value));
}

interface EmbedField {
  name: string;
  value: string;
  inline: boolean;
}

/** The webhook body of one transition: one embed within Discord's limits, and no mention allowed to ping. */
export function discordPayload(
  view: ChatView,
  templates: { title: string; text?: string },
  at: string,
): Record<string, unknown> {
  const title = clip(renderTemplate(templates.title, view, discordText), DISCORD_LIMITS.title);
  let description = templates.text
    ? renderTemplate(templates.text, view, discordText)
    : discordText(view.description);

  const fields: EmbedField[] = [];
  const add = (name: string, value: string, inline = true) => {
    if (value && fields.length < DISCORD_LIMITS.fields) {
      fields.push({ name, value: clip(value, DISCORD_LIMITS.fieldValue), inline });
    }
  };
  add('Status', discordText(`${view.emoji} ${view.statusText}`));
  add('Service', discordText(view.service));
  add('Environment', discordText(view.environment));
  add('Version', discordText(view.version));
  if (view.commit) {
    const short = discordText(view.commit.short);
    add('Commit', view.commit.url ? `[${short}](${markdownUrl(view.commit.url)})` : short);
  }
  add('Actor', discordText(view.actor));
  add('Duration', discordText(view.duration));
  if (view.rollbackOf) add('Rolls back', discordText(view.rollbackOf));
  if (view.rolledBackBy) add('Rolled back by', discordText(view.rolledBackBy));
  const links = [
    view.url ? `[Open deployment](${markdownUrl(view.url)})` : '',
    view.commit?.url ? `[View commit](${markdownUrl(view.commit.url)})` : '',
  ].filter(Boolean);
  add('Links', links.join(' · '), false);
  if (view.status === 'failed' || view.status === 'stopped') add('Error', discordText(view.error), false);

  const footer = `Shipcast · ${view.deploymentId}`;
  // The total across title, description, field names and values and footer is at most 6,000 characters:
  // the description gives way first.
  const others =
    title.length + footer.length + fields.reduce((sum, f) => sum + f.name.length + f.value.length, 0);
  description = clip(description, Math.min(DISCORD_LIMITS.description, DISCORD_LIMITS.total - others));

  const embed: Record<string, unknown> = { title };
  if (description) embed.description = description;
  if (view.url) embed.url = view.url;
  embed.color = Number.parseInt(view.color.slice(1), 16);
  embed.fields = fields;
  embed.timestamp = at;
  embed.footer = { text: footer };
  return { embeds: [embed], allowed_mentions: { parse: [] } };
}

/**
 * Cuts escaped markdown to `max` UTF-16 units ending in `…`, never leaving half a surrogate pair or a lone
 * escaping backslash at the cut.
 */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  if (max <= 1) return '';
  let kept = text.slice(0, max - 1);
  if (/[\uD800-\uDBFF]$/.test(kept)) kept = kept.slice(0, -1);
  const backslashes = /\\+$/.exec(kept)?.[0].length ?? 0;
  if (backslashes % 2 === 1) kept = kept.slice(0, -1);
  return `${kept}…`;
}

/**
 * Discord through a channel webhook: one living message per deployment. The first transition is posted
 * with `?wait=true` (the answer is the message, its id kept in refs); later ones edit it in place. A message
 * deleted meanwhile (`Unknown Message`) is posted again, once.
 */
export const discordTarget = defineTarget<DiscordConfig>({
  type: 'discord',
  secretNames: (config) => [config.webhookUrl],
  async send({ deployment, transition, delivery }, { config, http, secrets, logger, message }) {
    const view = chatView(deployment, transition);
    const body = JSON.stringify(
      discordPayload(view, chooseTemplates(config.message, message), transition.at),
    );
    const webhook = await readWebhookUrl(secrets, config.webhookUrl, 'Discord');
    const call = (method: 'POST' | 'PATCH', url: URL) =>
      send(http, { method, url, body, timeoutMs: config.timeoutMs });

    const known = delivery?.refs?.messageId;
    if (known && /^\d{1,25}$/.test(known)) {
      try {
        await call('PATCH', messageUrl(webhook, known));
        return { refs: { messageId: known } };
      } catch (error) {
        if (discordCode(error) !== UNKNOWN_MESSAGE) throw error;
        logger.warn('the Discord message of this deployment is gone; posting a new one', {
          messageId: known,
        });
      }
    }
    const url = new URL(webhook.href);
    url.searchParams.set('wait', 'true');
    const posted = await call('POST', url);
    const id = (posted as { id?: unknown } | undefined)?.id;
    if (typeof id !== 'string' || !/^\d{1,25}$/.test(id)) {
      logger.warn('Discord did not answer with the message id; later transitions will post new messages');
      return {};
    }
    return { refs: { messageId: id } };
  },
});

/** `{webhook}/messages/{id}`, keeping the webhook's `thread_id` (the message may live in a thread). */
function messageUrl(webhook: URL, messageId: string): URL {
  const url = new URL(webhook.href);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/messages/${messageId}`;
  url.searchParams.delete('wait');
  return url;
}

/** One request; errors say Discord's reason (never the URL) and honour the body's `retry_after`. */
async function send(
  http: HttpClient,
  request: { method: 'POST' | 'PATCH'; url: URL; body: string; timeoutMs?: number },
): Promise<unknown> {
  try {
    const response = await http.send({
      method: request.method,
      url: request.url.href,
      headers: { 'content-type': 'application/json' },
      body: request.body,
      timeoutMs: request.timeoutMs,
    });
    try {
      return response.json();
    } catch {
      return undefined;
    }
  } catch (error) {
    const what = request.method === 'POST' ? 'posting the message' : 'editing the message';
    const text = `Discord, ${what}: ${reasonOf(error)}`;
    const wait = bodyRetryAfter(error);
    if (error instanceof RetryableDeliveryError && wait !== undefined) {
      throw new RetryableDeliveryError(text, wait, { cause: error, refs: error.refs });
    }
    throw explain(error, text);
  }
}

interface DiscordError {
  message?: unknown;
  code?: unknown;
  retry_after?: unknown;
  global?: unknown;
}

/** The JSON error code of a Discord answer (`{"message","code"}`), if any. */
function discordCode(error: unknown): number | undefined {
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  const code = answerOf(error)?.json<DiscordError>()?.code ?? answerOf(cause)?.json<DiscordError>()?.code;
  return typeof code === 'number' ? code : undefined;
}

/** A 429's `retry_after` (seconds, a float) in whole seconds. */
function bodyRetryAfter(error: unknown): number | undefined {
  const answer = answerOf(error);
  if (answer?.status !== 429) return undefined;
  const seconds = answer.json<DiscordError>()?.retry_after;
  return typeof seconds === 'number' && Number.isFinite(seconds) && seconds >= 0
    ? Math.max(1, Math.ceil(seconds))
    : undefined;
}

function reasonOf(error: unknown): string {
  const answer = answerOf(error);
  if (!answer) return messageOf(error);
  const body = answer.json<DiscordError>();
  const text = typeof body?.message === 'string' ? body.message : answer.text.replace(/\s+/g, ' ').trim();
  const code = typeof body?.code === 'number' ? ` (code ${body.code})` : '';
  const global = body?.global === true ? ' (global rate limit)' : '';
  return `answered ${answer.status}: ${text.slice(0, 300)}${code}${global}`;
}
