import { type CapturedRequest, type ScriptedAnswer, startTargetServer } from './target-server.ts';

/** A change event as the fake PagerDuty accepted it, with the service its routing key belongs to. */
export interface FakeChangeEvent {
  service: string;
  payload: Record<string, unknown>;
  links?: { href: string; text?: string }[];
}

/** A local stand-in for PagerDuty's Events API v2 change endpoint. */
export interface PagerDutyServer {
  url: string;
  requests: CapturedRequest[];
  /** Every change event accepted (202), in order. */
  changeEvents: FakeChangeEvent[];
  /** Answers the next requests with these (nothing is accepted), then behaves normally again. */
  script(...answers: ScriptedAnswer[]): void;
  stop(): Promise<void>;
}

export interface PagerDutyServerOptions {
  /** Routing key (integration key) → the service it belongs to. */
  routingKeys: Record<string, string>;
  /** Change events a routing key may send a minute before 429 (PagerDuty throttles per service). */
  perMinute?: number;
}

const invalid = (...errors: string[]): ScriptedAnswer => ({
  status: 400,
  body: { status: 'invalid event', message: 'Event object is invalid', errors },
});

/** PagerDuty's 429 (no Retry-After: its docs say to retry after some time, preferably minutes). */
export const pagerdutyThrottled: ScriptedAnswer = {
  status: 429,
  body: {
    status: 'throttle event',
    message: 'Requests for this service are arriving too quickly. Please retry later.',
  },
};

/**
 * Starts a fake PagerDuty Events API on 127.0.0.1 answering like `POST /v2/change/enqueue`: 202
 * `{"status":"success","message":"Change event processed"}`; 400 `{status, message, errors[]}` for a body
 * that is not JSON, an unknown routing key, a missing or too long `payload.summary` (1024), an unreadable
 * `payload.timestamp`, a non-object `custom_details` or a link without `href`; 429 past `perMinute` events of
 * a routing key in a minute; 404 off its path. The routing key travels in the body (no auth header).
 */
export async function startPagerDutyServer(options: PagerDutyServerOptions): Promise<PagerDutyServer> {
  const server = await startTargetServer();
  const changeEvents: FakeChangeEvent[] = [];
  const windows = new Map<string, { minute: number; count: number }>();
  server.fallback = (request) => {
    if (request.method !== 'POST' || request.path !== '/v2/change/enqueue') {
      return { status: 404, body: { status: 'Not Found', message: 'Not Found' } };
    }
    let body: Record<string, unknown>;
    try {
      body = request.json();
      if (typeof body !== 'object' || body === null || Array.isArray(body))
        return invalid('JSON parse error');
    } catch {
      return invalid('JSON parse error');
    }
    const key = body.routing_key;
    const service = typeof key === 'string' ? options.routingKeys[key] : undefined;
    if (!service) return invalid('Invalid routing key');
    const minute = Math.floor(Date.now() / 60_000);
    const used = windows.get(service);
    const count = used?.minute === minute ? used.count : 0;
    if (options.perMinute !== undefined && count >= options.perMinute) return pagerdutyThrottled;
    const payload = body.payload as Record<string, unknown> | undefined;
    if (!payload || typeof payload !== 'object') return invalid("'payload' is missing or not an object");
    if (typeof payload.summary !== 'string' || payload.summary.length === 0)
      return invalid("'payload.summary' is missing or blank");
    if ([...payload.summary].length > 1024)
      return invalid("'payload.summary' is longer than 1024 characters");
    if (payload.timestamp !== undefined && Number.isNaN(Date.parse(String(payload.timestamp))))
      return invalid("'payload.timestamp' is not a valid timestamp");
    const details = payload.custom_details;
    if (details !== undefined && (typeof details !== 'object' || details === null || Array.isArray(details)))
      return invalid("'payload.custom_details' must be an object");
    const links = body.links;
    if (links !== undefined) {
      if (!Array.isArray(links)) return invalid("'links' must be an array");
      if (!links.every((l) => typeof l?.href === 'string' && /^https?:\/\//.test(l.href)))
        return invalid("'links[].href' must be a URL");
    }
    windows.set(service, { minute, count: count + 1 });
    changeEvents.push({ service, payload, ...(links ? { links: links as FakeChangeEvent['links'] } : {}) });
    return { status: 202, body: { status: 'success', message: 'Change event processed' } };
  };
  return {
    url: server.url,
    requests: server.requests,
    changeEvents,
    script: server.script,
    stop: server.stop,
  };
}
