import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EnvFileSecretSource } from '../../functions/adapters/local/env-file-secrets.ts';
import { PermanentDeliveryError, SecretUnavailableError } from '../../functions/core/errors.ts';
import { HttpClient } from '../../functions/core/http-client.ts';
import type { Deployment, Transition } from '../../functions/core/schema.ts';
import type { Notification } from '../../functions/core/targets/target.ts';
import { type WebhookConfig, webhookConfigSchema } from '../../functions/core/targets/webhook.schema.ts';
import { SIGNATURE_HEADER, webhookTarget } from '../../functions/core/targets/webhook.ts';
import { createLogger, maskSecrets } from '../../functions/core/telemetry.ts';
import { startTargetServer, type TargetServer } from '../support/target-server.ts';

const HOOK_SECRET = 'whsec_test_4f9a8b7c6d5e';

const transition: Transition = {
  seq: 2,
  from: 'in_progress',
  to: 'succeeded',
  at: '2026-03-01T10:05:00.000Z',
  eventId: 'evt_abc',
  targets: ['hook'],
};

const deployment: Deployment = {
  id: 'dep_0123456789abcdef01234567',
  source: 'native',
  sourceDeploymentId: 'checkout/production/1.4.2',
  service: 'checkout',
  environment: 'production',
  version: '1.4.2',
  revision: { repository: 'acme/checkout', commit: '9f1c2d3' },
  actor: 'ana',
  status: 'succeeded',
  sourceStatus: 'success',
  createdAt: '2026-03-01T10:00:00.000Z',
  updatedAt: '2026-03-01T10:05:00.000Z',
  startedAt: '2026-03-01T10:01:00.000Z',
  finishedAt: '2026-03-01T10:05:00.000Z',
  transitions: [
    {
      seq: 1,
      from: null,
      to: 'in_progress',
      at: '2026-03-01T10:01:00.000Z',
      eventId: 'evt_1',
      targets: ['hook'],
    },
    transition,
  ],
  rev: 7,
};

const notification: Notification = { deployment, transition };

/** Verifies a `t=…,v1=…` signature the way a receiver would. */
function verify(header: string, body: string, secret: string): boolean {
  const parts = Object.fromEntries(header.split(',').map((p) => p.split('=') as [string, string]));
  if (!parts.t || !parts.v1) return false;
  const expected = createHmac('sha256', secret).update(`${parts.t}.${body}`).digest();
  const given = Buffer.from(parts.v1, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

describe('webhook target', () => {
  let server: TargetServer;
  let secretsDir: string;
  const http = new HttpClient({ timeoutMs: 2_000 });
  const logger = createLogger('webhook-test');

  beforeAll(async () => {
    server = await startTargetServer();
    secretsDir = mkdtempSync(join(tmpdir(), 'shipcast-webhook-'));
    writeFileSync(join(secretsDir, 'hook-file-secret'), `${HOOK_SECRET}-from-file\n`);
  });
  afterAll(() => server.stop());
  beforeEach(() => {
    server.requests.length = 0;
  });

  const context = (config: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) => ({
    name: 'hook',
    config: webhookConfigSchema.parse({
      type: 'webhook',
      url: `${server.url}/hooks/deploys`,
      ...config,
    }),
    http,
    secrets: new EnvFileSecretSource(secretsDir, env),
    logger,
    // The webhook needs none of these; they complete the context the dispatcher gives every target.
    clock: { now: () => new Date() },
    limiter: { take: async () => 0 },
    deliveryOf: async () => undefined,
  });

  /** A context whose config skips the schema: what send does with a config the schema would refuse. */
  const rawContext = (config: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) => ({
    ...context({}, env),
    config: { type: 'webhook' as const, url: `${server.url}/hooks/deploys`, ...config } as WebhookConfig,
  });

  it('posts the deployment and the transition as JSON with a delivery id', async () => {
    await webhookTarget.send(notification, context({}));

    expect(server.requests).toHaveLength(1);
    const request = server.requests[0]!;
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/hooks/deploys');
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers['shipcast-delivery']).toBe(`${deployment.id}:2`);
    const { rev: _rev, ...publicRecord } = deployment;
    expect(request.json()).toEqual({
      type: 'deployment.transition',
      id: `${deployment.id}:2`,
      deployment: publicRecord,
      transition: { seq: 2, from: 'in_progress', to: 'succeeded', at: '2026-03-01T10:05:00.000Z' },
    });
  });

  it('signs the exact body with HMAC-SHA256 over "<t>.<body>" using the secret', async () => {
    const before = Math.floor(Date.now() / 1000);
    await webhookTarget.send(
      notification,
      context({ secret: 'hook-secret' }, { SHIPCAST_SECRET_HOOK_SECRET: HOOK_SECRET }),
    );
    const after = Math.floor(Date.now() / 1000);

    const request = server.requests[0]!;
    const signature = request.headers[SIGNATURE_HEADER] as string;
    expect(signature).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(verify(signature, request.body, HOOK_SECRET)).toBe(true);
    const t = Number(/t=(\d+)/.exec(signature)?.[1]);
    expect(t).toBeGreaterThanOrEqual(before);
    expect(t).toBeLessThanOrEqual(after);
  });

  it('makes a signature that fails to verify with another secret or a changed body', async () => {
    await webhookTarget.send(
      notification,
      context({ secret: 'hook-secret' }, { SHIPCAST_SECRET_HOOK_SECRET: HOOK_SECRET }),
    );

    const request = server.requests[0]!;
    const signature = request.headers[SIGNATURE_HEADER] as string;
    expect(verify(signature, request.body, 'another-secret')).toBe(false);
    expect(verify(signature, request.body.replace('succeeded', 'failed'), HOOK_SECRET)).toBe(false);
  });

  it('reads the signing secret from the secrets directory when no variable is set', async () => {
    await webhookTarget.send(notification, context({ secret: 'hook-file-secret' }));

    const request = server.requests[0]!;
    expect(
      verify(request.headers[SIGNATURE_HEADER] as string, request.body, `${HOOK_SECRET}-from-file`),
    ).toBe(true);
  });

  it('sends the body unsigned when no secret is configured, even if a header claims a signature', async () => {
    // A config the schema would refuse (Shipcast's own header names), as a bundle could still carry it.
    await webhookTarget.send(notification, rawContext({ headers: { 'Shipcast-Signature': 't=1,v1=00' } }));

    expect(server.requests[0]?.headers[SIGNATURE_HEADER]).toBeUndefined();
  });

  it('keeps custom headers but never lets them replace its own', async () => {
    await webhookTarget.send(
      notification,
      rawContext(
        {
          headers: {
            'x-team': 'payments',
            authorization: 'Basic abc',
            'Shipcast-Delivery': 'spoofed',
            'Content-Type': 'text/plain',
          },
          secret: 'hook-secret',
        },
        { SHIPCAST_SECRET_HOOK_SECRET: HOOK_SECRET },
      ),
    );

    const headers = server.requests[0]!.headers;
    expect(headers['x-team']).toBe('payments');
    expect(headers.authorization).toBe('Basic abc');
    expect(headers['shipcast-delivery']).toBe(`${deployment.id}:2`);
    expect(headers['content-type']).toBe('application/json');
    expect(verify(headers[SIGNATURE_HEADER] as string, server.requests[0]!.body, HOOK_SECRET)).toBe(true);
  });

  it('sends the value of a secret a header names, read at send time and masked in logs', async () => {
    const token = 'hdr-credential-8f7e6d5c4b3a';
    const config = { headers: { authorization: { secret: 'receiver/token' }, 'x-team': 'payments' } };

    await webhookTarget.send(
      notification,
      context(config, { SHIPCAST_SECRET_RECEIVER_TOKEN: `Bearer ${token}` }),
    );

    const headers = server.requests[0]!.headers;
    expect(headers.authorization).toBe(`Bearer ${token}`);
    expect(headers['x-team']).toBe('payments');
    expect(
      JSON.stringify(webhookConfigSchema.parse({ type: 'webhook', url: server.url, ...config })),
    ).not.toContain(token);
    expect(maskSecrets(`the receiver said: Bearer ${token}`)).not.toContain(token);
    expect(
      webhookTarget.secretNames(
        webhookConfigSchema.parse({ type: 'webhook', url: server.url, secret: 'hmac', ...config }),
      ),
    ).toEqual(['hmac', 'receiver/token']);
  });

  it('fails without sending when a header names a secret that is missing', async () => {
    await expect(
      webhookTarget.send(notification, context({ headers: { authorization: { secret: 'not-set' } } })),
    ).rejects.toBeInstanceOf(SecretUnavailableError);
    expect(server.requests).toHaveLength(0);
  });

  it.each([
    ['a value with CR/LF', { 'x-team': 'payments\r\nx-injected: yes' }, 'headers.x-team', 'CR, LF'],
    ['a value with a NUL', { 'x-team': 'pay\u0000ments' }, 'headers.x-team', 'control characters'],
    ['a non-ASCII value', { 'x-team': 'paiements€' }, 'headers.x-team', 'printable ASCII'],
    ['a name with a space', { 'x team': 'payments' }, 'headers.x team', 'RFC 9110 token'],
    ['a name with a colon', { 'x-team:': 'payments' }, 'headers.x-team:', 'RFC 9110 token'],
    ['an empty name', { '': 'payments' }, 'headers.', 'RFC 9110 token'],
    [
      'a header Shipcast sets',
      { 'Shipcast-Signature': 't=1' },
      'headers.Shipcast-Signature',
      'sets this header itself',
    ],
    [
      'a secret reference with a bad name',
      { authorization: { secret: 'bad name' } },
      'headers.authorization.secret',
      'the name of a secret',
    ],
  ])('refuses headers with %s when the config loads, naming the header', (_what, headers, path, message) => {
    const result = webhookConfigSchema.safeParse({
      type: 'webhook',
      url: 'https://hooks.example/x',
      headers,
    });

    expect(result.success).toBe(false);
    const issues = result.error?.issues ?? [];
    expect(issues.map((i) => i.path.join('.'))).toContain(path);
    expect(issues.map((i) => i.message).join(' ')).toContain(message);
  });

  it('fails without sending when the signing secret is missing', async () => {
    await expect(webhookTarget.send(notification, context({ secret: 'not-set' }))).rejects.toBeInstanceOf(
      SecretUnavailableError,
    );
    expect(server.requests).toHaveLength(0);
  });

  it('passes a permanent refusal of the receiver on as a PermanentDeliveryError', async () => {
    server.script({ status: 410, body: 'gone' });

    await expect(webhookTarget.send(notification, context({}))).rejects.toBeInstanceOf(
      PermanentDeliveryError,
    );
  });

  it('lists its secret for the config only when it signs', () => {
    expect(webhookTarget.secretNames({ type: 'webhook', url: 'https://x.example', secret: 'a/b' })).toEqual([
      'a/b',
    ]);
    expect(webhookTarget.secretNames({ type: 'webhook', url: 'https://x.example' })).toEqual([]);
  });
});
