import type { DeploymentStore } from './ports.ts';
import type { CiEvent, Deployment } from './schema.ts';

/**
 * The one timeline: pushes, pull requests, builds and deployments of the same repository and commit are
 * one story. CI events link to each other by `parentEventId` where the caller gave one, and by the
 * repository+commit otherwise; a deployment joins through its revision's repository+commit (whatever its
 * source: a CodeDeploy deployment whose enrichment names a GitHub commit joins like any other).
 */

/** Hosts whose repository is the first two path segments (`owner/name`), whatever follows. */
const TWO_SEGMENT_HOSTS = new Set(['github.com', 'www.github.com', 'bitbucket.org', 'www.bitbucket.org']);

/**
 * A repository as the timeline keys it: lower-case `owner/name` (`group/subgroup/name` on GitLab), from
 * `owner/name`, an https/http/ssh/git URL (`https://github.com/owner/name(.git)`, `git@github.com:owner/name.git`,
 * GitLab and Bitbucket URLs, Bitbucket Server `…/scm/project/repo.git`), or undefined when it names none.
 */
export function normalizeRepository(input: string | undefined | null): string | undefined {
  const raw = input?.trim();
  if (!raw) return undefined;
  let host = '';
  let path: string;
  const scp = /^[\w.-]+@([\w.-]+):(?!\/\/)(.+)$/.exec(raw); // git@github.com:owner/name.git
  if (scp) {
    host = (scp[1] as string).toLowerCase();
    path = scp[2] as string;
  } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(raw)) {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return undefined;
    }
    host = url.hostname.toLowerCase();
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      // A malformed escape (`%E0%A4%A`, a lone `%`) names no repository Shipcast could match.
      return undefined;
    }
  } else {
    path = raw;
  }
  let segments = path.split('/').filter((s) => s.length > 0);
  // GitLab: everything after `/-/` is a page of the project (tree, commit, merge request, …).
  const dash = segments.indexOf('-');
  if (dash >= 0) segments = segments.slice(0, dash);
  // Bitbucket Server / Data Center clone URLs: https://host/scm/<project>/<repo>.git
  if (segments[0] === 'scm' && segments.length === 3) segments = segments.slice(1);
  if (TWO_SEGMENT_HOSTS.has(host)) segments = segments.slice(0, 2);
  if (segments.length < 2) return undefined;
  const last = (segments.pop() as string).replace(/\.git$/i, '');
  if (!last) return undefined;
  segments.push(last);
  if (!segments.every((s) => /^[\w.~-]+$/.test(s) && s !== '.' && s !== '..')) return undefined;
  return segments.join('/').toLowerCase();
}

/**
 * Whether a caller's repository field names a repository a forge could have: `owner/name` (GitLab
 * `group/subgroup/name`) or a clone URL naming one, with no whitespace or control characters and no `.` or
 * `..` segment (a URL parser would resolve those away, so they are refused before it sees them).
 */
export function isRepositoryReference(raw: string): boolean {
  if (/[\s\p{Cc}\\]/u.test(raw)) return false;
  const path = raw.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '').replace(/^[\w.-]+@[\w.-]+:/, '');
  if (path.split('/').some((segment) => segment === '.' || segment === '..')) return false;
  return normalizeRepository(raw) !== undefined;
}

/**
 * A repository URL without the credentials a clone URL can carry (`https://x-access-token:ghs_…@github.com/…`):
 * an http(s) URL loses its whole user-info (a token may stand alone as the user), any other URL its password
 * (`ssh://git@host/…` keeps `git@`). Anything else is returned as it is.
 */
export function withoutCredentials(url: string): string;
export function withoutCredentials(url: string | undefined): string | undefined;
export function withoutCredentials(url: string | undefined): string | undefined {
  const match = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)(.*)$/is.exec(url ?? '');
  if (!match) return url;
  const [, scheme, authority, rest] = match as unknown as [string, string, string, string];
  const at = authority.lastIndexOf('@');
  if (at < 0) return url;
  const host = authority.slice(at + 1);
  if (/^https?:\/\/$/i.test(scheme)) return `${scheme}${host}${rest}`;
  const user = authority.slice(0, at).split(':')[0];
  return `${scheme}${user}@${host}${rest}`;
}

/** The repository a Pipelines-style payload names: `repo_owner` + `repo_name` first, else `repo_url`. */
export function repositoryFromFields(fields: {
  repo_owner?: string | null;
  repo_name?: string | null;
  repo_url?: string | null;
}): string | undefined {
  if (fields.repo_owner && fields.repo_name) {
    const fromParts = normalizeRepository(`${fields.repo_owner}/${fields.repo_name}`);
    if (fromParts) return fromParts;
  }
  return normalizeRepository(fields.repo_url);
}

/** A CI event as the API shows it: no storage internals. */
export function publicCiEvent(event: CiEvent): Omit<CiEvent, 'rev'> {
  const { rev: _rev, ...rest } = event;
  return rest;
}

/** How many parent links are followed at most (a build's parent is a push or PR: one hop is the norm). */
export const MAX_PARENT_HOPS = 5;

/** CI events of the commit a deployment's answer shows: the newest ones (the rest by cursor). */
export const TIMELINE_EVENTS = 50;
/**
 * CI events of a commit counted at most for `eventsTotal`. A count reads every event it counts (DynamoDB
 * has no cheaper count), so it stops here: 1,000 events of ~0.5 KB are one 1 MB query page.
 */
export const MAX_COUNTED_CI_EVENTS = 1000;
/** Largest page of `GET /v1/deployments/{id}/ci-events`. */
export const MAX_CI_EVENTS_PAGE = 100;

/** What `GET /v1/deployments/{id}` adds for a deployment whose revision names a repository and a commit. */
export interface Timeline {
  repository: string;
  commit: string;
  /**
   * The newest TIMELINE_EVENTS CI events of the commit and, by `parentEventId`, the events that triggered
   * them; oldest first.
   */
  events: Omit<CiEvent, 'rev'>[];
  /** How many CI events the commit has, counted up to MAX_COUNTED_CI_EVENTS. */
  eventsTotal: number;
  /** False when the commit has more than MAX_COUNTED_CI_EVENTS events (`eventsTotal` is then that cap). */
  eventsTotalExact: boolean;
  /** Where `GET /v1/deployments/{id}/ci-events?cursor=…` goes on with older events of the commit; null: none. */
  cursor: string | null;
  /** When the first push of the commit was recorded, or null when no push event is known. */
  firstPushAt: string | null;
  /** Seconds from `firstPushAt` to the deployment's `finishedAt` (or `createdAt` while it runs); null without a push. */
  leadTimeSeconds: number | null;
}

/** The repository and commit a deployment's timeline is about, or undefined when its revision lacks one. */
export function timelineSubject(deployment: Deployment): { repository: string; commit: string } | undefined {
  const repository = normalizeRepository(deployment.revision?.repository);
  const commit = deployment.revision?.commit?.trim();
  return repository && commit ? { repository, commit } : undefined;
}

/**
 * The timeline behind a deployment, or undefined when its revision lacks a repository or a commit. Reads at
 * most: TIMELINE_EVENTS events of the commit (one query), as many of the oldest when there are more (to find
 * the first push), MAX_PARENT_HOPS batched reads of at most TIMELINE_EVENTS parents each, and a count of at
 * most MAX_COUNTED_CI_EVENTS.
 */
export async function deploymentTimeline(
  store: DeploymentStore,
  deployment: Deployment,
): Promise<Timeline | undefined> {
  const subject = timelineSubject(deployment);
  if (!subject) return undefined;
  const { repository, commit } = subject;
  const newest = await store.ciEventsForCommit(repository, commit, { limit: TIMELINE_EVENTS });
  const [counted, oldest] = await Promise.all([
    newest.cursor
      ? store.countCiEventsForCommit(repository, commit, MAX_COUNTED_CI_EVENTS + 1)
      : newest.items.length,
    // The first push is among a commit's oldest events, which the newest page does not reach.
    newest.cursor
      ? store.ciEventsForCommit(repository, commit, { limit: TIMELINE_EVENTS, order: 'asc' })
      : undefined,
  ]);
  const eventsTotal = Math.min(counted, MAX_COUNTED_CI_EVENTS);
  const found = new Map<string, CiEvent>();
  for (const event of newest.items) found.set(event.eventId, event);
  // Follow parent links to events of other commits (a pull request's head, a push that carried several).
  let frontier = [...found.values()];
  for (let hop = 0; hop < MAX_PARENT_HOPS && frontier.length > 0; hop++) {
    const missing = [
      ...new Set(frontier.map((e) => e.parentEventId).filter((id): id is string => !!id && !found.has(id))),
    ];
    const parents = missing.length > 0 ? await store.getCiEvents(missing) : [];
    for (const parent of parents) found.set(parent.eventId, parent);
    frontier = parents;
  }
  const events = [...found.values()].sort(byEventTime);
  const firstPush = [...events, ...(oldest?.items ?? [])].sort(byEventTime).find((e) => e.type === 'PUSH');
  const end = deployment.finishedAt ?? deployment.createdAt;
  return {
    repository,
    commit,
    events: events.map(publicCiEvent),
    eventsTotal,
    eventsTotalExact: counted <= MAX_COUNTED_CI_EVENTS,
    // DynamoDB answers a cursor for a page that was full, even when nothing follows it.
    cursor: newest.cursor && counted > newest.items.length ? newest.cursor : null,
    firstPushAt: firstPush?.eventTime ?? null,
    leadTimeSeconds: firstPush ? (Date.parse(end) - Date.parse(firstPush.eventTime)) / 1000 : null,
  };
}

function byEventTime(a: CiEvent, b: CiEvent): number {
  return a.eventTime.localeCompare(b.eventTime) || a.eventId.localeCompare(b.eventId);
}
