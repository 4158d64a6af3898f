import { describe, expect, it } from 'vitest';
import { type FunctionUrlEvent, serveFunctionUrl } from '../../functions/handlers/function-url.ts';

const event = (overrides: Partial<FunctionUrlEvent> = {}): FunctionUrlEvent => ({
  rawPath: '/v1/events',
  rawQueryString: '',
  headers: { host: 'abc.lambda-url.us-east-1.on.aws', 'content-type': 'application/json' },
  requestContext: { domainName: 'abc.lambda-url.us-east-1.on.aws', http: { method: 'POST' } },
  ...overrides,
});

describe('function URL transport', () => {
  it('gives the app the method, URL with query, headers, cookies and a base64 body decoded', async () => {
    let seen:
      | { method: string; url: string; type: string | null; cookie: string | null; body: string }
      | undefined;
    const result = await serveFunctionUrl(
      event({
        rawQueryString: 'service=checkout&limit=5',
        cookies: ['a=1', 'b=2'],
        body: Buffer.from('{"ok":"é"}').toString('base64'),
        isBase64Encoded: true,
      }),
      async (request) => {
        seen = {
          method: request.method,
          url: request.url,
          type: request.headers.get('content-type'),
          cookie: request.headers.get('cookie'),
          body: await request.text(),
        };
        return Response.json({ accepted: true }, { status: 202 });
      },
    );

    expect(seen).toEqual({
      method: 'POST',
      url: 'https://abc.lambda-url.us-east-1.on.aws/v1/events?service=checkout&limit=5',
      type: 'application/json',
      cookie: 'a=1; b=2',
      body: '{"ok":"é"}',
    });
    expect(result).toEqual({
      statusCode: 202,
      headers: { 'content-type': 'application/json' },
      body: '{"accepted":true}',
      isBase64Encoded: false,
    });
  });

  it('drops a body sent with GET instead of failing the request', async () => {
    const result = await serveFunctionUrl(
      event({ rawPath: '/healthz', body: 'ignored', requestContext: { http: { method: 'GET' } } }),
      async (request) => new Response(`${request.method} ${new URL(request.url).pathname} ${request.body}`),
    );
    expect(result.body).toBe('GET /healthz null');
  });

  it('returns Set-Cookie as cookies and a binary body base64-encoded', async () => {
    const bytes = Uint8Array.from([0, 255, 1, 254]);
    const headers = new Headers({ 'content-type': 'application/octet-stream' });
    headers.append('set-cookie', 'x=1');
    headers.append('set-cookie', 'y=2');
    const result = await serveFunctionUrl(event(), () => new Response(bytes, { headers }));
    expect(result).toEqual({
      statusCode: 200,
      headers: { 'content-type': 'application/octet-stream' },
      cookies: ['x=1', 'y=2'],
      body: Buffer.from(bytes).toString('base64'),
      isBase64Encoded: true,
    });
  });

  it('answers 400 naming the header when a header value cannot be carried by HTTP, without calling the app', async () => {
    let called = false;
    const result = await serveFunctionUrl(event({ headers: { 'x-title': 'deploy ‮ now' } }), () => {
      called = true;
      return new Response('');
    });
    expect(called).toBe(false);
    expect(result.statusCode).toBe(400);
    expect(JSON.parse(result.body)).toEqual({
      error: 'invalid_request',
      message: 'the request cannot be read: header "x-title" has a value HTTP cannot carry',
    });
  });
});
