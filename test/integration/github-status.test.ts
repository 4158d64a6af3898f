import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ingestEvent } from '../../functions/core/ingest.ts';
import type { DeploymentEvent } from '../../functions/core/schema.ts';
import { githubStatusTarget } from '../../functions/core/targets/github-status.ts';
import { nativeEvent } from '../support/events.ts';
import { type GitHubServer, startGitHubServer } from '../support/github-server.ts';
import { createHarness, type Harness } from '../support/harness.ts';

const TOKEN = 'ghp_statustoken0123456789abcdef';
const LIMITED_TOKEN = 'ghp_limitedtoken0123456789abcdef';
const OLD_TOKEN = 'ghp_oldrotatingtoken0123456789ab';
const NEW_TOKEN = 'ghp_newrotatingtoken0123456789ab';
const sha = (name: string) => createHash('sha1').update(name).digest('hex');

/** A native event of `service` in production on acme/shop, at the commit named after `id`. */
const event = (id: string, status: DeploymentEvent['status'], service = 'status-shop') =>
  nativeEvent(id, status, {
    service,
    environment: 'production',
    version: '3.1.0',
    revision: { repository: 'acme/shop', commit: sha(id) },
    url: `https://ci.example.com/runs/${id}`,
  });

describe('github-status target', () => {
  let h: Harness;
  let gh: GitHubServer;

  beforeAll(async () => {
    gh = await startGitHubServer({ tokens: [TOKEN, LIMITED_TOKEN, OLD_TOKEN] });
    h = await createHarness({
      maxReceives: 5,
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: {
          commits: { type: 'github-status', baseUrl: gh.url, token: 'github-token' },
          limited: {
            type: 'github-status',
            baseUrl: gh.url,
            token: 'limited-token',
            maxWritesPerMinute: 2,
            context: 'deploy/{{service}}/{{ environment }}',
          },
          rotating: { type: 'github-status', baseUrl: gh.url, token: 'rotating-token' },
        },
        routes: [
          { match: { service: 'status-*' }, targets: ['commits'] },
          { match: { service: 'limited-*' }, targets: ['limited'] },
          { match: { service: 'rotating-*' }, targets: ['rotating'] },
        ],
        dispatch: { maxReceives: 5 },
      },
    });
    writeFileSync(join(h.secretsDir, 'github-token'), TOKEN);
    writeFileSync(join(h.secretsDir, 'limited-token'), LIMITED_TOKEN);
    writeFileSync(join(h.secretsDir, 'rotating-token'), OLD_TOKEN);
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
  const statusesOf = (id: string) => gh.commitStatuses.filter((s) => s.sha === sha(id));

  it('posts one commit status per state on the deployed commit, and nothing again on redelivery', async () => {
    const queued = event('one', 'queued');
    await ingest(queued);
    await ingest(event('one', 'in_progress'));
    await ingest(event('one', 'succeeded'));
    await h.queue.enqueue([{ v: 1, deploymentId: queued.deploymentId, seq: 3, target: 'commits' }]);
    await h.drainDispatch();

    expect(statusesOf('one').map((s) => [s.state, s.description])).toEqual([
      ['pending', 'status-shop 3.1.0 to production: queued'],
      ['pending', 'status-shop 3.1.0 to production: deploying'],
      ['success', 'status-shop 3.1.0 to production: deployed'],
    ]);
    expect(statusesOf('one')[0]).toMatchObject({
      owner: 'acme',
      repo: 'shop',
      context: 'shipcast/production',
      target_url: 'https://ci.example.com/runs/one',
    });
    expect(await h.store.getDelivery(queued.deploymentId, 'commits')).toMatchObject({
      state: 'delivered',
      deliveredSeq: 3,
      refs: { lastStatus: expect.stringMatching(/^[0-9a-f]{16}$/) },
    });
  });

  it('does not post a status whose state and description were the last ones posted', async () => {
    const started = event('same', 'in_progress');
    await ingest(started);
    const delivered = await h.store.getDelivery(started.deploymentId, 'commits');
    const deployment = await h.store.getDeployment(started.deploymentId);
    gh.reset();
    const config = h.runtime.dispatch.config.targets.commits as never;

    // The same transition sent again (e.g. its record write was lost) finds its fingerprint and skips.
    const again = await githubStatusTarget.send(
      {
        deployment: deployment as never,
        transition: deployment?.transitions[0] as never,
        delivery: delivered,
      },
      {
        name: 'commits',
        config,
        http: h.runtime.dispatch.http,
        secrets: h.runtime.dispatch.secrets,
        logger: h.logs.logger,
        clock: h.clock,
        limiter: h.store,
        deliveryOf: (id, target) => h.store.getDelivery(id, target),
      },
    );

    expect(again).toEqual({});
    expect(gh.requests).toEqual([]);
    expect(statusesOf('same')).toHaveLength(1);
  });

  it.each<[DeploymentEvent['status'], string]>([
    ['failed', 'failure'],
    ['stopped', 'error'],
  ])('reports a %s deployment as %s', async (status, state) => {
    await ingest(event(`end-${status}`, status));
    expect(statusesOf(`end-${status}`).map((s) => s.state)).toEqual([state]);
  });

  it('spaces its writes per token and sends the rest back to the queue to wait', async () => {
    // The limiter counts per minute of the harness's clock, which stands still: the three writes share one.
    const queued = event('limited', 'queued', 'limited-shop');

    await ingest(queued);
    await ingest(event('limited', 'in_progress', 'limited-shop'));
    await ingest(event('limited', 'succeeded', 'limited-shop'));

    expect(statusesOf('limited').map((s) => [s.state, s.context])).toEqual([
      ['pending', 'deploy/limited-shop/production'],
      ['pending', 'deploy/limited-shop/production'],
    ]);
    const record = await h.store.getDelivery(queued.deploymentId, 'limited');
    expect(record).toMatchObject({ state: 'retrying', deliveredSeq: 2 });
    expect(record?.lastError).toMatch(/spaced to 2 a minute/);
    expect((await h.dispatchMessages()).some((m) => m.deploymentId === queued.deploymentId)).toBe(false);
  });

  it('re-reads a token GitHub rejects (401) and retries once with the new value', async () => {
    await ingest(event('rotate-1', 'in_progress', 'rotating-shop'));
    expect(statusesOf('rotate-1')).toHaveLength(1);
    // The token is rotated: GitHub accepts only the new one, Shipcast still holds the old one in memory.
    gh.revoke(OLD_TOKEN);
    gh.acceptToken(NEW_TOKEN);
    writeFileSync(join(h.secretsDir, 'rotating-token'), NEW_TOKEN);
    gh.reset();

    const started = event('rotate-2', 'in_progress', 'rotating-shop');
    await ingest(started);

    expect(gh.requests.map((r) => r.headers.authorization)).toEqual([
      `Bearer ${OLD_TOKEN}`,
      `Bearer ${NEW_TOKEN}`,
    ]);
    expect(statusesOf('rotate-2')).toHaveLength(1);
    expect((await h.store.getDelivery(started.deploymentId, 'rotating'))?.state).toBe('delivered');
  });

  it('fails for good when the refreshed token is rejected too, without the token in the error or logs', async () => {
    gh.revoke(NEW_TOKEN);
    const started = event('rotate-3', 'in_progress', 'rotating-shop');

    await ingest(started);

    expect(gh.requests).toHaveLength(2);
    const record = await h.store.getDelivery(started.deploymentId, 'rotating');
    expect(record?.state).toBe('failed');
    expect(record?.lastError).toMatch(/401 Bad credentials/);
    const logged = h.logs.lines.join('\n');
    for (const token of [TOKEN, LIMITED_TOKEN, OLD_TOKEN, NEW_TOKEN]) {
      expect(record?.lastError).not.toContain(token);
      expect(logged).not.toContain(token);
    }
  });
});
