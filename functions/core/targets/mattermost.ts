import { breakMentions, cut, escapeMarkdown } from '../chat/sanitize.ts';
import { chatFields, chatLinks, chooseTemplates } from '../chat/slack-blocks.ts';
import { renderTemplate } from '../chat/template.ts';
import { type ChatView, chatView } from '../chat/view.ts';
import { PermanentDeliveryError, RetryableDeliveryError } from '../errors.ts';
import type { MattermostConfig } from './mattermost.schema.ts';
import { withoutUrl } from './slack.ts';
import { defineTarget, type SendResult } from './target.ts';

/** Mattermost splits a post longer than this (runes) into several; Shipcast keeps each part well below. */
export const MATTERMOST_LIMITS = { text: 4000, attachmentText: 4000, fieldValue: 1000 } as const;

/**
 * Escapes untrusted text for Mattermost Markdown: `&`, `<`, `>` as entities (so the server's Slack
 * compatibility never turns `<!channel>`, `<@id>` or `<url|label>` into a mention or a link), other Markdown
 * punctuation backslash-escaped (no `**bold**`, `[label](url)`, `~channel` links or autolinked `https://`),
 * and `@` mentions broken with a word joiner.
 */
export function escapeMattermost(text: string): string {
  const angles = breakMentions(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return escapeMarkdown(angles);
}

/**
 * Mattermost, through a (Slack-compatible) incoming webhook: a post per transition (webhooks cannot edit
 * a post) with a coloured attachment carrying the default layout.
 */
export const mattermostTarget = defineTarget<MattermostConfig>({
  type: 'mattermost',
  secretNames: (config) => [config.webhookUrl],
  async send({ deployment, transition }, context): Promise<SendResult> {
    const { config, http, secrets } = context;
    const url = (await secrets.get(config.webhookUrl)).trim();
    if (!/^https?:\/\/[^\s]+$/i.test(url)) {
      throw new PermanentDeliveryError(
        `the secret "${config.webhookUrl}" does not hold an http(s) Mattermost incoming webhook URL`,
      );
    }
    const view = chatView(deployment, transition);
    const body = mattermostPayload(view, chooseTemplates(context.message, config.message), config);
    try {
      await http.send({
        method: 'POST',
        url,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        timeoutMs: config.timeoutMs,
      });
    } catch (error) {
      if (/ answered (400|403|404)\b/.test(error instanceof Error ? error.message : '')) {
        secrets.invalidate(config.webhookUrl);
      }
      throw explain(withoutUrl(error, url, 'Mattermost incoming webhook'));
    }
    return {};
  },
});

/** The webhook payload: a one-line post text (the title) and an attachment with fields, text and links. */
export function mattermostPayload(
  view: ChatView,
  templates: { title: string; text?: string },
  config: { channel?: string; username?: string; iconUrl?: string } = {},
) {
  const title = cut(renderTemplate(templates.title, view, escapeMattermost).trim(), 1000);
  const fallback = cut(renderTemplate(templates.title, view, (v) => v).trim(), 300);
  const fields = chatFields(view).map((field) => ({
    short: true,
    title: field.label,
    value: field.link
      ? `[${escapeMattermost(field.value)}](${markdownUrl(field.link)})`
      : cut(escapeMattermost(field.value), MATTERMOST_LIMITS.fieldValue),
  }));
  const parts: string[] = [];
  if (templates.text) parts.push(renderTemplate(templates.text, view, escapeMattermost).trim());
  else if (view.description) parts.push(escapeMattermost(view.description));
  if (view.error && (view.status === 'failed' || view.status === 'stopped')) {
    parts.push(`**Error:** ${escapeMattermost(view.error)}`);
  }
  const links = chatLinks(view).map((link) =>
    link.url
      ? `[${link.label}](${markdownUrl(link.url)})`
      : `${link.label} \`${(link.note ?? '').replace(/`/g, 'ˋ')}\``,
  );
  if (links.length > 0) parts.push(links.join(' · '));
  return {
    text: cut(title, MATTERMOST_LIMITS.text),
    ...(config.channel ? { channel: config.channel } : {}),
    ...(config.username ? { username: config.username } : {}),
    ...(config.iconUrl ? { icon_url: config.iconUrl } : {}),
    attachments: [
      {
        fallback: breakMentions(fallback).replace(/</g, '<\u2060'),
        color: view.color,
        title: `Deployment ${view.statusText}`,
        ...(view.url ? { title_link: view.url } : {}),
        text: cut(parts.filter(Boolean).join('\n\n'), MATTERMOST_LIMITS.attachmentText),
        fields,
      },
    ],
  };
}

/** A checked http(s) URL as a Markdown link target: parentheses and spaces percent-encoded. */
function markdownUrl(url: string): string {
  return url
    .replace(/\(/g, '%28')
    .replace(/\)/g, '%29')
    .replace(/ /g, '%20')
    .replace(/</g, '%3C')
    .replace(/>/g, '%3E');
}

/** Mattermost answers errors as `{"id","message","status_code"}`; the message says which. */
function explain(error: Error): Error {
  const match = /answered (\d{3}): (\{.*\})$/.exec(error.message);
  if (!match) return error;
  let reason: string | undefined;
  try {
    const parsed = JSON.parse(match[2] as string) as { id?: unknown; message?: unknown };
    reason = [parsed.id, parsed.message].filter((p) => typeof p === 'string' && p).join(': ') || undefined;
  } catch {
    reason = undefined;
  }
  if (!reason) return error;
  const message = `Mattermost incoming webhook answered ${match[1]}: ${reason}`;
  if (error instanceof PermanentDeliveryError) return new PermanentDeliveryError(message);
  return new RetryableDeliveryError(
    message,
    error instanceof RetryableDeliveryError ? error.retryAfterSeconds : undefined,
  );
}
