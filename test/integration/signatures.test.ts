import { createHash, createHmac, createSign, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiContext, createApi } from '../../functions/core/api/app.ts';
import { parseCodeDeployMessage } from '../../functions/core/sources/codedeploy.ts';
import {
  SNS_MAX_AGE_SECONDS,
  SNS_MAX_SKEW_SECONDS,
  stringToSign,
} from '../../functions/core/sources/sns-http.ts';
import { type Json, signedSourcesHarness } from '../support/fuzz.ts';
import type { Harness } from '../support/harness.ts';
import { selfSignedCertificate, signedSnsEnvelope } from '../support/sns-signing.ts';

/** Unique ids per run without chance collisions. */
let uniqueCounter = 0;

const TOKEN = 'sig-api-token-3d5f0a';
const GITHUB_SECRET = 'sig-github-secret-77aa';
const GITLAB_TOKEN = 'sig-gitlab-token-19ce';
const PAGERDUTY_SECRET = 'sig-pagerduty-secret-5a0b';
const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const fixtureText = (path: string) => readFileSync(join(FIXTURES, path), 'utf8');
const MESSAGE = fixtureText('codedeploy/deployment-succeeded.real.message.json');

/** The ways a credential goes wrong. Not every scheme has every one (a token has no prefix or hash). */
type Fault = 'wrong secret' | 'flipped byte' | 'missing prefix' | 'sha1 for sha256' | 'empty' | 'missing';
const FAULTS: Fault[] = [
  'wrong secret',
  'flipped byte',
  'missing prefix',
  'sha1 for sha256',
  'empty',
  'missing',
];

/** One character changed (the last one), so the value has the right shape and the wrong content. */
const flip = (value: string) => value.slice(0, -1) + (value.endsWith('0') ? '1' : '0');
const hmac = (algorithm: 'sha1' | 'sha256', secret: string, body: string) =>
  createHmac(algorithm, secret).update(body).digest('hex');

interface SignedRoute {
  name: string;
  /** Faults the scheme cannot have (a token has no prefix and no hash algorithm). */
  inapplicable?: Fault[];
  /** The request with the credential as it should be (`fault` undefined) or broken as told. */
  request(fault?: Fault): { path: string; init: RequestInit } | undefined;
}

describe('every signed or token-checked route refuses a bad credential the same way', () => {
  let h: Harness;
  let api: ReturnType<typeof createApi>;
  let writes: string[];
  const sns = selfSignedCertificate();
  const impostor = selfSignedCertificate();

  beforeAll(async () => {
    let context: ApiContext;
    ({ h, context, writes } = await signedSourcesHarness({
      tokenName: 'ci',
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

  /** `Authorization: Bearer <token>` routes (the /v1 API and the BigPanda drop-in). */
  const bearerRoute = (
    name: string,
    method: string,
    path: string,
    body?: () => string,
    headers: Record<string, string> = {},
  ): SignedRoute => ({
    name,
    inapplicable: ['sha1 for sha256'],
    request(fault) {
      const value: Record<Fault, string | undefined> = {
        'wrong secret': 'Bearer not-the-token-000',
        'flipped byte': `Bearer ${flip(TOKEN)}`,
        'missing prefix': TOKEN,
        'sha1 for sha256': undefined as never,
        empty: '',
        missing: undefined,
      };
      if (fault === 'sha1 for sha256') return undefined;
      const authorization = fault ? value[fault] : `Bearer ${TOKEN}`;
      return {
        path,
        init: {
          method,
          headers: authorization === undefined ? headers : { ...headers, authorization },
          ...(body ? { body: body() } : {}),
        },
      };
    },
  });

  const ROUTES: SignedRoute[] = [
    bearerRoute('POST /v1/events', 'POST', '/v1/events', () =>
      JSON.stringify({ service: 'sig', environment: 'prod', status: 'queued', deploymentId: randomUUID() }),
    ),
    bearerRoute('GET /v1/deployments', 'GET', '/v1/deployments'),
    bearerRoute(
      'POST /v1/cdevents',
      'POST',
      '/v1/cdevents',
      () => {
        const data = JSON.parse(fixtureText('cdevents/service_deployed.0.1.1.json'));
        return JSON.stringify({
          specversion: '1.0',
          id: randomUUID(),
          source: '/sig',
          type: data.context.type,
          data,
        });
      },
      { 'content-type': 'application/cloudevents+json' },
    ),
    bearerRoute('POST /data/events/deployments/start', 'POST', '/data/events/deployments/start', () =>
      JSON.stringify({ component: 'sig', version: randomUUID(), hosts: ['web-1'] }),
    ),
    bearerRoute('POST /data/events/deployments/end', 'POST', '/data/events/deployments/end', () =>
      JSON.stringify({ component: 'sig', version: randomUUID(), hosts: ['web-1'], status: 'success' }),
    ),
    {
      name: 'PUT /:username/apps/:app_name/events/pushEvent (?apiToken=)',
      inapplicable: ['missing prefix', 'sha1 for sha256'],
      request(fault) {
        if (fault === 'missing prefix' || fault === 'sha1 for sha256') return undefined;
        const token: Record<Fault, string | undefined> = {
          'wrong secret': 'not-the-token-000',
          'flipped byte': flip(TOKEN),
          'missing prefix': undefined,
          'sha1 for sha256': undefined,
          empty: '',
          missing: undefined,
        };
        const value = fault ? token[fault] : TOKEN;
        const query = value === undefined ? '' : `?apiToken=${encodeURIComponent(value)}`;
        return {
          path: `/acme/apps/sig/events/pushEvent${query}`,
          init: { method: 'PUT', body: JSON.stringify({ commit_id: randomUUID(), branch: 'main' }) },
        };
      },
    },
    {
      name: 'POST /v1/hooks/github (X-Hub-Signature-256)',
      request(fault) {
        const payload = JSON.parse(fixtureText('github/push/push.json')) as Json;
        payload.after = createHash('sha1').update(randomUUID()).digest('hex');
        const body = JSON.stringify(payload);
        const right = `sha256=${hmac('sha256', GITHUB_SECRET, body)}`;
        const signature: Record<Fault, string | undefined> = {
          'wrong secret': `sha256=${hmac('sha256', 'not-the-secret', body)}`,
          'flipped byte': flip(right),
          'missing prefix': right.slice('sha256='.length),
          'sha1 for sha256': `sha1=${hmac('sha1', GITHUB_SECRET, body)}`,
          empty: '',
          missing: undefined,
        };
        const value = fault ? signature[fault] : right;
        return {
          path: '/v1/hooks/github',
          init: {
            method: 'POST',
            headers: {
              'x-github-event': 'push',
              'x-github-delivery': randomUUID(),
              ...(value === undefined ? {} : { 'x-hub-signature-256': value }),
            },
            body,
          },
        };
      },
    },
    {
      name: 'POST /v1/hooks/gitlab (X-Gitlab-Token)',
      inapplicable: ['missing prefix', 'sha1 for sha256'],
      request(fault) {
        if (fault === 'missing prefix' || fault === 'sha1 for sha256') return undefined;
        const payload = JSON.parse(fixtureText('gitlab/deployment/success.json')) as Json;
        payload.deployment_id = 1_000_000 + ++uniqueCounter;
        const token: Record<Fault, string | undefined> = {
          'wrong secret': 'not-the-token-000',
          'flipped byte': flip(GITLAB_TOKEN),
          'missing prefix': undefined,
          'sha1 for sha256': undefined,
          empty: '',
          missing: undefined,
        };
        const value = fault ? token[fault] : GITLAB_TOKEN;
        return {
          path: '/v1/hooks/gitlab',
          init: {
            method: 'POST',
            headers: value === undefined ? {} : { 'x-gitlab-token': value },
            body: JSON.stringify(payload),
          },
        };
      },
    },
    {
      name: 'POST /v1/hooks/pagerduty (X-PagerDuty-Signature)',
      inapplicable: ['sha1 for sha256'],
      request(fault) {
        if (fault === 'sha1 for sha256') return undefined;
        const payload = JSON.parse(fixtureText('pagerduty/incident/priority_updated.json')) as Json;
        payload.event.data.id = `PSIG${++uniqueCounter}`;
        const body = JSON.stringify(payload);
        const right = `v1=${hmac('sha256', PAGERDUTY_SECRET, body)}`;
        const signature: Record<Fault, string | undefined> = {
          'wrong secret': `v1=${hmac('sha256', 'not-the-secret', body)}`,
          'flipped byte': flip(right),
          'missing prefix': right.slice('v1='.length),
          'sha1 for sha256': undefined,
          empty: '',
          missing: undefined,
        };
        const value = fault ? signature[fault] : right;
        return {
          path: '/v1/hooks/pagerduty',
          init: {
            method: 'POST',
            headers: {
              'x-webhook-id': randomUUID(),
              ...(value === undefined ? {} : { 'x-pagerduty-signature': value }),
            },
            body,
          },
        };
      },
    },
    {
      name: 'POST /v1/hooks/sns (message signature)',
      // A missing Signature makes the envelope malformed (400, tested below).
      inapplicable: ['missing prefix', 'missing'],
      request(fault) {
        if (fault === 'missing prefix') return undefined;
        const message = JSON.stringify({
          ...JSON.parse(MESSAGE),
          deploymentId: `d-${randomUUID().slice(0, 8)}`,
        });
        const now = h.clock.now().toISOString();
        let envelope = signedSnsEnvelope(message, sns.key, now);
        if (fault === 'wrong secret') envelope = signedSnsEnvelope(message, impostor.key, now);
        if (fault === 'flipped byte') envelope.Signature = flipBase64(envelope.Signature as string);
        if (fault === 'sha1 for sha256') {
          // Signed as version 1 (SHA1withRSA) but sent as version 2, which requires SHA256withRSA.
          const signer = createSign('RSA-SHA1');
          signer.update(stringToSign(envelope as never));
          envelope.Signature = signer.sign(sns.key, 'base64');
        }
        if (fault === 'empty') envelope.Signature = '';
        return {
          path: '/v1/hooks/sns',
          init: { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify(envelope) },
        };
      },
    },
  ];

  const matrix = ROUTES.flatMap((route) =>
    FAULTS.filter((fault) => !route.inapplicable?.includes(fault)).map((fault) => ({ route, fault })),
  );

  it.each(ROUTES.map((route) => ({ route, name: route.name })))(
    '$name accepts the right credential (the matrix below tests something real)',
    async ({ route }) => {
      const { path, init } = route.request() as { path: string; init: RequestInit };
      const response = await api.request(path, init);
      expect(response.status, await response.clone().text()).toBeLessThan(300);
    },
  );

  it.each(matrix.map(({ route, fault }) => ({ route, fault, name: route.name })))(
    '$name: $fault → 401 with a JSON error, nothing stored',
    async ({ route, fault }) => {
      const { path, init } = route.request(fault) as { path: string; init: RequestInit };
      const before = writes.length;
      const response = await api.request(path, init);
      expect(response.status).toBe(401);
      const body = (await response.json()) as { error: string; message: string };
      expect(body).toMatchObject({ error: 'unauthorized', message: expect.any(String) });
      // The answer never echoes a secret.
      for (const secret of [TOKEN, GITHUB_SECRET, GITLAB_TOKEN, PAGERDUTY_SECRET]) {
        expect(body.message).not.toContain(secret);
      }
      expect(writes.slice(before)).toEqual([]);
    },
  );

  it('SNS: an envelope without Signature is malformed (400 naming it), nothing stored', async () => {
    const { Signature: _dropped, ...unsigned } = signedSnsEnvelope(
      MESSAGE,
      sns.key,
      h.clock.now().toISOString(),
    );
    const before = writes.length;
    const response = await api.request('/v1/hooks/sns', { method: 'POST', body: JSON.stringify(unsigned) });
    expect(response.status).toBe(400);
    expect(JSON.stringify(await response.json())).toContain('Signature');
    expect(writes.slice(before)).toEqual([]);
  });

  describe('SNS replay window (the protocol carries a Timestamp)', () => {
    const post = (envelope: Json) =>
      api.request('/v1/hooks/sns', { method: 'POST', body: JSON.stringify(envelope) });
    const at = (offsetSeconds: number) =>
      new Date(h.clock.now().getTime() + offsetSeconds * 1000).toISOString();
    const freshMessage = () =>
      JSON.stringify({ ...JSON.parse(MESSAGE), deploymentId: `d-${randomUUID().slice(0, 8)}` });

    it.each([
      ['older than the window', -(SNS_MAX_AGE_SECONDS + 1)],
      ['a day old', -86_400],
      ['further in the future than the clock skew allowed', SNS_MAX_SKEW_SECONDS + 60],
    ])('refuses a genuinely signed message %s with 401, storing nothing', async (_what, offset) => {
      const before = writes.length;
      const response = await post(signedSnsEnvelope(freshMessage(), sns.key, at(offset)));
      expect(response.status).toBe(401);
      expect(await response.json()).toMatchObject({
        error: 'unauthorized',
        message: expect.stringContaining('replay window'),
      });
      expect(writes.slice(before)).toEqual([]);
    });

    it('accepts a message just inside the window, then refuses its replay (same MessageId) with 401 and changes nothing', async () => {
      const envelope = signedSnsEnvelope(freshMessage(), sns.key, at(-(SNS_MAX_AGE_SECONDS - 60)));
      const first = await post(envelope);
      expect(first.status).toBe(202);
      expect(await h.drainIngest()).toEqual([{ batchItemFailures: [] }]);
      const { deploymentId } = parseCodeDeployMessage(envelope.Message, { receivedAt: '', where: 'test' });
      const history = await h.store.listEvents(deploymentId);
      expect(history).toHaveLength(1);

      const before = writes.length;
      const replay = await post(envelope);
      expect(replay.status).toBe(401);
      expect(await replay.json()).toMatchObject({ message: expect.stringContaining('already received') });
      expect(writes.slice(before)).toEqual([]);
      expect(await h.drainIngest()).toEqual([]);
      expect(await h.store.listEvents(deploymentId)).toEqual(history);

      // Later in the window it is still a replay; after the window it is too old.
      h.clock.advance(30 * 60 * 1000);
      expect((await post(envelope)).status).toBe(401);
      h.clock.advance(60 * 60 * 1000);
      const late = await post(envelope);
      expect(late.status).toBe(401);
      expect(await late.json()).toMatchObject({ message: expect.stringContaining('replay window') });
    });

    it('handles the same CodeDeploy event again under a new MessageId (SNS re-publishing) as a duplicate', async () => {
      const message = freshMessage();
      const first = await post(signedSnsEnvelope(message, sns.key, at(0)));
      const second = await post(signedSnsEnvelope(message, sns.key, at(0)));
      expect([first.status, second.status]).toEqual([202, 202]);
      expect(await h.drainIngest()).toEqual([{ batchItemFailures: [] }]);
      const { deploymentId } = parseCodeDeployMessage(message, { receivedAt: '', where: 'test' });
      expect(await h.store.listEvents(deploymentId)).toHaveLength(1);
    });
  });
});

/** One base64 character changed (not the padding), so the signature decodes but does not verify. */
function flipBase64(signature: string): string {
  const i = signature.replace(/=+$/, '').length - 2;
  return signature.slice(0, i) + (signature[i] === 'A' ? 'B' : 'A') + signature.slice(i + 1);
}
