import { createHash } from 'node:crypto';
import { PermanentDeliveryError, RetryableDeliveryError } from '../errors.ts';
import { answerOf, retryAfterSeconds } from '../http-client.ts';
import type { Deployment } from '../schema.ts';
import { registerSecret } from '../telemetry.ts';
import type { TargetContext } from './target.ts';

/**
 * Shared by the Bitbucket targets (bitbucket-status, bitbucket-comment): Bitbucket Cloud
 * (developer.atlassian.com/cloud/bitbucket/rest) and Bitbucket Server / Data Center
 * (developer.atlassian.com/server/bitbucket/rest): repositories, authentication, errors and rate limits.
 */

export const BITBUCKET_CLOUD_API = 'https://api.bitbucket.org';

/** The connection part of a Bitbucket target's parsed config. */
export interface BitbucketConnection {
  api: 'cloud' | 'server';
  /** Cloud: https://api.bitbucket.org when unset; Server / Data Center: the instance's URL (context path included). */
  baseUrl?: string;
  /** Secret holding a bearer token: a Cloud repository/project/workspace access token, or a Data Center HTTP access token. */
  token?: string;
  /** With `password`: HTTP Basic (Cloud: the Atlassian account email with an API token, or the username with an app password). */
  username?: string;
  /** Secret holding the password half of HTTP Basic. */
  password?: string;
  timeoutMs?: number;
}

/** Where the config's API is. */
export const bitbucketBaseUrl = (config: BitbucketConnection): string =>
  (config.baseUrl ?? BITBUCKET_CLOUD_API).replace(/\/+$/, '');

/** The secrets a Bitbucket target's config names. */
export function bitbucketSecretNames(config: BitbucketConnection): string[] {
  return [config.token, config.password].filter((name): name is string => Boolean(name));
}

/** A repository: Cloud `workspace/slug`, or Server `project key/slug`. */
export interface BitbucketRepo {
  owner: string;
  slug: string;
}

const PART = /^~?[A-Za-z0-9_.-]{1,100}$/;

function repoFrom(owner: string | undefined, slug: string | undefined): BitbucketRepo | undefined {
  const name = slug?.replace(/\.git$/, '');
  if (!owner || !name || !PART.test(owner) || !PART.test(name) || /^\.+$/.test(name)) return undefined;
  return { owner, slug: name };
}

/** Host and path of an https/ssh/scp repository URL. */
function hostAndPath(text: string): { host: string; path: string; ssh: boolean } | undefined {
  const scp = /^[\w.-]+@([\w.-]+):(?!\/\/)(.+)$/.exec(text);
  if (scp) return { host: (scp[1] as string).toLowerCase(), path: `/${scp[2]}`, ssh: true };
  try {
    const url = new URL(text.replace(/^git\+/, ''));
    if (!['https:', 'http:', 'ssh:'].includes(url.protocol)) return undefined;
    return { host: url.hostname.toLowerCase(), path: url.pathname, ssh: url.protocol === 'ssh:' };
  } catch {
    return undefined;
  }
}

/**
 * The repository a deployment names. Cloud: `https://bitbucket.org/{workspace}/{repo}(.git)` or its ssh forms.
 * Server: on the instance's host, `…/scm/{PROJECT}/{repo}.git`, `…/projects/{PROJECT}/repos/{repo}/…` or
 * `ssh://git@host:7999/{project}/{repo}.git` (the project key is upper case; personal projects are `~user`).
 */
export function parseBitbucketRepo(
  repository: string | undefined,
  config: BitbucketConnection,
): BitbucketRepo | undefined {
  const text = repository?.trim();
  const where = text ? hostAndPath(text) : undefined;
  if (!where) return undefined;
  const apiHost = new URL(bitbucketBaseUrl(config)).hostname.toLowerCase();
  const segments = where.path.split('/').filter(Boolean);
  if (config.api === 'cloud') {
    const hosts = ['bitbucket.org', 'www.bitbucket.org', apiHost.replace(/^api\./, '')];
    return hosts.includes(where.host) ? repoFrom(segments[0], segments[1]) : undefined;
  }
  if (where.host !== apiHost) return undefined;
  const key = (value: string | undefined) => value?.toUpperCase();
  if (where.ssh) return repoFrom(key(segments.at(-2)), segments.at(-1));
  const scm = segments.lastIndexOf('scm');
  if (scm >= 0) return repoFrom(key(segments[scm + 1]), segments[scm + 2]);
  const projects = segments.lastIndexOf('projects');
  if (projects >= 0 && segments[projects + 2] === 'repos') {
    return repoFrom(key(segments[projects + 1]), segments[projects + 3]);
  }
  return undefined;
}

/** What a Bitbucket target needs from a deployment: the repository and the commit, or why it has none. */
export function bitbucketSubject(
  deployment: Deployment,
  config: BitbucketConnection,
): { repo: BitbucketRepo; commit: string } | { skip: string } {
  const repository = deployment.revision?.repository;
  const commit = deployment.revision?.commit?.trim();
  if (!repository) return { skip: 'the deployment names no repository' };
  if (!commit) return { skip: 'the deployment names no commit' };
  const repo = parseBitbucketRepo(repository, config);
  if (!repo) {
    const where = config.api === 'cloud' ? 'Bitbucket Cloud' : new URL(bitbucketBaseUrl(config)).host;
    return { skip: `"${repository}" is not a repository URL of ${where}` };
  }
  return { repo, commit };
}

/** The longest status key Bitbucket Cloud accepts (Shipcast keeps the same limit on Server). */
export const STATUS_KEY_MAX = 40;

/**
 * A status key from a rendered template, stable for the same input: characters other than letters, digits,
 * `.`, `_` and `-` become `-`; a key longer than 40 keeps its first 31 characters and adds `-` and the first 8
 * hex digits of the SHA-256 of the whole rendered key, so two long keys that share a prefix stay apart.
 */
export function statusKey(rendered: string): string {
  const readable =
    rendered
      .replace(/[^A-Za-z0-9._-]+/g, '-')
      .replace(/-{2,}/g, '-')
      .replace(/^-|-$/g, '') || 'shipcast';
  if (readable.length <= STATUS_KEY_MAX) return readable;
  const hash = createHash('sha256').update(rendered).digest('hex').slice(0, 8);
  return `${readable.slice(0, STATUS_KEY_MAX - 9).replace(/[-.]+$/, '')}-${hash}`;
}

/** A Bitbucket REST client bound to one send. */
export interface BitbucketClient {
  /** `method {baseUrl}{path}`: paths start with `/2.0/` (Cloud) or `/rest/` (Server). */
  request<T>(
    method: 'GET' | 'POST' | 'PUT',
    path: string,
    what: string,
    options?: { query?: Record<string, string | number>; body?: unknown },
  ): Promise<{ status: number; data: T }>;
}

/** A client authenticated as the config says; a 401 re-reads the secrets once. */
export function bitbucketClient(context: TargetContext<BitbucketConnection>): BitbucketClient {
  const { config } = context;
  const authorization = async (): Promise<string> => {
    if (config.token) return `Bearer ${await context.secrets.get(config.token)}`;
    const basic = Buffer.from(
      `${config.username}:${await context.secrets.get(config.password as string)}`,
    ).toString('base64');
    registerSecret(basic);
    return `Basic ${basic}`;
  };
  return {
    async request<T>(
      method: 'GET' | 'POST' | 'PUT',
      path: string,
      what: string,
      options: { query?: Record<string, string | number>; body?: unknown } = {},
    ) {
      const url = new URL(`${bitbucketBaseUrl(config)}${path}`);
      for (const [key, value] of Object.entries(options.query ?? {}))
        url.searchParams.set(key, String(value));
      for (let attempt = 1; ; attempt++) {
        try {
          const response = await context.http.send({
            method,
            url: url.toString(),
            headers: { authorization: await authorization(), accept: 'application/json' },
            body: options.body,
            timeoutMs: config.timeoutMs,
          });
          let data: T;
          try {
            data = response.json<T>();
          } catch {
            throw new RetryableDeliveryError(
              `Bitbucket answered ${response.status} with a body that is not JSON`,
            );
          }
          return { status: response.status, data };
        } catch (error) {
          if (attempt === 1 && answerOf(error)?.status === 401) {
            for (const name of bitbucketSecretNames(config)) context.secrets.invalidate(name);
            continue;
          }
          throw explainBitbucket(error, what);
        }
      }
    },
  };
}

/**
 * Bitbucket's error body as one line: Cloud `{"type": "error", "error": {"message", "detail", "fields"}}`,
 * Server `{"errors": [{"context", "message", "exceptionName"}]}`.
 */
export function bitbucketMessage(text: string, parsed: unknown): string {
  const body = (parsed ?? {}) as { error?: unknown; errors?: unknown };
  let message: string;
  if (body.error && typeof body.error === 'object') {
    const {
      message: main,
      detail,
      fields,
    } = body.error as { message?: unknown; detail?: unknown; fields?: unknown };
    const fieldText =
      fields && typeof fields === 'object'
        ? Object.entries(fields as Record<string, unknown>)
            .map(([field, value]) => `${field}: ${Array.isArray(value) ? value.join(', ') : String(value)}`)
            .join('; ')
        : '';
    message = [main, typeof detail === 'string' ? detail : '', fieldText]
      .filter((part) => typeof part === 'string' && part)
      .join(' — ');
  } else if (Array.isArray(body.errors)) {
    message = body.errors
      .map((e: { context?: unknown; message?: unknown }) =>
        [
          typeof e?.context === 'string' ? `${e.context}:` : '',
          typeof e?.message === 'string' ? e.message : '',
        ]
          .filter(Boolean)
          .join(' '),
      )
      .filter(Boolean)
      .join('; ');
  } else {
    message = '';
  }
  message ||= text.replace(/\s+/g, ' ').trim() || '(empty body)';
  return message.length > 300 ? `${message.slice(0, 300)}…` : message;
}

const HINTS: Record<number, string> = {
  401: 'the credential was rejected: check the token (or username and password) the secrets hold',
  403: 'the credential lacks permission: Cloud needs the repository:write scope (pullrequest:write for comments), Data Center repository read and a token allowed to write',
  404: 'the repository, commit or pull request does not exist, or the credential cannot see it',
};

/** Bitbucket Cloud's 429 names no wait (its limits are per rolling hour): a minute, unless `Retry-After` says. */
const DEFAULT_RATE_LIMIT_WAIT = 60;

/** Turns an HttpClient error into one that says what Bitbucket said and what to do. */
export function explainBitbucket(error: unknown, what: string): unknown {
  const answer = answerOf(error);
  if (!answer) return error;
  const message = bitbucketMessage(answer.text, answer.json());
  if (answer.status === 429) {
    const wait = retryAfterSeconds(answer.headers, Date.now()) ?? DEFAULT_RATE_LIMIT_WAIT;
    return new RetryableDeliveryError(
      `Bitbucket rate limit while trying to ${what}: 429 ${message}; retrying in ${wait} s`,
      wait,
      { cause: error },
    );
  }
  if (error instanceof RetryableDeliveryError) {
    return new RetryableDeliveryError(
      `Bitbucket could not ${what}: ${answer.status} ${message}`,
      error.retryAfterSeconds,
      {
        cause: error,
      },
    );
  }
  const hint = HINTS[answer.status];
  return new PermanentDeliveryError(
    `Bitbucket refused to ${what}: ${answer.status} ${message}${hint ? ` — ${hint}` : ''}`,
    {
      cause: error,
    },
  );
}
