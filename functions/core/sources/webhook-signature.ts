import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { RouteContext } from '../api/context.ts';
import { decodeUtf8, parseJsonBody } from '../api/json.ts';
import { BUILD_RANK } from '../build-status.ts';
import { InvalidInputError, retryOnConflict } from '../errors.ts';
import { stableHash } from '../ids.ts';
import type { CiEvent } from '../schema.ts';
import { registerSecret } from '../telemetry.ts';

/**
 * What every vendor webhook route shares: the body limit, the signature and token checks, delivery
 * dedupe and the forward-only CI event write. Routes check in this order and store nothing before the
 * sender is verified: size (413) → configured (404) → credential (401) → delivery id → JSON (400).
 */

/**
 * Largest accepted webhook body. Larger than the native API's 64 KiB: GitHub sends up to 25 MB and a push
 * of 20 commits or a workflow run with its repositories is routinely tens of KiB. Lambda function URLs
 * accept 6 MB; 1 MiB covers the events Shipcast reads.
 */
export const MAX_WEBHOOK_BODY_BYTES = 1024 * 1024;

/** 413 before anything is read or hashed (hono checks Content-Length, then counts streamed bytes). */
export function webhookBodyLimit(): MiddlewareHandler {
  return bodyLimit({
    maxSize: MAX_WEBHOOK_BODY_BYTES,
    onError: (c) =>
      c.json(
        {
          error: 'payload_too_large',
          message: `webhook bodies are limited to ${MAX_WEBHOOK_BODY_BYTES} bytes`,
        },
        413,
      ),
  });
}

const GITHUB_SIGNATURE = /^sha256=([0-9a-f]{64})$/;

/**
 * Is `header` GitHub's `X-Hub-Signature-256` of `body` under `secret`: `sha256=` and the lower-case hex
 * HMAC-SHA256 of the exact bytes received? Compared in constant time. Anything else (the SHA-1
 * `sha1=` form, no prefix, upper-case or short hex, empty) is false.
 */
export function githubSignatureValid(header: string | undefined, body: Uint8Array, secret: string): boolean {
  const match = GITHUB_SIGNATURE.exec(header ?? '');
  return match ? hexEquals(match[1] as string, hmacSha256(body, secret)) : false;
}

const PAGERDUTY_SIGNATURE = /^v1=([0-9a-f]{64})$/i;

/**
 * Is `header` PagerDuty's `X-PagerDuty-Signature` of `body` under `secret`: one or more comma-separated
 * `v1=<hex HMAC-SHA256 of the raw body>` (several while PagerDuty rotates the secret), at least one of
 * which matches, compared in constant time. Signatures of other versions are skipped, as PagerDuty's own
 * verifier does (https://developer.pagerduty.com/docs/verifying-signatures, go-pagerduty `webhookv3`).
 */
export function pagerDutySignatureValid(
  header: string | undefined,
  body: Uint8Array,
  secret: string,
): boolean {
  const presented = (header ?? '')
    .split(',')
    .map((part) => PAGERDUTY_SIGNATURE.exec(part.trim())?.[1])
    .filter((hex): hex is string => hex !== undefined);
  const expected = hmacSha256(body, secret);
  // Every signature is compared, so the time taken does not tell which one matched.
  return presented.map((hex) => hexEquals(hex, expected)).includes(true);
}

function hmacSha256(body: Uint8Array, secret: string): Buffer {
  return createHmac('sha256', secret).update(body).digest();
}

/** Constant-time comparison of a hex digest with the expected bytes. */
function hexEquals(hex: string, expected: Buffer): boolean {
  const presented = Buffer.from(hex, 'hex');
  return presented.length === expected.length && timingSafeEqual(presented, expected);
}

/** The value of a configured source secret (registered for log masking); throws when unreadable. */
export async function sourceSecret(context: RouteContext, name: string): Promise<string> {
  const value = await context.secrets.get(name);
  registerSecret(value);
  return value;
}

/** 401 for a request whose credential does not verify; names the header, never the value. */
export function unauthorized(c: Context, header: string) {
  return c.json(
    { error: 'unauthorized', message: `${header} does not verify with the configured secret` },
    401,
  );
}

/** 404 for a hook whose source is not configured: the route behaves as if it were not there. */
export function notConfigured(c: Context, source: string) {
  return c.json(
    {
      error: 'not_found',
      message: `${source} webhooks are not configured (sources.${source} in the config)`,
    },
    404,
  );
}

/**
 * The body as UTF-8 JSON, or a 400 naming the problem: not UTF-8, not JSON, not an object, or what every
 * JSON route refuses (nesting deeper than MAX_JSON_DEPTH, `__proto__`/`constructor`/`prototype` keys).
 */
export function parseWebhookJson(raw: Uint8Array): Record<string, unknown> {
  const value = parseJsonBody(decodeUtf8(raw));
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidInputError('request body', [{ path: '', message: 'must be a JSON object' }]);
  }
  return value as Record<string, unknown>;
}

const DELIVERY_ID = /^[\x21-\x7e]{1,255}$/;

/** A delivery id header checked like an Idempotency-Key (1–255 printable characters), or a 400. */
export function deliveryId(value: string | undefined, header: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (!DELIVERY_ID.test(value)) {
    throw new InvalidInputError('headers', [
      { path: header, message: 'must be 1-255 printable ASCII characters without spaces' },
    ]);
  }
  return value;
}

/** An answer a hook route gives, remembered per delivery so a redelivery gets the same one. */
export interface HookAnswer {
  status: 200 | 202;
  body: Record<string, unknown>;
}

/**
 * Answers a delivery once: a redelivery (same delivery id and body) gets the first answer again and
 * changes nothing. `remember: false` answers (ping, ignored events) store nothing at all.
 */
export async function answerOnce(
  c: Context,
  context: RouteContext,
  scope: string,
  delivery: string | undefined,
  raw: Uint8Array,
  handle: () => Promise<HookAnswer & { remember?: boolean }>,
) {
  const requestHash = stableHash(Buffer.from(raw).toString('base64'));
  if (delivery) {
    const earlier = await context.store.getIdempotent(scope, delivery);
    // Deliveries are remembered with their answer (never claimed ahead), so a stored one has a response.
    if (earlier?.response) {
      if (earlier.requestHash !== requestHash) {
        return c.json(
          { error: 'delivery_reused', message: 'this delivery id was seen with a different body' },
          422,
        );
      }
      const answer = earlier.response as unknown as HookAnswer;
      c.header('idempotent-replayed', 'true');
      return c.json(answer.body, answer.status);
    }
  }
  const { remember = true, ...answer } = await handle();
  if (delivery && remember) {
    await context.store.putIdempotent(
      scope,
      delivery,
      { requestHash, response: answer as unknown as Record<string, unknown> },
      context.config.api.idempotencyHours * 3600,
    );
  }
  return c.json(answer.body, answer.status);
}

export { isFinalBuild } from '../build-status.ts';

/** What writing a CI event did. */
export type CiWrite = 'created' | 'updated' | 'unchanged';

/**
 * Writes a webhook's CI event. A new id is created; an existing one is updated only when it is not final
 * and the new status does not go backwards (a late `requested` after `in_progress` is kept out), so a
 * terminal build never changes again. Pushes and pull requests (no status) are written once.
 */
export async function saveCiEventForward(
  next: Omit<CiEvent, 'rev'>,
  context: RouteContext,
): Promise<{ write: CiWrite; event: CiEvent }> {
  return retryOnConflict(async () => {
    const current = await context.store.getCiEvent(next.eventId);
    if (!current) {
      const created: CiEvent = { ...next, rev: 1 };
      await context.store.saveCiEvent(created, null);
      return { write: 'created', event: created };
    }
    const forward =
      next.status !== undefined &&
      !current.final &&
      (current.status === undefined || BUILD_RANK[next.status] >= BUILD_RANK[current.status]);
    if (!forward || (current.status === next.status && current.sourceStatus === next.sourceStatus)) {
      return { write: 'unchanged', event: current };
    }
    const updated: CiEvent = {
      ...current,
      ...next,
      eventTime: current.eventTime,
      fields: { ...current.fields, ...next.fields },
      rev: current.rev + 1,
    };
    await context.store.saveCiEvent(updated, current.rev);
    return { write: 'updated', event: updated };
  });
}

/** The answer for a written CI event. */
export function ciAnswer(event: CiEvent, write: CiWrite): HookAnswer {
  return {
    status: 202,
    body: {
      eventId: event.eventId,
      type: event.type,
      status: event.status ?? null,
      final: event.final ?? false,
      write,
    },
  };
}

/**
 * Longest text read from a webhook field. GitHub's and GitLab's own limits are far below it (names ≤ 255,
 * SHAs 40, descriptions 140); a longer value is treated as absent, so no stored record grows towards
 * DynamoDB's 400 KB item limit from a field nobody reads.
 */
export const MAX_FIELD_CHARS = 1024;

/** A string field of a JSON object (1 to `max` characters), or undefined. */
export function str(value: unknown, max = MAX_FIELD_CHARS): string | undefined {
  return typeof value === 'string' && value.length > 0 && value.length <= max ? value : undefined;
}

/** A JSON object field, or an empty object. */
export function obj(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

/** A string or number id as a string, or undefined. */
export function idOf(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return str(value);
}

/** An http(s) URL, or undefined. */
export function httpUrlOf(value: unknown): string | undefined {
  const text = str(value);
  return text && /^https?:\/\/\S+$/.test(text) ? text : undefined;
}

/** A timestamp as ISO 8601, accepting GitLab's `2021-04-28 21:50:00 +0200` and `… UTC` forms. */
export function isoTime(value: unknown): string | undefined {
  const text = str(value);
  if (!text) return undefined;
  const gitlab = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?) ?(UTC|[+-]\d{2}:?\d{2})$/.exec(text);
  const normalized = gitlab
    ? `${gitlab[1]}T${gitlab[2]}${gitlab[3] === 'UTC' ? 'Z' : (gitlab[3] as string).replace(/^([+-]\d{2})(\d{2})$/, '$1:$2')}`
    : text;
  const date = new Date(normalized);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}
