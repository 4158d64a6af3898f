import { type CapturedRequest, type ScriptedAnswer, startTargetServer } from './target-server.ts';

/** A message as the fake Google Chat keeps it, with the thread it landed in. */
export interface FakeChatMessage {
  name: string;
  thread: string;
  body: Record<string, unknown>;
}

/** A local stand-in for one Google Chat space's incoming webhook. */
export interface GoogleChatServer {
  /** The webhook URL (what the secret holds); `key` and `token` are the credential. */
  webhookUrl: string;
  token: string;
  requests: CapturedRequest[];
  messages: FakeChatMessage[];
  /** Answers the next requests with these (nothing is posted), then behaves normally again. */
  script(...answers: ScriptedAnswer[]): void;
  stop(): Promise<void>;
}

const SPACE = 'AAAAb3xQz1E';
const KEY = 'AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI';
const TOKEN = 'Xq7vR2mN9pL4tY8wZ1aB3cD5eF7gH9jK0lM2nP4rS6u';
const KNOWN_FIELDS = new Set(['text', 'cardsV2', 'thread']);

const failure = (code: number, status: string, message: string): ScriptedAnswer => ({
  status: code,
  body: { error: { code, message, status } },
});

/** Google's quota answer. */
export function chatQuotaExhausted(retryAfter?: number): ScriptedAnswer {
  return {
    status: 429,
    headers: retryAfter === undefined ? {} : { 'retry-after': String(retryAfter) },
    body: {
      error: {
        code: 429,
        message:
          "Resource has been exhausted (e.g. check quota). Quota exceeded for quota metric 'Write requests' per space.",
        status: 'RESOURCE_EXHAUSTED',
      },
    },
  };
}

/** Why Chat would refuse the body with 400 INVALID_ARGUMENT, or undefined. */
function invalidBody(body: Record<string, unknown>): string | undefined {
  for (const key of Object.keys(body)) {
    if (!KNOWN_FIELDS.has(key))
      return `Invalid JSON payload received. Unknown name "${key}": Cannot find field.`;
  }
  if (typeof body.text !== 'string' && !Array.isArray(body.cardsV2)) return 'Message cannot be empty.';
  if (typeof body.text === 'string' && body.text.length > 4096) return 'Message text is longer than 4096.';
  for (const card of (body.cardsV2 ?? []) as { cardId?: unknown; card?: { sections?: unknown } }[]) {
    if (typeof card.cardId !== 'string' || !Array.isArray(card.card?.sections))
      return 'Invalid card: cardsV2 items need a cardId and a card with sections.';
    for (const section of card.card.sections as { widgets?: unknown }[]) {
      if (!Array.isArray(section.widgets) || section.widgets.length === 0)
        return 'Invalid card: a section needs widgets.';
    }
  }
  const thread = body.thread as { threadKey?: unknown } | undefined;
  if (thread !== undefined && typeof thread.threadKey !== 'string')
    return 'thread.threadKey must be a string.';
  return undefined;
}

/**
 * Starts a fake Google Chat webhook on 127.0.0.1 that answers like Chat: `POST /v1/spaces/{space}/messages
 * ?key=…&token=…` → 200 with the created message (`name`, `thread.name`, `space`); with
 * `messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD` a `thread.threadKey` already seen replies in that
 * thread, otherwise every message starts a thread. 400 INVALID_ARGUMENT for a bad key or body, 401
 * UNAUTHENTICATED for a bad token, 404 NOT_FOUND for an unknown space; errors are `{"error":{"code","message","status"}}`.
 */
export async function startGoogleChatServer(): Promise<GoogleChatServer> {
  const server = await startTargetServer();
  const messages: FakeChatMessage[] = [];
  const threads = new Map<string, string>();
  let counter = 0;
  server.fallback = (request) => {
    const url = new URL(request.path, 'http://chat.test');
    const match = /^\/v1\/spaces\/([^/]+)\/messages$/.exec(url.pathname);
    if (request.method !== 'POST' || !match)
      return failure(404, 'NOT_FOUND', 'Requested entity was not found.');
    if (url.searchParams.get('key') !== KEY)
      return failure(400, 'INVALID_ARGUMENT', 'API key not valid. Please pass a valid API key.');
    if (url.searchParams.get('token') !== TOKEN)
      return failure(
        401,
        'UNAUTHENTICATED',
        'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
      );
    if (match[1] !== SPACE) return failure(404, 'NOT_FOUND', 'Requested entity was not found.');
    let body: Record<string, unknown>;
    try {
      body = request.json();
    } catch {
      return failure(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.');
    }
    const invalid = invalidBody(body);
    if (invalid) return failure(400, 'INVALID_ARGUMENT', invalid);
    counter++;
    const threadKey = (body.thread as { threadKey?: string } | undefined)?.threadKey;
    const reply = url.searchParams.get('messageReplyOption') === 'REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD';
    let thread = reply && threadKey ? threads.get(threadKey) : undefined;
    if (!thread) {
      thread = `spaces/${SPACE}/threads/t${counter}`;
      if (reply && threadKey) threads.set(threadKey, thread);
    }
    const name = `spaces/${SPACE}/messages/m${counter}.m${counter}`;
    messages.push({ name, thread, body });
    return {
      status: 200,
      body: {
        name,
        sender: { name: 'users/114022495153014004089', displayName: 'Shipcast', type: 'BOT' },
        createTime: '2026-03-01T10:00:00.000000Z',
        text: body.text,
        cardsV2: body.cardsV2,
        thread: { name: thread, ...(reply && threadKey ? { threadKey } : {}) },
        space: { name: `spaces/${SPACE}`, type: 'ROOM' },
        argumentText: body.text,
      },
    };
  };
  return {
    webhookUrl: `${server.url}/v1/spaces/${SPACE}/messages?key=${KEY}&token=${TOKEN}`,
    token: TOKEN,
    requests: server.requests,
    messages,
    script: server.script,
    stop: server.stop,
  };
}
