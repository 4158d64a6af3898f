import type { CapturedRequest, ScriptedAnswer, TargetServer } from './target-server.ts';
import { startTargetServer } from './target-server.ts';

/** A change the fake Gerrit holds: its patch sets' commits in order, the last one current. */
export interface FakeChange {
  project: string;
  number: number;
  branch: string;
  status: 'NEW' | 'MERGED' | 'ABANDONED';
  revisions: string[];
}

/** A review the fake Gerrit accepted. */
export interface FakeReview {
  user: string;
  change: number;
  revision: string;
  message?: string;
  labels?: Record<string, number>;
  tag?: string;
  notify?: string;
}

/** A local stand-in for Gerrit's REST API: the change query and the set-review call, as Gerrit answers them. */
export interface GerritServer extends TargetServer {
  changes: FakeChange[];
  reviews: FakeReview[];
}

const XSSI = ")]}'\n";

/**
 * Starts the fake. Everything under `/a/` needs HTTP Basic with one of `accounts` (username → HTTP password),
 * else 401 `Unauthorized`. JSON answers carry Gerrit's `)]}'` prefix; errors are plain text. `labels` are the
 * labels configured on every project with their allowed range; a vote on another label, out of range, on a closed
 * change or on an outdated patch set is refused as Gerrit refuses it (400 / 409).
 */
export async function startGerritServer(options: {
  accounts: Record<string, string>;
  labels: Record<string, [number, number]>;
}): Promise<GerritServer> {
  const server = (await startTargetServer()) as GerritServer;
  server.changes = [];
  server.reviews = [];
  const text = (status: number, body: string): ScriptedAnswer => ({
    status,
    headers: { 'content-type': 'text/plain; charset=UTF-8' },
    body,
  });
  const json = (body: unknown): ScriptedAnswer => ({
    status: 200,
    headers: { 'content-type': 'application/json; charset=UTF-8' },
    body: `${XSSI}${JSON.stringify(body)}`,
  });
  const idOf = (change: FakeChange) => `${encodeURIComponent(change.project)}~${change.number}`;

  server.fallback = (request: CapturedRequest): ScriptedAnswer => {
    const url = new URL(request.path, 'http://gerrit.invalid');
    if (!url.pathname.startsWith('/a/')) return text(404, 'Not Found');
    const user = authenticated(request.headers.authorization, options.accounts);
    if (!user) return text(401, 'Unauthorized');

    if (request.method === 'GET' && url.pathname === '/a/changes/') {
      const query = url.searchParams.get('q') ?? '';
      const commit = /^commit:([0-9a-f]{4,40})$/i.exec(query)?.[1]?.toLowerCase();
      if (!commit) return text(400, `Error in operator ${query}`);
      const current = url.searchParams.getAll('o').includes('CURRENT_REVISION');
      return json(
        server.changes
          .filter((change) => change.revisions.some((sha) => sha.startsWith(commit)))
          .map((change) => ({
            id: idOf(change),
            project: change.project,
            branch: change.branch,
            _number: change.number,
            status: change.status,
            ...(current ? { current_revision: change.revisions.at(-1) } : {}),
          })),
      );
    }

    const review = /^\/a\/changes\/([^/]+)\/revisions\/([^/]+)\/review$/.exec(url.pathname);
    if (request.method === 'POST' && review) {
      const id = decodeURIComponent(review[1] as string);
      const change = server.changes.find((c) => `${c.project}~${c.number}` === id || String(c.number) === id);
      if (!change) return text(404, `Not found: ${review[1]}`);
      const revision = change.revisions.find((sha) => sha.startsWith((review[2] as string).toLowerCase()));
      if (!revision) return text(404, `Not found: ${review[2]}`);
      if (!String(request.headers['content-type']).startsWith('application/json')) {
        return text(415, 'Unsupported Media Type');
      }
      const input = request.json<{
        message?: string;
        labels?: Record<string, number>;
        tag?: string;
        notify?: string;
      }>();
      for (const [label, value] of Object.entries(input.labels ?? {})) {
        const range = options.labels[label];
        if (!range) return text(400, `label "${label}" is not a configured label`);
        if (value < range[0] || value > range[1])
          return text(400, `label "${label}": ${value} not permitted`);
        if (change.status !== 'NEW') return text(409, `change ${change.number} is closed`);
        if (revision !== change.revisions.at(-1)) return text(409, 'not current patch set');
      }
      server.reviews.push({ user, change: change.number, revision, ...input });
      return json({ labels: input.labels ?? {} });
    }
    return text(404, 'Not Found');
  };
  return server;
}

function authenticated(header: string | undefined, accounts: Record<string, string>): string | undefined {
  const match = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header ?? '');
  if (!match) return undefined;
  const [user, ...rest] = Buffer.from(match[1] as string, 'base64')
    .toString('utf8')
    .split(':');
  return user && accounts[user] === rest.join(':') ? user : undefined;
}
