import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One request the fake Slack/Mattermost received. */
export interface SlackRequest {
  /** `chat.postMessage`, `chat.update`, or `webhook:<path>` for incoming webhooks. */
  call: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  json<T = Record<string, unknown>>(): T;
}

/** A message the fake keeps (what the channel would show). */
export interface SlackStoredMessage {
  channel: string;
  ts: string;
  thread_ts?: string;
  text: string;
  blocks: unknown;
  updates: number;
}

/**
 * A scripted answer for the next request of a call: an HTTP answer (Slack Web API errors are 200 with
 * `{"ok":false,"error":…}`), `resetAfterHandling` (the request takes effect, then the connection drops:
 * the sender never learns the answer), or `pass` (handled as usual).
 */
export type SlackAnswer =
  | { status: number; headers?: Record<string, string>; body?: unknown }
  | { resetAfterHandling: true }
  | { pass: true };

export interface SlackServerOptions {
  /** Bot tokens the Web API accepts; any other gets `invalid_auth`. */
  tokens: string[];
  /** Channel names (and IDs) the bot may post to, by name → ID. */
  channels: Record<string, string>;
  /** User groups (`S…`) and their members (`U…`), for usergroups.users.list. */
  userGroups?: Record<string, string[]>;
  /** Tokens installed without the `usergroups:read` scope (usergroups.users.list answers `missing_scope`). */
  withoutUserGroupsScope?: string[];
}

/** A message Shipcast sent to an interaction's response_url (`ephemeral`: only the clicking user sees it). */
export interface SlackResponse {
  path: string;
  body: { response_type?: string; replace_original?: boolean; text?: string };
}

/**
 * A local stand-in for Slack's Web API (`/api/chat.postMessage`, `/api/chat.update`, answering like Slack:
 * 200 with `ok`, `channel` ID and `ts`, or `ok: false` with an error code; `/api/usergroups.users.list?usergroup=S…`
 * answering `{"ok":true,"users":[…]}`, `no_such_subteam` or `missing_scope`), for incoming webhooks
 * (Slack `/services/…` and Mattermost `/hooks/…`: 200 `ok` as text) and for interaction response URLs
 * (`/actions/…`: JSON messages, at most 5 per URL, as Slack allows).
 */
export interface SlackServer {
  url: string;
  /** Web API base URL for the target's `baseUrl`. */
  apiUrl: string;
  requests: SlackRequest[];
  messages: SlackStoredMessage[];
  calls(call: string): SlackRequest[];
  /** Messages posted to response URLs (`responseUrl()`), in order. */
  responses: SlackResponse[];
  /** A response URL as Slack puts in an interaction payload (`/actions/<team>/<id>/<secret>`): up to 5 posts, 30 minutes. */
  responseUrl(): string;
  /** Answers the next requests of `call` (`chat.update`, `webhook:/services/…`) with these, in order. */
  script(call: string, ...answers: SlackAnswer[]): void;
  /** Forgets a message, as if someone deleted it. */
  deleteMessage(ts: string): void;
  reset(): void;
  stop(): Promise<void>;
}

export async function startSlackServer(options: SlackServerOptions): Promise<SlackServer> {
  const scripted = new Map<string, SlackAnswer[]>();
  const sockets = new Set<Socket>();
  let seq = 0;
  let responseUrls = 0;
  const responseUses = new Map<string, number>();
  const channelId = (name: string) =>
    options.channels[name] ?? (Object.values(options.channels).includes(name) ? name : undefined);

  const state: SlackServer = {
    url: '',
    apiUrl: '',
    requests: [],
    messages: [],
    calls: (call) => state.requests.filter((r) => r.call === call),
    responses: [],
    responseUrl: () => `${state.url}/actions/T0SHIPCAST/${++responseUrls}/r${responseUrls}secret`,
    script: (call, ...answers) => scripted.set(call, [...(scripted.get(call) ?? []), ...answers]),
    deleteMessage: (ts) => {
      state.messages = state.messages.filter((m) => m.ts !== ts);
    },
    reset: () => {
      state.requests.length = 0;
      state.messages = [];
      state.responses.length = 0;
      scripted.clear();
    },
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  /** What Slack would do with a Web API call. */
  const webApi = (call: string, headers: IncomingHttpHeaders, body: Record<string, unknown>) => {
    const token = /^Bearer (.+)$/.exec(String(headers.authorization ?? ''))?.[1];
    if (!token) return { ok: false, error: 'not_authed' };
    if (!options.tokens.includes(token)) return { ok: false, error: 'invalid_auth' };
    if (call === 'usergroups.users.list') {
      // docs.slack.dev/reference/methods/usergroups.users.list (bot scope usergroups:read).
      if (options.withoutUserGroupsScope?.includes(token)) {
        return { ok: false, error: 'missing_scope', needed: 'usergroups:read', provided: 'chat:write' };
      }
      const members = options.userGroups?.[String(body.usergroup ?? '')];
      if (!body.usergroup) return { ok: false, error: 'invalid_arguments' };
      if (!members) return { ok: false, error: 'no_such_subteam' };
      return { ok: true, users: members };
    }
    const channel = channelId(String(body.channel ?? ''));
    if (!channel) return { ok: false, error: 'channel_not_found' };
    if (typeof body.text !== 'string' && !Array.isArray(body.blocks)) return { ok: false, error: 'no_text' };
    if (call === 'chat.postMessage') {
      seq++;
      const ts = `1772359200.${String(seq).padStart(6, '0')}`;
      state.messages.push({
        channel,
        ts,
        thread_ts: typeof body.thread_ts === 'string' ? body.thread_ts : undefined,
        text: String(body.text ?? ''),
        blocks: body.blocks,
        updates: 0,
      });
      return { ok: true, channel, ts, message: { text: body.text } };
    }
    if (call === 'chat.update') {
      // Slack wants the channel ID here, not a name.
      if (body.channel !== channel) return { ok: false, error: 'channel_not_found' };
      const message = state.messages.find((m) => m.channel === channel && m.ts === body.ts);
      if (!message) return { ok: false, error: 'message_not_found' };
      message.text = String(body.text ?? '');
      message.blocks = body.blocks;
      message.updates++;
      return { ok: true, channel, ts: message.ts, text: body.text };
    }
    return { ok: false, error: 'unknown_method' };
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const path = req.url ?? '';
      const api = /^\/api\/([A-Za-z.]+)(?:\?(.*))?$/.exec(path);
      const call = api ? (api[1] as string) : /^\/actions\//.test(path) ? 'response_url' : `webhook:${path}`;
      state.requests.push({
        call,
        path,
        headers: req.headers,
        body,
        json: <T>() => JSON.parse(body) as T,
      });
      const next = scripted.get(call)?.shift();
      const answer = next && 'pass' in next ? undefined : next;
      let parsed: Record<string, unknown> = {};
      try {
        parsed = JSON.parse(body) as Record<string, unknown>;
      } catch {
        parsed = {};
      }
      // Read methods take their arguments as a query string or a form body too.
      if (api?.[2]) parsed = { ...Object.fromEntries(new URLSearchParams(api[2])), ...parsed };
      if (/^\/actions\//.test(path) && !answer) {
        const uses = (responseUses.get(path) ?? 0) + 1;
        responseUses.set(path, uses);
        if (uses > 5) {
          res.writeHead(404, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ ok: false, error: 'used_url' }));
          return;
        }
        state.responses.push({ path, body: parsed as SlackResponse['body'] });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ok: true }));
        return;
      }
      if (answer && 'status' in answer) {
        const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body ?? '');
        res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
        res.end(text);
        return;
      }
      if (api) {
        const result = webApi(call, req.headers, parsed);
        if (answer) {
          req.socket.destroy();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify(result));
        return;
      }
      // Incoming webhooks (Slack and Mattermost) answer a bare `ok`.
      state.messages.push({
        channel: path,
        ts: '',
        text: String(parsed.text ?? ''),
        blocks: parsed.blocks ?? parsed.attachments,
        updates: 0,
      });
      if (answer) {
        req.socket.destroy();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.apiUrl = `${state.url}/api`;
  return state;
}
