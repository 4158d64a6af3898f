import { breakMentions, cut, escapeMarkdown } from '../chat/sanitize.ts';
import { renderTemplate } from '../chat/template.ts';
import { type ChatView, chatView } from '../chat/view.ts';
import { PermanentDeliveryError, RetryableDeliveryError } from '../errors.ts';
import { answerOf } from '../http-client.ts';
import type { Status } from '../status.ts';
import {
  chooseTemplates,
  explain,
  limiterKey,
  markdownUrl,
  messageOf,
  readWebhookUrl,
} from './chat-webhook.ts';
import { defineTarget } from './target.ts';
import type { TeamsConfig } from './teams.schema.ts';

/** Teams refuses messages over 28 KB; the serialized payload is kept under this many bytes. */
export const TEAMS_MAX_BYTES = 28_000;

/** Teams throttles a webhook that gets more than 4 requests a second. */
export const TEAMS_REQUESTS_PER_SECOND = 4;

/**
 * Untrusted text made literal in an Adaptive Card TextBlock / Fact (a Markdown subset): mentions broken, every
 * Markdown character backslash-escaped — so `<at>x</at>` (a Teams mention needs `msteams.entities`, never sent)
 * and `[text](url)` stay plain text.
 */
export function teamsText(value: string): string {
  return escapeMarkdown(breakMentions(value));
}

const COLORS: Record<Status, string> = {
  queued: 'Default',
  in_progress: 'Accent',
  succeeded: 'Good',
  failed: 'Attention',
  stopped: 'Warning',
};

/**
 * The Workflows request body: a message with one Adaptive Card 1.4 (title, text, facts, error, link
 * actions). Untrusted values are cut to `cap` characters before escaping (to fit the size limit).
 */
export function teamsPayload(
  view: ChatView,
  templates: { title: string; text?: string },
  cap = Number.POSITIVE_INFINITY,
): Record<string, unknown> {
  const esc = (value: string) => teamsText(cap === Number.POSITIVE_INFINITY ? value : cut(value, cap));
  const body: Record<string, unknown>[] = [
    {
      type: 'TextBlock',
      text: renderTemplate(templates.title, view, esc),
      size: 'Medium',
      weight: 'Bolder',
      color: COLORS[view.status],
      wrap: true,
    },
  ];
  const text = templates.text ? renderTemplate(templates.text, view, esc) : esc(view.description);
  if (text) body.push({ type: 'TextBlock', text, wrap: true });

  const facts: { title: string; value: string }[] = [
    { title: 'Status', value: esc(`${view.emoji} ${view.statusText}`) },
    { title: 'Service', value: esc(view.service) },
    { title: 'Environment', value: esc(view.environment) },
  ];
  if (view.version) facts.push({ title: 'Version', value: esc(view.version) });
  if (view.commit) {
    const short = esc(view.commit.short);
    facts.push({
      title: 'Commit',
      value: view.commit.url ? `[${short}](${markdownUrl(view.commit.url)})` : short,
    });
  }
  if (view.actor) facts.push({ title: 'Actor', value: esc(view.actor) });
  if (view.duration) facts.push({ title: 'Duration', value: esc(view.duration) });
  if (view.rollbackOf) facts.push({ title: 'Rolls back', value: esc(view.rollbackOf) });
  if (view.rolledBackBy) facts.push({ title: 'Rolled back by', value: esc(view.rolledBackBy) });
  body.push({ type: 'FactSet', facts });

  if (view.error && (view.status === 'failed' || view.status === 'stopped')) {
    body.push({ type: 'TextBlock', text: `**Error:** ${esc(view.error)}`, color: 'Attention', wrap: true });
  }

  const actions: Record<string, unknown>[] = [];
  if (view.url) actions.push({ type: 'Action.OpenUrl', title: 'Open deployment', url: view.url });
  if (view.commit?.url) actions.push({ type: 'Action.OpenUrl', title: 'View commit', url: view.commit.url });

  return {
    type: 'message',
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        contentUrl: null,
        content: {
          $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
          type: 'AdaptiveCard',
          version: '1.4',
          body,
          ...(actions.length > 0 ? { actions } : {}),
        },
      },
    ],
  };
}

/** The payload, with untrusted fields cut shorter and shorter until the serialized body fits in `maxBytes`. */
export function fittingTeamsPayload(
  view: ChatView,
  templates: { title: string; text?: string },
  maxBytes = TEAMS_MAX_BYTES,
): string {
  for (const cap of [Number.POSITIVE_INFINITY, 2000, 1000, 500, 250, 120, 60, 30, 10]) {
    const serialized = JSON.stringify(teamsPayload(view, templates, cap));
    if (Buffer.byteLength(serialized, 'utf8') <= maxBytes) return serialized;
  }
  throw new PermanentDeliveryError(
    `the Teams card does not fit in ${maxBytes} bytes even with every value cut short: shorten the message templates`,
  );
}

/**
 * Microsoft Teams through a Workflows webhook (Power Automate "When a Teams webhook request is received"):
 * one Adaptive Card per transition (a Workflows webhook cannot update a message it posted).
 */
export const teamsTarget = defineTarget<TeamsConfig>({
  type: 'teams',
  secretNames: (config) => [config.webhookUrl],
  async send({ deployment, transition }, { config, http, secrets, limiter, message }) {
    const view = chatView(deployment, transition);
    const body = fittingTeamsPayload(view, chooseTemplates(config.message, message));
    const url = await readWebhookUrl(secrets, config.webhookUrl, 'Teams');
    const wait = await limiter.take(limiterKey('teams', url.href), TEAMS_REQUESTS_PER_SECOND, 1);
    if (wait > 0) {
      throw new RetryableDeliveryError(
        `Teams accepts ${TEAMS_REQUESTS_PER_SECOND} requests a second per webhook; this one waits ${wait}s`,
        wait,
      );
    }
    try {
      // Workflows answer 202 Accepted (any 2xx is success).
      await http.send({
        method: 'POST',
        url: url.href,
        headers: { 'content-type': 'application/json' },
        body,
        timeoutMs: config.timeoutMs,
      });
    } catch (error) {
      throw explain(error, `Teams workflow: ${reasonOf(error)}`);
    }
    return {};
  },
});

/** Power Automate answers `{"error":{"code","message"}}`; the reason says that, without the URL. */
function reasonOf(error: unknown): string {
  const answer = answerOf(error);
  if (!answer) return messageOf(error);
  const detail = answer.json<{ error?: { code?: unknown; message?: unknown } }>()?.error;
  const parts = [detail?.code, detail?.message].filter((p): p is string => typeof p === 'string' && p !== '');
  const reason = parts.length > 0 ? parts.join(': ') : cut(answer.text.replace(/\s+/g, ' ').trim(), 300);
  return `answered ${answer.status}${reason ? `: ${reason}` : ''}`;
}
