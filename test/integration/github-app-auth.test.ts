import { createHash, generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ingestEvent } from '../../functions/core/ingest.ts';
import type { DeploymentEvent } from '../../functions/core/schema.ts';
import { nativeEvent } from '../support/events.ts';
import { type GitHubServer, startGitHubServer } from '../support/github-server.ts';
import { createHarness, type Harness } from '../support/harness.ts';

const APP_ID = 4242;
const INSTALLATION = 77;
const sha = (name: string) => createHash('sha1').update(name).digest('hex');

const event = (id: string, status: DeploymentEvent['status'], service = 'app-shop') =>
  nativeEvent(id, status, {
    service,
    environment: 'production',
    version: '1.0.0',
    revision: { repository: 'acme/shop', commit: sha(id) },
  });

describe('GitHub App authentication', () => {
  let h: Harness;
  let gh: GitHubServer;

  beforeAll(async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    gh = await startGitHubServer({
      app: { appId: APP_ID, publicKey, installations: { 'acme/shop': INSTALLATION } },
      now: () => h.clock.now(),
    });
    h = await createHarness({
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: {
          discovered: {
            type: 'github-deployment',
            baseUrl: gh.url,
            app: { appId: APP_ID, privateKey: 'app-key' },
          },
          configured: {
            type: 'github-status',
            baseUrl: gh.url,
            app: { appId: APP_ID, privateKey: 'app-key', installationId: INSTALLATION },
          },
        },
        routes: [
          { match: { service: 'app-*' }, targets: ['discovered'] },
          { match: { service: 'fixed-*' }, targets: ['configured'] },
        ],
      },
    });
    // GitHub hands out PKCS#1 PEM files.
    writeFileSync(join(h.secretsDir, 'app-key'), privateKey.export({ type: 'pkcs1', format: 'pem' }));
  });
  afterAll(async () => {
    await h.stop();
    await gh.stop();
  });
  beforeEach(() => gh.reset());
  afterEach(() => expect(gh.violations).toEqual([]));

  const ingest = async (e: DeploymentEvent) => {
    await ingestEvent(e, h.runtime.ingest);
    await h.drainDispatch();
  };
  const calls = () => gh.requests.map((r) => `${r.method} ${r.path}`);

  it('finds the installation once, fetches one token with a signed JWT and reuses it for every call', async () => {
    await ingest(event('a', 'in_progress'));
    await ingest(event('a', 'succeeded'));
    await ingest(event('b', 'in_progress'));

    expect(calls().filter((c) => c.startsWith('GET /repos/acme/shop/installation'))).toHaveLength(1);
    expect(gh.issuedTokens).toHaveLength(1);
    const [issued] = gh.issuedTokens;
    const apiCalls = gh.requests.filter(
      (r) => r.path.startsWith('/repos/') && !r.path.endsWith('/installation'),
    );
    expect(apiCalls.length).toBeGreaterThanOrEqual(5);
    for (const call of apiCalls) expect(call.headers.authorization).toBe(`Bearer ${issued?.token}`);
    const now = Math.floor(h.clock.now().getTime() / 1000);
    expect(gh.jwtClaims[0]).toEqual({ iat: now - 60, exp: now + 540, iss: APP_ID });
    expect(gh.deploymentsOf(event('a', 'queued').deploymentId)[0]?.statuses.map((s) => s.state)).toEqual([
      'in_progress',
      'success',
    ]);
    expect(h.logs.lines.join('\n')).not.toContain(issued?.token);
  });

  it('fetches a new installation token five minutes before the cached one expires', async () => {
    await ingest(event('c', 'in_progress'));
    const before = gh.issuedTokens.length;
    h.clock.advance(54 * 60_000);
    await ingest(event('d', 'in_progress'));
    expect(gh.issuedTokens).toHaveLength(before);

    h.clock.advance(2 * 60_000);
    await ingest(event('e', 'in_progress'));

    expect(gh.issuedTokens).toHaveLength(before + 1);
    expect(gh.requests.at(-1)?.headers.authorization).toBe(`Bearer ${gh.issuedTokens.at(-1)?.token}`);
  });

  it('drops a token GitHub rejects (401), fetches a new one and retries once', async () => {
    await ingest(event('f', 'in_progress'));
    gh.revoke();
    const before = gh.issuedTokens.length;
    gh.reset();

    const started = event('g', 'in_progress');
    await ingest(started);

    expect(gh.issuedTokens).toHaveLength(before + 1);
    expect(calls()).toEqual([
      'GET /repos/acme/shop/deployments',
      `POST /app/installations/${INSTALLATION}/access_tokens`,
      'GET /repos/acme/shop/deployments',
      'POST /repos/acme/shop/deployments',
      expect.stringMatching(/^POST \/repos\/acme\/shop\/deployments\/\d+\/statuses$/),
    ]);
    expect((await h.store.getDelivery(started.deploymentId, 'discovered'))?.state).toBe('delivered');
  });

  it('uses a configured installation id without looking it up', async () => {
    const started = event('h', 'in_progress', 'fixed-shop');

    await ingest(started);

    expect(calls().some((c) => c.endsWith('/installation'))).toBe(false);
    expect(gh.commitStatuses.filter((s) => s.sha === sha('h'))).toHaveLength(1);
  });

  it('fails for good when the App is not installed on the repository', async () => {
    const started = nativeEvent('i', 'in_progress', {
      service: 'app-shop',
      environment: 'production',
      revision: { repository: 'acme/elsewhere', commit: sha('i') },
    });

    await ingest(started);

    const record = await h.store.getDelivery(started.deploymentId, 'discovered');
    expect(record?.state).toBe('failed');
    expect(record?.lastError).toMatch(/installation on acme\/elsewhere: 404 Not Found/);
  });
});
