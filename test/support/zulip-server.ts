import type { CapturedRequest, ScriptedAnswer, TargetServer } from './target-server.ts';
import { startTargetServer } from './target-server.ts';

/** A message the fake Zulip holds. */
export interface ZulipMessage {
  id: number;
  type: string;
  stream: string;
  topic: string;
  content: string;
  edits: number;
}

/** A local stand-in for Zulip's REST API (send and edit a message), answering as Zulip does. */
export interface ZulipServer extends TargetServer {
  messages: Map<number, ZulipMessage>;
  /** Form fields of the requests with this method (`POST` sends, `PATCH` edits). */
  calls(method: 'POST' | 'PATCH'): Array<Record<string, string>>;
  /** Answers the next `count` requests with 429 RATE_LIMIT_HIT; `header: false` leaves out Retry-After. */
  rateLimitNext(count: number, retryAfter: number, options?: { header?: boolean }): void;
  /** Refuses edits as an organization with an elapsed edit time limit does. */
  refuseEdits: boolean;
}

/**
 * Starts the fake Zulip. Only `email:key` pairs in `users` authenticate (401 otherwise), only `streams` exist,
 * topics over 60 characters are refused, as is a type other than `stream`/`channel`.
 */
export async function startZulipServer(options: {
  users: Record<string, string>;
  streams: string[];
}): Promise<ZulipServer> {
  const server = (await startTargetServer()) as ZulipServer;
  server.messages = new Map();
  server.refuseEdits = false;
  let nextId = 40;
  let limited = 0;
  let limitedFor = 0;
  let limitHeader = true;

  const error = (status: number, msg: string, code: string, extra: Record<string, unknown> = {}) =>
    ({ status, body: { result: 'error', msg, code, ...extra } }) satisfies ScriptedAnswer;

  server.calls = (method) =>
    server.requests
      .filter((r) => r.method === method)
      .map((r) => Object.fromEntries(new URLSearchParams(r.body)));
  server.rateLimitNext = (count, retryAfter, { header = true } = {}) => {
    limited = count;
    limitedFor = retryAfter;
    limitHeader = header;
  };
  server.fallback = (request: CapturedRequest): ScriptedAnswer => {
    const auth = /^Basic (.+)$/.exec(String(request.headers.authorization ?? ''));
    const [email, key] = auth
      ? Buffer.from(auth[1] as string, 'base64')
          .toString('utf8')
          .split(':')
      : [];
    if (!email || options.users[email] !== key) return error(401, 'Invalid API key', 'UNAUTHORIZED');
    if (limited > 0) {
      limited--;
      return {
        ...error(429, 'API usage exceeded rate limit', 'RATE_LIMIT_HIT', { 'retry-after': limitedFor }),
        headers: limitHeader ? { 'retry-after': String(limitedFor) } : {},
      };
    }
    if (request.headers['content-type'] !== 'application/x-www-form-urlencoded') {
      return error(400, 'Expected form-encoded parameters', 'BAD_REQUEST');
    }
    const form = Object.fromEntries(new URLSearchParams(request.body));
    if (request.method === 'POST' && request.path === '/api/v1/messages') {
      if (form.type !== 'stream' && form.type !== 'channel') return error(400, 'Invalid type', 'BAD_REQUEST');
      if (!options.streams.includes(form.to ?? '')) {
        return error(400, `Channel '${form.to}' does not exist`, 'STREAM_DOES_NOT_EXIST', {
          stream: form.to,
        });
      }
      if (!form.topic || [...form.topic].length > 60) return error(400, 'Invalid topic', 'BAD_REQUEST');
      if (!form.content) return error(400, 'Message must not be empty', 'BAD_REQUEST');
      const message: ZulipMessage = {
        id: nextId++,
        type: form.type,
        stream: form.to as string,
        topic: form.topic,
        content: form.content,
        edits: 0,
      };
      server.messages.set(message.id, message);
      return { status: 200, body: { result: 'success', msg: '', id: message.id } };
    }
    const edit = /^\/api\/v1\/messages\/(\d+)$/.exec(request.path);
    if (request.method === 'PATCH' && edit) {
      const message = server.messages.get(Number(edit[1]));
      if (!message) return error(400, 'Invalid message(s)', 'BAD_REQUEST');
      if (server.refuseEdits)
        return error(400, 'The time limit for editing this message has passed', 'BAD_REQUEST');
      message.content = form.content ?? message.content;
      message.edits++;
      return { status: 200, body: { result: 'success', msg: '' } };
    }
    return error(404, 'Endpoint does not exist.', 'BAD_REQUEST');
  };
  return server;
}
