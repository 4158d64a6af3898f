import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { CapturedRequest, ScriptedAnswer } from './target-server.ts';

/** A deployment as the fake BigPanda keeps it: opened by a start, closed by an end with the same key. */
export interface FakeBigPandaDeployment {
  component: string;
  version: string;
  hosts: string[];
  env?: string;
  owner?: string;
  description?: string;
  source_system?: string;
  status: 'in progress' | 'success' | 'failure';
  errorMessage?: string;
}

/** A change as the fake keeps it: the latest upsert, and every body that upserted it. */
export interface FakeBigPandaChange {
  current: Record<string, unknown>;
  history: Record<string, unknown>[];
}

export interface BigPandaServerOptions {
  /** Bearer tokens accepted (deployments: org tokens; changes: user API keys). */
  tokens: string[];
  /** App keys accepted in `x-bp-app-key` by the Changes API. */
  appKeys?: string[];
  /** A path prefix the server lives under (a proxy such as `https://proxy.example.com/bigpanda`). */
  basePath?: string;
}

/** A local stand-in for BigPanda's deployments and Changes APIs. */
export interface BigPandaServer {
  /** Base URL (with the base path), as a target's `url`. */
  url: string;
  /** Every request received, in order (answered by a script or not). */
  requests: CapturedRequest[];
  deployments: FakeBigPandaDeployment[];
  /** Ends that matched no start by component, version and hosts (BigPanda cannot close anything with them). */
  unmatchedEnds: Record<string, unknown>[];
  changes: Map<string, FakeBigPandaChange>;
  /** Answers the next requests with these (nothing is recorded as accepted), then behaves normally again. */
  script(...answers: ScriptedAnswer[]): void;
  stop(): Promise<void>;
}

const CHANGE_STATUSES = ['Planned', 'In Progress', 'Done', 'Canceled'];
const CHANGES_PER_MINUTE = 400;

type Answer = { status: number; headers?: Record<string, string>; body?: unknown };

const failure = (status: number, error: string): Answer => ({ status, body: { status: 'failure', error } });

/**
 * Starts a fake BigPanda on 127.0.0.1. It answers the way BigPanda does: a start 201 with a JSON body,
 * an end 204, a change 201 (upserted by `identifier`); 401 for a missing or unknown token or app key;
 * 400 `{"status":"failure","error":…}` for a body BigPanda would refuse; 404 off its paths; 429 with
 * Retry-After past 400 changes a minute. An end is matched to its start by component, version and the
 * same hosts; one that matches nothing is kept in `unmatchedEnds` (and still accepted).
 */
export async function startBigPandaServer(options: BigPandaServerOptions): Promise<BigPandaServer> {
  const base = (options.basePath ?? '').replace(/\/+$/, '');
  const scripted: ScriptedAnswer[] = [];
  const sockets = new Set<Socket>();
  const changeWindows = new Map<string, { window: number; count: number }>();
  const state: BigPandaServer = {
    url: '',
    requests: [],
    deployments: [],
    unmatchedEnds: [],
    changes: new Map(),
    script: (...answers) => scripted.push(...answers),
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const authorized = (request: CapturedRequest): boolean => {
    const match = /^Bearer (.+)$/.exec(String(request.headers.authorization ?? ''));
    return match !== null && options.tokens.includes(match[1] as string);
  };

  const keyError = (body: Record<string, unknown>): string | undefined => {
    for (const field of ['component', 'version']) {
      if (typeof body[field] !== 'string' || body[field] === '') return `"${field}" is required`;
    }
    const hosts = body.hosts;
    if (!Array.isArray(hosts) || hosts.length === 0) return '"hosts" must be a non-empty list';
    if (!hosts.every((h) => typeof h === 'string' && h !== '')) return '"hosts" must hold host names';
    return undefined;
  };
  const sameHosts = (a: string[], b: string[]) =>
    a.length === b.length && [...a].sort().every((h, i) => h === [...b].sort()[i]);

  const ROUTES = {
    '/data/events/deployments/start': (body: Record<string, unknown>): Answer => {
      const error = keyError(body);
      if (error) return failure(400, error);
      const deployment: FakeBigPandaDeployment = {
        component: body.component as string,
        version: body.version as string,
        hosts: body.hosts as string[],
        status: 'in progress',
      };
      for (const field of ['env', 'owner', 'description', 'source_system'] as const) {
        if (typeof body[field] === 'string') deployment[field] = body[field];
      }
      state.deployments.push(deployment);
      return { status: 201, body: { status: 'success', message: 'deployment started' } };
    },
    '/data/events/deployments/end': (body: Record<string, unknown>): Answer => {
      const error = keyError(body);
      if (error) return failure(400, error);
      if (body.status !== 'success' && body.status !== 'failure') {
        return failure(400, '"status" must be one of [success, failure]');
      }
      const open = state.deployments.find(
        (d) =>
          d.status === 'in progress' &&
          d.component === body.component &&
          d.version === body.version &&
          sameHosts(d.hosts, body.hosts as string[]),
      );
      if (!open) {
        state.unmatchedEnds.push(body);
      } else {
        open.status = body.status;
        if (typeof body.errorMessage === 'string') open.errorMessage = body.errorMessage;
      }
      return { status: 204 };
    },
    '/data/changes': (body: Record<string, unknown>, request: CapturedRequest): Answer => {
      const appKey = String(request.headers['x-bp-app-key'] ?? '');
      if (!(options.appKeys ?? []).includes(appKey))
        return failure(401, 'Unauthorized: missing or invalid app key');
      const window = Math.floor(Date.now() / 60_000);
      const used = changeWindows.get(appKey);
      const count = used && used.window === window ? used.count : 0;
      if (count >= CHANGES_PER_MINUTE) {
        const retryAfter = String(Math.max(1, Math.ceil(((window + 1) * 60_000 - Date.now()) / 1000)));
        return { ...failure(429, 'Too Many Requests'), headers: { 'retry-after': retryAfter } };
      }
      changeWindows.set(appKey, { window, count: count + 1 });
      if (typeof body.identifier !== 'string' || body.identifier === '') {
        return failure(400, '"identifier" is required');
      }
      if (!CHANGE_STATUSES.includes(body.status as string)) {
        return failure(400, `"status" must be one of [${CHANGE_STATUSES.join(', ')}]`);
      }
      if (typeof body.summary !== 'string' || body.summary === '')
        return failure(400, '"summary" is required');
      if (!Number.isInteger(body.start)) return failure(400, '"start" must be epoch seconds');
      if (body.end !== undefined && !Number.isInteger(body.end))
        return failure(400, '"end" must be epoch seconds');
      for (const field of ['tags', 'metadata']) {
        const value = body[field];
        if (value === undefined) continue;
        if (typeof value !== 'object' || value === null || Array.isArray(value)) {
          return failure(400, `"${field}" must be an object`);
        }
      }
      if (body.tags && !Object.values(body.tags).every((v) => typeof v === 'string')) {
        return failure(400, '"tags" values must be strings');
      }
      const existing = state.changes.get(body.identifier);
      state.changes.set(body.identifier, {
        current: { ...existing?.current, ...body },
        history: [...(existing?.history ?? []), body],
      });
      return { status: 201, body: { status: 'success', identifier: body.identifier } };
    },
  };

  const handle = (request: CapturedRequest): Answer => {
    if (request.method !== 'POST' || !request.path.startsWith(`${base}/data/`)) {
      return failure(404, 'Not Found');
    }
    const path = request.path.slice(base.length);
    if (!Object.hasOwn(ROUTES, path)) return failure(404, 'Not Found');
    if (!authorized(request)) return failure(401, 'Unauthorized: missing or invalid bearer token');
    let body: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(request.body);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        return failure(400, 'body must be a JSON object');
      }
      body = parsed as Record<string, unknown>;
    } catch {
      return failure(400, 'body is not valid JSON');
    }
    return ROUTES[path as keyof typeof ROUTES](body, request);
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const captured: CapturedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body,
        json: <T>() => JSON.parse(body) as T,
      };
      state.requests.push(captured);
      const answer = scripted.shift() ?? handle(captured);
      if ('hang' in answer) return;
      if ('reset' in answer) {
        req.socket.destroy();
        return;
      }
      const text =
        answer.body === undefined
          ? ''
          : typeof answer.body === 'string'
            ? answer.body
            : JSON.stringify(answer.body);
      res.writeHead(answer.status, {
        ...(text ? { 'content-type': 'application/json' } : {}),
        ...answer.headers,
      });
      res.end(text);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${base}`;
  return state;
}
