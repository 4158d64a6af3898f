import { cleanText, cut, safeLink } from '../chat/sanitize.ts';
import { type ChatView, chatView } from '../chat/view.ts';
import { answerOf } from '../http-client.ts';
import { stableHash } from '../ids.ts';
import type { Clock } from '../ports.ts';
import type { Deployment, Transition } from '../schema.ts';
import type { Logger } from '../telemetry.ts';
import { withRefs } from './github.ts';
import type { Notification } from './target.ts';

/**
 * Shared by the pull-request comment targets (github-comment, gitlab-comment, bitbucket-comment): the comment
 * text, the hidden marker that finds it again, and the create-or-update walk over the pull requests.
 *
 * Event text is untrusted. Each value is made inert for every forge's Markdown:
 * - control, bidi and zero-width characters removed, whitespace collapsed (`cleanText`);
 * - a word joiner (U+2060) after every reference sigil followed by a word character — `@user`, `@org/team`,
 *   `#12`, `!12` (GitLab MRs), `~label`, `%milestone`, `$snippet`, `&epic` and `&entity;` — so no forge sees a
 *   mention, a cross-reference or an HTML entity (GitHub and GitLab match references in the rendered text, after
 *   Markdown escapes are gone, so a backslash alone would not stop them);
 * - every ASCII punctuation character backslash-escaped (CommonMark § 2.4), so no link, image, autolink
 *   (`https\://`, `www\.`), emphasis, code span or HTML tag can start.
 * The only links are Shipcast's own: the deployment's http(s) URL, percent-encoded so it cannot close the link.
 */

/** GitHub refuses comment bodies over 65,536 characters; bodies are cut to that on every forge (GitLab allows 1,000,000). */
export const COMMENT_MAX = 65_536;

const SIGIL = /([@#!~%$&])(?=[\p{L}\p{N}_*.-])/gu;
const PUNCTUATION = /([!-/:-@[-`{-~])/g;

/** Untrusted text as inert Markdown: no mention, reference, link, image, HTML or formatting survives. */
export function markdownText(value: string | undefined, max = 300): string {
  return cleanText(value, max).replace(SIGIL, '$1\u2060').replace(PUNCTUATION, '\\$1');
}

/** The hidden lines at the top of a comment: what finds it again, and which deployment it shows. */
export interface CommentMarks {
  /** Identifies Shipcast's comment for one service/environment; a comment starting with it is Shipcast's. */
  marker: string;
  /** The deployment the comment shows (when Shipcast first heard of it, and its id). */
  stamp: string;
}

/**
 * The hidden lines of a deployment's comment (service and environment URI-encoded, so nothing in them can end
 * the comment early). `style: 'html'` uses HTML comments (GitHub, GitLab); `'reference'` unused link
 * reference definitions, which CommonMark renders as nothing (Bitbucket Cloud shows HTML comments as text).
 */
export function commentMarks(deployment: Deployment, style: 'html' | 'reference'): CommentMarks {
  const key = `${encodeURIComponent(deployment.service ?? 'unknown')}/${encodeURIComponent(
    deployment.environment ?? 'unknown',
  )}`;
  const shown = `${deployment.createdAt} ${deployment.id}`;
  return style === 'html'
    ? { marker: `<!-- shipcast:${key} -->`, stamp: `<!-- shipcast-deployment:${shown} -->` }
    : { marker: `[shipcast]: # "shipcast:${key}"`, stamp: `[shipcast-deployment]: # "${shown}"` };
}

const STAMP = /shipcast-deployment(?::|\]: # ")(\S+) [\w-]+/;

/** How far a stamp may lie ahead of Shipcast's clock (clock skew between processes) before it is ignored. */
export const STAMP_SKEW_MS = 5 * 60_000;

/**
 * True when `body` shows a deployment Shipcast heard of after the one of `marks` (a later deployment took the
 * comment over). ISO times in UTC compare as strings; at the same millisecond the last writer wins. A stamp
 * later than now (plus `STAMP_SKEW_MS`) is forged or broken and ignored, so it can never freeze the comment.
 */
function showsNewer(body: string, marks: CommentMarks, now: Date): boolean {
  const theirs = STAMP.exec(body)?.[1];
  const ours = STAMP.exec(marks.stamp)?.[1];
  if (theirs === undefined || ours === undefined || theirs <= ours) return false;
  const at = Date.parse(theirs);
  return !Number.isNaN(at) && at <= now.getTime() + STAMP_SKEW_MS;
}

/** Forge identities by a hash of the credential (never the credential itself), for the life of the process. */
const identities = new Map<string, Promise<string | undefined>>();

/**
 * The forge account a credential writes as, looked up once per process and credential (`credential` is hashed
 * into the cache key with `scope`); undefined when the forge cannot tell. A failed look-up is not kept.
 */
export function cachedIdentity(
  scope: string,
  credential: string,
  lookup: () => Promise<string | undefined>,
): Promise<string | undefined> {
  const key = stableHash(scope, credential);
  let pending = identities.get(key);
  if (!pending) {
    pending = lookup();
    identities.set(key, pending);
    const stored = pending;
    stored.catch(() => {
      if (identities.get(key) === stored) identities.delete(key);
    });
  }
  return pending;
}

/** A link target that cannot end the Markdown link early: parentheses, brackets, spaces and quotes encoded. */
function linkTarget(url: string): string {
  return url.replace(
    /[()[\]<>\s"'\\]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`,
  );
}

/** The comment for one transition: the hidden lines, a headline, the facts, the error, a link to the deployment. */
export function renderComment(deployment: Deployment, transition: Transition, marks: CommentMarks): string {
  const view: ChatView = chatView(deployment, transition);
  const text = (value: string, max = 100) => markdownText(value, max);
  const headline = [text(view.service), view.version ? text(view.version) : '', '→', text(view.environment)]
    .filter(Boolean)
    .join(' ');
  const lines = [marks.marker, marks.stamp, `### ${view.emoji} ${headline}: ${view.statusText}`, ''];
  const facts: [string, string][] = [['Status', `${view.emoji} ${view.statusText}`]];
  if (view.version) facts.push(['Version', text(view.version)]);
  if (view.commit) facts.push(['Commit', text(view.commit.short, 12)]);
  if (view.actor) facts.push(['Deployed by', text(view.actor)]);
  if (view.duration) facts.push(['Duration', view.duration]);
  if (view.counts) facts.push(['Instances', view.counts]);
  for (const [label, value] of facts) lines.push(`- **${label}:** ${value}`);
  if (view.description) lines.push('', text(view.description, 300));
  if (view.error && (view.status === 'failed' || view.status === 'stopped')) {
    lines.push('', `**Error:** ${text(view.error, 500)}`);
  }
  const url = safeLink(deployment.url);
  if (url) lines.push('', `[Open deployment](${linkTarget(url)})`);
  lines.push(
    '',
    `Updated by Shipcast at transition ${view.seq} of deployment ${text(view.deploymentId, 80)}.`,
  );
  return cut(lines.join('\n'), COMMENT_MAX);
}

/** What a comment target does on its forge, for one repository and commit. */
export interface CommentForge {
  /** Forge words for errors and logs ("pull request", "merge request"). */
  noun: string;
  /** The pull/merge requests containing the commit, by their number (iid on GitLab). */
  pullRequests(): Promise<string[]>;
  /**
   * The comment on `pr` written by Shipcast's own identity whose body starts with `marker`, if there is one.
   * Anyone can write the marker: a comment by someone else is never Shipcast's.
   */
  findComment(pr: string, marker: string): Promise<FoundComment | undefined>;
  /** The body of a comment; undefined when it was deleted. */
  readComment(pr: string, commentId: string): Promise<string | undefined>;
  /** Posts a comment; its id. */
  create(pr: string, body: string): Promise<string>;
  /** Replaces a comment's body (a 404 answer means the comment was deleted). */
  update(pr: string, commentId: string, body: string): Promise<void>;
}

/** A comment found on a pull request. */
export interface FoundComment {
  id: string;
  body: string;
}

/** The delivery ref that holds the comment id on one pull request. */
export const commentRef = (pr: string) => `comment:${pr}`;

/**
 * Creates or updates the comment on each pull request containing the commit. The comment is the one whose id
 * the delivery's refs hold, else the one the marker finds (another deployment of the same service/environment,
 * or a post whose answer was lost), else a new one. A comment that shows a later deployment is left alone, so a
 * late transition of an older deployment never overwrites a newer one. Ids learned before a failure are carried
 * on the error, so the retry updates them instead of posting again.
 */
export async function upsertComments(
  forge: CommentForge,
  options: {
    marks: CommentMarks;
    body: string;
    refs: Record<string, string> | undefined;
    logger: Logger;
    now: Date;
  },
): Promise<Record<string, string>> {
  const learned: Record<string, string> = {};
  try {
    const pulls = await forge.pullRequests();
    if (pulls.length === 0) {
      options.logger.info(`no comment: no ${forge.noun} contains the deployed commit`);
      return learned;
    }
    for (const pr of pulls) {
      const known = options.refs?.[commentRef(pr)];
      const knownBody = known ? await readOrGone(forge, pr, known) : undefined;
      const current =
        known && knownBody !== undefined
          ? { id: known, body: knownBody }
          : await forge.findComment(pr, options.marks.marker);
      if (current && showsNewer(current.body, options.marks, options.now)) {
        options.logger.info(`${forge.noun} ${pr}: the comment shows a later deployment; left as it is`);
        continue;
      }
      if (current && (await updateOrGone(forge, pr, current.id, options.body))) {
        if (current.id !== known) learned[commentRef(pr)] = current.id;
        continue;
      }
      learned[commentRef(pr)] = await forge.create(pr, options.body);
    }
    return learned;
  } catch (error) {
    throw withRefs(error, learned);
  }
}

/** A comment's body, or undefined when the forge answers 404 (deleted). */
async function readOrGone(forge: CommentForge, pr: string, id: string): Promise<string | undefined> {
  try {
    return await forge.readComment(pr, id);
  } catch (error) {
    if (statusBehind(error) === 404) return undefined;
    throw error;
  }
}

/** Edits a comment; false when the forge answers 404 (deleted in the meantime). */
async function updateOrGone(forge: CommentForge, pr: string, id: string, body: string): Promise<boolean> {
  try {
    await forge.update(pr, id, body);
    return true;
  } catch (error) {
    if (statusBehind(error) === 404) return false;
    throw error;
  }
}

/**
 * Writes this transition's comment (marks in `style`) on every change `forge` lists, editing the ones written
 * before; answers the refs the delivery keeps.
 */
export async function commentOnChanges(
  forge: CommentForge,
  style: 'html' | 'reference',
  { deployment, transition, delivery }: Notification,
  context: { logger: Logger; clock: Clock },
): Promise<Record<string, string>> {
  const marks = commentMarks(deployment, style);
  return upsertComments(forge, {
    marks,
    body: renderComment(deployment, transition, marks),
    refs: delivery?.refs,
    logger: context.logger,
    now: context.clock.now(),
  });
}

/** The HTTP status behind a delivery error, looking through the causes a forge client wrapped it in. */
export function statusBehind(error: unknown): number | undefined {
  let current = error;
  for (let depth = 0; current && depth < 4; depth++) {
    const answer = answerOf(current);
    if (answer) return answer.status;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
