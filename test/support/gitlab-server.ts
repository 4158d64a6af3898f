import { type ForgeHttp, type ForgeReply, type ForgeRequest, startForgeHttp } from './forge-server.ts';

/** A commit status as GitLab keeps it (docs.gitlab.com/api/commits#set-the-pipeline-status-of-a-commit). */
export interface FakeGitLabStatus {
  id: number;
  project: string;
  sha: string;
  ref: string | null;
  name: string;
  status: string;
  description: string | null;
  target_url: string | null;
}

/** A merge request note (docs.gitlab.com/api/notes). */
export interface FakeGitLabNote {
  id: number;
  projectId: number;
  iid: number;
  body: string;
  system: boolean;
  /** Who wrote it (the token's account). */
  author: { id: number; username: string };
}

/** The account of the token at `index` of `tokens` (what GET /user answers). */
export const gitlabAccount = (index: number) => ({ id: 7000 + index, username: `token-user-${index}` });

export interface GitLabServerOptions {
  /** Access tokens GitLab accepts (`PRIVATE-TOKEN`). */
  tokens: string[];
  /** Tokens that may read but not write (a Reporter, or the read_api scope): writes answer 403. */
  readOnlyTokens?: string[];
  /** Projects by path with their numeric ids. */
  projects: Record<string, number>;
  /** GitLab's clock, for `RateLimit-Reset` (epoch seconds); defaults to the real time. */
  now?: () => Date;
}

/** A local stand-in for the parts of GitLab's REST API (v4) the GitLab targets use. */
export interface GitLabServer extends ForgeHttp {
  statuses: FakeGitLabStatus[];
  notes: FakeGitLabNote[];
  /** Request bodies GitLab would reject or that carry fields it does not know. */
  violations: string[];
  /** Makes merge request `iid` of `project` one that contains `sha` (state `opened`, `merged`, `closed`). */
  linkMergeRequest(project: string, sha: string, iid: number, state?: string): void;
  /** Answers the next `times` requests with GitLab.com's 429 (`RateLimit-*` headers; `Retry-After` unless told not to). */
  rateLimitNext(times: number, resetInSeconds: number, options?: { retryAfter?: boolean }): void;
}

const STATES = ['pending', 'running', 'success', 'failed', 'canceled'];
const FINISHED = ['success', 'failed', 'canceled'];
/** The state-machine event GitLab names when it refuses a transition. */
const EVENT: Record<string, string> = {
  pending: 'enqueue',
  running: 'run',
  success: 'succeed',
  failed: 'drop',
  canceled: 'cancel',
};
const STATUS_FIELDS = [
  'state',
  'ref',
  'name',
  'context',
  'target_url',
  'description',
  'coverage',
  'pipeline_id',
];

/** Starts the fake on 127.0.0.1 with a random port. */
export async function startGitLabServer(options: GitLabServerOptions): Promise<GitLabServer> {
  const now = options.now ?? (() => new Date());
  const mergeRequests = new Map<string, { iid: number; state: string }[]>();
  const rateLimited: { remaining: number; reset: number; retryAfter: boolean } = {
    remaining: 0,
    reset: 0,
    retryAfter: true,
  };
  let nextId = 5000;
  const message = (status: number, text: string): ForgeReply => ({ status, body: { message: text } });

  const projectOf = (id: string): { path: string; id: number } | undefined => {
    const decoded = decodeURIComponent(id);
    const entry = Object.entries(options.projects).find(
      ([path, n]) => path === decoded || String(n) === decoded,
    );
    return entry ? { path: entry[0], id: entry[1] } : undefined;
  };

  const jsonBody = (request: ForgeRequest, allowed: string[]): Record<string, unknown> | ForgeReply => {
    let body: unknown;
    try {
      body = JSON.parse(request.body);
    } catch {
      state.violations.push(`${request.method} ${request.path}: body is not JSON`);
      return { status: 400, body: { error: 'The request body is not valid JSON' } };
    }
    if (!body || typeof body !== 'object' || Array.isArray(body))
      return { status: 400, body: { error: 'body is invalid' } };
    const unknown = Object.keys(body).filter((key) => !allowed.includes(key));
    if (unknown.length > 0)
      state.violations.push(`${request.method} ${request.path}: unknown ${unknown.join(', ')}`);
    return body as Record<string, unknown>;
  };

  const postStatus = (request: ForgeRequest, project: { path: string }, sha: string): ForgeReply => {
    const body = jsonBody(request, STATUS_FIELDS);
    if ('status' in body && typeof body.status === 'number') return body as ForgeReply;
    const fields = body as Record<string, unknown>;
    const wanted = String(fields.state);
    if (!STATES.includes(wanted))
      return { status: 400, body: { error: 'state does not have a valid value' } };
    if (!/^[0-9a-f]{7,64}$/.test(sha)) return message(404, '404 Commit Not Found');
    const name = String(fields.name ?? fields.context ?? 'default');
    const description = (fields.description as string | undefined) ?? null;
    if (name.length > 255) state.violations.push(`${request.path}: name longer than 255`);
    if (description && description.length > 255)
      state.violations.push(`${request.path}: description longer than 255`);
    const ref = (fields.ref as string | undefined) ?? null;
    const latest = state.statuses.findLast(
      (s) => s.project === project.path && s.sha === sha && s.name === name && s.ref === ref,
    );
    if (latest && !FINISHED.includes(latest.status)) {
      const order = STATES.indexOf(wanted) - STATES.indexOf(latest.status);
      if (order <= 0 && !FINISHED.includes(wanted)) {
        const event = EVENT[wanted];
        return message(
          400,
          `Cannot transition status via :${event} from :${latest.status} (Reason(s): Status cannot transition via "${event}".)`,
        );
      }
      Object.assign(latest, {
        status: wanted,
        description,
        target_url: (fields.target_url as string | undefined) ?? latest.target_url,
      });
      return { status: 201, body: latest };
    }
    const created: FakeGitLabStatus = {
      id: nextId++,
      project: project.path,
      sha,
      ref,
      name,
      status: wanted,
      description,
      target_url: (fields.target_url as string | undefined) ?? null,
    };
    state.statuses.push(created);
    return { status: 201, body: created };
  };

  const noteRoutes = (
    request: ForgeRequest,
    project: { path: string; id: number },
    rest: string,
    account: { id: number; username: string },
  ): ForgeReply => {
    const route = /^\/merge_requests\/(\d+)\/notes(?:\/(\d+))?$/.exec(rest);
    const iid = Number(route?.[1]);
    const known = [...mergeRequests.entries()].some(
      ([key, list]) => key.startsWith(`${project.path}@`) && list.some((mr) => mr.iid === iid),
    );
    if (!route || !known) return message(404, '404 Not found');
    const noteId = route[2] ? Number(route[2]) : undefined;
    const ofMr = state.notes.filter((n) => n.projectId === project.id && n.iid === iid);
    if (request.method === 'GET' && noteId === undefined) {
      const perPage = Math.min(100, Number(request.query.get('per_page') ?? 20));
      const page = Math.max(1, Number(request.query.get('page') ?? 1));
      const headers: Record<string, string> = {
        'x-page': String(page),
        'x-per-page': String(perPage),
        'x-total': String(ofMr.length),
        'x-next-page': page * perPage < ofMr.length ? String(page + 1) : '',
      };
      return { status: 200, headers, body: ofMr.slice((page - 1) * perPage, page * perPage) };
    }
    if (request.method === 'POST' && noteId === undefined) {
      const body = jsonBody(request, ['body', 'internal', 'created_at', 'merge_request_diff_head_sha']);
      if ('status' in body && typeof body.status === 'number') return body as ForgeReply;
      const text = (body as { body?: unknown }).body;
      if (typeof text !== 'string' || text.length === 0)
        return { status: 400, body: { error: 'body is missing' } };
      if (text.length > 1_000_000)
        return message(400, 'Note {:note=>["is too long (maximum is 1000000 characters)"]}');
      const note: FakeGitLabNote = {
        id: nextId++,
        projectId: project.id,
        iid,
        body: text,
        system: false,
        author: account,
      };
      state.notes.push(note);
      return { status: 201, body: { ...note, noteable_iid: iid } };
    }
    if (request.method === 'GET' && noteId !== undefined) {
      const note = ofMr.find((n) => n.id === noteId);
      return note ? { status: 200, body: note } : message(404, '404 Note Not Found');
    }
    if (request.method === 'PUT' && noteId !== undefined) {
      const note = ofMr.find((n) => n.id === noteId);
      if (!note) return message(404, '404 Note Not Found');
      // Only a note's author may edit it (docs.gitlab.com/api/notes#modify-existing-merge-request-note).
      if (note.author.id !== account.id) return message(403, '403 Forbidden');
      const body = jsonBody(request, ['body']);
      if ('status' in body && typeof body.status === 'number') return body as ForgeReply;
      const text = (body as { body?: unknown }).body;
      if (typeof text !== 'string' || text.length === 0)
        return { status: 400, body: { error: 'body is missing' } };
      note.body = text;
      return { status: 200, body: note };
    }
    return message(405, '405 Method Not Allowed');
  };

  const handle = (request: ForgeRequest): ForgeReply => {
    if (rateLimited.remaining > 0) {
      rateLimited.remaining--;
      const reset = Math.floor(now().getTime() / 1000) + rateLimited.reset;
      return {
        status: 429,
        headers: {
          'content-type': 'text/plain',
          'ratelimit-name': 'throttle_authenticated_api',
          'ratelimit-limit': '2000',
          'ratelimit-observed': '2001',
          'ratelimit-remaining': '0',
          'ratelimit-reset': String(reset),
          'ratelimit-resettime': new Date(reset * 1000).toUTCString(),
          ...(rateLimited.retryAfter ? { 'retry-after': String(rateLimited.reset) } : {}),
        },
        body: 'Retry later\n',
      };
    }
    const token = request.headers['private-token'];
    if (typeof token !== 'string' || !options.tokens.includes(token)) return message(401, '401 Unauthorized');
    const account = gitlabAccount(options.tokens.indexOf(token));
    // GET /user (docs.gitlab.com/api/users#get-the-current-user): the token's account.
    if (request.method === 'GET' && request.path === '/api/v4/user')
      return { status: 200, body: { ...account, name: account.username, state: 'active', bot: false } };
    const route = /^\/api\/v4\/projects\/([^/]+)(\/.*)?$/.exec(request.path);
    if (!route) return message(404, '404 Not Found');
    const project = projectOf(route[1] as string);
    if (!project) return message(404, '404 Project Not Found');
    const rest = route[2] ?? '';
    if (request.method !== 'GET' && options.readOnlyTokens?.includes(token))
      return message(403, '403 Forbidden');
    const statusRoute = /^\/statuses\/([^/]+)$/.exec(rest);
    if (statusRoute && request.method === 'POST')
      return postStatus(request, project, decodeURIComponent(statusRoute[1] as string));
    const mrRoute = /^\/repository\/commits\/([^/]+)\/merge_requests$/.exec(rest);
    if (mrRoute && request.method === 'GET') {
      const list = mergeRequests.get(`${project.path}@${decodeURIComponent(mrRoute[1] as string)}`) ?? [];
      return {
        status: 200,
        body: list.map((mr) => ({
          id: mr.iid + 100_000,
          iid: mr.iid,
          project_id: project.id,
          state: mr.state,
        })),
      };
    }
    return noteRoutes(request, project, rest, account);
  };

  const http = await startForgeHttp((request) => handle(request));
  const state: GitLabServer = Object.assign(http, {
    statuses: [] as FakeGitLabStatus[],
    notes: [] as FakeGitLabNote[],
    violations: [] as string[],
    linkMergeRequest: (project: string, sha: string, iid: number, mrState = 'opened') => {
      const key = `${project}@${sha}`;
      mergeRequests.set(key, [...(mergeRequests.get(key) ?? []), { iid, state: mrState }]);
    },
    rateLimitNext: (times: number, resetInSeconds: number, { retryAfter = true } = {}) => {
      Object.assign(rateLimited, { remaining: times, reset: resetInSeconds, retryAfter });
    },
  });
  const resetHttp = http.reset;
  state.reset = () => {
    resetHttp();
    state.violations.length = 0;
    rateLimited.remaining = 0;
  };
  return state;
}
