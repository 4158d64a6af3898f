import type { CapturedRequest, ScriptedAnswer, TargetServer } from './target-server.ts';
import { startTargetServer } from './target-server.ts';

/** A message the fake Bot API holds. */
export interface TelegramMessage {
  message_id: number;
  chat_id: string;
  message_thread_id?: number;
  text: string;
  edits: number;
}

/** A local stand-in for the Telegram Bot API (sendMessage, editMessageText), answering as Telegram does. */
export interface TelegramServer extends TargetServer {
  /** Messages by id. */
  messages: Map<number, TelegramMessage>;
  /** Requests to `method` (`sendMessage`, `editMessageText`), bodies parsed. */
  calls(method: string): Array<Record<string, unknown>>;
  /** Answers the next `count` calls with 429 and `parameters.retry_after` (no Retry-After header). */
  rateLimitNext(count: number, retryAfter: number): void;
}

const ALLOWED_TAGS = new Set(['b', 'i', 'code', 'a']);

/**
 * Starts the fake Bot API. Only `tokens` are accepted (401 otherwise), only `chats` exist (400 "chat not found"),
 * and HTML text is parsed like Telegram's HTML mode: unsupported tags or unescaped `<` are 400
 * "can't parse entities", over 4096 visible characters is 400 "message is too long".
 */
export async function startTelegramServer(options: {
  tokens: string[];
  chats: string[];
}): Promise<TelegramServer> {
  const server = (await startTargetServer()) as TelegramServer;
  server.messages = new Map();
  let nextId = 100;
  let limited = 0;
  let limitedFor = 0;

  const error = (
    code: number,
    description: string,
    parameters?: Record<string, unknown>,
  ): ScriptedAnswer => ({
    status: code,
    body: { ok: false, error_code: code, description, ...(parameters ? { parameters } : {}) },
  });

  server.calls = (method) =>
    server.requests
      .filter((r) => r.path.endsWith(`/${method}`))
      .map((r) => r.json<Record<string, unknown>>());
  server.rateLimitNext = (count, retryAfter) => {
    limited = count;
    limitedFor = retryAfter;
  };
  server.fallback = (request: CapturedRequest): ScriptedAnswer => {
    const match = /^\/bot([^/]+)\/(\w+)$/.exec(request.path);
    if (!match || request.method !== 'POST') return error(404, 'Not Found');
    const [, token, method] = match;
    if (!options.tokens.includes(decodeURIComponent(token ?? ''))) return error(401, 'Unauthorized');
    if (limited > 0) {
      limited--;
      return error(429, `Too Many Requests: retry after ${limitedFor}`, { retry_after: limitedFor });
    }
    const body = request.json<Record<string, unknown>>();
    const chatId = String(body.chat_id);
    if (!options.chats.includes(chatId)) return error(400, 'Bad Request: chat not found');
    if (body.parse_mode !== 'HTML') return error(400, 'Bad Request: this fake only speaks HTML');
    const text = String(body.text ?? '');
    const html = parseHtml(text);
    if ('error' in html) return error(400, `Bad Request: can't parse entities: ${html.error}`);
    const parsed = html.text;
    if (parsed.length === 0) return error(400, 'Bad Request: message text is empty');
    if (parsed.length > 4096) return error(400, 'Bad Request: message is too long');

    if (method === 'sendMessage') {
      const message: TelegramMessage = {
        message_id: nextId++,
        chat_id: chatId,
        message_thread_id: body.message_thread_id as number | undefined,
        text,
        edits: 0,
      };
      server.messages.set(message.message_id, message);
      return { status: 200, body: { ok: true, result: { message_id: message.message_id, text: parsed } } };
    }
    if (method === 'editMessageText') {
      const message = server.messages.get(Number(body.message_id));
      if (!message || message.chat_id !== chatId) return error(400, 'Bad Request: message to edit not found');
      if (message.text === text) {
        return error(
          400,
          'Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message',
        );
      }
      message.text = text;
      message.edits++;
      return { status: 200, body: { ok: true, result: { message_id: message.message_id, text: parsed } } };
    }
    return error(404, 'Not Found');
  };
  return server;
}

/**
 * Parses Telegram-style HTML (the subset Shipcast may use): returns the visible text, or why it cannot be
 * parsed. Tags other than <b>, <i>, <code>, <a href="…"> are rejected, as is any `&` not starting one of the
 * four named entities Telegram knows or a numeric one.
 */
export function parseHtml(html: string): { text: string } | { error: string } {
  let visible = '';
  const open: string[] = [];
  let i = 0;
  while (i < html.length) {
    const c = html[i] as string;
    if (c === '<') {
      const end = html.indexOf('>', i);
      if (end < 0) return { error: `unclosed tag at byte offset ${i}` };
      const tag = html.slice(i + 1, end);
      const closing = /^\/([a-z]+)$/.exec(tag);
      const opening = /^([a-z]+)(?: href="([^"]*)")?$/.exec(tag);
      if (closing) {
        if (open.pop() !== closing[1])
          return { error: `unmatched end tag "${closing[1]}" at byte offset ${i}` };
      } else if (opening && ALLOWED_TAGS.has(opening[1] as string)) {
        if ((opening[1] === 'a') !== (opening[2] !== undefined))
          return { error: `bad attributes at byte offset ${i}` };
        open.push(opening[1] as string);
      } else {
        return { error: `Unsupported start tag "${tag.split(/\s/)[0]}" at byte offset ${i}` };
      }
      i = end + 1;
    } else if (c === '&') {
      const entity = /^&(lt|gt|amp|quot|#\d+);/.exec(html.slice(i));
      if (!entity) return { error: `Character entity expected at byte offset ${i}` };
      visible += '_';
      i += entity[0].length;
    } else {
      visible += c;
      i++;
    }
  }
  if (open.length > 0) return { error: `unclosed tag "${open.at(-1)}"` };
  return { text: visible };
}
