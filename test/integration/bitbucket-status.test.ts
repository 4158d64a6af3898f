import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HttpClient } from '../../functions/core/http-client.ts';
import { ingestEvent } from '../../functions/core/ingest.ts';
import type { DeploymentEvent } from '../../functions/core/schema.ts';
import { statusKey } from '../../functions/core/targets/bitbucket.ts';
import { bitbucketStatusTarget } from '../../functions/core/targets/bitbucket-status.ts';
import { type BitbucketServer, startBitbucketServer } from '../support/bitbucket-server.ts';
import { nativeEvent } from '../support/events.ts';
import { createHarness, type Harness, recordingRetries } from '../support/harness.ts';
import { sendAgain } from '../support/send-again.ts';

const TOKEN = 'ATCTT3xFfGN0bbCloudAccessToken01';
const SERVER_TOKEN = 'BBDC-serverHttpAccessToken0123456';
const APP_PASSWORD = 'ATBBappPassword0123456789abcdef';
const WRONG = 'ATCTT3xFfGN0wrongToken0000000000';
const sha = (name: string) => createHash('sha1').update(name).digest('hex');

describe('bitbucket-status target', () => {
  let h: Harness;
  let bb: BitbucketServer;
  const retryDelays: number[] = [];

  /** A native event of `service` in production, at the commit named after `id`, on the repository `repository`. */
  const event = (
    id: string,
    status: DeploymentEvent['status'],
    {
      repository = 'https://bitbucket.org/acme/shop.git',
      ...extra
    }: Partial<DeploymentEvent> & { repository?: string } = {},
  ) =>
    nativeEvent(id, status, {
      service: 'shop',
      version: '4.2.0',
      revision: { repository, commit: sha(id), ref: 'main' },
      url: `https://ci.example.com/runs/${id}`,
      ...extra,
    });

  beforeAll(async () => {
    bb = await startBitbucketServer({
      tokens: [TOKEN, SERVER_TOKEN],
      users: { 'ci@example.com': APP_PASSWORD },
      cloudRepos: ['acme/shop'],
      serverRepos: ['PLAT/shop'],
    });
    const base = { type: 'bitbucket-status', baseUrl: bb.url };
    h = await createHarness({
      maxReceives: 5,
      http: new HttpClient({ timeoutMs: 10_000 }),
      queue: recordingRetries(retryDelays),
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: {
          cloud: { ...base, token: 'bb-token' },
          basic: { ...base, username: 'ci@example.com', password: 'bb-app-password' },
          server: { ...base, api: 'server', token: 'bb-server-token' },
          legacy: { ...base, api: 'server', serverEndpoint: 'build-status', token: 'bb-server-token' },
          wrong: { ...base, token: 'bb-wrong-token' },
        },
        routes: [
          { match: { service: 'shop' }, targets: ['cloud'] },
          { match: { service: 'basic-*' }, targets: ['basic'] },
          { match: { service: 'server-*' }, targets: ['server'] },
          { match: { service: 'legacy-*' }, targets: ['legacy'] },
          { match: { service: 'wrong-*' }, targets: ['wrong'] },
        ],
        dispatch: { maxReceives: 5 },
      },
    });
    writeFileSync(join(h.secretsDir, 'bb-token'), TOKEN);
    writeFileSync(join(h.secretsDir, 'bb-server-token'), SERVER_TOKEN);
    writeFileSync(join(h.secretsDir, 'bb-app-password'), APP_PASSWORD);
    writeFileSync(join(h.secretsDir, 'bb-wrong-token'), WRONG);
  });
  afterAll(async () => {
    await h.stop();
    await bb.stop();
  });
  beforeEach(() => {
    bb.reset();
    retryDelays.length = 0;
  });
  afterEach(() => expect(bb.violations).toEqual([]));

  const ingest = async (e: DeploymentEvent) => {
    await ingestEvent(e, h.runtime.ingest);
    await h.drainDispatch();
  };
  const statusOf = (id: string) => bb.statuses.filter((s) => s.commit === sha(id));
  const posted = () => bb.requests.map((r) => r.json<{ state: string }>().state);

  it('keeps one Cloud build status per service/environment on the commit, moved from INPROGRESS to SUCCESSFUL', async () => {
    const queued = event('one', 'queued');
    await ingest(queued);
    await ingest(event('one', 'in_progress'));
    await ingest(event('one', 'succeeded'));

    expect(posted()).toEqual(['INPROGRESS', 'INPROGRESS', 'SUCCESSFUL']);
    expect(bb.requests[0]?.path).toBe(`/2.0/repositories/acme/shop/commit/${sha('one')}/statuses/build`);
    expect(bb.requests[0]?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(statusOf('one')).toEqual([
      {
        api: 'cloud',
        repo: 'acme/shop',
        commit: sha('one'),
        key: 'shipcast-shop-production',
        state: 'SUCCESSFUL',
        name: 'Shipcast: shop in production',
        description: 'shop 4.2.0 to production: deployed',
        url: 'https://ci.example.com/runs/one',
        refname: 'main',
        posts: 3,
      },
    ]);
    expect(await h.store.getDelivery(queued.deploymentId, 'cloud')).toMatchObject({
      state: 'delivered',
      refs: { lastStatus: expect.stringMatching(/^[0-9a-f]{16}$/) },
    });
  });

  it.each<[DeploymentEvent['status'], string]>([
    ['failed', 'FAILED'],
    ['stopped', 'STOPPED'],
  ])('reports a %s deployment to Cloud as %s', async (status, state) => {
    await ingest(event(`cloud-${status}`, status));
    expect(statusOf(`cloud-${status}`).map((s) => s.state)).toEqual([state]);
  });

  it('posts to the Data Center builds endpoint of the project and repository in the URL, a stop as CANCELLED', async () => {
    const repository = `${bb.url}/scm/plat/shop.git`;
    await ingest(event('server', 'in_progress', { service: 'server-shop', repository }));
    await ingest(event('server', 'stopped', { service: 'server-shop', repository }));

    expect(bb.requests.map((r) => r.path)).toEqual([
      `/rest/api/latest/projects/PLAT/repos/shop/commits/${sha('server')}/builds`,
      `/rest/api/latest/projects/PLAT/repos/shop/commits/${sha('server')}/builds`,
    ]);
    expect(bb.requests[0]?.headers.authorization).toBe(`Bearer ${SERVER_TOKEN}`);
    expect(statusOf('server')).toEqual([
      expect.objectContaining({
        api: 'server',
        repo: 'PLAT/shop',
        key: 'shipcast-server-shop-production',
        state: 'CANCELLED',
        ref: 'refs/heads/main',
      }),
    ]);
  });

  it('posts to the legacy build-status endpoint by commit alone, a stop as FAILED', async () => {
    await ingest(
      event('legacy', 'stopped', { service: 'legacy-shop', repository: 'git@elsewhere.example:x/y.git' }),
    );

    expect(bb.requests.map((r) => r.path)).toEqual([`/rest/build-status/1.0/commits/${sha('legacy')}`]);
    expect(statusOf('legacy')).toEqual([expect.objectContaining({ api: 'legacy', state: 'FAILED' })]);
  });

  it('derives a key of at most 40 characters, the same at every transition', async () => {
    const long = { service: 'basic-checkout-payments-and-invoicing', environment: 'production-eu-west-1' };
    await ingest(event('long', 'in_progress', long));
    await ingest(event('long', 'succeeded', long));

    const expected = statusKey('shipcast-basic-checkout-payments-and-invoicing-production-eu-west-1');
    expect(expected).toMatch(/^shipcast-basic-checkout-payment-[0-9a-f]{8}$/);
    expect(statusOf('long').map((s) => [s.key, s.state, s.posts])).toEqual([[expected, 'SUCCESSFUL', 2]]);
  });

  it('authenticates with a username and app password over Basic, the password in no log', async () => {
    await ingest(event('basic', 'succeeded', { service: 'basic-shop' }));

    const basic = Buffer.from(`ci@example.com:${APP_PASSWORD}`).toString('base64');
    expect(bb.requests[0]?.headers.authorization).toBe(`Basic ${basic}`);
    expect(statusOf('basic')).toHaveLength(1);
    const logged = h.logs.lines.join('\n');
    expect(logged).not.toContain(APP_PASSWORD);
    expect(logged).not.toContain(basic);
  });

  it('does not post a status the commit shows already', async () => {
    const started = event('same', 'in_progress');
    await ingest(started);
    bb.reset();

    const again = await sendAgain(h, bitbucketStatusTarget as never, 'cloud', started.deploymentId);

    expect(again).toEqual({});
    expect(bb.requests).toEqual([]);
  });

  it.each([
    ['Cloud, which names no wait: a minute', 'shop', undefined, 60],
    ['Data Center, after its Retry-After', 'server-shop', 7, 7],
  ])('waits out a 429 from %s, then posts', async (_, service, retryAfter, wait) => {
    const id = `limited-${service}`;
    const repository = service === 'shop' ? undefined : `${bb.url}/projects/PLAT/repos/shop/browse`;
    const started = event(id, 'in_progress', { service, ...(repository ? { repository } : {}) });
    bb.rateLimitNext(1, { retryAfter });
    await ingest(started);
    expect(retryDelays).toEqual([wait]);

    await h.queue.enqueue([
      { v: 1, deploymentId: started.deploymentId, seq: 1, target: service === 'shop' ? 'cloud' : 'server' },
    ]);
    await h.drainDispatch();

    expect(statusOf(id).map((s) => s.state)).toEqual(['INPROGRESS']);
  });

  it('fails for good without a link, saying to set targetUrl', async () => {
    const started = event('no-link', 'in_progress', { url: undefined });
    await ingest(started);

    const record = await h.store.getDelivery(started.deploymentId, 'cloud');
    expect(record).toMatchObject({ state: 'failed' });
    expect(record?.lastError).toMatch(/set targetUrl/);
    expect(bb.requests).toEqual([]);
  });

  it('fails for good when the token is rejected, without the token in the error or the logs', async () => {
    const started = event('wrong', 'in_progress', { service: 'wrong-shop' });
    await ingest(started);

    const record = await h.store.getDelivery(started.deploymentId, 'wrong');
    expect(record?.state).toBe('failed');
    expect(record?.lastError).toMatch(
      /Bitbucket refused to post .*: 401 Unauthorized — the credential was rejected/,
    );
    expect(bb.requests).toHaveLength(2);
    for (const secret of [TOKEN, SERVER_TOKEN, APP_PASSWORD, WRONG]) {
      expect(record?.lastError).not.toContain(secret);
      expect(h.logs.lines.join('\n')).not.toContain(secret);
    }
  });
});
