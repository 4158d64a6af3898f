import { type CapturedRequest, type ScriptedAnswer, startTargetServer } from './target-server.ts';

/** A message as the fake Discord keeps it: the latest body that posted or edited it. */
export interface FakeDiscordMessage {
  id: string;
  body: Record<string, unknown>;
  edits: number;
}

/** A local stand-in for one Discord channel webhook (execute, and edit a webhook message). */
export interface DiscordServer {
  /** The webhook URL (what the secret holds). */
  webhookUrl: string;
  /** The webhook's token (the secret part of the URL). */
  token: string;
  requests: CapturedRequest[];
  messages: Map<string, FakeDiscordMessage>;
  /** Answers the next requests with these (nothing is stored), then behaves normally again. */
  script(...answers: ScriptedAnswer[]): void;
  stop(): Promise<void>;
}

const WEBHOOK_ID = '1234567890123456789';
const TOKEN = 'hk3J9xQw-T2pL8vR4nB6mZ1cY7dF0gH5sA3eK9uI2oP4lM8jN6bV1cX7zQ5wE3rT0yU9';
const LIMITS = { title: 256, description: 4096, fields: 25, fieldName: 256, fieldValue: 1024, total: 6000 };

const error = (status: number, message: string, code: number, extra: object = {}): ScriptedAnswer => ({
  status,
  body: { message, code, ...extra },
});

/** Discord's 429: `Retry-After` header (whole seconds, optional here) and `{"message","retry_after","global"}`. */
export function discordRateLimited(retryAfter: number, { header = true } = {}): ScriptedAnswer {
  return {
    status: 429,
    headers: header ? { 'retry-after': String(Math.ceil(retryAfter)), 'x-ratelimit-scope': 'user' } : {},
    body: { message: 'You are being rate limited.', retry_after: retryAfter, global: false },
  };
}

/** Why Discord would refuse this body with 400 Invalid Form Body (50035), or undefined if it is fine. */
function invalidBody(body: Record<string, unknown>): string | undefined {
  const embeds = body.embeds as Record<string, unknown>[] | undefined;
  if (!Array.isArray(embeds) || embeds.length === 0 || embeds.length > 10) return 'embeds: 1 to 10 embeds';
  let total = 0;
  for (const embed of embeds) {
    const title = String(embed.title ?? '');
    const description = String(embed.description ?? '');
    if (title.length > LIMITS.title) return 'embeds.0.title: Must be 256 or fewer in length.';
    if (description.length > LIMITS.description)
      return 'embeds.0.description: Must be 4096 or fewer in length.';
    if (embed.color !== undefined && !Number.isInteger(embed.color))
      return 'embeds.0.color: Value is not int.';
    if (embed.url !== undefined && !/^https?:\/\//.test(String(embed.url)))
      return 'embeds.0.url: Not a well formed URL.';
    const fields = (embed.fields ?? []) as { name?: unknown; value?: unknown; inline?: unknown }[];
    if (fields.length > LIMITS.fields) return 'embeds.0.fields: Must be 25 or fewer in length.';
    for (const field of fields) {
      const name = String(field.name ?? '');
      const value = String(field.value ?? '');
      if (!name || name.length > LIMITS.fieldName)
        return 'embeds.0.fields.name: Must be between 1 and 256 in length.';
      if (!value || value.length > LIMITS.fieldValue)
        return 'embeds.0.fields.value: Must be between 1 and 1024 in length.';
      total += name.length + value.length;
    }
    total +=
      title.length + description.length + String((embed.footer as { text?: unknown })?.text ?? '').length;
  }
  if (total > LIMITS.total) return 'embeds: Embed size exceeds maximum size of 6000';
  return undefined;
}

/**
 * Starts a fake Discord webhook on 127.0.0.1, answering like Discord: `POST /api/webhooks/{id}/{token}` → 204,
 * or 200 with the message object under `?wait=true`; `PATCH …/messages/{id}` → 200 with the message, or 404
 * Unknown Message (10008); an unknown webhook 404 (10015); a wrong token 401 (50027); a body over the embed
 * limits 400 Invalid Form Body (50035).
 */
export async function startDiscordServer(): Promise<DiscordServer> {
  const server = await startTargetServer();
  const messages = new Map<string, FakeDiscordMessage>();
  let next = 1_100_000_000_000_000_000n;
  const message = (m: FakeDiscordMessage) => ({
    id: m.id,
    type: 0,
    content: '',
    channel_id: '998877665544332211',
    webhook_id: WEBHOOK_ID,
    author: { id: WEBHOOK_ID, username: 'Shipcast', bot: true },
    embeds: m.body.embeds,
    edited_timestamp: m.edits > 0 ? '2026-03-01T10:00:00.000000+00:00' : null,
  });
  server.fallback = (request) => {
    const url = new URL(request.path, 'http://discord.test');
    const match = /^\/api\/webhooks\/(\d+)\/([^/]+)(?:\/messages\/(\d+))?$/.exec(url.pathname);
    if (!match) return error(404, '404: Not Found', 0);
    const [, id, token, messageId] = match;
    if (id !== WEBHOOK_ID) return error(404, 'Unknown Webhook', 10015);
    if (token !== TOKEN) return error(401, 'Invalid Webhook Token', 50027);
    let body: Record<string, unknown>;
    try {
      body = request.json();
    } catch {
      return error(400, 'Cannot send an empty message', 50006);
    }
    const invalid = invalidBody(body);
    if (invalid) return error(400, 'Invalid Form Body', 50035, { errors: invalid });
    if (request.method === 'POST' && !messageId) {
      const stored = { id: String(next++), body, edits: 0 };
      messages.set(stored.id, stored);
      return url.searchParams.get('wait') === 'true'
        ? { status: 200, body: message(stored) }
        : { status: 204 };
    }
    if (request.method === 'PATCH' && messageId) {
      const stored = messages.get(messageId);
      if (!stored) return error(404, 'Unknown Message', 10008);
      stored.body = body;
      stored.edits++;
      return { status: 200, body: message(stored) };
    }
    return error(405, '405: Method Not Allowed', 0);
  };
  return {
    webhookUrl: `${server.url}/api/webhooks/${WEBHOOK_ID}/${TOKEN}`,
    token: TOKEN,
    requests: server.requests,
    messages,
    script: server.script,
    stop: server.stop,
  };
}
