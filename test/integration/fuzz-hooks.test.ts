import { createHmac, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../functions/core/api/app.ts';
import {
  bodyArb,
  contentType,
  extraHeaders,
  FUZZ_TEST_TIMEOUT_MS,
  headersOf,
  headerValue,
  type Json,
  mutate,
  mutationArb,
  type RouteChecker,
  routeChecker,
  runs,
  signedSourcesHarness,
  sweepCases,
  toJsonText,
} from '../support/fuzz.ts';
import type { Harness } from '../support/harness.ts';
import { selfSignedCertificate, signedSnsEnvelope } from '../support/sns-signing.ts';

const GITHUB_SECRET = 'fuzz-github-secret-41c9';
const GITLAB_TOKEN = 'fuzz-gitlab-token-8e2d';
const PAGERDUTY_SECRET = 'fuzz-pagerduty-secret-2b7c';
const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const readJson = (path: string): Json => JSON.parse(readFileSync(join(FIXTURES, path), 'utf8'));
const filesUnder = (dir: string): string[] =>
  readdirSync(join(FIXTURES, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.json'))
    .map((f) => join(dir, f));

/** GitHub fixtures by event name (the folder), from @octokit/webhooks-examples. */
const GITHUB = ['deployment', 'deployment_status', 'workflow_run', 'push', 'ping'].flatMap((event) =>
  filesUnder(join('github', event)).map((file) => ({ event, payload: readJson(file) })),
);
const GITLAB = filesUnder('gitlab').map(readJson);
const PAGERDUTY = filesUnder('pagerduty').map(readJson);
const CODEDEPLOY = filesUnder('codedeploy')
  .filter((f) => f.endsWith('.message.json'))
  .map(readJson);

const sign = (body: Uint8Array, secret = GITHUB_SECRET) =>
  `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

describe('the vendor webhook routes hold up against random and mutated deliveries (property-based)', {
  timeout: FUZZ_TEST_TIMEOUT_MS,
}, () => {
  let h: Harness;
  let send: RouteChecker['send'];
  let expectBothOutcomes: RouteChecker['expectBothOutcomes'];
  const sns = selfSignedCertificate();

  beforeAll(async () => {
    const signed = await signedSourcesHarness({
      tokenName: 'fuzz',
      apiToken: 'fuzz-api-token-0000',
      githubSecret: GITHUB_SECRET,
      gitlabToken: GITLAB_TOKEN,
      snsCert: sns.cert,
      pagerdutySecret: PAGERDUTY_SECRET,
    });
    h = signed.h;
    ({ send, expectBothOutcomes } = routeChecker(h, createApi(signed.context), signed.writes));
  });
  afterAll(async () => {
    await h?.stop();
  });

  /** Signatures: mostly right over the bytes sent, else wrong in every way GitHub's could be. */
  const githubSignature = fc.oneof(
    { weight: 8, arbitrary: fc.constant('right') },
    {
      weight: 2,
      arbitrary: fc.oneof(
        fc.constantFrom('missing', 'other-secret', 'sha1', 'no-prefix', 'upper-case', 'empty'),
        headerValue,
      ),
    },
  );
  const signatureFor = (kind: string, body: Uint8Array): string | undefined => {
    switch (kind) {
      case 'right':
        return sign(body);
      case 'missing':
        return undefined;
      case 'other-secret':
        return sign(body, 'not-the-secret');
      case 'sha1':
        return `sha1=${createHmac('sha1', GITHUB_SECRET).update(body).digest('hex')}`;
      case 'no-prefix':
        return sign(body).slice('sha256='.length);
      case 'upper-case':
        return sign(body).toUpperCase();
      case 'empty':
        return '';
      default:
        return kind;
    }
  };

  it('POST /v1/hooks/github: signed or not, mutated or not, never fails and never half-writes', async () => {
    const small = GITHUB.filter((f) => JSON.stringify(f.payload).length < 12_000);
    for (const { event, payload } of small) {
      for (const { document, label } of sweepCases([payload], 1)) {
        const bytes = new TextEncoder().encode(toJsonText(document));
        await send(
          'github',
          '/v1/hooks/github',
          {
            method: 'POST',
            headers: {
              'x-github-event': event,
              'x-github-delivery': randomUUID(),
              'x-hub-signature-256': sign(bytes),
            },
            body: bytes,
          },
          `${event} ${label}`,
        );
      }
    }
    const fixtures = GITHUB.map((f) => f.payload);
    await fc.assert(
      fc.asyncProperty(
        bodyArb(fixtures),
        fc.oneof(fc.constantFrom(...GITHUB.map((f) => f.event), 'installation', ''), headerValue),
        fc.oneof(fc.uuid(), fc.constantFrom('fixed-delivery', ''), headerValue),
        githubSignature,
        contentType,
        extraHeaders,
        async (body, event, delivery, signature, type, extra) => {
          const headers = headersOf(
            {
              'x-github-event': event,
              'x-github-delivery': delivery,
              'x-hub-signature-256': signatureFor(signature, body.bytes),
              'content-type': type,
            },
            extra,
          );
          await send(
            'github',
            '/v1/hooks/github',
            { method: 'POST', headers, body: body.bytes },
            `${event} ${signature} ${body.label}`,
          );
        },
      ),
      runs(400),
    );
    expectBothOutcomes('github');
  });

  it('POST /v1/hooks/gitlab: with the right token or not, mutated or not, never fails and never half-writes', async () => {
    for (const { document, label } of sweepCases(GITLAB, 2)) {
      await send(
        'gitlab',
        '/v1/hooks/gitlab',
        { method: 'POST', headers: { 'x-gitlab-token': GITLAB_TOKEN }, body: toJsonText(document) },
        label,
      );
    }
    await fc.assert(
      fc.asyncProperty(
        bodyArb(GITLAB),
        fc.oneof(
          { weight: 8, arbitrary: fc.constant(GITLAB_TOKEN) },
          { weight: 2, arbitrary: fc.oneof(fc.constantFrom(`${GITLAB_TOKEN} `, 'wrong'), headerValue) },
        ),
        fc.option(fc.oneof(fc.uuid(), fc.constant('fixed-key'), headerValue), { freq: 2 }),
        fc.option(fc.oneof(fc.uuid(), headerValue), { freq: 2 }),
        contentType,
        extraHeaders,
        async (body, token, key, uuid, type, extra) => {
          const headers = headersOf(
            {
              'x-gitlab-token': token,
              'idempotency-key': key ?? undefined,
              'x-gitlab-event-uuid': uuid ?? undefined,
              'x-gitlab-event': 'Deployment Hook',
              'content-type': type,
            },
            extra,
          );
          await send('gitlab', '/v1/hooks/gitlab', { method: 'POST', headers, body: body.bytes }, body.label);
        },
      ),
      runs(400),
    );
    expectBothOutcomes('gitlab');
  });

  it('POST /v1/hooks/pagerduty: signed or not, mutated or not, never fails and never half-writes', async () => {
    const sign = (body: Uint8Array | string) =>
      `v1=${createHmac('sha256', PAGERDUTY_SECRET).update(body).digest('hex')}`;
    for (const { document, label } of sweepCases(PAGERDUTY, 3)) {
      const body = toJsonText(document);
      await send(
        'pagerduty',
        '/v1/hooks/pagerduty',
        { method: 'POST', headers: { 'x-pagerduty-signature': sign(body) }, body },
        label,
      );
    }
    await fc.assert(
      fc.asyncProperty(
        bodyArb(PAGERDUTY),
        fc.oneof(
          { weight: 8, arbitrary: fc.constant('right') },
          {
            weight: 2,
            arbitrary: fc.oneof(fc.constantFrom('missing', 'other-secret', 'no-prefix'), headerValue),
          },
        ),
        fc.option(fc.oneof(fc.uuid(), fc.constant('fixed-id'), headerValue), { freq: 2 }),
        contentType,
        extraHeaders,
        async (body, signature, webhookId, type, extra) => {
          const right = sign(body.bytes);
          const value =
            signature === 'right'
              ? right
              : signature === 'other-secret'
                ? `v1=${createHmac('sha256', 'other').update(body.bytes).digest('hex')}`
                : signature === 'no-prefix'
                  ? right.slice(3)
                  : signature === 'missing'
                    ? undefined
                    : signature;
          const headers = headersOf(
            { 'x-pagerduty-signature': value, 'x-webhook-id': webhookId ?? undefined, 'content-type': type },
            extra,
          );
          await send(
            'pagerduty',
            '/v1/hooks/pagerduty',
            { method: 'POST', headers, body: body.bytes },
            body.label,
          );
        },
      ),
      runs(400),
    );
    expectBothOutcomes('pagerduty');
  });

  it('POST /v1/hooks/sns: signed envelopes with mutated fields and messages never fail and never half-write', async () => {
    const now = () => h.clock.now().toISOString();
    const post = (envelope: Json, type = 'Notification', label = '') =>
      send(
        'sns',
        '/v1/hooks/sns',
        {
          method: 'POST',
          headers: { 'content-type': 'text/plain; charset=UTF-8', 'x-amz-sns-message-type': type },
          body: typeof envelope === 'string' ? envelope : toJsonText(envelope),
        },
        label,
      );
    // The CodeDeploy message inside a correctly signed envelope, swept field by field.
    for (const { document, label } of sweepCases(CODEDEPLOY.slice(0, 2), 1)) {
      await post(signedSnsEnvelope(toJsonText(document), sns.key, now()), 'Notification', label);
    }
    await fc.assert(
      fc.asyncProperty(
        bodyArb(CODEDEPLOY),
        fc.array(mutationArb, { maxLength: 2 }),
        fc.boolean(),
        fc.constantFrom('Notification', 'SubscriptionConfirmation', 'UnsubscribeConfirmation', 'Other'),
        fc.constantFrom('1' as const, '2' as const),
        async (message, envelopeMutations, signAfterMutating, type, version) => {
          const text = new TextDecoder().decode(message.bytes);
          let envelope: Json;
          if (signAfterMutating) {
            // Mutate the fields, then sign what is sent: the parser and the handler see the mutations.
            let fields: Json = { Type: type, Timestamp: now() };
            for (const m of envelopeMutations) fields = mutate(fields, m);
            envelope = signedSnsEnvelope(text, sns.key, now(), fields ?? {}, version);
          } else {
            // Sign, then mutate: the signature no longer matches what is sent.
            envelope = signedSnsEnvelope(text, sns.key, now(), { Type: type }, version);
            for (const m of envelopeMutations) envelope = mutate(envelope, m);
          }
          await post(envelope, type, `${message.label} ${signAfterMutating ? 'signed' : 'tampered'}`);
        },
      ),
      runs(300),
    );
    expectBothOutcomes('sns');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
