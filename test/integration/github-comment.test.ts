import { createHash, generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HttpClient } from '../../functions/core/http-client.ts';
import { ingestEvent } from '../../functions/core/ingest.ts';
import type { DeploymentEvent } from '../../functions/core/schema.ts';
import { nativeEvent } from '../support/events.ts';
import { type GitHubServer, githubError, startGitHubServer, tokenAccount } from '../support/github-server.ts';
import { createHarness, type Harness, recordingRetries } from '../support/harness.ts';
import { activeMarkdown, FORGE_HOSTILE } from '../support/pr-comment-fixtures.ts';

const TOKEN = 'ghp_commenttoken0123456789abcdef';
const WRONG_TOKEN = 'ghp_wrongcommenttoken0123456789a';
const APP_ID = 31_337;
const INSTALLATION = 77;
const sha = (name: string) => createHash('sha1').update(name).digest('hex');

/** A native event of checkout in `environment` on acme/shop, at the commit named after `commit`. */
const event = (
  id: string,
  status: DeploymentEvent['status'],
  {
    commit = id,
    service = 'checkout',
    environment = 'production',
    ...extra
  }: Partial<DeploymentEvent> & {
    commit?: string;
  } = {},
) =>
  nativeEvent(id, status, {
    service,
    environment,
    version: '3.1.0',
    revision: { repository: 'acme/shop', commit: sha(commit) },
    url: `https://ci.example.com/runs/${id}`,
    ...extra,
  });

describe('github-comment target', () => {
  let h: Harness;
  let gh: GitHubServer;
  const retryDelays: number[] = [];

  beforeAll(async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    gh = await startGitHubServer({
      tokens: [TOKEN],
      app: { appId: APP_ID, publicKey, installations: { 'acme/shop': INSTALLATION } },
    });
    h = await createHarness({
      maxReceives: 5,
      http: new HttpClient({ timeoutMs: 10_000 }),
      queue: recordingRetries(retryDelays),
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: {
          prs: { type: 'github-comment', baseUrl: gh.url, token: 'github-token' },
          openPrs: { type: 'github-comment', baseUrl: gh.url, token: 'github-token', pullRequests: 'open' },
          wrong: { type: 'github-comment', baseUrl: gh.url, token: 'wrong-token' },
          appPrs: {
            type: 'github-comment',
            baseUrl: gh.url,
            app: { appId: APP_ID, privateKey: 'app-key', installationId: INSTALLATION },
          },
        },
        routes: [
          { match: { service: 'checkout' }, targets: ['prs'] },
          { match: { service: 'open-*' }, targets: ['openPrs'] },
          { match: { service: 'wrong-*' }, targets: ['wrong'] },
          { match: { service: 'app-*' }, targets: ['appPrs'] },
        ],
        dispatch: { maxReceives: 5 },
      },
    });
    writeFileSync(join(h.secretsDir, 'github-token'), TOKEN);
    writeFileSync(join(h.secretsDir, 'wrong-token'), WRONG_TOKEN);
    writeFileSync(join(h.secretsDir, 'app-key'), privateKey.export({ type: 'pkcs1', format: 'pem' }));
  });
  afterAll(async () => {
    await h.stop();
    await gh.stop();
  });
  beforeEach(() => {
    gh.reset();
    retryDelays.length = 0;
  });
  afterEach(() => expect(gh.violations).toEqual([]));

  const ingest = async (e: DeploymentEvent) => {
    await ingestEvent(e, h.runtime.ingest);
    await h.drainDispatch();
  };
  const commentsOn = (issue: number) => gh.issueComments.filter((c) => c.issue === issue);
  const writes = () => gh.requests.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`);

  it('comments once on each pull request containing the commit and edits that comment at each transition', async () => {
    gh.linkPullRequest('acme/shop', sha('one'), 7);
    gh.linkPullRequest('acme/shop', sha('one'), 8);
    const queued = event('one', 'queued');

    await ingest(queued);
    await ingest(event('one', 'in_progress'));
    await ingest(event('one', 'succeeded'));

    expect(commentsOn(7)).toHaveLength(1);
    expect(commentsOn(8)).toHaveLength(1);
    const [comment] = commentsOn(7);
    expect(comment?.body.split('\n').slice(0, 3)).toEqual([
      '<!-- shipcast:checkout/production -->',
      `<!-- shipcast-deployment:2026-03-01T10:00:00.000Z ${queued.deploymentId} -->`,
      '### ✅ checkout 3\\.1\\.0 → production: succeeded',
    ]);
    expect(comment?.body).toContain('[Open deployment](https://ci.example.com/runs/one)');
    const ids = [commentsOn(7)[0]?.id, commentsOn(8)[0]?.id];
    expect(writes()).toEqual([
      'POST /repos/acme/shop/issues/7/comments',
      'POST /repos/acme/shop/issues/8/comments',
      `PATCH /repos/acme/shop/issues/comments/${ids[0]}`,
      `PATCH /repos/acme/shop/issues/comments/${ids[1]}`,
      `PATCH /repos/acme/shop/issues/comments/${ids[0]}`,
      `PATCH /repos/acme/shop/issues/comments/${ids[1]}`,
    ]);
    expect(await h.store.getDelivery(queued.deploymentId, 'prs')).toMatchObject({
      state: 'delivered',
      deliveredSeq: 3,
      refs: { 'comment:7': String(ids[0]), 'comment:8': String(ids[1]) },
    });
  });

  it('finds its comment by the hidden marker for a later deployment of the same service and environment', async () => {
    gh.linkPullRequest('acme/shop', sha('first'), 21);
    gh.linkPullRequest('acme/shop', sha('second'), 21);
    await ingest(event('first', 'succeeded'));
    await ingest(event('second', 'failed', { error: { message: 'health check failed' } }));

    expect(commentsOn(21)).toHaveLength(1);
    expect(commentsOn(21)[0]?.body).toContain('### ❌ checkout 3\\.1\\.0 → production: failed');
    expect(commentsOn(21)[0]?.body).toContain('**Error:** health check failed');
  });

  it('keeps one comment per service and environment on a pull request', async () => {
    gh.linkPullRequest('acme/shop', sha('envs'), 22);
    await ingest(event('envs-staging', 'succeeded', { commit: 'envs', environment: 'staging' }));
    await ingest(event('envs-prod', 'succeeded', { commit: 'envs' }));

    expect(commentsOn(22).map((c) => c.body.split('\n')[0])).toEqual([
      '<!-- shipcast:checkout/staging -->',
      '<!-- shipcast:checkout/production -->',
    ]);
  });

  it('leaves a comment that shows a later deployment alone when an older deployment moves on', async () => {
    gh.linkPullRequest('acme/shop', sha('older'), 23);
    gh.linkPullRequest('acme/shop', sha('newer'), 23);
    const older = event('older', 'in_progress');
    await ingest(older);
    h.clock.advance(60_000);
    await ingest(event('newer', 'succeeded'));

    await ingest(event('older', 'failed', { error: { message: 'late failure' } }));

    expect(commentsOn(23)).toHaveLength(1);
    expect(commentsOn(23)[0]?.body).toContain('### ✅ checkout 3\\.1\\.0 → production: succeeded');
    expect(commentsOn(23)[0]?.body).not.toContain('late failure');
    expect(await h.store.getDelivery(older.deploymentId, 'prs')).toMatchObject({
      state: 'delivered',
      deliveredSeq: 2,
    });
  });

  it('updates its comment instead of posting a second one when the answer to its post was lost', async () => {
    gh.linkPullRequest('acme/shop', sha('lost'), 31);
    gh.intercept(
      'POST /repos/acme/shop/issues/31/comments',
      { status: 502, body: 'Bad Gateway' },
      { after: true },
    );
    const started = event('lost', 'in_progress');
    await ingest(started);
    expect(await h.store.getDelivery(started.deploymentId, 'prs')).toMatchObject({ state: 'retrying' });

    await h.queue.enqueue([{ v: 1, deploymentId: started.deploymentId, seq: 1, target: 'prs' }]);
    await h.drainDispatch();

    expect(commentsOn(31)).toHaveLength(1);
    expect(writes().at(-1)).toBe(`PATCH /repos/acme/shop/issues/comments/${commentsOn(31)[0]?.id}`);
    expect(await h.store.getDelivery(started.deploymentId, 'prs')).toMatchObject({ state: 'delivered' });
  });

  it('keeps the comment ids it made before a failure, so the retry edits them without searching', async () => {
    gh.linkPullRequest('acme/shop', sha('half'), 41);
    gh.linkPullRequest('acme/shop', sha('half'), 42);
    gh.intercept('POST /repos/acme/shop/issues/42/comments', {
      status: 500,
      body: githubError('Server Error'),
    });
    const started = event('half', 'in_progress');
    await ingest(started);
    const first = commentsOn(41)[0]?.id;
    expect((await h.store.getDelivery(started.deploymentId, 'prs'))?.refs).toEqual({
      'comment:41': String(first),
    });
    gh.reset();

    await h.queue.enqueue([{ v: 1, deploymentId: started.deploymentId, seq: 1, target: 'prs' }]);
    await h.drainDispatch();

    expect(commentsOn(41)).toHaveLength(1);
    expect(commentsOn(42)).toHaveLength(1);
    expect(gh.requests.some((r) => r.path === '/repos/acme/shop/issues/41/comments')).toBe(false);
    expect(writes()).toEqual([
      `PATCH /repos/acme/shop/issues/comments/${first}`,
      'POST /repos/acme/shop/issues/42/comments',
    ]);
  });

  it('posts a new comment when its comment was deleted', async () => {
    gh.linkPullRequest('acme/shop', sha('deleted'), 51);
    const started = event('deleted', 'in_progress');
    await ingest(started);
    gh.issueComments.splice(
      gh.issueComments.findIndex((c) => c.issue === 51),
      1,
    );

    await ingest(event('deleted', 'succeeded'));

    expect(commentsOn(51)).toHaveLength(1);
    expect(commentsOn(51)[0]?.body).toContain('succeeded');
    expect((await h.store.getDelivery(started.deploymentId, 'prs'))?.refs).toEqual({
      'comment:51': String(commentsOn(51)[0]?.id),
    });
  });

  it('makes mentions, references, links, images and HTML from event text inert', async () => {
    gh.linkPullRequest('acme/shop', sha('hostile'), 61);
    await ingest(
      event('hostile', 'failed', {
        version: '[v](https://evil.example)',
        actor: '@octocat',
        description: FORGE_HOSTILE,
        error: { code: '<script>', message: FORGE_HOSTILE },
        url: 'javascript:alert(1)',
      }),
    );

    const body = commentsOn(61)[0]?.body ?? '';
    expect(activeMarkdown(body, [/^<!-- shipcast:checkout\/production -->$/])).toEqual([]);
    expect(body.match(/<!-- shipcast:/g)).toHaveLength(1);
    expect(body).not.toContain('Open deployment');
    expect(body).toContain('**Deployed by:** \\@\u2060octocat');
  });

  it('comments only on open pull requests when told to', async () => {
    gh.linkPullRequest('acme/shop', sha('open'), 71, 'closed');
    gh.linkPullRequest('acme/shop', sha('open'), 72, 'open');
    await ingest(event('open', 'succeeded', { service: 'open-shop' }));

    expect(commentsOn(71)).toHaveLength(0);
    expect(commentsOn(72)).toHaveLength(1);
  });

  it('is delivered without a comment when no pull request contains the commit', async () => {
    const started = event('lonely', 'in_progress');
    await ingest(started);

    expect(writes()).toEqual([]);
    expect(await h.store.getDelivery(started.deploymentId, 'prs')).toMatchObject({ state: 'delivered' });
  });

  it('waits out a rate limit through the queue, then comments', async () => {
    gh.linkPullRequest('acme/shop', sha('limited'), 81);
    gh.intercept('GET /repos/acme/shop/commits/*/pulls', {
      status: 403,
      headers: { 'retry-after': '42', 'x-ratelimit-remaining': '0' },
      body: githubError('You have exceeded a secondary rate limit.'),
    });
    const started = event('limited', 'in_progress');
    await ingest(started);
    expect(retryDelays).toEqual([42]);
    expect((await h.store.getDelivery(started.deploymentId, 'prs'))?.lastError).toMatch(/rate limit/);

    await h.queue.enqueue([{ v: 1, deploymentId: started.deploymentId, seq: 1, target: 'prs' }]);
    await h.drainDispatch();

    expect(commentsOn(81)).toHaveLength(1);
  });

  it('fails for good when the token is rejected, without the token in the error or the logs', async () => {
    gh.linkPullRequest('acme/shop', sha('wrong'), 91);
    const started = event('wrong', 'in_progress', { service: 'wrong-shop' });
    await ingest(started);

    const record = await h.store.getDelivery(started.deploymentId, 'wrong');
    expect(record?.state).toBe('failed');
    expect(record?.lastError).toMatch(/401 Bad credentials/);
    expect(commentsOn(91)).toHaveLength(0);
    for (const token of [TOKEN, WRONG_TOKEN]) {
      expect(record?.lastError).not.toContain(token);
      expect(h.logs.lines.join('\n')).not.toContain(token);
    }
  });

  it("ignores a comment with Shipcast's marker written by someone else, and comments anew", async () => {
    gh.linkPullRequest('acme/shop', sha('forged'), 101);
    const forged =
      '<!-- shipcast:checkout/production -->\n<!-- shipcast-deployment:2099-01-01T00:00:00.000Z x -->\nmine';
    gh.issueComments.push({
      id: 990_001,
      owner: 'acme',
      repo: 'shop',
      issue: 101,
      body: forged,
      user: { login: 'mallory', id: 666, type: 'User' },
      performed_via_github_app: null,
    });

    await ingest(event('forged', 'succeeded'));

    expect(commentsOn(101)).toHaveLength(2);
    expect(commentsOn(101)[0]?.body).toBe(forged);
    expect(commentsOn(101)[1]?.user.id).toBe(tokenAccount(0).id);
    expect(commentsOn(101)[1]?.body).toContain('### ✅ checkout 3\\.1\\.0 → production: succeeded');
    expect(gh.requests.some((r) => r.method === 'PATCH')).toBe(false);
  });

  it('ignores a stamp from the future', async () => {
    gh.linkPullRequest('acme/shop', sha('future'), 102);
    gh.issueComments.push({
      id: 990_002,
      owner: 'acme',
      repo: 'shop',
      issue: 102,
      body: '<!-- shipcast:checkout/production -->\n<!-- shipcast-deployment:2099-01-01T00:00:00.000Z x -->\nold',
      user: tokenAccount(0),
      performed_via_github_app: null,
    });

    await ingest(event('future', 'succeeded'));

    expect(commentsOn(102)).toHaveLength(1);
    expect(commentsOn(102)[0]?.body).toContain('### ✅ checkout 3\\.1\\.0 → production: succeeded');
  });

  it('as a GitHub App, finds the comment the App wrote and ignores a marker comment by someone else', async () => {
    gh.linkPullRequest('acme/shop', sha('app-one'), 103);
    gh.linkPullRequest('acme/shop', sha('app-two'), 103);
    const forged = '<!-- shipcast:app-shop/production -->\nmine';
    gh.issueComments.push({
      id: 990_003,
      owner: 'acme',
      repo: 'shop',
      issue: 103,
      body: forged,
      user: { login: 'mallory', id: 666, type: 'User' },
      performed_via_github_app: null,
    });

    await ingest(event('app-one', 'succeeded', { service: 'app-shop' }));
    await ingest(
      event('app-two', 'failed', { service: 'app-shop', error: { message: 'smoke test failed' } }),
    );

    expect(commentsOn(103)).toHaveLength(2);
    expect(commentsOn(103)[0]?.body).toBe(forged);
    expect(commentsOn(103)[1]?.performed_via_github_app?.id).toBe(APP_ID);
    expect(commentsOn(103)[1]?.body).toContain('**Error:** smoke test failed');
    expect(gh.requests.some((r) => r.path === '/user')).toBe(false);
  });
});
