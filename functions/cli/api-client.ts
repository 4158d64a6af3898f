/**
 * The CLI's client of Shipcast's HTTP API: bearer token, JSON, and retries with backoff on 429, 5xx and
 * network errors (honouring `Retry-After`), so a CI step survives a deploy of Shipcast itself or a throttle.
 */

/** The API answered with an error that retrying will not fix; the message says what to do. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    message: string,
    readonly status: number,
    readonly body: unknown,
  ) {
    super(message);
  }
}

/** The API could not be reached (or kept failing) after every retry. */
export class ApiUnavailableError extends Error {
  override readonly name = 'ApiUnavailableError';
}

/** How the client reaches Shipcast. */
export interface ApiClientOptions {
  /** Base URL, e.g. `https://abc.lambda-url.eu-west-1.on.aws` or `http://127.0.0.1:8787`. */
  url: string;
  token: string;
  /** Attempts per request, the first included (default 5). */
  attempts?: number;
  /** First backoff in ms, doubled per attempt up to 30 s (default 1,000). */
  backoffMs?: number;
  /** Per-request timeout in ms (default 15,000). */
  timeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /** Where retries are reported (stderr in the CLI). */
  onRetry?: (message: string) => void;
}

const RETRYABLE = new Set([408, 425, 429, 500, 502, 503, 504]);
const MAX_WAIT_MS = 60_000;

/** A small JSON client of Shipcast's `/v1` API. */
export class ShipcastApi {
  private readonly base: URL;
  constructor(private readonly options: ApiClientOptions) {
    try {
      this.base = new URL(options.url);
    } catch {
      throw new ApiError(`SHIPCAST_URL is not a URL: "${options.url}"`, 0, undefined);
    }
    if (!/^https?:$/.test(this.base.protocol)) {
      throw new ApiError(`SHIPCAST_URL must be http(s): "${options.url}"`, 0, undefined);
    }
  }

  /** Sends one request and returns the parsed JSON answer of a 2xx (and its headers). */
  async request<T>(
    method: 'GET' | 'POST',
    path: string,
    options: {
      body?: unknown;
      headers?: Record<string, string>;
      query?: Record<string, string | undefined>;
    } = {},
  ): Promise<{ status: number; body: T; headers: Headers }> {
    const url = new URL(
      path.replace(/^\//, ''),
      this.base.href.endsWith('/') ? this.base : `${this.base.href}/`,
    );
    for (const [name, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, value);
    }
    const attempts = this.options.attempts ?? 5;
    const sleep = this.options.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)));
    let lastProblem = '';
    for (let attempt = 1; attempt <= attempts; attempt++) {
      let response: Response;
      try {
        response = await fetch(url, {
          method,
          headers: {
            authorization: `Bearer ${this.options.token}`,
            accept: 'application/json',
            ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
            'user-agent': 'shipcast-cli',
            ...options.headers,
          },
          body: options.body === undefined ? undefined : JSON.stringify(options.body),
          signal: AbortSignal.timeout(this.options.timeoutMs ?? 15_000),
        });
      } catch (error) {
        lastProblem = `cannot reach ${url.origin}: ${networkReason(error)}`;
        if (attempt < attempts) await this.retryAfter(attempt, undefined, lastProblem, sleep);
        continue;
      }
      const text = await response.text();
      const body = parseJson(text);
      if (response.ok) return { status: response.status, body: body as T, headers: response.headers };
      if (RETRYABLE.has(response.status) && attempt < attempts) {
        lastProblem = `${method} ${url.pathname} answered ${response.status}`;
        await this.retryAfter(attempt, response.headers.get('retry-after'), lastProblem, sleep);
        continue;
      }
      throw new ApiError(explain(response.status, url, body), response.status, body);
    }
    throw new ApiUnavailableError(`${lastProblem} (gave up after ${attempts} attempts)`);
  }

  private async retryAfter(
    attempt: number,
    retryAfter: string | null | undefined,
    problem: string,
    sleep: (ms: number) => Promise<void>,
  ): Promise<void> {
    const backoff = Math.min(30_000, (this.options.backoffMs ?? 1000) * 2 ** (attempt - 1));
    const asked = retryAfterMs(retryAfter);
    const wait = Math.min(MAX_WAIT_MS, asked ?? backoff);
    this.options.onRetry?.(`${problem}; retrying in ${(wait / 1000).toFixed(1)} s`);
    await sleep(wait);
  }
}

/** `Retry-After` as seconds or an HTTP date, in ms from now. */
function retryAfterMs(value: string | null | undefined): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function parseJson(text: string): unknown {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return text;
  }
}

function networkReason(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if ((error as Error).name === 'TimeoutError') return 'timed out';
  return cause?.code ?? cause?.message ?? (error as Error).message;
}

/** The API's error as a sentence that says what to do. */
function explain(status: number, url: URL, body: unknown): string {
  const message = (body as { message?: string } | undefined)?.message;
  const issues = (body as { issues?: { path: string; message: string }[] } | undefined)?.issues;
  const detail = issues?.length ? issues.map((i) => `${i.path}: ${i.message}`).join('; ') : message;
  if (status === 401)
    return `Shipcast rejected the token (401): set SHIPCAST_TOKEN (or --token) to a token of api.tokens`;
  if (status === 403)
    return `the token may not do this (403): ${detail ?? 'it lacks the scope this route needs'}`;
  if (status === 404) return `not found (404): ${detail ?? url.pathname}`;
  return `${url.pathname} answered ${status}${detail ? `: ${detail}` : ''}`;
}
