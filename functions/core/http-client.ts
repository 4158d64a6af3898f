import { PermanentDeliveryError, RetryableDeliveryError } from './errors.ts';
import { isPlainWord, maskSecrets } from './secret-mask.ts';

/** One outbound request. */
export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  /** Serialized as JSON unless it is already a string. */
  body?: unknown;
  /** Overrides the client's timeout for this request. */
  timeoutMs?: number;
}

/** One answer. Only 2xx answers reach the caller; everything else becomes a delivery error. */
export interface HttpResponse {
  status: number;
  headers: Headers;
  text: string;
  json<T = unknown>(): T;
}

export interface HttpClientOptions {
  timeoutMs?: number;
  /** Quick in-process retries for connection failures on idempotent requests only. */
  connectionRetries?: number;
  /** Wait when a retryable answer says nothing about when to come back (seconds); unset: the dispatcher's backoff. */
  defaultRetryAfterSeconds?: number;
  fetch?: typeof fetch;
  userAgent?: string;
  /** Told what became of every call (each attempt of a retried one): how a target's health is judged. */
  onCall?: (outcome: CallOutcome) => void;
}

/**
 * What one HTTP call says about the target: it answered (2xx), it failed in a way that may pass (429,
 * 5xx, 408, a rate limit's 403, a timeout, a connection failure), or it refused the request (other 4xx,
 * which says nothing about its health).
 */
export type CallOutcome = 'answered' | 'failed' | 'refused';

/**
 * All outbound HTTP goes through here: timeouts, bounded retries of connection failures,
 * rate-limit headers turned into a queue delay (never a sleep), secrets masked in every error.
 */
export class HttpClient {
  private readonly options: HttpClientOptions;
  private readonly timeoutMs: number;
  private readonly connectionRetries: number;
  private readonly defaultRetryAfterSeconds: number | undefined;
  private readonly fetchImpl: typeof fetch;
  private readonly userAgent: string;

  constructor(options: HttpClientOptions = {}) {
    this.options = options;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.connectionRetries = options.connectionRetries ?? 1;
    // Without a hint from the answer, the dispatcher's exponential backoff decides (5 s doubling to 15 min).
    this.defaultRetryAfterSeconds = options.defaultRetryAfterSeconds;
    this.fetchImpl = options.fetch ?? fetch;
    this.userAgent = options.userAgent ?? 'shipcast/0.1';
  }

  /** The same client, also telling `onCall` what became of each of its calls (one delivery's, say). */
  observed(onCall: (outcome: CallOutcome) => void): HttpClient {
    const outer = this.options.onCall;
    return new HttpClient({
      ...this.options,
      onCall: (outcome) => {
        outer?.(outcome);
        onCall(outcome);
      },
    });
  }

  /** Sends the request; returns a 2xx answer or throws RetryableDeliveryError / PermanentDeliveryError. */
  async send(request: HttpRequest): Promise<HttpResponse> {
    const idempotent = request.method === 'GET' || request.method === 'PUT' || request.method === 'DELETE';
    const attempts = idempotent ? 1 + this.connectionRetries : 1;
    let lastError: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const response = await this.once(request);
        this.options.onCall?.('answered');
        return response;
      } catch (error) {
        const failed = error instanceof ConnectionFailure || error instanceof RetryableDeliveryError;
        this.options.onCall?.(failed ? 'failed' : 'refused');
        if (!(error instanceof ConnectionFailure)) throw error;
        lastError = error;
      }
    }
    const failure = lastError as ConnectionFailure;
    throw new RetryableDeliveryError(failure.message, this.defaultRetryAfterSeconds, {
      cause: failure.cause,
    });
  }

  private async once(request: HttpRequest): Promise<HttpResponse> {
    const where = `${request.method} ${redactUrl(request.url)}`;
    const headers: Record<string, string> = { 'user-agent': this.userAgent, ...request.headers };
    let body: string | undefined;
    if (request.body !== undefined) {
      body = typeof request.body === 'string' ? request.body : JSON.stringify(request.body);
      if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
        headers['content-type'] = 'application/json';
      }
    }
    let response: Response;
    let text: string;
    try {
      response = await this.fetchImpl(request.url, {
        method: request.method,
        headers,
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(request.timeoutMs ?? this.timeoutMs),
      });
      text = await response.text();
    } catch (error) {
      const reason = error instanceof Error && error.name === 'TimeoutError' ? 'timed out' : describe(error);
      throw new ConnectionFailure(maskSecrets(`${where} failed: ${reason}`), error);
    }
    if (response.status >= 200 && response.status < 300) {
      return {
        status: response.status,
        headers: response.headers,
        text,
        json: <T>() => (text ? JSON.parse(text) : undefined) as T,
      };
    }
    // Mask before cutting: an excerpt that ends inside a secret would otherwise keep its first part.
    const detail = maskSecrets(`${where} answered ${response.status}: ${excerpt(maskSecrets(text))}`);
    const retryAfter = retryAfterSeconds(response.headers, Date.now());
    const cause = new HttpAnswer(response.status, response.headers, maskSecrets(text));
    if (response.status === 429 || response.status >= 500 || response.status === 408) {
      throw new RetryableDeliveryError(detail, retryAfter ?? this.defaultRetryAfterSeconds, { cause });
    }
    if (response.status === 403 && retryAfter !== undefined) {
      // GitHub's secondary rate limits answer 403 with retry-after or x-ratelimit-remaining: 0.
      throw new RetryableDeliveryError(detail, retryAfter, { cause });
    }
    throw new PermanentDeliveryError(detail, { cause });
  }
}

/**
 * The non-2xx answer behind a delivery error (the `cause` of the error `send` throws), its body masked:
 * for targets that read a platform's own error details (Discord's `retry_after` and error `code`).
 */
export class HttpAnswer extends Error {
  constructor(
    readonly status: number,
    readonly headers: Headers,
    readonly text: string,
  ) {
    super(`answered ${status}`);
    this.name = 'HttpAnswer';
  }

  /** The body parsed as JSON, or undefined when it is not JSON. */
  json<T = unknown>(): T | undefined {
    try {
      return JSON.parse(this.text) as T;
    } catch {
      return undefined;
    }
  }
}

/** The answer behind an error `HttpClient.send` threw, if the server answered. */
export function answerOf(error: unknown): HttpAnswer | undefined {
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  return cause instanceof HttpAnswer ? cause : undefined;
}

/** The JSON of an answer's text; undefined when it is empty or not JSON (an error page, say). */
export function jsonOrUndefined(text: string): unknown {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

/** A wait an API answers in a JSON field (`retry_after`), in whole seconds; undefined unless a number ≥ 0. */
export function secondsIn(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.ceil(value) : undefined;
}

class ConnectionFailure extends Error {
  constructor(
    message: string,
    override readonly cause: unknown,
  ) {
    super(message);
  }
}

/**
 * How long an answer asks us to wait, in whole seconds: `Retry-After` (seconds or HTTP date) first,
 * then `x-ratelimit-remaining: 0` with `x-ratelimit-reset` (epoch seconds), then `ratelimit-reset` (seconds).
 */
export function retryAfterSeconds(headers: Headers, nowMs: number): number | undefined {
  const retryAfter = headers.get('retry-after');
  if (retryAfter !== null && retryAfter.trim() !== '') {
    const trimmed = retryAfter.trim();
    if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.max(0, Math.ceil(Number(trimmed)));
    const date = Date.parse(trimmed);
    if (!Number.isNaN(date)) return Math.max(0, Math.ceil((date - nowMs) / 1000));
  }
  if (headers.get('x-ratelimit-remaining') === '0') {
    const reset = Number(headers.get('x-ratelimit-reset'));
    if (Number.isFinite(reset) && reset > 0) return Math.max(1, Math.ceil(reset - nowMs / 1000));
  }
  const reset = headers.get('ratelimit-reset');
  if (reset !== null && /^\d+$/.test(reset.trim())) return Number(reset.trim());
  return undefined;
}

/**
 * A URL fit for logs: no query string, no credentials, registered secrets masked (each path segment of a
 * secret URL is one), and any other segment over 16 characters that is not a plain word cut to its first 4.
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    // Mask before cutting long segments, so no part of a registered secret survives the cut.
    const path = maskSecrets(parsed.pathname)
      .split('/')
      .map((segment) =>
        segment.length > 16 && !isPlainWord(segment, Number.POSITIVE_INFINITY)
          ? `${segment.slice(0, 4)}…`
          : segment,
      )
      .join('/');
    return maskSecrets(`${parsed.protocol}//${parsed.host}${path}`);
  } catch {
    return '(invalid url)';
  }
}

function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 300 ? `${flat.slice(0, 300)}…` : flat || '(empty body)';
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error.cause as { code?: string } | undefined)?.code;
    return code ? `${error.message} (${code})` : error.message;
  }
  return String(error);
}
