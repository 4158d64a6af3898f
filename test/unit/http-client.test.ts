import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { retryDelay } from '../../functions/core/dispatch.ts';
import { PermanentDeliveryError, RetryableDeliveryError } from '../../functions/core/errors.ts';
import { HttpClient, redactUrl, retryAfterSeconds } from '../../functions/core/http-client.ts';
import { registerSecret } from '../../functions/core/telemetry.ts';
import { startTargetServer, type TargetServer } from '../support/target-server.ts';

/** The error `promise` rejects with (fails the test when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the request to fail, it succeeded');
}

describe('HttpClient', () => {
  let server: TargetServer;
  const client = new HttpClient({ timeoutMs: 2_000, defaultRetryAfterSeconds: 30 });

  beforeAll(async () => {
    server = await startTargetServer();
  });
  afterAll(() => server.stop());
  beforeEach(() => {
    server.requests.length = 0;
  });

  it('returns a 2xx answer with its status, headers and body', async () => {
    server.script({ status: 201, headers: { 'x-request-id': 'abc' }, body: { id: 42 } });

    const response = await client.send({ method: 'POST', url: `${server.url}/things`, body: { name: 'n' } });

    expect(response.status).toBe(201);
    expect(response.headers.get('x-request-id')).toBe('abc');
    expect(response.json()).toEqual({ id: 42 });
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]?.json()).toEqual({ name: 'n' });
    expect(server.requests[0]?.headers['content-type']).toBe('application/json');
    expect(server.requests[0]?.headers['user-agent']).toMatch(/^shipcast\//);
  });

  it('sends a string body as it is and keeps a caller content-type', async () => {
    server.script({ status: 204 });

    await client.send({
      method: 'PUT',
      url: `${server.url}/raw`,
      headers: { 'Content-Type': 'text/plain' },
      body: 'hello',
    });

    expect(server.requests[0]?.body).toBe('hello');
    expect(server.requests[0]?.headers['content-type']).toBe('text/plain');
  });

  it('turns 429 with Retry-After seconds into a retryable error that waits that long', async () => {
    server.script({ status: 429, headers: { 'retry-after': '7' }, body: { message: 'slow down' } });

    const error = await rejection(client.send({ method: 'POST', url: `${server.url}/limited`, body: {} }));

    expect(error).toBeInstanceOf(RetryableDeliveryError);
    expect((error as RetryableDeliveryError).retryAfterSeconds).toBe(7);
    expect(error.message).toContain('429');
  });

  it('reads Retry-After given as an HTTP date', async () => {
    // An HTTP date has whole seconds; the wait is from the moment the answer is read, whenever that is.
    const atMs = Math.floor((Date.now() + 90_000) / 1000) * 1000;
    server.script({ status: 429, headers: { 'retry-after': new Date(atMs).toUTCString() } });

    const before = Date.now();
    const error = await rejection(client.send({ method: 'POST', url: `${server.url}/limited`, body: {} }));
    const after = Date.now();

    expect(error).toBeInstanceOf(RetryableDeliveryError);
    const wait = (error as RetryableDeliveryError).retryAfterSeconds as number;
    expect(wait).toBeGreaterThanOrEqual(Math.floor((atMs - after) / 1000));
    expect(wait).toBeLessThanOrEqual(Math.ceil((atMs - before) / 1000));
  });

  it('waits until x-ratelimit-reset when x-ratelimit-remaining is 0', async () => {
    const reset = Math.floor(Date.now() / 1000) + 120;
    server.script({
      status: 429,
      headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(reset) },
    });

    const before = Date.now();
    const error = await rejection(client.send({ method: 'POST', url: `${server.url}/limited`, body: {} }));
    const after = Date.now();

    const wait = (error as RetryableDeliveryError).retryAfterSeconds as number;
    expect(error).toBeInstanceOf(RetryableDeliveryError);
    expect(wait).toBeGreaterThanOrEqual(Math.floor((reset * 1000 - after) / 1000));
    expect(wait).toBeLessThanOrEqual(Math.ceil((reset * 1000 - before) / 1000));
  });

  it('treats 403 with rate-limit headers as retryable (secondary rate limit)', async () => {
    const reset = Math.floor(Date.now() / 1000) + 60;
    server.script(
      { status: 403, headers: { 'retry-after': '15' }, body: { message: 'secondary rate limit' } },
      { status: 403, headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(reset) } },
    );

    const first = await rejection(client.send({ method: 'POST', url: `${server.url}/gh`, body: {} }));
    const second = await rejection(client.send({ method: 'POST', url: `${server.url}/gh`, body: {} }));

    expect(first).toBeInstanceOf(RetryableDeliveryError);
    expect((first as RetryableDeliveryError).retryAfterSeconds).toBe(15);
    expect(second).toBeInstanceOf(RetryableDeliveryError);
    expect((second as RetryableDeliveryError).retryAfterSeconds).toBeGreaterThan(0);
  });

  it('treats 403 without rate-limit headers as permanent', async () => {
    server.script({ status: 403, body: { message: 'Resource not accessible by integration' } });

    const error = await rejection(client.send({ method: 'POST', url: `${server.url}/gh`, body: {} }));

    expect(error).toBeInstanceOf(PermanentDeliveryError);
    expect(error).not.toBeInstanceOf(RetryableDeliveryError);
    expect(error.message).toContain('403');
  });

  it.each([500, 502, 503, 408])('treats %i as retryable with the default delay', async (status) => {
    server.script({ status, body: 'upstream trouble' });

    const error = await rejection(client.send({ method: 'POST', url: `${server.url}/flaky`, body: {} }));

    expect(error).toBeInstanceOf(RetryableDeliveryError);
    expect((error as RetryableDeliveryError).retryAfterSeconds).toBe(30);
    expect(error.message).toContain(String(status));
    expect(server.requests).toHaveLength(1);
  });

  it.each([404, 422, 400])(
    'treats %i as permanent and says the status and an excerpt of the body',
    async (status) => {
      server.script({ status, body: { message: `validation said no to field "ref" (${status})` } });

      const error = await rejection(client.send({ method: 'POST', url: `${server.url}/hooks/1`, body: {} }));

      expect(error).toBeInstanceOf(PermanentDeliveryError);
      expect(error.message).toContain(`POST ${server.url}/hooks/1 answered ${status}`);
      expect(error.message).toContain(`validation said no to field \\"ref\\" (${status})`);
    },
  );

  it('cuts a long error body to an excerpt', async () => {
    server.script({ status: 422, body: `start ${'y'.repeat(5000)} end` });

    const error = await rejection(client.send({ method: 'POST', url: `${server.url}/big`, body: {} }));

    expect(error.message).toContain('start yyy');
    expect(error.message).not.toContain(' end');
    expect(error.message.length).toBeLessThan(600);
  });

  it('does not follow redirects: a 3xx answer is a permanent error', async () => {
    server.script({ status: 302, headers: { location: 'http://127.0.0.1:1/elsewhere' } });

    const error = await rejection(client.send({ method: 'POST', url: `${server.url}/moved`, body: {} }));

    expect(error).toBeInstanceOf(PermanentDeliveryError);
    expect(server.requests).toHaveLength(1);
  });

  it('gives up on a hung connection with a retryable "timed out" error', async () => {
    server.script({ hang: true });

    const error = await rejection(
      client.send({ method: 'POST', url: `${server.url}/hang`, body: {}, timeoutMs: 200 }),
    );

    expect(error).toBeInstanceOf(RetryableDeliveryError);
    expect(error.message).toContain('timed out');
    expect((error as RetryableDeliveryError).retryAfterSeconds).toBe(30);
  });

  it('uses the client timeout when the request sets none', async () => {
    const quick = new HttpClient({ timeoutMs: 200 });
    server.script({ hang: true });

    const error = await rejection(quick.send({ method: 'POST', url: `${server.url}/hang`, body: {} }));

    expect(error).toBeInstanceOf(RetryableDeliveryError);
    expect(error.message).toContain('timed out');
  });

  it('retries an idempotent PUT once in-process after a connection reset', async () => {
    server.script({ reset: true }, { status: 200, body: { ok: true } });

    const response = await client.send({ method: 'PUT', url: `${server.url}/status`, body: { s: 1 } });

    expect(response.status).toBe(200);
    expect(server.requests.map((r) => r.method)).toEqual(['PUT', 'PUT']);
  });

  it('reports a retryable error when the PUT retry is reset too', async () => {
    server.script({ reset: true }, { reset: true });

    const error = await rejection(client.send({ method: 'PUT', url: `${server.url}/status`, body: {} }));

    expect(error).toBeInstanceOf(RetryableDeliveryError);
    expect(error.message).toContain(`PUT ${server.url}/status failed`);
    expect(server.requests).toHaveLength(2);
  });

  it('never retries a POST in-process after a connection reset', async () => {
    // A retry would get the fallback 200 and succeed.
    server.script({ reset: true });

    const error = await rejection(client.send({ method: 'POST', url: `${server.url}/create`, body: {} }));

    expect(error).toBeInstanceOf(RetryableDeliveryError);
    expect(server.requests).toHaveLength(1);
  });

  it('reports a refused connection as retryable', async () => {
    const closed = await startTargetServer();
    const url = closed.url;
    await closed.stop();

    const error = await rejection(client.send({ method: 'POST', url: `${url}/gone`, body: {} }));

    expect(error).toBeInstanceOf(RetryableDeliveryError);
  });

  describe('secrets', () => {
    const secret = 'tok_SuperSecretValue_0123456789abcdef';
    const shortSecret = 'xk-90210';
    beforeAll(() => {
      registerSecret(secret);
      registerSecret(shortSecret);
    });

    it('never shows a registered secret that is in the URL path', async () => {
      server.script({ status: 404, body: 'no such hook' }, { status: 500, body: 'boom' });

      const long = await rejection(
        client.send({ method: 'POST', url: `${server.url}/hooks/${secret}`, body: {} }),
      );
      const short = await rejection(
        client.send({ method: 'POST', url: `${server.url}/hooks/${shortSecret}/x`, body: {} }),
      );

      expect(server.requests.map((r) => r.path)).toEqual([`/hooks/${secret}`, `/hooks/${shortSecret}/x`]);
      for (const error of [long, short]) {
        expect(error.message).not.toContain(secret);
        expect(error.message).not.toContain(shortSecret);
      }
      // Not even the start of the secret survives the cut of long path segments.
      expect(long.message).not.toContain(secret.slice(0, 4));
      expect(short.message).toContain('****');
    });

    it('never shows a registered secret that the response body echoes', async () => {
      server.script(
        { status: 401, body: { error: `bad token ${secret}` } },
        { status: 503, body: `${shortSecret} is rate limited` },
      );

      const permanent = await rejection(client.send({ method: 'POST', url: `${server.url}/a`, body: {} }));
      const retryable = await rejection(client.send({ method: 'POST', url: `${server.url}/b`, body: {} }));

      expect(permanent).toBeInstanceOf(PermanentDeliveryError);
      expect(retryable).toBeInstanceOf(RetryableDeliveryError);
      for (const error of [permanent, retryable]) {
        expect(error.message).not.toContain(secret);
        expect(error.message).not.toContain(shortSecret);
        expect(error.message).toContain('****');
      }
    });

    it('never shows part of a secret that straddles the end of the body excerpt', async () => {
      server.script({ status: 422, body: `${'x'.repeat(290)} ${secret} and more` });

      const error = await rejection(client.send({ method: 'POST', url: `${server.url}/c`, body: {} }));

      expect(error.message).not.toContain(secret.slice(0, 8));
    });

    it('never shows the secret when the request to a secret URL times out or is reset', async () => {
      server.script({ hang: true }, { reset: true });

      const timedOut = await rejection(
        client.send({ method: 'POST', url: `${server.url}/t/${shortSecret}`, body: {}, timeoutMs: 200 }),
      );
      const reset = await rejection(
        client.send({ method: 'POST', url: `${server.url}/r/${shortSecret}`, body: {} }),
      );

      for (const error of [timedOut, reset]) {
        expect(error).toBeInstanceOf(RetryableDeliveryError);
        expect(error.message).not.toContain(shortSecret);
      }
    });

    it('leaves the query string and credentials out of URLs in messages', () => {
      expect(redactUrl('https://user:pw@example.com/hook?token=abc')).toBe('https://example.com/hook');
    });
  });
});

describe('retryAfterSeconds', () => {
  const now = Date.parse('2026-03-01T10:00:00.000Z');
  const headers = (h: Record<string, string>) => new Headers(h);

  it('reads seconds, rounding fractions up', () => {
    expect(retryAfterSeconds(headers({ 'retry-after': '7' }), now)).toBe(7);
    expect(retryAfterSeconds(headers({ 'retry-after': '1.2' }), now)).toBe(2);
  });

  it('reads an HTTP date relative to now, never negative', () => {
    expect(retryAfterSeconds(headers({ 'retry-after': 'Sun, 01 Mar 2026 10:01:30 GMT' }), now)).toBe(90);
    expect(retryAfterSeconds(headers({ 'retry-after': 'Sun, 01 Mar 2026 09:00:00 GMT' }), now)).toBe(0);
  });

  it('reads x-ratelimit-reset only when x-ratelimit-remaining is 0', () => {
    const reset = String(now / 1000 + 45);
    expect(
      retryAfterSeconds(headers({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': reset }), now),
    ).toBe(45);
    expect(
      retryAfterSeconds(headers({ 'x-ratelimit-remaining': '12', 'x-ratelimit-reset': reset }), now),
    ).toBeUndefined();
  });

  it('reads ratelimit-reset seconds', () => {
    expect(retryAfterSeconds(headers({ 'ratelimit-reset': '12' }), now)).toBe(12);
  });

  it('says nothing when no header says when to come back', () => {
    expect(retryAfterSeconds(headers({}), now)).toBeUndefined();
    expect(retryAfterSeconds(headers({ 'retry-after': 'soon' }), now)).toBeUndefined();
  });
});

describe('HttpClient without a default delay', () => {
  it('leaves the wait to the dispatcher backoff when a 5xx answer gives no Retry-After', async () => {
    const server = await startTargetServer();
    server.script({ status: 503, body: 'unavailable' });
    try {
      const error = await new HttpClient({ timeoutMs: 2_000 })
        .send({ method: 'POST', url: `${server.url}/x`, body: {} })
        .catch((e: unknown) => e);

      expect(error).toBeInstanceOf(RetryableDeliveryError);
      expect((error as RetryableDeliveryError).retryAfterSeconds).toBeUndefined();
      expect(retryDelay(error, 1)).toBe(5);
      expect(retryDelay(error, 4)).toBe(40);
      expect(retryDelay(error, 20)).toBe(900);
    } finally {
      await server.stop();
    }
  });
});
