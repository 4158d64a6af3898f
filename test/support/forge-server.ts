import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One request a forge stand-in received. */
export interface ForgeRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
  json<T = unknown>(): T;
}

/** A forge's answer: a status with headers and a body (JSON unless a string). */
export interface ForgeReply {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

/** A scripted answer: a reply, a connection that never answers, or a reset. */
export type ForgeAnswer = ForgeReply | { hang: true } | { reset: true };

/** The HTTP side of a forge stand-in (GitHub, GitLab, Bitbucket): capture, scripted answers, lifecycle. */
export interface ForgeHttp {
  url: string;
  requests: ForgeRequest[];
  /**
   * Answers the next `times` (default 1) requests matching `route` (`METHOD /path`, `*` for one path segment)
   * with `answer`. With `after`, the forge does its normal work first, then answers with `answer` (a lost answer).
   */
  intercept(route: string, answer: ForgeAnswer, options?: { after?: boolean; times?: number }): void;
  /** Forgets the requests and intercepts (not the forge's data). */
  reset(): void;
  stop(): Promise<void>;
}

/**
 * Starts an HTTP server on 127.0.0.1 that answers with `handle` unless an intercept says otherwise; `headers` go
 * with every answer, scripted ones included (a reply's own headers win).
 */
export async function startForgeHttp(
  handle: (request: ForgeRequest) => ForgeReply,
  { headers = {} }: { headers?: Record<string, string> } = {},
): Promise<ForgeHttp> {
  const intercepts: { pattern: RegExp; answer: ForgeAnswer; after: boolean; times: number }[] = [];
  const sockets = new Set<Socket>();
  const http: ForgeHttp = {
    url: '',
    requests: [],
    intercept: (route, answer, { after = false, times = 1 } = {}) => {
      const [method, path] = route.split(' ');
      const body = (path ?? '')
        .split('/')
        .map((part) => (part === '*' ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
        .join('/');
      intercepts.push({ pattern: new RegExp(`^${method} ${body}$`), answer, after, times });
    },
    reset: () => {
      http.requests.length = 0;
      intercepts.length = 0;
    },
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const write = (res: ServerResponse, reply: ForgeReply) => {
    const text =
      reply.body === undefined
        ? ''
        : typeof reply.body === 'string'
          ? reply.body
          : JSON.stringify(reply.body);
    res.writeHead(reply.status, {
      ...(reply.body === undefined ? {} : { 'content-type': 'application/json; charset=utf-8' }),
      ...headers,
      ...reply.headers,
    });
    res.end(text);
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const body = Buffer.concat(chunks).toString('utf8');
      const request: ForgeRequest = {
        method: req.method ?? '',
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body,
        json: <T>() => JSON.parse(body) as T,
      };
      http.requests.push(request);
      const index = intercepts.findIndex((i) => i.pattern.test(`${request.method} ${request.path}`));
      const intercept = index >= 0 ? intercepts[index] : undefined;
      if (intercept) {
        intercept.times--;
        if (intercept.times <= 0) intercepts.splice(index, 1);
      }
      const normal = !intercept || intercept.after ? handle(request) : undefined;
      const answer = intercept ? intercept.answer : (normal as ForgeReply);
      if ('hang' in answer) return;
      if ('reset' in answer) {
        req.socket.destroy();
        return;
      }
      write(res, answer);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  http.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return http;
}
