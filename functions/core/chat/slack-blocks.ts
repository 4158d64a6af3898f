import { breakMentions, cut, escapeAngles } from './sanitize.ts';
import { DEFAULT_TITLE, renderTemplate } from './template.ts';
import type { ChatView } from './view.ts';

/**
 * Slack Block Kit rendering of a deployment (shared by the `slack` target; Mattermost reuses the field list).
 *
 * Untrusted text never reaches Slack as markup:
 * - `plain_text` objects (header, description, error) are never parsed for formatting, links or mentions;
 * - in `mrkdwn` objects every value is escaped (`&`, `<`, `>` → entities, so no `<!here>`, `<@U…>` or
 *   `<url|label>`), its `@` mentions broken, and it is put in an inline code span (Slack has no escape for
 *   `*`, `_`, `~`; a code span is what keeps them literal), its backticks swapped for `ˋ`;
 * - every `mrkdwn` object is `verbatim: true` (no auto-linking of URLs, channel names or mentions).
 * The only links are Shipcast's own: http(s) URLs that passed `safeLink`, with labels Shipcast chose.
 */

/** Block Kit limits (docs.slack.dev/reference/block-kit). */
export const SLACK_LIMITS = {
  header: 150,
  sectionText: 3000,
  fields: 10,
  fieldText: 2000,
  contextElements: 10,
  /** Top-level `text`: Slack truncates beyond 40,000; a notification needs far less. */
  fallbackText: 3000,
} as const;

export interface SlackText {
  type: 'plain_text' | 'mrkdwn';
  text: string;
  emoji?: boolean;
  verbatim?: boolean;
}

/** A Block Kit button (docs.slack.dev/reference/block-kit/block-elements/button-element) with its confirm dialog. */
export interface SlackButton {
  type: 'button';
  action_id: string;
  text: SlackText;
  value: string;
  style?: 'danger' | 'primary';
  confirm?: { title: SlackText; text: SlackText; confirm: SlackText; deny: SlackText; style?: 'danger' };
}

export type SlackBlock =
  | { type: 'header'; text: SlackText }
  | { type: 'section'; text?: SlackText; fields?: SlackText[] }
  | { type: 'context'; elements: SlackText[] }
  | { type: 'actions'; block_id: string; elements: SlackButton[] };

/** The `action_id` of Shipcast's buttons: `shipcast:stop`, `shipcast:stop-and-rollback`. */
export const STOP_ACTION_IDS = {
  stop: 'shipcast:stop',
  'stop-and-rollback': 'shipcast:stop-and-rollback',
} as const;

/** What an operator can do, or did, on the message: the Stop buttons and the stop someone asked for. */
export interface SlackOperatorView {
  /** Show the Stop buttons; their value names the target and the deployment (`<target> <deploymentId>`). */
  stopButtons?: { target: string };
  /** The stop someone asked for (the buttons are gone then). */
  stopRequest?: {
    action: 'stop' | 'stop-and-rollback';
    via: 'slack' | 'api';
    actor: string;
    actorId: string;
    at: string;
  };
}

/** A message as Slack's chat.postMessage / chat.update / incoming webhooks take it. */
export interface SlackMessage {
  /** Fallback for notifications and clients without blocks (sent with `mrkdwn: false`, escaped anyway). */
  text: string;
  blocks: SlackBlock[];
}

/** One labelled value of the default layout. `link` (http(s), already checked) makes the value a link. */
export interface ChatField {
  label: string;
  value: string;
  link?: string;
  /** Shipcast's own words (status), not event text. */
  trusted?: boolean;
}

/** Title and text templates for one message: the route's override wins, then the target's own. */
export interface ChatTemplates {
  title?: string;
  text?: string;
}

/** Picks the templates: route-level (`context.message`) first, then the target config's `message`. */
export function chooseTemplates(
  route: ChatTemplates | undefined,
  target: ChatTemplates | undefined,
): { title: string; text?: string } {
  return { title: route?.title ?? target?.title ?? DEFAULT_TITLE, text: route?.text ?? target?.text };
}

/** The default layout's fields: status, service, environment, version, commit, actor, duration, instances. */
export function chatFields(view: ChatView): ChatField[] {
  const fields: ChatField[] = [
    { label: 'Status', value: `${view.emoji} ${view.statusText}`, trusted: true },
    { label: 'Service', value: view.service },
    { label: 'Environment', value: view.environment },
  ];
  if (view.version) fields.push({ label: 'Version', value: view.version });
  if (view.commit) fields.push({ label: 'Commit', value: view.commit.short, link: view.commit.url });
  if (view.actor) fields.push({ label: 'Actor', value: view.actor });
  if (view.duration) fields.push({ label: 'Duration', value: view.duration, trusted: true });
  if (view.counts) fields.push({ label: 'Instances', value: view.counts, trusted: true });
  return fields;
}

/** Links Shipcast adds under the message: the deployment's own page, and rollback relations. */
export function chatLinks(view: ChatView): { label: string; url?: string; note?: string }[] {
  const links: { label: string; url?: string; note?: string }[] = [];
  if (view.url) links.push({ label: 'Open deployment', url: view.url });
  if (view.rollbackOf) links.push({ label: 'Rolls back', note: view.rollbackOf });
  if (view.rolledBackBy) links.push({ label: 'Rolled back by', note: view.rolledBackBy });
  return links;
}

/** Text for a `plain_text` object: mentions broken, `<` made inert (plain_text is not parsed; belt and braces). */
export function slackPlain(value: string): string {
  return breakMentions(value).replace(/</g, '<\u2060');
}

/** Untrusted text for inside `mrkdwn`: escaped, mentions broken, in an inline code span. Empty stays empty. */
export function slackCode(value: string): string {
  if (!value) return '';
  return `\`${escapeAngles(breakMentions(value)).replace(/`/g, 'ˋ')}\``;
}

/** Untrusted text for the top-level fallback `text` (sent with `mrkdwn: false`): escaped, mentions broken. */
export function slackFallback(value: string): string {
  return escapeAngles(breakMentions(value));
}

/** A link in mrkdwn: `<url|label>`; the URL has passed `safeLink`, `|` and `>` cannot appear in it unescaped. */
export function slackLink(url: string, label: string): string {
  const href = url.replace(/\|/g, '%7C').replace(/>/g, '%3E').replace(/</g, '%3C');
  return `<${href}|${escapeAngles(label).replace(/\|/g, '¦')}>`;
}

const mrkdwn = (text: string): SlackText => ({ type: 'mrkdwn', text, verbatim: true });
const plain = (text: string): SlackText => ({ type: 'plain_text', text, emoji: true });

/** The Block Kit message for one transition: header, fields, description or custom text, error, links, buttons. */
export function slackMessage(
  view: ChatView,
  templates: ChatTemplates = {},
  operator: SlackOperatorView = {},
): SlackMessage {
  const chosen = chooseTemplates(templates, undefined);
  const title = cut(renderTemplate(chosen.title, view, (v) => v).trim(), SLACK_LIMITS.header);
  const blocks: SlackBlock[] = [
    { type: 'header', text: plain(cut(slackPlain(title) || ' ', SLACK_LIMITS.header)) },
  ];

  const fields = chatFields(view)
    .slice(0, SLACK_LIMITS.fields)
    .map((field) => {
      const value = field.link
        ? slackLink(field.link, field.value.replace(/[^0-9A-Za-z]/g, '') || 'commit')
        : field.trusted
          ? escapeAngles(field.value)
          : slackCode(field.value);
      return mrkdwn(cut(`*${field.label}*\n${value}`, SLACK_LIMITS.fieldText));
    });
  blocks.push({ type: 'section', fields });

  if (chosen.text) {
    const text = renderTemplate(chosen.text, view, slackCode).trim();
    if (text) blocks.push({ type: 'section', text: mrkdwn(cut(text, SLACK_LIMITS.sectionText)) });
  } else if (view.description) {
    blocks.push({
      type: 'section',
      text: plain(cut(slackPlain(view.description), SLACK_LIMITS.sectionText)),
    });
  }
  if (view.error && (view.status === 'failed' || view.status === 'stopped')) {
    blocks.push({
      type: 'section',
      text: plain(cut(`Error: ${slackPlain(view.error)}`, SLACK_LIMITS.sectionText)),
    });
  }

  const context = chatLinks(view)
    .slice(0, SLACK_LIMITS.contextElements)
    .map((link) =>
      mrkdwn(link.url ? slackLink(link.url, link.label) : `${link.label} ${slackCode(link.note ?? '')}`),
    );
  if (context.length > 0) blocks.push({ type: 'context', elements: context });
  if (operator.stopRequest)
    blocks.push({ type: 'context', elements: [mrkdwn(stopLine(operator.stopRequest))] });
  if (operator.stopButtons && !view.finished && !operator.stopRequest) {
    blocks.push(stopButtons(view, operator.stopButtons.target));
  }

  return {
    text: cut(slackFallback(renderTemplate(chosen.title, view, (v) => v).trim()), SLACK_LIMITS.fallbackText),
    blocks,
  };
}

/** `⏹ Stop and roll back asked by <@U123> in Slack at 2026-12-06 12:00 UTC`. */
function stopLine(request: NonNullable<SlackOperatorView['stopRequest']>): string {
  const who =
    request.via === 'slack' && /^[UW][A-Z0-9]{2,20}$/.test(request.actorId)
      ? `<@${request.actorId}>`
      : slackCode(request.actor);
  const what = request.action === 'stop' ? 'Stop' : 'Stop and roll back';
  const at = request.at.slice(0, 16).replace('T', ' ');
  return `⏹️ *${what}* asked by ${who} ${request.via === 'slack' ? 'in Slack' : 'through the API'} at ${at} UTC`;
}

/** The "Stop" and "Stop and roll back" buttons, each behind Slack's confirmation dialog. */
function stopButtons(view: ChatView, target: string): SlackBlock {
  const value = `${target} ${view.deploymentId}`;
  const subject = cut(`${slackPlain(view.service)} → ${slackPlain(view.environment)}`, 150);
  const button = (action: keyof typeof STOP_ACTION_IDS, label: string, text: string): SlackButton => ({
    type: 'button',
    action_id: STOP_ACTION_IDS[action],
    text: plain(label),
    value,
    ...(action === 'stop-and-rollback' ? { style: 'danger' as const } : {}),
    confirm: {
      title: plain(cut(`${label}?`, 100)),
      text: plain(cut(`${text} ${subject}`, 300)),
      confirm: plain(label),
      deny: plain('Cancel'),
      style: 'danger',
    },
  });
  return {
    type: 'actions',
    block_id: 'shipcast-operator',
    elements: [
      button('stop', 'Stop', 'CodeDeploy stops the deployment where it is, without rolling back:'),
      button(
        'stop-and-rollback',
        'Stop and roll back',
        'CodeDeploy stops the deployment and redeploys the last successful revision:',
      ),
    ],
  };
}

/** The thread reply with details of a failed deployment (its error in full, description, ids); none without an error. */
export function slackDetails(view: ChatView): SlackMessage | undefined {
  if (!view.error) return undefined;
  const lines = [`Error: ${view.error}`];
  if (view.description) lines.push(`Description: ${view.description}`);
  lines.push(`Deployment: ${view.deploymentId} (${view.source})`);
  const text = lines.join('\n');
  return {
    text: cut(slackFallback(`${view.service} ${view.statusText}: ${view.error}`), SLACK_LIMITS.fallbackText),
    blocks: [{ type: 'section', text: plain(cut(slackPlain(text), SLACK_LIMITS.sectionText)) }],
  };
}
