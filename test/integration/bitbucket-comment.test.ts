import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HttpClient } from '../../functions/core/http-client.ts';
import { ingestEvent } from '../../functions/core/ingest.ts';
import type { DeploymentEvent } from '../../functions/core/schema.ts';
import { type BitbucketServer, bitbucketAccount, startBitbucketServer } from '../support/bitbucket-server.ts';
import { nativeEvent } from '../support/events.ts';
import { createHarness, type Harness, recordingRetries } from '../support/harness.ts';
import { activeMarkdown, FORGE_HOSTILE } from '../support/pr-comment-fixtures.ts';

const TOKEN = 'ATCTT3xFfGN0bbCommentToken00001';
const WRONG = 'ATCTT3xFfGN0wrongCommentToken01';
const ACCESS = 'ATCTT3xFfGN0repoAccessToken0001';
const MARKER = '[shipcast]: # "shipcast:shop/production"';
const sha = (name: string) => createHash('sha1').update(name).digest('hex');

/** A native event of shop in production on bitbucket.org/acme/shop, at the commit named after `commit`. */
const event = (
  id: string,
  status: DeploymentEvent['status'],
  { commit = id, ...extra }: Partial<DeploymentEvent> & { commit?: string } = {},
) =>
  nativeEvent(id, status, {
    service: 'shop',
    version: '4.2.0',
    revision: { repository: 'git@bitbucket.org:acme/shop.git', commit: sha(commit) },
    url: `https://ci.example.com/runs/${id}`,
    ...extra,
  });

describe('bitbucket-comment target', () => {
  let h: Harness;
  let bb: BitbucketServer;
  const retryDelays: number[] = [];

  beforeAll(async () => {
    bb = await startBitbucketServer({
      tokens: [TOKEN, ACCESS],
      accessTokens: [ACCESS],
      cloudRepos: ['acme/shop'],
    });
    h = await createHarness({
      maxReceives: 5,
      http: new HttpClient({ timeoutMs: 10_000 }),
      queue: recordingRetries(retryDelays),
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: {
          prs: { type: 'bitbucket-comment', baseUrl: bb.url, token: 'bb-token' },
          openPrs: { type: 'bitbucket-comment', baseUrl: bb.url, token: 'bb-token', pullRequests: 'open' },
          wrong: { type: 'bitbucket-comment', baseUrl: bb.url, token: 'bb-wrong-token' },
          accessPrs: { type: 'bitbucket-comment', baseUrl: bb.url, token: 'bb-access-token' },
        },
        routes: [
          { match: { service: 'shop' }, targets: ['prs'] },
          { match: { service: 'open-*' }, targets: ['openPrs'] },
          { match: { service: 'wrong-*' }, targets: ['wrong'] },
          { match: { service: 'access-*' }, targets: ['accessPrs'] },
        ],
        dispatch: { maxReceives: 5 },
      },
    });
    writeFileSync(join(h.secretsDir, 'bb-token'), TOKEN);
    writeFileSync(join(h.secretsDir, 'bb-wrong-token'), WRONG);
    writeFileSync(join(h.secretsDir, 'bb-access-token'), ACCESS);
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
  const commentsOn = (pr: number) => bb.comments.filter((c) => c.pr === pr);
  const writes = () => bb.requests.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`);
  const comments = (pr: number) => `/2.0/repositories/acme/shop/pullrequests/${pr}/comments`;

  it('comments once on each pull request containing the commit and edits that comment at each transition', async () => {
    bb.linkPullRequest('acme/shop', sha('one'), 5);
    bb.linkPullRequest('acme/shop', sha('one'), 6, 'MERGED');
    const queued = event('one', 'queued');

    await ingest(queued);
    await ingest(event('one', 'in_progress'));
    await ingest(event('one', 'succeeded'));

    const [five, six] = [commentsOn(5)[0], commentsOn(6)[0]];
    expect([commentsOn(5).length, commentsOn(6).length]).toEqual([1, 1]);
    expect(five?.raw.split('\n').slice(0, 3)).toEqual([
      MARKER,
      `[shipcast-deployment]: # "2026-03-01T10:00:00.000Z ${queued.deploymentId}"`,
      '### ✅ shop 4\\.2\\.0 → production: succeeded',
    ]);
    expect(writes()).toEqual([
      `POST ${comments(5)}`,
      `POST ${comments(6)}`,
      `PUT ${comments(5)}/${five?.id}`,
      `PUT ${comments(6)}/${six?.id}`,
      `PUT ${comments(5)}/${five?.id}`,
      `PUT ${comments(6)}/${six?.id}`,
    ]);
    expect(bb.requests[0]?.path).toBe(`/2.0/repositories/acme/shop/commit/${sha('one')}/pullrequests`);
    expect(await h.store.getDelivery(queued.deploymentId, 'prs')).toMatchObject({
      state: 'delivered',
      refs: { 'comment:5': String(five?.id), 'comment:6': String(six?.id) },
    });
  });

  it('finds its comment by the hidden marker for a later deployment of the same service and environment', async () => {
    bb.linkPullRequest('acme/shop', sha('first'), 15);
    bb.linkPullRequest('acme/shop', sha('second'), 15);
    await ingest(event('first', 'succeeded'));
    await ingest(event('second', 'failed', { error: { message: 'smoke tests failed' } }));

    expect(commentsOn(15)).toHaveLength(1);
    expect(commentsOn(15)[0]?.raw).toContain('**Error:** smoke tests failed');
  });

  it('leaves a comment that shows a later deployment alone when an older deployment moves on', async () => {
    bb.linkPullRequest('acme/shop', sha('older'), 17);
    bb.linkPullRequest('acme/shop', sha('newer'), 17);
    const older = event('older', 'in_progress');
    await ingest(older);
    h.clock.advance(60_000);
    await ingest(event('newer', 'succeeded'));

    await ingest(event('older', 'stopped'));

    expect(commentsOn(17)).toHaveLength(1);
    expect(commentsOn(17)[0]?.raw).toContain('### ✅ shop 4\\.2\\.0 → production: succeeded');
    expect(await h.store.getDelivery(older.deploymentId, 'prs')).toMatchObject({
      state: 'delivered',
      deliveredSeq: 2,
    });
  });

  it('posts a new comment when its comment was deleted', async () => {
    bb.linkPullRequest('acme/shop', sha('deleted'), 19);
    const started = event('deleted', 'in_progress');
    await ingest(started);
    for (const comment of commentsOn(19)) comment.deleted = true;

    await ingest(event('deleted', 'succeeded'));

    expect(commentsOn(19).filter((c) => !c.deleted)).toHaveLength(1);
    expect(commentsOn(19).find((c) => !c.deleted)?.raw).toContain('succeeded');
  });

  it('edits its comment instead of posting a second one when the answer to its post was lost', async () => {
    bb.linkPullRequest('acme/shop', sha('lost'), 25);
    bb.intercept(`POST ${comments(25)}`, { status: 503, body: 'Service Unavailable' }, { after: true });
    const started = event('lost', 'in_progress');
    await ingest(started);
    expect(await h.store.getDelivery(started.deploymentId, 'prs')).toMatchObject({ state: 'retrying' });

    await h.queue.enqueue([{ v: 1, deploymentId: started.deploymentId, seq: 1, target: 'prs' }]);
    await h.drainDispatch();

    expect(commentsOn(25)).toHaveLength(1);
    expect(writes().at(-1)).toBe(`PUT ${comments(25)}/${commentsOn(25)[0]?.id}`);
    expect(await h.store.getDelivery(started.deploymentId, 'prs')).toMatchObject({ state: 'delivered' });
  });

  it('makes mentions, links, images and HTML from event text inert', async () => {
    bb.linkPullRequest('acme/shop', sha('hostile'), 35);
    await ingest(
      event('hostile', 'failed', {
        actor: '@{557058:c0ffee}',
        description: FORGE_HOSTILE,
        error: { message: FORGE_HOSTILE },
      }),
    );

    const body = commentsOn(35)[0]?.raw ?? '';
    expect(
      activeMarkdown(body, [
        /^\[shipcast\]: # "shipcast:shop\/production"$/,
        /^\[Open deployment\]\(https:\/\/ci\.example\.com\/runs\/hostile\)$/,
      ]),
    ).toEqual([]);
    expect(body).toContain('**Deployed by:** \\@\\{557058\\:c0ffee\\}');
  });

  it('comments only on open pull requests when told to', async () => {
    bb.linkPullRequest('acme/shop', sha('open'), 45, 'DECLINED');
    bb.linkPullRequest('acme/shop', sha('open'), 46, 'OPEN');
    await ingest(event('open', 'succeeded', { service: 'open-shop' }));

    expect([commentsOn(45).length, commentsOn(46).length]).toEqual([0, 1]);
  });

  it('waits out a 429 through the queue, then comments', async () => {
    bb.linkPullRequest('acme/shop', sha('limited'), 55);
    bb.rateLimitNext(1);
    const started = event('limited', 'in_progress');
    await ingest(started);
    expect(retryDelays).toEqual([60]);
    expect((await h.store.getDelivery(started.deploymentId, 'prs'))?.lastError).toMatch(
      /Bitbucket rate limit while trying to list the pull requests of [0-9a-f]{12}: 429 Rate limit for this resource has been exceeded; retrying in 60 s/,
    );

    await h.queue.enqueue([{ v: 1, deploymentId: started.deploymentId, seq: 1, target: 'prs' }]);
    await h.drainDispatch();

    expect(commentsOn(55)).toHaveLength(1);
  });

  it('waits while Bitbucket indexes the pull requests of the repository (202), then comments', async () => {
    bb.linkPullRequest('acme/shop', sha('indexing'), 75);
    bb.indexing.add('acme/shop');
    const started = event('indexing', 'in_progress');
    await ingest(started);
    expect(retryDelays).toEqual([60]);
    expect((await h.store.getDelivery(started.deploymentId, 'prs'))?.lastError).toBe(
      'Bitbucket is still indexing the pull requests of acme/shop; retrying in 60 s',
    );

    bb.indexing.clear();
    await h.queue.enqueue([{ v: 1, deploymentId: started.deploymentId, seq: 1, target: 'prs' }]);
    await h.drainDispatch();

    expect(commentsOn(75)).toHaveLength(1);
  });

  it('fails for good when the token is rejected, without the token in the error or the logs', async () => {
    bb.linkPullRequest('acme/shop', sha('wrong'), 65);
    const started = event('wrong', 'in_progress', { service: 'wrong-shop' });
    await ingest(started);

    const record = await h.store.getDelivery(started.deploymentId, 'wrong');
    expect(record?.state).toBe('failed');
    expect(record?.lastError).toMatch(/401 Unauthorized — the credential was rejected/);
    for (const token of [TOKEN, WRONG]) {
      expect(record?.lastError).not.toContain(token);
      expect(h.logs.lines.join('\n')).not.toContain(token);
    }
  });

  it("ignores a comment with Shipcast's marker written by someone else, and comments anew", async () => {
    bb.linkPullRequest('acme/shop', sha('forged'), 101);
    const forged = `${MARKER}\n[shipcast-deployment]: # "2099-01-01T00:00:00.000Z x"\nmine`;
    bb.comments.push({
      id: 990_001,
      repo: 'acme/shop',
      pr: 101,
      raw: forged,
      deleted: false,
      user: bitbucketAccount('user:mallory'),
    });

    await ingest(event('forged', 'succeeded'));

    expect(commentsOn(101)).toHaveLength(2);
    expect(commentsOn(101)[0]?.raw).toBe(forged);
    expect(commentsOn(101)[1]?.user).toEqual(bitbucketAccount('token:0'));
    expect(commentsOn(101)[1]?.raw).toContain('### ✅ shop 4\\.2\\.0 → production: succeeded');
    expect(writes()).toEqual([`POST ${comments(101)}`]);
  });

  it('ignores a stamp from the future', async () => {
    bb.linkPullRequest('acme/shop', sha('future'), 102);
    bb.comments.push({
      id: 990_002,
      repo: 'acme/shop',
      pr: 102,
      raw: `${MARKER}\n[shipcast-deployment]: # "2099-01-01T00:00:00.000Z x"\nold`,
      deleted: false,
      user: bitbucketAccount('token:0'),
    });

    await ingest(event('future', 'succeeded'));

    expect(commentsOn(102)).toHaveLength(1);
    expect(commentsOn(102)[0]?.raw).toContain('### ✅ shop 4\\.2\\.0 → production: succeeded');
  });

  it('with an access token GET /2.0/user refuses, edits only the comment its delivery names and searches none', async () => {
    bb.linkPullRequest('acme/shop', sha('access-one'), 104);
    bb.linkPullRequest('acme/shop', sha('access-two'), 104);
    const first = event('access-one', 'in_progress', { service: 'access-shop' });

    await ingest(first);
    await ingest(event('access-one', 'succeeded', { service: 'access-shop' }));
    const second = event('access-two', 'succeeded', { service: 'access-shop' });
    await ingest(second);

    expect(commentsOn(104)).toHaveLength(2);
    expect(commentsOn(104)[0]?.raw).toContain('### ✅ access\\-shop 4\\.2\\.0 → production: succeeded');
    expect(commentsOn(104)[0]?.raw).toContain(first.deploymentId);
    expect(await h.store.getDelivery(first.deploymentId, 'accessPrs')).toMatchObject({ state: 'delivered' });
    expect(await h.store.getDelivery(second.deploymentId, 'accessPrs')).toMatchObject({ state: 'delivered' });
    expect(bb.requests.some((r) => r.method === 'GET' && r.path === comments(104))).toBe(false);
  });
});
