import { type ForgeHttp, type ForgeReply, type ForgeRequest, startForgeHttp } from './forge-server.ts';

/** A build status as Bitbucket keeps it: the latest per repository, commit and key. */
export interface FakeBuildStatus {
  api: 'cloud' | 'server' | 'legacy';
  /** `workspace/repo` (Cloud), `PROJECT/slug` (Server), empty for the legacy endpoint (commit only). */
  repo: string;
  commit: string;
  key: string;
  state: string;
  name?: string;
  description?: string;
  url: string;
  refname?: string;
  ref?: string;
  /** How many times it was posted. */
  posts: number;
}

/** A Bitbucket Cloud pull request comment. */
export interface FakeBitbucketComment {
  id: number;
  repo: string;
  pr: number;
  raw: string;
  deleted: boolean;
  /** Who wrote it (the credential's account). */
  user: BitbucketAccount;
}

/** A Bitbucket Cloud account as comments and GET /2.0/user show it. */
export interface BitbucketAccount {
  uuid: string;
  display_name: string;
  type: 'user';
}

/** The account of a credential: `token:<index>` of `tokens` or `user:<name>` of `users`. */
export const bitbucketAccount = (who: string): BitbucketAccount => ({
  uuid: `{00000000-0000-4000-8000-${Buffer.from(who).toString('hex').slice(-12).padStart(12, '0')}}`,
  display_name: who,
  type: 'user',
});

export interface BitbucketServerOptions {
  /** Bearer tokens accepted (Cloud access tokens and Data Center HTTP access tokens alike). */
  tokens?: string[];
  /**
   * Of `tokens`, the repository/project/workspace access tokens GET /2.0/user refuses (403 "This API is not
   * accessible by this authentication mechanism").
   */
  accessTokens?: string[];
  /** HTTP Basic users and their passwords (app passwords / API tokens). */
  users?: Record<string, string>;
  /** Cloud repositories (`workspace/repo`). */
  cloudRepos?: string[];
  /** Data Center repositories (`PROJECT/slug`). */
  serverRepos?: string[];
}

/** A local stand-in for Bitbucket Cloud's API (`/2.0/…`) and Bitbucket Data Center's (`/rest/…`) on one port. */
export interface BitbucketServer extends ForgeHttp {
  statuses: FakeBuildStatus[];
  comments: FakeBitbucketComment[];
  /** Request bodies Bitbucket would reject or that carry fields it does not know. */
  violations: string[];
  /** Makes Cloud pull request `id` of `workspace/repo` one that contains `sha` (OPEN, MERGED, DECLINED). */
  linkPullRequest(repo: string, sha: string, id: number, state?: string): void;
  /** Cloud repositories whose pull request commit links are being indexed: a commit's pull requests answer 202. */
  indexing: Set<string>;
  /** Answers the next `times` requests with 429 (Cloud: no Retry-After; Server: `Retry-After`). */
  rateLimitNext(times: number, options?: { retryAfter?: number }): void;
}

const CLOUD_STATES = ['INPROGRESS', 'SUCCESSFUL', 'FAILED', 'STOPPED'];
const SERVER_STATES = ['INPROGRESS', 'SUCCESSFUL', 'FAILED', 'CANCELLED', 'UNKNOWN'];
const LEGACY_STATES = ['INPROGRESS', 'SUCCESSFUL', 'FAILED'];

const cloudError = (status: number, message: string, fields?: Record<string, string[]>): ForgeReply => ({
  status,
  body: { type: 'error', error: { message, ...(fields ? { fields } : {}) } },
});
const serverError = (status: number, message: string, context: string | null = null): ForgeReply => ({
  status,
  body: { errors: [{ context, message, exceptionName: null }] },
});

/** Starts the fake on 127.0.0.1 with a random port. */
export async function startBitbucketServer(options: BitbucketServerOptions): Promise<BitbucketServer> {
  const pullRequests = new Map<string, { id: number; state: string }[]>();
  const limited = { remaining: 0, retryAfter: undefined as number | undefined };
  let nextId = 700;

  /** The account behind the request's credential, or undefined when it is not accepted. */
  const accountOf = (request: ForgeRequest): BitbucketAccount | undefined => {
    const header = String(request.headers.authorization ?? '');
    const bearer = /^Bearer (.+)$/.exec(header)?.[1];
    if (bearer) {
      const index = (options.tokens ?? []).indexOf(bearer);
      return index >= 0 ? bitbucketAccount(`token:${index}`) : undefined;
    }
    const basic = /^Basic (.+)$/.exec(header)?.[1];
    if (!basic) return undefined;
    const [user, ...rest] = Buffer.from(basic, 'base64').toString('utf8').split(':');
    return user !== undefined && options.users?.[user] === rest.join(':')
      ? bitbucketAccount(`user:${user}`)
      : undefined;
  };
  const authenticated = (request: ForgeRequest): boolean => accountOf(request) !== undefined;

  const parse = (request: ForgeRequest, allowed: string[]): Record<string, unknown> | undefined => {
    try {
      const body = JSON.parse(request.body) as Record<string, unknown>;
      const unknown = Object.keys(body).filter((key) => !allowed.includes(key));
      if (unknown.length > 0) state.violations.push(`${request.path}: unknown ${unknown.join(', ')}`);
      return body;
    } catch {
      state.violations.push(`${request.path}: body is not JSON`);
      return undefined;
    }
  };

  const upsert = (status: Omit<FakeBuildStatus, 'posts'>) => {
    const existing = state.statuses.find(
      (s) =>
        s.api === status.api && s.repo === status.repo && s.commit === status.commit && s.key === status.key,
    );
    if (existing) Object.assign(existing, status, { posts: existing.posts + 1 });
    else state.statuses.push({ ...status, posts: 1 });
  };

  const cloud = (request: ForgeRequest, repo: string, rest: string): ForgeReply => {
    if (!(options.cloudRepos ?? []).includes(repo)) return cloudError(404, `Repository ${repo} not found`);
    const status = /^\/commit\/([0-9a-f]{7,64})\/statuses\/build\/?$/.exec(rest);
    if (status && request.method === 'POST') {
      const body = parse(request, ['key', 'state', 'name', 'description', 'url', 'refname']);
      if (!body) return cloudError(400, 'Bad request');
      const fields: Record<string, string[]> = {};
      if (typeof body.key !== 'string' || body.key.length === 0) fields.key = ['This field is required.'];
      else if (body.key.length > 40) fields.key = ['Ensure this value has at most 40 characters.'];
      if (!CLOUD_STATES.includes(String(body.state)))
        fields.state = [`"${body.state}" is not a valid choice.`];
      if (typeof body.url !== 'string' || !/^https?:\/\//.test(body.url)) fields.url = ['Enter a valid URL.'];
      if (Object.keys(fields).length > 0) {
        state.violations.push(`${request.path}: ${JSON.stringify(fields)}`);
        return cloudError(400, 'Bad request', fields);
      }
      upsert({
        api: 'cloud',
        repo,
        commit: status[1] as string,
        key: String(body.key),
        state: String(body.state),
        name: body.name as string | undefined,
        description: body.description as string | undefined,
        url: String(body.url),
        refname: body.refname as string | undefined,
      });
      return { status: 201, body: { type: 'build', key: body.key, state: body.state, url: body.url } };
    }
    const pulls = /^\/commit\/([^/]+)\/pullrequests$/.exec(rest);
    if (pulls && request.method === 'GET') {
      if (state.indexing.has(repo)) return { status: 202, body: {} };
      const values = (pullRequests.get(`${repo}@${pulls[1]}`) ?? []).map((pr) => ({
        type: 'pullrequest',
        id: pr.id,
        state: pr.state,
        title: `PR ${pr.id}`,
      }));
      return { status: 200, body: { pagelen: 50, page: 1, size: values.length, values } };
    }
    const comments = /^\/pullrequests\/(\d+)\/comments(?:\/(\d+))?$/.exec(rest);
    const pr = Number(comments?.[1]);
    const knownPr = [...pullRequests.entries()].some(
      ([key, list]) => key.startsWith(`${repo}@`) && list.some((p) => p.id === pr),
    );
    if (!comments || !knownPr) return cloudError(404, 'Resource not found');
    const commentId = comments[2] ? Number(comments[2]) : undefined;
    const ofPr = state.comments.filter((c) => c.repo === repo && c.pr === pr);
    if (request.method === 'GET' && commentId === undefined) {
      const pagelen = Math.min(100, Number(request.query.get('pagelen') ?? 10));
      const page = Math.max(1, Number(request.query.get('page') ?? 1));
      const values = ofPr.slice((page - 1) * pagelen, page * pagelen).map((c) => ({
        id: c.id,
        type: 'pullrequest_comment',
        deleted: c.deleted,
        content: { raw: c.raw },
        user: c.user,
      }));
      const next =
        page * pagelen < ofPr.length
          ? `${state.url}${request.path}?pagelen=${pagelen}&page=${page + 1}`
          : undefined;
      return { status: 200, body: { pagelen, page, size: ofPr.length, values, ...(next ? { next } : {}) } };
    }
    const raw = (body: Record<string, unknown> | undefined) =>
      (body?.content as { raw?: unknown } | undefined)?.raw;
    if (request.method === 'POST' && commentId === undefined) {
      const text = raw(parse(request, ['content']));
      if (typeof text !== 'string' || !text)
        return cloudError(400, 'Bad request', { content: ['This field is required.'] });
      const user = accountOf(request) as BitbucketAccount;
      const comment = { id: nextId++, repo, pr, raw: text, deleted: false, user };
      state.comments.push(comment);
      return {
        status: 201,
        body: { id: comment.id, type: 'pullrequest_comment', content: { raw: text }, user },
      };
    }
    if (request.method === 'GET' && commentId !== undefined) {
      const comment = ofPr.find((c) => c.id === commentId);
      if (!comment) return cloudError(404, 'Resource not found');
      return {
        status: 200,
        body: {
          id: comment.id,
          type: 'pullrequest_comment',
          deleted: comment.deleted,
          content: { raw: comment.raw },
          user: comment.user,
        },
      };
    }
    if (request.method === 'PUT' && commentId !== undefined) {
      const comment = ofPr.find((c) => c.id === commentId && !c.deleted);
      if (!comment) return cloudError(404, 'Resource not found');
      // Only a comment's author may edit it.
      if (comment.user.uuid !== accountOf(request)?.uuid) return cloudError(403, 'Forbidden');
      const text = raw(parse(request, ['content']));
      if (typeof text !== 'string' || !text)
        return cloudError(400, 'Bad request', { content: ['This field is required.'] });
      comment.raw = text;
      return { status: 200, body: { id: comment.id, type: 'pullrequest_comment', content: { raw: text } } };
    }
    return cloudError(405, 'Method not allowed');
  };

  /** Data Center's checks of a build status body; the body when it passes. */
  const serverStatus = (
    request: ForgeRequest,
    allowed: string[],
    states: string[],
  ): { body: Record<string, unknown> } | { reply: ForgeReply } => {
    const body = parse(request, allowed);
    if (!body) return { reply: serverError(400, 'The request body could not be parsed') };
    const problems: [string, string][] = [];
    if (typeof body.key !== 'string' || !body.key || body.key.length > 255)
      problems.push(['key', 'A key of at most 255 characters is required']);
    if (!states.includes(String(body.state)))
      problems.push(['state', `"${body.state}" is not a valid build state`]);
    if (typeof body.url !== 'string' || !body.url || body.url.length > 450)
      problems.push(['url', 'A url of at most 450 characters is required']);
    for (const field of ['name', 'description'] as const) {
      if (typeof body[field] === 'string' && (body[field] as string).length > 255)
        problems.push([field, `${field} is longer than 255`]);
    }
    if (problems.length > 0) {
      state.violations.push(`${request.path}: ${problems.map(([f, m]) => `${f} ${m}`).join('; ')}`);
      return {
        reply: {
          status: 400,
          body: { errors: problems.map(([context, message]) => ({ context, message, exceptionName: null })) },
        },
      };
    }
    return { body };
  };

  const handle = (request: ForgeRequest): ForgeReply => {
    if (limited.remaining > 0) {
      limited.remaining--;
      return request.path.startsWith('/rest/')
        ? {
            status: 429,
            headers: {
              'x-ratelimit-limit': '60',
              'x-ratelimit-interval-seconds': '1',
              'x-ratelimit-fillrate': '5',
              ...(limited.retryAfter !== undefined ? { 'retry-after': String(limited.retryAfter) } : {}),
            },
            body: {
              errors: [
                {
                  context: null,
                  message: 'You have been rate limited. Try again later.',
                  exceptionName: null,
                },
              ],
            },
          }
        : {
            status: 429,
            headers: {
              'x-ratelimit-limit': '1000',
              'x-ratelimit-resource': 'api',
              'x-ratelimit-nearlimit': 'true',
              ...(limited.retryAfter !== undefined ? { 'retry-after': String(limited.retryAfter) } : {}),
            },
            body: { type: 'error', error: { message: 'Rate limit for this resource has been exceeded' } },
          };
    }
    // GET /2.0/user (developer.atlassian.com/cloud/bitbucket/rest/api-group-users): the credential's account.
    if (request.method === 'GET' && request.path === '/2.0/user') {
      const account = accountOf(request);
      if (!account) return cloudError(401, 'Unauthorized');
      const bearer = /^Bearer (.+)$/.exec(String(request.headers.authorization ?? ''))?.[1];
      if (bearer && options.accessTokens?.includes(bearer))
        return cloudError(403, 'This API is not accessible by this authentication mechanism');
      return { status: 200, body: { ...account, account_id: account.uuid, nickname: account.display_name } };
    }
    const cloudRoute = /^\/2\.0\/repositories\/([^/]+)\/([^/]+)(\/.*)$/.exec(request.path);
    if (cloudRoute) {
      if (!authenticated(request)) return cloudError(401, 'Unauthorized');
      return cloud(
        request,
        `${decodeURIComponent(cloudRoute[1] as string)}/${decodeURIComponent(cloudRoute[2] as string)}`,
        cloudRoute[3] as string,
      );
    }
    if (!request.path.startsWith('/rest/')) return cloudError(404, 'Resource not found');
    if (!authenticated(request)) {
      return serverError(401, 'Authentication failed. Please check your credentials and try again.');
    }
    const builds =
      /^\/rest\/api\/latest\/projects\/([^/]+)\/repos\/([^/]+)\/commits\/([0-9a-f]{7,64})\/builds$/.exec(
        request.path,
      );
    if (builds && request.method === 'POST') {
      const repo = `${builds[1]}/${builds[2]}`;
      if (!(options.serverRepos ?? []).includes(repo))
        return serverError(404, `Repository ${builds[2]} does not exist in project ${builds[1]}.`);
      const checked = serverStatus(
        request,
        [
          'key',
          'state',
          'url',
          'name',
          'description',
          'buildNumber',
          'duration',
          'lastUpdated',
          'parent',
          'ref',
          'testResults',
        ],
        SERVER_STATES,
      );
      if ('reply' in checked) return checked.reply;
      const { body } = checked;
      upsert({
        api: 'server',
        repo,
        commit: builds[3] as string,
        key: String(body.key),
        state: String(body.state),
        name: body.name as string | undefined,
        description: body.description as string | undefined,
        url: String(body.url),
        ref: body.ref as string | undefined,
      });
      return { status: 204 };
    }
    const legacy = /^\/rest\/build-status\/1\.0\/commits\/([0-9a-f]{7,64})$/.exec(request.path);
    if (legacy && request.method === 'POST') {
      const checked = serverStatus(request, ['key', 'state', 'url', 'name', 'description'], LEGACY_STATES);
      if ('reply' in checked) return checked.reply;
      const { body } = checked;
      upsert({
        api: 'legacy',
        repo: '',
        commit: legacy[1] as string,
        key: String(body.key),
        state: String(body.state),
        name: body.name as string | undefined,
        description: body.description as string | undefined,
        url: String(body.url),
      });
      return { status: 204 };
    }
    return serverError(404, 'Not found');
  };

  const http = await startForgeHttp((request) => handle(request));
  const state: BitbucketServer = Object.assign(http, {
    statuses: [] as FakeBuildStatus[],
    comments: [] as FakeBitbucketComment[],
    violations: [] as string[],
    indexing: new Set<string>(),
    linkPullRequest: (repo: string, sha: string, id: number, prState = 'OPEN') => {
      const key = `${repo}@${sha}`;
      pullRequests.set(key, [...(pullRequests.get(key) ?? []), { id, state: prState }]);
    },
    rateLimitNext: (times: number, { retryAfter }: { retryAfter?: number } = {}) => {
      Object.assign(limited, { remaining: times, retryAfter });
    },
  });
  const resetHttp = http.reset;
  state.reset = () => {
    resetHttp();
    state.violations.length = 0;
    limited.remaining = 0;
  };
  return state;
}
