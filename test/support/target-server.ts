import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One request a target server received. */
export interface CapturedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  json<T = unknown>(): T;
}

/** How the server answers one request: a status with headers and body, a hung connection, or a reset. */
export type ScriptedAnswer =
  | { status: number; headers?: Record<string, string>; body?: unknown }
  | { hang: true }
  | { reset: true };

/** A local HTTP server standing in for a target's API: captures requests, answers as scripted. */
export interface TargetServer {
  url: string;
  requests: CapturedRequest[];
  /** Answers the next requests with these, in order; afterwards `fallback` (default 200 `{"ok":true}`). */
  script(...answers: ScriptedAnswer[]): void;
  /** Decides every answer not scripted. */
  fallback: (request: CapturedRequest) => ScriptedAnswer;
  stop(): Promise<void>;
}

/** Starts a target server on 127.0.0.1 with a random port. */
export async function startTargetServer(): Promise<TargetServer> {
  const scripted: ScriptedAnswer[] = [];
  const sockets = new Set<Socket>();
  const state: TargetServer = {
    url: '',
    requests: [],
    script: (...answers) => scripted.push(...answers),
    fallback: () => ({ status: 200, body: { ok: true } }),
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
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
      const answer = scripted.shift() ?? state.fallback(captured);
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
      res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
      res.end(text);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}
