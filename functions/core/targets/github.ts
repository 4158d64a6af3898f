import { createPrivateKey, type KeyObject, sign } from 'node:crypto';
import { PermanentDeliveryError, RetryableDeliveryError } from '../errors.ts';
import { answerOf, type HttpResponse, retryAfterSeconds } from '../http-client.ts';
import { stableHash } from '../ids.ts';
import type { Deployment } from '../schema.ts';
import type { Status } from '../status.ts';
import { registerSecret } from '../telemetry.ts';
import { GITHUB_API } from './github-api.ts';
import type { TargetContext } from './target.ts';

/** Shared by the GitHub targets (github-deployment, github-status): config, auth, requests, limits. */

export const GITHUB_API_VERSION = '2022-11-28';

/** The connection part of a GitHub target's parsed config. */
export interface GitHubConnection {
  baseUrl: string;
  token?: string;
  app?: { appId: number | string; privateKey: string; installationId?: number };
  maxWritesPerMinute: number;
  timeoutMs?: number;
}

/** The secrets a GitHub target's config names. */
export function githubSecretNames(config: GitHubConnection): string[] {
  return config.token ? [config.token] : config.app ? [config.app.privateKey] : [];
}

/** GitHub's templates (`environmentUrl`, `context`) use the config's one template engine. */
export { renderTemplate, templateProblems } from '../template.ts';

/** Cuts text to at most `max` characters (code points, as GitHub counts), ending with `…` when cut. */
export function cut(text: string, max = 140): string {
  const chars = Array.from(text.replace(/\s+/g, ' ').trim());
  return chars.length <= max ? chars.join('') : `${chars.slice(0, max - 1).join('')}…`;
}

/** The deployment's URL when it is http(s) (GitHub links it); anything else is left out. */
export function httpUrl(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.toString() : undefined;
  } catch {
    return undefined;
  }
}

/** One line saying what happened, for GitHub's 140-character descriptions. */
export function describeStatus(deployment: Deployment, status: Status): string {
  const label = [deployment.service, deployment.version].filter(Boolean).join(' ') || 'deployment';
  const where = deployment.environment ? ` to ${deployment.environment}` : '';
  const why = deployment.error?.message ? `: ${deployment.error.message}` : '';
  switch (status) {
    case 'queued':
      return cut(`${label}${where}: queued`);
    case 'in_progress':
      return cut(`${label}${where}: deploying`);
    case 'succeeded':
      return cut(`${label}${where}: deployed`);
    case 'failed':
      return cut(`${label}${where}: failed${why}`);
    case 'stopped':
      return cut(`${label}${where}: stopped${why}`);
  }
}

/** A GitHub repository. */
export interface GitHubRepo {
  owner: string;
  repo: string;
}

const OWNER = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/;
const REPO = /^[A-Za-z0-9._-]{1,100}$/;
/** `owner/name` with no host: GitHub's way of naming a repository, and GitLab's of naming a project. */
const BARE_SLUG = /^[^/:@\s]+\/[^/:@\s]+$/;

/**
 * Reads `owner/name`, `https://github.com/owner/name(.git)`, `git@github.com:owner/name.git` or
 * `ssh://git@github.com/owner/name.git`. URLs must point at github.com or at the host of `baseUrl`
 * (GitHub Enterprise Server: `https://ghe.example.com/api/v3` → `ghe.example.com`).
 */
export function parseRepository(value: string | undefined, baseUrl = GITHUB_API): GitHubRepo | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  let path: string | undefined;
  if (BARE_SLUG.test(text)) {
    path = text;
  } else {
    const scp = /^[\w.-]+@([\w.-]+):(.+)$/.exec(text);
    let host: string | undefined;
    if (scp) {
      host = scp[1];
      path = scp[2];
    } else {
      try {
        const url = new URL(text.replace(/^git\+/, ''));
        if (!['https:', 'http:', 'ssh:', 'git:'].includes(url.protocol)) return undefined;
        host = url.hostname;
        path = url.pathname.replace(/^\/+|\/+$/g, '');
      } catch {
        return undefined;
      }
    }
    if (!host || !githubHosts(baseUrl).includes(host.toLowerCase())) return undefined;
  }
  const [owner, name, ...rest] = (path ?? '').split('/');
  const repo = name?.replace(/\.git$/, '');
  if (rest.length > 0 || !owner || !repo || !OWNER.test(owner) || !REPO.test(repo)) return undefined;
  if (repo === '.' || repo === '..') return undefined;
  return { owner, repo };
}

function githubHosts(baseUrl: string): string[] {
  const hosts = ['github.com', 'www.github.com'];
  try {
    const host = new URL(baseUrl).hostname.toLowerCase();
    if (host !== 'api.github.com') hosts.push(host, host.replace(/^api\./, ''));
  } catch {
    // the config schema already checked the URL
  }
  return hosts;
}

/** What a GitHub target needs from a deployment: the repository and the commit, or why it has none. */
export function githubSubject(
  deployment: Deployment,
  baseUrl: string,
): { repo: GitHubRepo; commit: string } | { skip: string } {
  const repository = deployment.revision?.repository;
  const commit = deployment.revision?.commit?.trim();
  if (!repository) return { skip: 'the deployment names no repository' };
  if (!commit) return { skip: 'the deployment names no commit' };
  if (deployment.source === 'gitlab' && BARE_SLUG.test(repository.trim())) {
    // GitLab names its project by path: a GitHub repository of the same name is someone else's.
    return { skip: `"${repository}" is a GitLab project path, not a GitHub repository` };
  }
  const repo = parseRepository(repository, baseUrl);
  if (!repo) return { skip: `"${repository}" is not a GitHub repository of ${baseUrl}` };
  return { repo, commit };
}

/** A full commit SHA (SHA-1 or SHA-256), as opposed to a short one or a ref name. */
export function isFullSha(commit: string): boolean {
  return /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/i.test(commit);
}

/** Adds target ids to a delivery error, so dispatch keeps them even though the send failed. */
export function withRefs(error: unknown, refs: Record<string, string>): unknown {
  if (Object.keys(refs).length === 0) return error;
  if (error instanceof PermanentDeliveryError) {
    return new PermanentDeliveryError(error.message, {
      cause: error.cause ?? error,
      refs: { ...error.refs, ...refs },
    });
  }
  if (error instanceof RetryableDeliveryError) {
    return new RetryableDeliveryError(error.message, error.retryAfterSeconds, {
      cause: error.cause ?? error,
      refs: { ...error.refs, ...refs },
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new RetryableDeliveryError(message, undefined, { cause: error, refs });
}

// ---------------------------------------------------------------------------------------------
// Requests

/** A GitHub REST client for one repository, bound to one send. */
export interface GitHubClient {
  readonly repo: GitHubRepo;
  /** `GET {baseUrl}{path}?{query}`; `what` says what it is for, in errors ("look up deployments"). */
  get<T>(path: string, query: Record<string, string | number>, what: string): Promise<GitHubAnswer<T>>;
  /** `POST {baseUrl}{path}` with a JSON body, spaced by the shared limiter (or using a write reserved before). */
  post<T>(path: string, body: unknown, what: string): Promise<GitHubAnswer<T>>;
  /**
   * Takes one write from the shared budget now, for the next `post`: a send that must read before it writes
   * asks first, so a spent budget costs no read.
   */
  reserveWrite(): Promise<void>;
  /** `PATCH {baseUrl}{path}` with a JSON body, spaced by the shared limiter. */
  patch<T>(path: string, body: unknown, what: string): Promise<GitHubAnswer<T>>;
}

export interface GitHubAnswer<T> {
  status: number;
  data: T;
  headers: Headers;
}

type Context = TargetContext<GitHubConnection>;

/** A client for `repo` authenticated as the config says. */
export function githubClient(context: Context, repo: GitHubRepo): GitHubClient {
  let reserved = 0;
  const call = async <T>(
    method: 'GET' | 'POST' | 'PATCH',
    path: string,
    what: string,
    query?: Record<string, string | number>,
    body?: unknown,
  ): Promise<GitHubAnswer<T>> => {
    for (let attempt = 1; ; attempt++) {
      const credential = await credentialFor(context, repo);
      checkPrimaryLimit(context, credential.limiterKey, method);
      if (method !== 'GET' && attempt === 1) {
        if (reserved > 0) reserved--;
        else await space(context, credential.limiterKey);
      }
      try {
        const response = await context.http.send({
          method,
          url: apiUrl(context.config.baseUrl, path, query),
          headers: githubHeaders(credential.token),
          body,
          timeoutMs: context.config.timeoutMs,
        });
        notePrimaryLimit(credential.limiterKey, response.headers);
        return answer<T>(response);
      } catch (error) {
        const headers = answerOf(error)?.headers;
        if (headers) notePrimaryLimit(credential.limiterKey, headers);
        // A revoked or rotated credential: forget it and try once more with a fresh one.
        if (attempt === 1 && answeredStatus(error) === 401) {
          credential.forget();
          context.logger.info('GitHub rejected the credential (401); refreshing it and retrying once');
          continue;
        }
        throw explain(error, `${what} in ${repo.owner}/${repo.repo}`, context.clock.now().getTime());
      }
    }
  };
  return {
    repo,
    get: (path, query, what) => call('GET', path, what, query),
    post: (path, body, what) => call('POST', path, what, undefined, body),
    reserveWrite: async () => {
      const credential = await credentialFor(context, repo);
      checkPrimaryLimit(context, credential.limiterKey, 'POST');
      await space(context, credential.limiterKey);
      reserved++;
    },
    patch: (path, body, what) => call('PATCH', path, what, undefined, body),
  };
}

/**
 * Requests of GitHub's primary rate limit (5,000 an hour per token; 1,000 for Actions' GITHUB_TOKEN) kept for
 * writes: once no more than this many are left, reads (look-ups) wait for the reset and only deployment and
 * commit statuses may use the rest.
 */
export const GITHUB_READ_RESERVE = 100;

/** What GitHub's last answer per credential said of its primary limit: requests left, and when it resets. */
const primaryLimits = new Map<string, { remaining: number; resetMs: number }>();

/** Notes `x-ratelimit-remaining` and `x-ratelimit-reset` (UTC epoch seconds) of a `core` answer. */
function notePrimaryLimit(key: string, headers: Headers): void {
  const remaining = Number(headers.get('x-ratelimit-remaining') ?? Number.NaN);
  const reset = Number(headers.get('x-ratelimit-reset') ?? Number.NaN);
  const resource = headers.get('x-ratelimit-resource');
  if (!Number.isInteger(remaining) || !(reset > 0) || (resource && resource !== 'core')) return;
  primaryLimits.set(key, { remaining, resetMs: reset * 1000 });
}

/**
 * Waits (through the queue) for GitHub's reset instead of spending the last requests of the hour: a read once
 * the reserve is reached, any request once none is left. GitHub asks not to call again before
 * `x-ratelimit-reset` when `x-ratelimit-remaining` is 0
 * (https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api).
 */
function checkPrimaryLimit(context: Context, key: string, method: 'GET' | 'POST' | 'PATCH'): void {
  const known = primaryLimits.get(key);
  if (!known) return;
  const now = context.clock.now().getTime();
  if (now >= known.resetMs) {
    primaryLimits.delete(key);
    return;
  }
  const floor = method === 'GET' ? GITHUB_READ_RESERVE : 0;
  if (known.remaining > floor) return;
  const wait = Math.max(1, Math.ceil((known.resetMs - now) / 1000));
  throw new RetryableDeliveryError(
    `GitHub's hourly limit for this credential has ${known.remaining} requests left${
      floor ? `, kept for statuses (${floor})` : ''
    }; waiting ${wait} s for its reset`,
    wait,
  );
}

/** The standard GitHub REST headers (the HttpClient adds the user-agent GitHub requires). */
function githubHeaders(token: string): Record<string, string> {
  return {
    accept: 'application/vnd.github+json',
    'x-github-api-version': GITHUB_API_VERSION,
    authorization: `Bearer ${token}`,
  };
}

function apiUrl(baseUrl: string, path: string, query?: Record<string, string | number>): string {
  const url = new URL(`${baseUrl.replace(/\/+$/, '')}${path}`);
  for (const [key, value] of Object.entries(query ?? {})) url.searchParams.set(key, String(value));
  return url.toString();
}

function answer<T>(response: HttpResponse): GitHubAnswer<T> {
  let data: T;
  try {
    data = response.json<T>();
  } catch {
    throw new RetryableDeliveryError(`GitHub answered ${response.status} with a body that is not JSON`);
  }
  return { status: response.status, data, headers: response.headers };
}

/** Before each write: take one from the shared per-credential budget, or go back to the queue. */
async function space(context: Context, key: string): Promise<void> {
  const limit = context.config.maxWritesPerMinute;
  const wait = await context.limiter.take(key, limit, 60);
  if (wait > 0) {
    throw new RetryableDeliveryError(
      `GitHub writes with this credential are spaced to ${limit} a minute (maxWritesPerMinute); retrying in ${wait} s`,
      wait,
    );
  }
}

/** The HTTP status GitHub answered with, when an HttpClient error carries the answer. */
export function answeredStatus(error: unknown): number | undefined {
  return answerOf(error)?.status;
}

/** GitHub's error body (`{message, errors, documentation_url}`), as one line for `lastError`. */
function githubError(text: string, parsed: unknown): { message?: string; details: string } {
  const body = (parsed ?? {}) as { message?: unknown; errors?: unknown; documentation_url?: unknown };
  if (typeof body.message !== 'string') {
    const flat = text.replace(/\s+/g, ' ').trim();
    return { details: flat.length > 300 ? `${flat.slice(0, 300)}…` : flat || '(empty body)' };
  }
  const errors = Array.isArray(body.errors)
    ? body.errors
        .map((e: unknown) => {
          if (typeof e === 'string') return e;
          if (typeof e !== 'object' || e === null) return '';
          const { field, message, code } = e as { field?: unknown; message?: unknown; code?: unknown };
          return [field, message ?? code].filter((part) => typeof part === 'string').join(' ');
        })
        .filter(Boolean)
    : [];
  const docs = typeof body.documentation_url === 'string' ? ` (${body.documentation_url})` : '';
  const details = `${body.message}${errors.length > 0 ? ` [${errors.join('; ')}]` : ''}${docs}`;
  return { message: body.message, details: details.length > 500 ? `${details.slice(0, 500)}…` : details };
}

const HINTS: Record<number, string> = {
  401: 'the token or GitHub App key was rejected',
  403: 'the token or GitHub App lacks permission (deployments / commit statuses: write) or is blocked',
  404: 'the repository does not exist or the credential cannot see it (GitHub answers 404 for hidden repositories)',
  409: 'merge conflict, or the required status checks (requiredContexts) are not successful',
  422: 'GitHub rejected the request as invalid',
};

/**
 * Turns an HttpClient error into one that says what GitHub said. Rate limits as GitHub documents them:
 * a 403/429 that says so (its message, or the headers) waits `retry-after` first, else until
 * `x-ratelimit-reset` when `x-ratelimit-remaining` is 0, else at least a minute (secondary limits).
 */
export function explain(error: unknown, what: string, nowMs = Date.now()): unknown {
  const answer = answerOf(error);
  if (!answer) return error;
  const { status } = answer;
  const { message, details } = githubError(answer.text, answer.json());
  const fromHeaders = retryAfterSeconds(answer.headers, nowMs);
  const rateLimited =
    status === 429 || fromHeaders !== undefined || /rate limit|abuse detection/i.test(message ?? details);
  if ((status === 403 || status === 429) && rateLimited) {
    const wait = fromHeaders ?? 60;
    return new RetryableDeliveryError(
      `GitHub rate limit while trying to ${what}: ${status} ${details}; retrying in ${wait} s`,
      wait,
      { cause: error },
    );
  }
  if (error instanceof RetryableDeliveryError) {
    return new RetryableDeliveryError(
      `GitHub could not ${what}: ${status} ${details}`,
      error.retryAfterSeconds,
      {
        cause: error,
      },
    );
  }
  const hint = HINTS[status];
  return new PermanentDeliveryError(
    `GitHub refused to ${what}: ${status} ${details}${hint ? ` — ${hint}` : ''}`,
    {
      cause: error,
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Authentication

interface Credential {
  token: string;
  /** Key of the shared write budget: one per installation or token. */
  limiterKey: string;
  /** Drops the credential so the next request fetches a fresh one (after a 401). */
  forget(): void;
}

interface CachedToken {
  token: string;
  /** Epoch ms after which the token is fetched again (5 minutes before it expires). */
  refreshAt: number;
}

/** Installation tokens by `<baseUrl>|<appId>|<installationId>`, kept in memory until near expiry. */
const installationTokens = new Map<string, Promise<CachedToken>>();
/** Installation ids found per repository, by `<baseUrl>|<appId>|<owner>/<repo>`. */
const installationIds = new Map<string, Promise<number>>();

const REFRESH_BEFORE_EXPIRY_MS = 5 * 60_000;

async function credentialFor(context: Context, repo: GitHubRepo): Promise<Credential> {
  const { config, secrets } = context;
  if (config.token) {
    const name = config.token;
    const token = await secrets.get(name);
    return {
      token,
      limiterKey: `github:token:${stableHash(config.baseUrl, token)}`,
      forget: () => secrets.invalidate(name),
    };
  }
  const app = config.app as NonNullable<GitHubConnection['app']>;
  const installationId = app.installationId ?? (await discoverInstallation(context, repo));
  const key = `${config.baseUrl}|${app.appId}|${installationId}`;
  const token = await installationToken(context, installationId, key);
  return {
    token,
    limiterKey: `github:installation:${stableHash(config.baseUrl, String(installationId))}`,
    forget: () => installationTokens.delete(key),
  };
}

async function installationToken(context: Context, installationId: number, key: string): Promise<string> {
  for (;;) {
    const cached = installationTokens.get(key);
    if (!cached) break;
    const value = await cached.catch(() => undefined);
    if (value && value.refreshAt > context.clock.now().getTime()) return value.token;
    // Expired or failed: drop it unless someone already replaced it, then look again.
    if (installationTokens.get(key) === cached) installationTokens.delete(key);
  }
  const pending = fetchInstallationToken(context, installationId);
  installationTokens.set(key, pending);
  pending.catch(() => {
    if (installationTokens.get(key) === pending) installationTokens.delete(key);
  });
  return (await pending).token;
}

async function fetchInstallationToken(context: Context, installationId: number): Promise<CachedToken> {
  const answer = await asApp<{ token?: unknown; expires_at?: unknown }>(
    context,
    'POST',
    `/app/installations/${installationId}/access_tokens`,
    `issue a token for installation ${installationId}`,
  );
  const token = answer.data?.token;
  if (typeof token !== 'string' || token.length === 0) {
    throw new RetryableDeliveryError('GitHub issued no installation token (no `token` in the answer)');
  }
  registerSecret(token);
  const expires = Date.parse(String(answer.data.expires_at));
  // Without a readable expiry, use it for this send only.
  const refreshAt = Number.isNaN(expires) ? 0 : expires - REFRESH_BEFORE_EXPIRY_MS;
  return { token, refreshAt };
}

async function discoverInstallation(context: Context, repo: GitHubRepo): Promise<number> {
  const app = context.config.app as NonNullable<GitHubConnection['app']>;
  const key = `${context.config.baseUrl}|${app.appId}|${repo.owner}/${repo.repo}`.toLowerCase();
  let pending = installationIds.get(key);
  if (!pending) {
    pending = asApp<{ id?: unknown }>(
      context,
      'GET',
      `/repos/${repo.owner}/${repo.repo}/installation`,
      `find the GitHub App's installation on ${repo.owner}/${repo.repo}`,
    ).then(({ data }) => {
      if (typeof data?.id !== 'number')
        throw new RetryableDeliveryError('GitHub answered no installation id');
      return data.id;
    });
    installationIds.set(key, pending);
    pending.catch(() => {
      if (installationIds.get(key) === pending) installationIds.delete(key);
    });
  }
  return pending;
}

/** A request authenticated as the App itself (JWT); a 401 re-reads the private key once. */
async function asApp<T>(
  context: Context,
  method: 'GET' | 'POST',
  path: string,
  what: string,
): Promise<GitHubAnswer<T>> {
  const app = context.config.app as NonNullable<GitHubConnection['app']>;
  for (let attempt = 1; ; attempt++) {
    const jwt = appJwt(app.appId, await privateKey(context), context.clock.now());
    try {
      const response = await context.http.send({
        method,
        url: apiUrl(context.config.baseUrl, path),
        headers: githubHeaders(jwt),
        timeoutMs: context.config.timeoutMs,
      });
      return answer<T>(response);
    } catch (error) {
      if (attempt === 1 && answeredStatus(error) === 401) {
        context.secrets.invalidate(app.privateKey);
        continue;
      }
      throw explain(error, what, context.clock.now().getTime());
    }
  }
}

async function privateKey(context: Context): Promise<KeyObject> {
  const name = (context.config.app as NonNullable<GitHubConnection['app']>).privateKey;
  let pem = await context.secrets.get(name);
  // A PEM pasted into an environment variable often has its newlines escaped.
  if (!pem.includes('\n') && pem.includes('\\n')) pem = pem.replace(/\\n/g, '\n');
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new PermanentDeliveryError(
      `secret "${name}" is not a PEM private key (the GitHub App's .pem file)`,
    );
  }
  if (key.asymmetricKeyType !== 'rsa') {
    throw new PermanentDeliveryError(`secret "${name}" is not an RSA key; GitHub App keys are RSA`);
  }
  return key;
}

/**
 * The JWT a GitHub App authenticates with: RS256, `iat` 60 s in the past (clock drift), `exp` 9 minutes
 * ahead (GitHub allows at most 10), `iss` the App id or client id.
 */
export function appJwt(appId: number | string, key: KeyObject, now: Date): string {
  const seconds = Math.floor(now.getTime() / 1000);
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const signingInput = `${encode({ alg: 'RS256', typ: 'JWT' })}.${encode({ iat: seconds - 60, exp: seconds + 540, iss: appId })}`;
  const signature = sign('sha256', Buffer.from(signingInput), key).toString('base64url');
  const jwt = `${signingInput}.${signature}`;
  registerSecret(jwt);
  return jwt;
}
