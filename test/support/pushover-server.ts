import type { CapturedRequest, ScriptedAnswer, TargetServer } from './target-server.ts';
import { startTargetServer } from './target-server.ts';

/** A message the fake Pushover accepted. */
export interface PushoverMessage {
  token: string;
  user: string;
  fields: Record<string, string>;
}

/** A local stand-in for Pushover's Messages API (`POST /1/messages.json`), answering as pushover.net/api says. */
export interface PushoverServer extends TargetServer {
  messages: PushoverMessage[];
  /** Messages the application may still send this month (`X-Limit-App-Remaining`); at 0 the API answers 429. */
  remaining: number;
  /** `X-Limit-App-Reset`: epoch seconds when the monthly count resets. */
  resetAt: number;
}

const LIMIT = 10_000;
let requestCounter = 0;

/**
 * Starts the fake. Only `apps` (application tokens) and `users` (user or group keys) exist; input is checked
 * as the API documents it (message required, ≤ 1024 characters; title ≤ 250; url ≤ 512; url_title ≤ 100;
 * priority -2…2, priority 2 needs retry ≥ 30 and expire ≤ 10800): a problem answers 400 with
 * `{"<field>":"invalid","errors":[…],"status":0,"request":…}`. Every answer carries the X-Limit-App-* headers.
 */
export async function startPushoverServer(options: {
  apps: string[];
  users: string[];
}): Promise<PushoverServer> {
  const server = (await startTargetServer()) as PushoverServer;
  server.messages = [];
  server.remaining = 7500;
  server.resetAt = Math.floor(Date.parse('2026-04-01T05:00:00Z') / 1000);

  const limitHeaders = () => ({
    'x-limit-app-limit': String(LIMIT),
    'x-limit-app-remaining': String(server.remaining),
    'x-limit-app-reset': String(server.resetAt),
  });
  const answer = (status: number, body: Record<string, unknown>): ScriptedAnswer => ({
    status,
    headers: limitHeaders(),
    body: { ...body, status: status === 200 ? 1 : 0, request: `req-${++requestCounter}` },
  });
  const invalid = (field: string, error: string) => answer(400, { [field]: 'invalid', errors: [error] });

  server.fallback = (request: CapturedRequest): ScriptedAnswer => {
    if (request.method !== 'POST' || request.path !== '/1/messages.json') {
      return { status: 404, body: { status: 0, errors: ['not found'] } };
    }
    if (!String(request.headers['content-type']).startsWith('application/x-www-form-urlencoded')) {
      return invalid('message', 'message cannot be blank');
    }
    const form = Object.fromEntries(new URLSearchParams(request.body));
    const { token = '', user = '', ...fields } = form;
    if (!options.apps.includes(token)) {
      return invalid('token', 'application token is invalid, see https://pushover.net/api');
    }
    if (!options.users.includes(user)) {
      return invalid('user', 'user identifier is not a valid user, group, or subscribed user key');
    }
    if (server.remaining <= 0) {
      return answer(429, { errors: ['application has exceeded its monthly message limit'] });
    }
    const length = (value: string | undefined) => [...(value ?? '')].length;
    if (!fields.message) return invalid('message', 'message cannot be blank');
    if (length(fields.message) > 1024) return invalid('message', 'message is too long');
    if (length(fields.title) > 250) return invalid('title', 'title is too long');
    if (length(fields.url) > 512) return invalid('url', 'url is too long');
    if (length(fields.url_title) > 100) return invalid('url_title', 'url title is too long');
    const priority = Number(fields.priority ?? 0);
    if (!Number.isInteger(priority) || priority < -2 || priority > 2) {
      return invalid('priority', 'priority is invalid');
    }
    if (priority === 2) {
      if (!(Number(fields.retry) >= 30)) return invalid('retry', 'retry must be at least 30 seconds');
      if (!(Number(fields.expire) <= 10_800))
        return invalid('expire', 'expire must be at most 10800 seconds');
    }
    server.messages.push({ token, user, fields });
    server.remaining--;
    return answer(200, {});
  };
  return server;
}
