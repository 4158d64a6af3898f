import { PermanentDeliveryError, RetryableDeliveryError } from '../errors.ts';
import { answerOf, retryAfterSeconds } from '../http-client.ts';
import type { Deployment } from '../schema.ts';
import type { TargetContext } from './target.ts';

/**
 * Shared by the GitLab targets (gitlab-status, gitlab-comment): the project of a deployment, requests with a
 * token, and GitLab's errors and rate limits (docs.gitlab.com/api/rest/troubleshooting and
 * docs.gitlab.com/security/rate_limits: 429 with `Retry-After` and `RateLimit-Reset`, an epoch time).
 */

/** The connection part of a GitLab target's parsed config. */
export interface GitLabConnection {
  /** The instance's URL, without `/api/v4`. */
  baseUrl: string;
  /** Name of the secret holding a personal, project or group access token (scope `api`). */
  token: string;
  timeoutMs?: number;
}

/** The secrets a GitLab target's config names. */
export const gitlabSecretNames = (config: GitLabConnection): string[] => [config.token];

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** A project path (`group/sub/project`) when every segment is one GitLab allows. */
function projectPath(path: string): string | undefined {
  const trimmed = path.replace(/^\/+|\/+$/g, '').replace(/\.git$/, '');
  const segments = trimmed.split('/');
  if (segments.length < 2 || !segments.every((s) => SEGMENT.test(s) && !/^\.+$/.test(s))) return undefined;
  return trimmed;
}

/**
 * The GitLab project of a repository: a path from the GitLab source (`group/sub/project`), or an https/ssh/scp
 * URL on the configured instance's host (`https://gitlab.example.com/group/project(.git)`, links into the
 * project such as `/-/tree/main` allowed).
 */
export function parseGitLabProject(
  repository: string | undefined,
  baseUrl: string,
  fromGitLab: boolean,
): string | undefined {
  const text = repository?.trim();
  if (!text) return undefined;
  if (!/[:@]/.test(text)) return fromGitLab ? projectPath(text) : undefined;
  const host = new URL(baseUrl).hostname.toLowerCase();
  const scp = /^[\w.-]+@([\w.-]+):(?!\/\/)(.+)$/.exec(text);
  if (scp) return scp[1]?.toLowerCase() === host ? projectPath(scp[2] as string) : undefined;
  try {
    const url = new URL(text.replace(/^git\+/, ''));
    if (!['https:', 'http:', 'ssh:'].includes(url.protocol) || url.hostname.toLowerCase() !== host)
      return undefined;
    // A self-managed instance under a relative URL (https://example.com/gitlab) has the prefix in baseUrl.
    const prefix = new URL(baseUrl).pathname.replace(/\/+$/, '');
    let path = url.pathname;
    if (url.protocol !== 'ssh:' && prefix && path.startsWith(`${prefix}/`)) path = path.slice(prefix.length);
    return projectPath(path.split('/-/')[0] ?? '');
  } catch {
    return undefined;
  }
}

/** What a GitLab target needs from a deployment: the project and the commit, or why it has none. */
export function gitlabSubject(
  deployment: Deployment,
  baseUrl: string,
): { project: string; commit: string } | { skip: string } {
  const commit = deployment.revision?.commit?.trim();
  const fromGitLab = deployment.source === 'gitlab';
  const repository = deployment.details?.gitlabProject ?? deployment.revision?.repository;
  if (!repository) return { skip: 'the deployment names no repository' };
  if (!commit) return { skip: 'the deployment names no commit' };
  const project = parseGitLabProject(
    repository,
    baseUrl,
    fromGitLab || Boolean(deployment.details?.gitlabProject),
  );
  if (!project) return { skip: `"${repository}" is not a GitLab project of ${baseUrl}` };
  return { project, commit };
}

/** A GitLab REST client bound to one send. */
export interface GitLabClient {
  /** `GET /api/v4{path}`; `what` says what it is for in errors ("list merge requests"). */
  get<T>(path: string, query: Record<string, string | number>, what: string): Promise<GitLabAnswer<T>>;
  post<T>(path: string, body: unknown, what: string): Promise<GitLabAnswer<T>>;
  put<T>(path: string, body: unknown, what: string): Promise<GitLabAnswer<T>>;
}

export interface GitLabAnswer<T> {
  status: number;
  data: T;
  headers: Headers;
}

/** `/projects/{id}` for a project path or numeric id. */
export const projectApi = (project: string | number) => `/projects/${encodeURIComponent(String(project))}`;

/** A client authenticated with the config's token (`PRIVATE-TOKEN`); a 401 re-reads the secret once. */
export function gitlabClient(context: TargetContext<GitLabConnection>): GitLabClient {
  const { config } = context;
  const call = async <T>(
    method: 'GET' | 'POST' | 'PUT',
    path: string,
    what: string,
    query?: Record<string, string | number>,
    body?: unknown,
  ): Promise<GitLabAnswer<T>> => {
    const url = new URL(`${config.baseUrl.replace(/\/+$/, '')}/api/v4${path}`);
    for (const [key, value] of Object.entries(query ?? {})) url.searchParams.set(key, String(value));
    for (let attempt = 1; ; attempt++) {
      const token = await context.secrets.get(config.token);
      try {
        const response = await context.http.send({
          method,
          url: url.toString(),
          headers: { 'private-token': token, accept: 'application/json' },
          body,
          timeoutMs: config.timeoutMs,
        });
        let data: T;
        try {
          data = response.json<T>();
        } catch {
          throw new RetryableDeliveryError(`GitLab answered ${response.status} with a body that is not JSON`);
        }
        return { status: response.status, data, headers: response.headers };
      } catch (error) {
        if (attempt === 1 && answerOf(error)?.status === 401) {
          context.secrets.invalidate(config.token);
          continue;
        }
        throw explainGitLab(error, what, context.clock.now().getTime());
      }
    }
  };
  return {
    get: (path, query, what) => call('GET', path, what, query),
    post: (path, body, what) => call('POST', path, what, undefined, body),
    put: (path, body, what) => call('PUT', path, what, undefined, body),
  };
}

/** GitLab's error body as one line: `{"message": "…"}`, `{"message": {"field": ["…"]}}` or `{"error": "…"}`. */
export function gitlabMessage(text: string, parsed: unknown): string {
  const body = (parsed ?? {}) as { message?: unknown; error?: unknown; error_description?: unknown };
  let message: string;
  if (typeof body.message === 'string') message = body.message;
  else if (body.message && typeof body.message === 'object')
    message = Object.entries(body.message as Record<string, unknown>)
      .map(([field, value]) => `${field} ${Array.isArray(value) ? value.join(', ') : String(value)}`)
      .join('; ');
  else if (typeof body.error === 'string')
    message = [body.error, body.error_description].filter((part) => typeof part === 'string').join(': ');
  else message = text.replace(/\s+/g, ' ').trim() || '(empty body)';
  return message.length > 300 ? `${message.slice(0, 300)}…` : message;
}

const HINTS: Record<number, string> = {
  401: 'the token was rejected: revoked, expired or not a GitLab access token',
  403: 'the token lacks permission: it needs the api scope and at least the Developer role on the project',
  404: 'the project, commit or merge request does not exist, or the token cannot see it',
};

/**
 * How long a GitLab 429 asks to wait: `Retry-After`, else `RateLimit-Reset` (GitLab sends an epoch time, not the
 * seconds the IETF draft means), else `RateLimit-ResetTime` (an HTTP date), else a minute.
 */
export function gitlabWait(headers: Headers, nowMs: number): number {
  const retryAfter = headers.get('retry-after');
  if (retryAfter) return retryAfterSeconds(new Headers({ 'retry-after': retryAfter }), nowMs) ?? 60;
  const reset = Number(headers.get('ratelimit-reset'));
  if (Number.isFinite(reset) && reset > 0) {
    return reset > 1e9 ? Math.max(1, Math.ceil(reset - nowMs / 1000)) : Math.ceil(reset);
  }
  const resetTime = Date.parse(headers.get('ratelimit-resettime') ?? '');
  if (!Number.isNaN(resetTime)) return Math.max(1, Math.ceil((resetTime - nowMs) / 1000));
  return 60;
}

/** Turns an HttpClient error into one that says what GitLab said and what to do. */
export function explainGitLab(error: unknown, what: string, nowMs: number): unknown {
  const answer = answerOf(error);
  if (!answer) return error;
  const message = gitlabMessage(answer.text, answer.json());
  if (answer.status === 429) {
    const wait = gitlabWait(answer.headers, nowMs);
    return new RetryableDeliveryError(
      `GitLab rate limit while trying to ${what}: 429 ${message}; retrying in ${wait} s`,
      wait,
      { cause: error },
    );
  }
  if (error instanceof RetryableDeliveryError) {
    return new RetryableDeliveryError(
      `GitLab could not ${what}: ${answer.status} ${message}`,
      error.retryAfterSeconds,
      {
        cause: error,
      },
    );
  }
  const hint = HINTS[answer.status];
  return new PermanentDeliveryError(
    `GitLab refused to ${what}: ${answer.status} ${message}${hint ? ` — ${hint}` : ''}`,
    { cause: error },
  );
}
