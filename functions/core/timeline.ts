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
const MAX_PARENT_HOPS = 5;

/** What `GET /v1/deployments/{id}` adds for a deployment whose revision names a repository and a commit. */
export interface Timeline {
  repository: string;
  commit: string;
  /** The CI events of the commit and, by `parentEventId`, the events that triggered them; oldest first. */
  events: Omit<CiEvent, 'rev'>[];
  /** When the first push of the commit was recorded, or null when no push event is known. */
  firstPushAt: string | null;
  /** Seconds from `firstPushAt` to the deployment's `finishedAt` (or `createdAt` while it runs); null without a push. */
  leadTimeSeconds: number | null;
}

/** The timeline behind a deployment, or undefined when its revision lacks a repository or a commit. */
export async function deploymentTimeline(
  store: DeploymentStore,
  deployment: Deployment,
): Promise<Timeline | undefined> {
  const repository = normalizeRepository(deployment.revision?.repository);
  const commit = deployment.revision?.commit?.trim();
  if (!repository || !commit) return undefined;
  const found = new Map<string, CiEvent>();
  for (const event of await store.ciEventsForCommit(repository, commit)) found.set(event.eventId, event);
  // Follow parent links to events of other commits (a pull request's head, a push that carried several).
  let frontier = [...found.values()];
  for (let hop = 0; hop < MAX_PARENT_HOPS && frontier.length > 0; hop++) {
    const missing = [
      ...new Set(frontier.map((e) => e.parentEventId).filter((id): id is string => !!id && !found.has(id))),
    ];
    const parents = (await Promise.all(missing.map((id) => store.getCiEvent(id)))).filter(
      (e): e is CiEvent => e !== undefined,
    );
    for (const parent of parents) found.set(parent.eventId, parent);
    frontier = parents;
  }
  const events = [...found.values()].sort(
    (a, b) => a.eventTime.localeCompare(b.eventTime) || a.eventId.localeCompare(b.eventId),
  );
  const firstPush = events.find((e) => e.type === 'PUSH');
  const end = deployment.finishedAt ?? deployment.createdAt;
  return {
    repository,
    commit,
    events: events.map(publicCiEvent),
    firstPushAt: firstPush?.eventTime ?? null,
    leadTimeSeconds: firstPush ? (Date.parse(end) - Date.parse(firstPush.eventTime)) / 1000 : null,
  };
}
