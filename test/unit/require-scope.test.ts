import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { requireScope } from '../../functions/core/api/auth.ts';
import { parseConfig } from '../../functions/core/config.ts';

const config = parseConfig(
  {
    api: {
      tokens: [
        { name: 'reader', secret: 'api-token-reader', scopes: ['read'] },
        { name: 'ci', secret: 'api-token-ci', scopes: ['events:write'] },
      ],
    },
    targets: { console: { type: 'log' } },
    routes: [{ targets: ['console'] }],
  },
  'test config',
);

/** An app whose route checks a scope after a stand-in authentication that sets the token named in `x-token`, if any. */
function app() {
  const api = new Hono<{ Variables: { token: string } }>();
  api.use(async (c, next) => {
    const name = c.req.header('x-token');
    if (name) c.set('token', name);
    await next();
  });
  api.get('/v1/metrics/dora', requireScope(config, 'metrics:read'), (c) => c.json({ ok: true }));
  return api;
}

describe('requireScope', () => {
  it('lets a token with the scope (or a broader one) through and answers 403 naming the token without it', async () => {
    const allowed = await app().request('/v1/metrics/dora', { headers: { 'x-token': 'reader' } });
    const refused = await app().request('/v1/metrics/dora', { headers: { 'x-token': 'ci' } });

    expect(allowed.status).toBe(200);
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({
      message: expect.stringContaining('"ci" lacks the scope metrics:read'),
    });
  });

  it('answers 401 when no authentication set a token before it, instead of granting anything', async () => {
    const response = await app().request('/v1/metrics/dora');

    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({
      error: 'unauthorized',
      message: 'this route needs Authorization: Bearer <token>',
    });
  });
});
