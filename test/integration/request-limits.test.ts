import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiContext, createApi } from '../../functions/core/api/app.ts';
import { expectNoPollution, type Json, nested, signedSourcesHarness } from '../support/fuzz.ts';
import type { Harness } from '../support/harness.ts';
import { pagerDutySignature } from '../support/pagerduty-webhooks.ts';
import { selfSignedCertificate, signedSnsEnvelope } from '../support/sns-signing.ts';

/** Unique ids per run without chance collisions. */
let uniqueCounter = 0;

const TOKEN = 'limits-api-token-5b1e';
const GITHUB_SECRET = 'limits-github-secret';
const GITLAB_TOKEN = 'limits-gitlab-token';
const PAGERDUTY_SECRET = 'limits-pagerduty-secret';
const KiB = 1024;
const CHUNK = 16 * KiB;
const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const readJson = (path: string): Json => JSON.parse(readFileSync(join(FIXTURES, path), 'utf8'));
const githubSign = (body: string) =>
  `sha256=${createHmac('sha256', GITHUB_SECRET).update(body).digest('hex')}`;

/** Every route that takes a body: how to call it with valid credentials, its limit, and a valid body. */
const ROUTES: {
  name: string;
  method: string;
  path: string;
  limit: number;
  headers: (body: string) => Record<string, string>;
  valid: () => Json;
}[] = [
  {
    name: 'POST /v1/events',
    method: 'POST',
    path: '/v1/events',
    limit: 64 * KiB,
    headers: () => ({ authorization: `Bearer ${TOKEN}` }),
    valid: () => ({ service: 'limits', environment: 'prod', status: 'in_progress', version: '1' }),
  },
  {
    name: 'POST /v1/cdevents',
    method: 'POST',
    path: '/v1/cdevents',
    limit: 64 * KiB,
    headers: () => ({ authorization: `Bearer ${TOKEN}`, 'content-type': 'application/cloudevents+json' }),
    valid: () => {
      const data = readJson('cdevents/service_deployed.0.1.1.json');
      return { specversion: '1.0', id: 'limits-1', source: '/limits', type: data.context.type, data };
    },
  },
  ...['start', 'end'].map((call) => ({
    name: `POST /data/events/deployments/${call}`,
    method: 'POST',
    path: `/data/events/deployments/${call}`,
    limit: 64 * KiB,
    headers: () => ({ authorization: `Bearer ${TOKEN}` }),
    valid: () => readJson(`bigpanda/${call === 'start' ? 'start' : 'end-success'}.ansible.json`),
  })),
  ...['buildEvent', 'pushEvent', 'pullRequestEvent'].map((route) => ({
    name: `PUT /:username/apps/:app_name/events/${route}`,
    method: 'PUT',
    path: `/acme/apps/limits/events/${route}?apiToken=${TOKEN}`,
    limit: 64 * KiB,
    headers: () => ({}),
    valid: () => readJson(`pipelines/${route === 'buildEvent' ? 'build' : 'push'}-event.json`),
  })),
  {
    name: 'POST /:username/apps/:app_name/events/:event_id',
    method: 'POST',
    path: `/acme/apps/limits/events/pev_000000000000000000000000?apiToken=${TOKEN}`,
    limit: 64 * KiB,
    headers: () => ({}),
    valid: () => ({ build_status: 'Running' }),
  },
  {
    name: 'POST /v1/hooks/github',
    method: 'POST',
    path: '/v1/hooks/github',
    limit: 1024 * KiB,
    headers: (body) => ({
      'x-github-event': 'push',
      'x-github-delivery': `limits-${++uniqueCounter}`,
      'x-hub-signature-256': githubSign(body),
    }),
    valid: () => readJson('github/push/push.json'),
  },
  {
    name: 'POST /v1/hooks/gitlab',
    method: 'POST',
    path: '/v1/hooks/gitlab',
    limit: 1024 * KiB,
    headers: () => ({ 'x-gitlab-token': GITLAB_TOKEN }),
    valid: () => readJson('gitlab/pipeline/success.json'),
  },
  {
    name: 'POST /v1/hooks/pagerduty',
    method: 'POST',
    path: '/v1/hooks/pagerduty',
    limit: 1024 * KiB,
    headers: (body) => ({ 'x-pagerduty-signature': pagerDutySignature(body, [PAGERDUTY_SECRET]) }),
    valid: () => readJson('pagerduty/incident/priority_updated.json'),
  },
  {
    name: 'POST /v1/hooks/sns',
    method: 'POST',
    path: '/v1/hooks/sns',
    limit: 256 * KiB,
    headers: () => ({ 'content-type': 'text/plain; charset=UTF-8' }),
    valid: () => ({ Type: 'Notification' }), // replaced by a signed envelope below
  },
];

describe('request limits and untrusted JSON on every route that takes a body', () => {
  let h: Harness;
  let api: ReturnType<typeof createApi>;
  let writes: string[];
  const sns = selfSignedCertificate();

  beforeAll(async () => {
    let context: ApiContext;
    ({ h, context, writes } = await signedSourcesHarness({
      tokenName: 'limits',
      apiToken: TOKEN,
      githubSecret: GITHUB_SECRET,
      gitlabToken: GITLAB_TOKEN,
      snsCert: sns.cert,
      pagerdutySecret: PAGERDUTY_SECRET,
    }));
    api = createApi(context);
  });
  afterAll(async () => {
    await h?.stop();
  });

  /** A body of `total` bytes that counts how much of it was read. */
  function countedStream(total: number) {
    const state = { pulled: 0 };
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (state.pulled >= total) return controller.close();
        const chunk = new Uint8Array(Math.min(CHUNK, total - state.pulled)).fill(0x20);
        state.pulled += chunk.length;
        controller.enqueue(chunk);
      },
    });
    return { stream, state };
  }

  it.each(ROUTES)('$name answers 413 after reading at most its limit of a streamed body', async (route) => {
    const total = route.limit + 8 * 1024 * KiB;
    const { stream, state } = countedStream(total);
    const before = writes.length;

    const response = await api.request(route.path, {
      method: route.method,
      headers: route.headers(''),
      body: stream,
      duplex: 'half',
    } as RequestInit);

    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ error: 'payload_too_large', message: expect.any(String) });
    // Read up to the limit (plus the chunk that crossed it and one buffered ahead), never the whole body.
    expect(state.pulled).toBeLessThanOrEqual(route.limit + 2 * CHUNK);
    expect(writes.slice(before)).toEqual([]);
  });

  it.each(ROUTES)('$name answers 413 from Content-Length alone, reading nothing', async (route) => {
    const { stream, state } = countedStream(route.limit + 1);

    const response = await api.request(route.path, {
      method: route.method,
      headers: { ...route.headers(''), 'content-length': String(route.limit + 1) },
      body: stream,
      duplex: 'half',
    } as RequestInit);

    expect(response.status).toBe(413);
    expect(state.pulled).toBeLessThanOrEqual(CHUNK); // at most what the stream buffers before anyone reads
  });

  /** The route's valid body with `edit` applied, sent with valid credentials (and signature). */
  async function sendEdited(route: (typeof ROUTES)[number], edit: (body: Json) => Json) {
    let text: string;
    if (route.path === '/v1/hooks/sns') {
      const message = JSON.stringify(edit(readJson('codedeploy/deployment-succeeded.real.message.json')));
      text = JSON.stringify(signedSnsEnvelope(message, sns.key, h.clock.now().toISOString()));
    } else {
      text = JSON.stringify(edit(route.valid()));
    }
    const before = writes.length;
    const response = await api.request(route.path, {
      method: route.method,
      headers: route.headers(text),
      body: text,
    });
    const body = (await response.json()) as { error: string; message: string };
    return { status: response.status, body, wrote: writes.slice(before) };
  }

  const withKey = (key: string) => (body: Json) => {
    const copy = { ...body };
    Object.defineProperty(copy, key, { value: { polluted: 'yes' }, enumerable: true });
    return copy;
  };
  const deepInside = (body: Json) => {
    const copy = { ...body };
    const field = Object.keys(copy).find((k) => typeof copy[k] === 'object' && copy[k] !== null) ?? 'extra';
    copy[field] = nested(40, 'object', copy[field] ?? 1);
    return copy;
  };

  it.each(ROUTES)(
    '$name refuses JSON with __proto__, constructor or prototype keys, or nested too deep, with a 400 naming where',
    async (route) => {
      const cases: [string, (body: Json) => Json, RegExp][] = [
        ['__proto__', withKey('__proto__'), /__proto__: this key is not allowed/],
        ['constructor', withKey('constructor'), /constructor: this key is not allowed/],
        ['prototype', withKey('prototype'), /prototype: this key is not allowed/],
        ['nested 40 deep', deepInside, /nested deeper than 32 levels/],
      ];
      for (const [what, edit, message] of cases) {
        const { status, body, wrote } = await sendEdited(route, edit);
        expect({ what, status, error: body.error }).toEqual({ what, status: 400, error: 'invalid_request' });
        expect(body.message).toMatch(message);
        expect(wrote).toEqual([]);
      }
      expectNoPollution();
    },
  );

  it.each(ROUTES)(
    '$name refuses a body that is not valid UTF-8 with a 400, never reading it as U+FFFD',
    async (route) => {
      const [before, after] = JSON.stringify({ ...route.valid(), note: 'BAD' }).split('BAD') as [
        string,
        string,
      ];
      // An overlong encoding of "/" (C0 AF): a decoder that replaces it would read U+FFFD.
      const raw = Buffer.concat([Buffer.from(before), Buffer.from([0xc0, 0xaf]), Buffer.from(after)]);
      const headers = route.headers('');
      if (headers['x-hub-signature-256']) {
        headers['x-hub-signature-256'] =
          `sha256=${createHmac('sha256', GITHUB_SECRET).update(raw).digest('hex')}`;
      }
      if (headers['x-pagerduty-signature']) {
        headers['x-pagerduty-signature'] = pagerDutySignature(raw, [PAGERDUTY_SECRET]);
      }
      const writesBefore = writes.length;

      const response = await api.request(route.path, { method: route.method, headers, body: raw });

      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({
        error: 'invalid_request',
        issues: [{ message: expect.stringContaining('not valid UTF-8') }],
      });
      expect(writes.slice(writesBefore)).toEqual([]);
    },
  );

  it.each([
    ['GET /v1/deployments', `/v1/deployments?colour=blue`, { authorization: `Bearer ${TOKEN}` }],
    ['GET /:username/apps/:app_name/events', `/acme/apps/limits/events?apiToken=${TOKEN}&colour=blue`, {}],
  ])('%s refuses an unknown query parameter, naming it', async (_name, path, headers) => {
    const response = await api.request(path, { headers });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({
      error: 'invalid_request',
      issues: [{ path: 'colour', message: expect.stringContaining('unknown field') }],
    });
  });
});
