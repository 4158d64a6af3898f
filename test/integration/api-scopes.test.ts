import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../functions/core/api/app.ts';
import { parseConfig } from '../../functions/core/config.ts';
import { ConfigError } from '../../functions/core/errors.ts';
import { createHarness, type Harness } from '../support/harness.ts';

/** One token per kind of caller; `legacy` is configured without scopes (it has admin). */
const TOKENS = {
  legacy: 'legacy-token-0a1b2c3d',
  reader: 'reader-token-4e5f6a7b',
  writer: 'writer-token-8c9d0e1f',
  pipes: 'pipes-token-2a3b4c5d',
  deploys: 'deploys-token-6e7f8a9b',
};

const config = {
  api: {
    tokens: [
      { name: 'legacy', secret: 'legacy' },
      { name: 'reader', secret: 'reader', scopes: ['read'] },
      { name: 'writer', secret: 'writer', scopes: ['events:write'] },
      { name: 'pipes', secret: 'pipes', scopes: ['pipelines:write'] },
      { name: 'deploys', secret: 'deploys', scopes: ['deployments:read', 'events:write'] },
    ],
  },
  targets: { console: { type: 'log' } },
  routes: [{ targets: ['console'] }],
};

const BUILD = JSON.parse(
  readFileSync(new URL('../fixtures/pipelines/build-event.json', import.meta.url), 'utf8'),
) as Record<string, unknown>;

type Caller = keyof typeof TOKENS;

describe('API token scopes', () => {
  let h: Harness;
  let api: ReturnType<typeof createApi>;
  let seq = 0;

  beforeAll(async () => {
    h = await createHarness({
      config,
      env: Object.fromEntries(
        Object.entries(TOKENS).map(([name, value]) => [`SHIPCAST_SECRET_${name.toUpperCase()}`, value]),
      ),
    });
    api = createApi(h.runtime.api);
  });
  afterAll(async () => {
    await h?.stop();
  });

  const bearer = (caller: Caller) => ({ authorization: `Bearer ${TOKENS[caller]}` });
  const event = () => ({
    service: 'scoped',
    environment: 'production',
    status: 'started',
    version: `1.${++seq}`,
  });

  /** One request per route family, as `caller`. */
  const requests: Record<string, (auth: Record<string, string>) => Response | Promise<Response>> = {
    'POST /v1/events': (auth) =>
      api.request('/v1/events', {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify(event()),
      }),
    'POST /v1/cdevents': (auth) =>
      api.request('/v1/cdevents', {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/cloudevents+json' },
        body: JSON.stringify({
          specversion: '1.0',
          id: `scoped-${++seq}`,
          source: '/scopes',
          type: 'dev.cdevents.service.deployed.0.3.0',
          data: { subject: { id: 'service/scoped', content: { environment: { id: 'production' } } } },
        }),
      }),
    'POST /data/events/deployments/start': (auth) =>
      api.request('/data/events/deployments/start', {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({
          component: 'scoped',
          version: `2.${++seq}`,
          hosts: ['web-1'],
          status: 'in_progress',
        }),
      }),
    'GET /v1/deployments': (auth) => api.request('/v1/deployments', { headers: auth }),
    'GET /v1/deployments/{id}': (auth) =>
      api.request(`/v1/deployments/dep_${'0'.repeat(24)}`, { headers: auth }),
    'GET pipelines': (auth) => api.request('/acme/apps/scoped/events', { headers: auth }),
    'PUT pipelines': (auth) =>
      api.request('/acme/apps/scoped/events/buildEvent', {
        method: 'PUT',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify(BUILD),
      }),
  };
  /** The scope each route family needs. */
  const NEEDS: Record<string, string> = {
    'POST /v1/events': 'events:write',
    'POST /v1/cdevents': 'events:write',
    'POST /data/events/deployments/start': 'events:write',
    'GET /v1/deployments': 'deployments:read',
    'GET /v1/deployments/{id}': 'deployments:read',
    'GET pipelines': 'pipelines:read',
    'PUT pipelines': 'pipelines:write',
  };
  /** Which route families each caller may use. */
  const ALLOWED: Record<Caller, string[]> = {
    legacy: Object.keys(NEEDS),
    reader: ['GET /v1/deployments', 'GET /v1/deployments/{id}', 'GET pipelines'],
    writer: ['POST /v1/events', 'POST /v1/cdevents', 'POST /data/events/deployments/start'],
    pipes: ['PUT pipelines'],
    deploys: [
      'POST /v1/events',
      'POST /v1/cdevents',
      'POST /data/events/deployments/start',
      'GET /v1/deployments',
      'GET /v1/deployments/{id}',
    ],
  };

  it.each(Object.keys(TOKENS) as Caller[])(
    'lets the %s token use exactly the routes its scopes grant, answering 403 naming the missing scope elsewhere',
    async (caller) => {
      for (const [route, send] of Object.entries(requests)) {
        const response = await send(bearer(caller));
        if (ALLOWED[caller].includes(route)) {
          expect([200, 202, 404], `${caller} ${route}`).toContain(response.status);
          continue;
        }
        expect(response.status, `${caller} ${route}`).toBe(403);
        const body = (await response.json()) as { error: string; message: string };
        expect(body.error).toBe('forbidden');
        expect(body.message).toContain(`"${caller}"`);
        expect(body.message).toContain(`lacks the scope ${NEEDS[route]}`);
        expect(body.message).not.toContain(TOKENS[caller]);
      }
      await h.drainDispatch();
    },
  );

  it('answers 401, not 403, for a missing or unknown token on every route family', async () => {
    for (const [route, send] of Object.entries(requests)) {
      const missing = await send({});
      const unknown = await send({ authorization: 'Bearer nobody-has-this' });
      expect([missing.status, unknown.status], route).toEqual([401, 401]);
    }
    const unknownQuery = await api.request('/acme/apps/scoped/events?apiToken=nobody-has-this');
    expect(unknownQuery.status).toBe(401);
  });

  it('stores nothing for a request refused 403', async () => {
    const body = { service: 'forbidden-write', environment: 'production', status: 'started', version: '1' };

    const response = await api.request('/v1/events', {
      method: 'POST',
      headers: { ...bearer('reader'), 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

    expect(response.status).toBe(403);
    expect((await h.store.listDeployments({ service: 'forbidden-write', limit: 10 })).items).toEqual([]);
  });

  describe('query-string tokens', () => {
    it('takes the Pipelines apiToken query parameter by default, and a bearer token too', async () => {
      const query = await api.request(`/acme/apps/scoped/events?apiToken=${TOKENS.reader}`);
      const header = await api.request('/acme/apps/scoped/events', { headers: bearer('reader') });
      expect([query.status, header.status]).toEqual([200, 200]);
    });

    it('refuses a query-string token with 401 when api.queryTokens is false, and still takes the bearer token', async () => {
      const strict = createApi({
        ...h.runtime.api,
        config: { ...h.runtime.api.config, api: { ...h.runtime.api.config.api, queryTokens: false } },
      });

      const query = await strict.request(`/acme/apps/scoped/events?apiToken=${TOKENS.reader}`);
      const header = await strict.request('/acme/apps/scoped/events', { headers: bearer('reader') });

      expect(query.status).toBe(401);
      expect(await query.json()).toMatchObject({ message: expect.stringContaining('api.queryTokens') });
      expect(header.status).toBe(200);
    });

    it('takes no query-string token on the other routes', async () => {
      const response = await api.request(`/v1/deployments?apiToken=${TOKENS.reader}`);
      expect(response.status).toBe(401);
    });
  });

  it('refuses an unknown scope in the config, naming the field', () => {
    const bad = { ...config, api: { tokens: [{ name: 'x', secret: 'x', scopes: ['everything'] }] } };
    expect(() => parseConfig(bad)).toThrow(ConfigError);
    expect(() => parseConfig(bad)).toThrow(/api\.tokens\[0\]\.scopes\[0\]/);
  });
});
