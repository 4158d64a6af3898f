import { createHash, createPublicKey, type KeyObject, randomBytes, verify } from 'node:crypto';
import { type ForgeAnswer, type ForgeReply, type ForgeRequest, startForgeHttp } from './forge-server.ts';
import { type GitHubOperation, requestBodyProblems } from './json-schema.ts';

/** One request the fake GitHub received. */
export type GitHubRequest = ForgeRequest;

/** A scripted answer: a status with headers and body, a connection that never answers, or a reset. */
export type GitHubAnswer = ForgeAnswer;

export interface FakeDeploymentStatus {
  id: number;
  state: string;
  description: string;
  environment: string;
  log_url: string;
  target_url: string;
  environment_url: string;
  auto_inactive?: boolean;
}

export interface FakeDeployment {
  id: number;
  owner: string;
  repo: string;
  sha: string;
  ref: string;
  task: string;
  environment: string;
  description: string | null;
  payload: unknown;
  transient_environment: boolean;
  production_environment: boolean;
  required_contexts?: string[];
  auto_merge?: boolean;
  created_at: string;
  statuses: FakeDeploymentStatus[];
}

export interface FakeCommitStatus {
  id: number;
  owner: string;
  repo: string;
  sha: string;
  state: string;
  context: string;
  description: string | null;
  target_url: string | null;
}

/** A comment on a pull request (GitHub stores them as issue comments). */
export interface FakeIssueComment {
  id: number;
  owner: string;
  repo: string;
  issue: number;
  body: string;
  /** Who wrote it: the token's account, or the App's bot account (`<slug>[bot]`, type `Bot`). */
  user: { login: string; id: number; type: 'User' | 'Bot' };
  /** The App a comment was made through (an installation token), else null. */
  performed_via_github_app: { id: number; client_id: string; slug: string } | null;
}

/** The account of the personal token at `index` of `tokens` (what GET /user answers). */
export const tokenAccount = (index: number) => ({
  login: `token-user-${index}`,
  id: 5000 + index,
  type: 'User' as const,
});
/** The App of the stand-in: numeric id (or 4242 when configured by client id), client id and slug. */
const APP_SLUG = 'shipcast-stand-in';

export interface GitHubServerOptions {
  /** Personal access tokens GitHub accepts. */
  tokens?: string[];
  /** A GitHub App: its id, the public half of its key, and where it is installed (`owner/repo` → id). */
  app?: { appId: number | string; publicKey: KeyObject | string; installations: Record<string, number> };
  /** GitHub's clock (token expiry); defaults to the real time. */
  now?: () => Date;
  /** Lifetime of installation tokens (GitHub: one hour). */
  tokenLifetimeMs?: number;
  /**
   * GitHub's primary rate limit (`core`): requests an hour per credential. Every answer to an authenticated
   * request carries `x-ratelimit-limit/-remaining/-used/-reset/-resource`; once none remain, requests answer
   * 403 "API rate limit exceeded" with `x-ratelimit-remaining: 0` until the reset (epoch seconds, `now`'s clock).
   * https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api
   */
  rateLimit?: { limit: number; remaining?: number };
}

/** A local stand-in for the parts of GitHub's REST API Shipcast uses. */
export interface GitHubServer {
  url: string;
  requests: GitHubRequest[];
  deployments: FakeDeployment[];
  commitStatuses: FakeCommitStatus[];
  /** Installation tokens issued, in order. */
  issuedTokens: { token: string; installationId: number; expiresAt: string }[];
  /** Claims of every App JWT that verified. */
  jwtClaims: { iat: number; exp: number; iss: unknown }[];
  /** Request bodies that break GitHub's schemas (or its 140-character description limit). */
  violations: string[];
  /** Requests left in the current rate-limit window per credential (`rateLimit`); tests may set it. */
  rateLimitRemaining: Map<string, number>;
  /** Repositories (`owner/repo`) that do not exist: every call about them answers 404. */
  missingRepos: Set<string>;
  /** Comments on pull requests, in the order they were made. */
  issueComments: FakeIssueComment[];
  /** Makes pull request `number` of `owner/repo` one that contains `sha` (listed by GET …/commits/{sha}/pulls). */
  linkPullRequest(fullName: string, sha: string, number: number, state?: 'open' | 'closed'): void;
  acceptToken(token: string): void;
  /** Revokes a personal token, or (without argument) every installation token issued so far. */
  revoke(token?: string): void;
  /**
   * Answers the next `times` (default 1) requests matching `route` (`METHOD /path`, `*` for one path
   * segment) with `answer`. With `after`, GitHub does its normal work first (stores the deployment,
   * say) and then answers with `answer`: a crash or a lost answer after the write.
   */
  intercept(route: string, answer: GitHubAnswer, options?: { after?: boolean; times?: number }): void;
  /** The deployments Shipcast created for one Shipcast deployment (by payload). */
  deploymentsOf(shipcastDeploymentId: string): FakeDeployment[];
  reset(): void;
  stop(): Promise<void>;
}

const DOCS = 'https://docs.github.com/rest';

/** A GitHub error body. */
export function githubError(message: string, errors?: unknown[]): Record<string, unknown> {
  return { message, ...(errors ? { errors } : {}), documentation_url: DOCS };
}

/** Starts the fake on 127.0.0.1 with a random port. */
export async function startGitHubServer(options: GitHubServerOptions = {}): Promise<GitHubServer> {
  const now = options.now ?? (() => new Date());
  const lifetime = options.tokenLifetimeMs ?? 60 * 60_000;
  const pats = new Set(options.tokens ?? []);
  const revokedInstallationTokens = new Set<string>();
  const publicKey = options.app
    ? typeof options.app.publicKey === 'string'
      ? createPublicKey(options.app.publicKey)
      : options.app.publicKey
    : undefined;
  const pullRequests = new Map<string, { number: number; state: string }[]>();
  let nextId = 1000;

  const checkBody = (
    operation: GitHubOperation,
    request: GitHubRequest,
    resource: string,
  ): ForgeReply | undefined => {
    let body: unknown;
    try {
      body = JSON.parse(request.body);
    } catch {
      state.violations.push(`${request.method} ${request.path}: body is not JSON`);
      return { status: 400, body: githubError('Problems parsing JSON') };
    }
    const problems = requestBodyProblems(operation, body);
    const description = (body as { description?: unknown })?.description;
    if (
      resource !== 'Deployment' &&
      typeof description === 'string' &&
      Array.from(description).length > 140
    ) {
      problems.push('description: is too long (maximum is 140 characters)');
    }
    if (problems.length === 0) return undefined;
    state.violations.push(...problems.map((p) => `${request.method} ${request.path}: ${p}`));
    return {
      status: 422,
      body: githubError(
        'Validation Failed',
        problems.map((message) => ({ resource, code: 'custom', message })),
      ),
    };
  };

  /** Who the bearer is: a PAT, an installation token (with its installation), the App (JWT), or nobody. */
  const authenticate = (
    request: GitHubRequest,
  ):
    | { kind: 'pat'; account: ReturnType<typeof tokenAccount> }
    | { kind: 'installation'; installationId: number }
    | { kind: 'app' }
    | undefined => {
    const bearer = /^Bearer (.+)$/.exec(String(request.headers.authorization ?? ''))?.[1];
    if (!bearer) return undefined;
    if (pats.has(bearer)) return { kind: 'pat', account: tokenAccount([...pats].indexOf(bearer)) };
    const issued = state.issuedTokens.find((t) => t.token === bearer);
    if (issued) {
      if (revokedInstallationTokens.has(bearer) || Date.parse(issued.expiresAt) <= now().getTime())
        return undefined;
      return { kind: 'installation', installationId: issued.installationId };
    }
    if (publicKey && options.app && bearer.split('.').length === 3) {
      const [header, payload, signature] = bearer.split('.') as [string, string, string];
      try {
        const head = JSON.parse(Buffer.from(header, 'base64url').toString()) as { alg?: string };
        const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as {
          iat: number;
          exp: number;
          iss: unknown;
        };
        const valid =
          head.alg === 'RS256' &&
          verify(
            'sha256',
            Buffer.from(`${header}.${payload}`),
            publicKey,
            Buffer.from(signature, 'base64url'),
          ) &&
          String(claims.iss) === String(options.app.appId) &&
          claims.exp > claims.iat &&
          claims.exp - claims.iat <= 600;
        if (valid) {
          state.jwtClaims.push(claims);
          return { kind: 'app' };
        }
      } catch {
        return undefined;
      }
    }
    return undefined;
  };

  const handle = (request: GitHubRequest): ForgeReply => {
    const version = request.headers['x-github-api-version'];
    if (version !== undefined && version !== '2022-11-28') {
      return { status: 400, body: githubError(`API version '${version}' is not supported.`) };
    }
    const who = authenticate(request);
    if (!who) return { status: 401, body: githubError('Bad credentials') };
    const route = `${request.method} ${request.path}`;

    const tokenRoute = /^POST \/app\/installations\/(\d+)\/access_tokens$/.exec(route);
    if (tokenRoute) {
      if (who.kind !== 'app')
        return { status: 401, body: githubError('A JSON web token could not be decoded') };
      const installationId = Number(tokenRoute[1]);
      if (!Object.values(options.app?.installations ?? {}).includes(installationId)) {
        return { status: 404, body: githubError('Not Found') };
      }
      const token = `ghs_${randomBytes(18).toString('hex')}`;
      const expiresAt = new Date(now().getTime() + lifetime).toISOString().replace(/\.\d{3}Z$/, 'Z');
      state.issuedTokens.push({ token, installationId, expiresAt });
      return {
        status: 201,
        body: { token, expires_at: expiresAt, permissions: { deployments: 'write', statuses: 'write' } },
      };
    }

    // GET /user (docs.github.com/rest/users/users#get-the-authenticated-user): a token's account; installation
    // tokens and App JWTs have no user ("Resource not accessible by integration").
    if (route === 'GET /user') {
      return who.kind === 'pat'
        ? { status: 200, body: { ...who.account, node_id: `U_${who.account.id}`, site_admin: false } }
        : { status: 403, body: githubError('Resource not accessible by integration') };
    }

    const repoRoute = /^(GET|POST|PATCH) \/repos\/([^/]+)\/([^/]+)(\/.*)?$/.exec(route);
    if (!repoRoute) {
      return { status: 404, body: githubError('Not Found') };
    }
    const [, method, owner, repo, rest = ''] = repoRoute as unknown as [
      string,
      string,
      string,
      string,
      string?,
    ];
    const fullName = `${owner}/${repo}`;
    if (state.missingRepos.has(fullName)) return { status: 404, body: githubError('Not Found') };

    if (method === 'GET' && rest === '/installation') {
      if (who.kind !== 'app')
        return { status: 401, body: githubError('A JSON web token could not be decoded') };
      const id = options.app?.installations[fullName];
      return id
        ? { status: 200, body: { id, app_id: options.app?.appId, account: { login: owner } } }
        : { status: 404, body: githubError('Not Found') };
    }
    if (who.kind === 'app') {
      return { status: 403, body: githubError('A JSON web token cannot access repository contents') };
    }
    if (who.kind === 'installation' && options.app?.installations[fullName] !== who.installationId) {
      return { status: 403, body: githubError('Resource not accessible by integration') };
    }

    if (method === 'POST' && rest === '/deployments') {
      const invalid = checkBody('repos/create-deployment', request, 'Deployment');
      if (invalid) return invalid;
      const body = request.json<Record<string, unknown>>();
      const ref = String(body.ref);
      const environment = (body.environment as string | undefined) ?? 'production';
      const deployment: FakeDeployment = {
        id: nextId++,
        owner,
        repo,
        ref,
        sha: /^[0-9a-f]{40}$/.test(ref) ? ref : createHash('sha1').update(ref).digest('hex'),
        task: (body.task as string | undefined) ?? 'deploy',
        environment,
        description: (body.description as string | null | undefined) ?? '',
        payload: body.payload ?? {},
        transient_environment: (body.transient_environment as boolean | undefined) ?? false,
        production_environment:
          (body.production_environment as boolean | undefined) ?? environment === 'production',
        required_contexts: body.required_contexts as string[] | undefined,
        auto_merge: body.auto_merge as boolean | undefined,
        created_at: now().toISOString(),
        statuses: [],
      };
      state.deployments.push(deployment);
      return { status: 201, body: deploymentJson(deployment, state.url) };
    }

    if (method === 'GET' && rest === '/deployments') {
      const q = request.query;
      const perPage = Math.min(100, Number(q.get('per_page') ?? 30));
      const page = Math.max(1, Number(q.get('page') ?? 1));
      const all = state.deployments
        .filter((d) => d.owner === owner && d.repo === repo)
        .filter((d) => !q.has('sha') || d.sha === q.get('sha'))
        .filter((d) => !q.has('ref') || d.ref === q.get('ref'))
        .filter((d) => !q.has('task') || d.task === q.get('task'))
        .filter((d) => !q.has('environment') || d.environment === q.get('environment'))
        .reverse();
      const items = all.slice((page - 1) * perPage, page * perPage);
      const headers: Record<string, string> = {};
      if (page * perPage < all.length) {
        const next = new URL(`${state.url}${request.path}?${q}`);
        next.searchParams.set('page', String(page + 1));
        headers.link = `<${next}>; rel="next"`;
      }
      return { status: 200, headers, body: items.map((d) => deploymentJson(d, state.url)) };
    }

    const statusesRoute = /^\/deployments\/(\d+)\/statuses$/.exec(rest);
    if (statusesRoute) {
      const deployment = state.deployments.find(
        (d) => d.id === Number(statusesRoute[1]) && d.owner === owner && d.repo === repo,
      );
      if (!deployment) return { status: 404, body: githubError('Not Found') };
      if (method === 'GET') return { status: 200, body: [...deployment.statuses].reverse() };
      const invalid = checkBody('repos/create-deployment-status', request, 'DeploymentStatus');
      if (invalid) return invalid;
      const body = request.json<Record<string, unknown>>();
      const logUrl = (body.log_url as string | undefined) ?? (body.target_url as string | undefined) ?? '';
      const status: FakeDeploymentStatus = {
        id: nextId++,
        state: String(body.state),
        description: (body.description as string | undefined) ?? '',
        environment: (body.environment as string | undefined) ?? deployment.environment,
        log_url: logUrl,
        target_url: logUrl,
        environment_url: (body.environment_url as string | undefined) ?? '',
        auto_inactive: body.auto_inactive as boolean | undefined,
      };
      deployment.statuses.push(status);
      return { status: 201, body: status };
    }

    const commitRoute = /^\/statuses\/([^/]+)$/.exec(rest);
    if (method === 'POST' && commitRoute) {
      const invalid = checkBody('repos/create-commit-status', request, 'Status');
      if (invalid) return invalid;
      const body = request.json<Record<string, unknown>>();
      const status: FakeCommitStatus = {
        id: nextId++,
        owner,
        repo,
        sha: decodeURIComponent(commitRoute[1] as string),
        state: String(body.state),
        context: (body.context as string | undefined) ?? 'default',
        description: (body.description as string | null | undefined) ?? null,
        target_url: (body.target_url as string | null | undefined) ?? null,
      };
      state.commitStatuses.push(status);
      return { status: 201, body: status };
    }
    return handleComments(request, method, owner, repo, rest, who);
  };

  /** Pull requests of a commit and their comments (docs.github.com/rest/issues/comments). */
  const handleComments = (
    request: GitHubRequest,
    method: string,
    owner: string,
    repo: string,
    rest: string,
    who: { kind: 'pat'; account: ReturnType<typeof tokenAccount> } | { kind: 'installation' },
  ): ForgeReply => {
    const fullName = `${owner}/${repo}`;
    const pullsRoute = /^\/commits\/([^/]+)\/pulls$/.exec(rest);
    if (method === 'GET' && pullsRoute) {
      const pulls = pullRequests.get(`${fullName}@${decodeURIComponent(pullsRoute[1] as string)}`) ?? [];
      return {
        status: 200,
        body: pulls.map((pr) => ({ number: pr.number, state: pr.state, title: `PR ${pr.number}` })),
      };
    }
    const isPull = (issue: number) =>
      [...pullRequests.entries()].some(
        ([key, pulls]) => key.startsWith(`${fullName}@`) && pulls.some((pr) => pr.number === issue),
      );
    const listRoute = /^\/issues\/(\d+)\/comments$/.exec(rest);
    if (listRoute && isPull(Number(listRoute[1]))) {
      const issue = Number(listRoute[1]);
      if (method === 'GET') {
        const perPage = Math.min(100, Number(request.query.get('per_page') ?? 30));
        const page = Math.max(1, Number(request.query.get('page') ?? 1));
        const all = state.issueComments.filter(
          (c) => c.owner === owner && c.repo === repo && c.issue === issue,
        );
        const headers: Record<string, string> = {};
        if (page * perPage < all.length) {
          const next = new URL(`${state.url}${request.path}`);
          next.searchParams.set('per_page', String(perPage));
          next.searchParams.set('page', String(page + 1));
          headers.link = `<${next}>; rel="next"`;
        }
        return { status: 200, headers, body: all.slice((page - 1) * perPage, page * perPage) };
      }
      if (method === 'POST') {
        const invalid = commentBodyProblem(request);
        if (invalid) return invalid;
        const comment: FakeIssueComment = {
          id: nextId++,
          owner,
          repo,
          issue,
          body: request.json<{ body: string }>().body,
          ...authorOf(who),
        };
        state.issueComments.push(comment);
        return { status: 201, body: comment };
      }
    }
    const commentRoute = /^\/issues\/comments\/(\d+)$/.exec(rest);
    if ((method === 'PATCH' || method === 'GET') && commentRoute) {
      const comment = state.issueComments.find(
        (c) => c.id === Number(commentRoute[1]) && c.owner === owner && c.repo === repo,
      );
      if (!comment) return { status: 404, body: githubError('Not Found') };
      if (method === 'GET') return { status: 200, body: comment };
      const invalid = commentBodyProblem(request);
      if (invalid) return invalid;
      comment.body = request.json<{ body: string }>().body;
      return { status: 200, body: comment };
    }
    return { status: 404, body: githubError('Not Found') };
  };

  /** The author fields of a comment made with this credential. */
  const authorOf = (
    who: { kind: 'pat'; account: ReturnType<typeof tokenAccount> } | { kind: 'installation' },
  ): Pick<FakeIssueComment, 'user' | 'performed_via_github_app'> => {
    if (who.kind === 'pat') return { user: who.account, performed_via_github_app: null };
    const appId = options.app?.appId;
    return {
      user: { login: `${APP_SLUG}[bot]`, id: 9000, type: 'Bot' },
      performed_via_github_app: {
        id: typeof appId === 'number' ? appId : 4242,
        client_id: typeof appId === 'string' ? appId : 'Iv1.standin',
        slug: APP_SLUG,
      },
    };
  };

  /** `handle` behind the primary rate limit, when one is set: counted per bearer credential, reset hourly. */
  const limited = (request: GitHubRequest): ForgeReply => {
    const limit = options.rateLimit;
    const bearer = /^Bearer (.+)$/.exec(String(request.headers.authorization ?? ''))?.[1];
    if (!limit || !bearer) return handle(request);
    const reset = Math.ceil(now().getTime() / 3_600_000) * 3600;
    const left = state.rateLimitRemaining.get(bearer) ?? limit.remaining ?? limit.limit;
    const headers = (remaining: number) => ({
      'x-ratelimit-limit': String(limit.limit),
      'x-ratelimit-remaining': String(remaining),
      'x-ratelimit-used': String(limit.limit - remaining),
      'x-ratelimit-reset': String(reset),
      'x-ratelimit-resource': 'core',
    });
    if (left <= 0) {
      return {
        status: 403,
        headers: headers(0),
        body: githubError('API rate limit exceeded for user ID 1.'),
      };
    }
    state.rateLimitRemaining.set(bearer, left - 1);
    const reply = handle(request);
    return { ...reply, headers: { ...headers(left - 1), ...reply.headers } };
  };

  /** GitHub's checks of a comment body: JSON `{body}` with a string of at most 65,536 characters. */
  const commentBodyProblem = (request: GitHubRequest): ForgeReply | undefined => {
    let body: unknown;
    try {
      body = JSON.parse(request.body);
    } catch {
      state.violations.push(`${request.method} ${request.path}: body is not JSON`);
      return { status: 400, body: githubError('Problems parsing JSON') };
    }
    const text = (body as { body?: unknown } | null)?.body;
    const extra = Object.keys(body ?? {}).filter((key) => key !== 'body');
    const problem =
      typeof text !== 'string'
        ? 'body: is missing or not a string'
        : text.length > 65_536
          ? 'body: is too long (maximum is 65536 characters)'
          : extra.length > 0
            ? `${extra.join(', ')}: not a property of a comment`
            : undefined;
    if (!problem) return undefined;
    state.violations.push(`${request.method} ${request.path}: ${problem}`);
    return {
      status: 422,
      body: githubError('Validation Failed', [
        { resource: 'IssueComment', code: 'custom', message: problem },
      ]),
    };
  };

  const http = await startForgeHttp((request) => limited(request), {
    // GitHub answers JSON and names the API version it served, errors and scripted answers included.
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'x-github-api-version-selected': '2022-11-28',
    },
  });
  const resetHttp = http.reset;
  const state: GitHubServer = Object.assign(http, {
    deployments: [] as FakeDeployment[],
    commitStatuses: [] as FakeCommitStatus[],
    issuedTokens: [] as GitHubServer['issuedTokens'],
    jwtClaims: [] as GitHubServer['jwtClaims'],
    violations: [] as string[],
    missingRepos: new Set<string>(),
    rateLimitRemaining: new Map<string, number>(),
    issueComments: [] as FakeIssueComment[],
    linkPullRequest: (fullName: string, sha: string, number: number, prState: 'open' | 'closed' = 'open') => {
      const key = `${fullName}@${sha}`;
      pullRequests.set(key, [...(pullRequests.get(key) ?? []), { number, state: prState }]);
    },
    acceptToken: (token: string) => {
      pats.add(token);
    },
    revoke: (token?: string) => {
      if (token) pats.delete(token);
      else for (const issued of state.issuedTokens) revokedInstallationTokens.add(issued.token);
    },
    deploymentsOf: (id: string) =>
      state.deployments.filter(
        (d) => (d.payload as { shipcast?: { deploymentId?: string } } | null)?.shipcast?.deploymentId === id,
      ),
    reset: () => {
      resetHttp();
      state.violations.length = 0;
    },
  });
  return state;
}

function deploymentJson(d: FakeDeployment, base: string): Record<string, unknown> {
  const url = `${base}/repos/${d.owner}/${d.repo}/deployments/${d.id}`;
  return {
    url,
    id: d.id,
    node_id: `DE_${d.id}`,
    sha: d.sha,
    ref: d.ref,
    task: d.task,
    payload: d.payload,
    original_environment: d.environment,
    environment: d.environment,
    description: d.description,
    creator: { login: 'shipcast[bot]', id: 1, type: 'Bot' },
    created_at: d.created_at,
    updated_at: d.created_at,
    statuses_url: `${url}/statuses`,
    repository_url: `${base}/repos/${d.owner}/${d.repo}`,
    transient_environment: d.transient_environment,
    production_environment: d.production_environment,
  };
}
