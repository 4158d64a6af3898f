import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HttpClient } from '../../functions/core/http-client.ts';
import { ingestEvent } from '../../functions/core/ingest.ts';
import type { DeploymentEvent } from '../../functions/core/schema.ts';
import { nativeEvent } from '../support/events.ts';
import { type GitLabServer, gitlabAccount, startGitLabServer } from '../support/gitlab-server.ts';
import { createHarness, type Harness, recordingRetries } from '../support/harness.ts';
import { activeMarkdown, FORGE_HOSTILE } from '../support/pr-comment-fixtures.ts';

const TOKEN = 'glpat-commentToken0123456789';
const WRONG = 'glpat-wrongCommentToken00000';
const PROJECT_ID = 42;
const sha = (name: string) => createHash('sha1').update(name).digest('hex');

describe('gitlab-comment target', () => {
  let h: Harness;
  let gl: GitLabServer;
  const retryDelays: number[] = [];

  /** A GitLab-source deployment of shop in `environment` of the project acme/shop, at the commit named after `commit`. */
  const event = (
    id: string,
    status: DeploymentEvent['status'],
    { commit = id, ...extra }: Partial<DeploymentEvent> & { commit?: string } = {},
  ): DeploymentEvent => ({
    ...nativeEvent(id, status, {
      service: 'shop',
      version: '2.0.0',
      revision: { repository: 'acme/shop', commit: sha(commit) },
      url: `https://ci.example.com/runs/${id}`,
      ...extra,
    }),
    source: 'gitlab',
  });

  beforeAll(async () => {
    gl = await startGitLabServer({
      tokens: [TOKEN],
      projects: { 'acme/shop': PROJECT_ID },
      now: () => h.clock.now(),
    });
    h = await createHarness({
      maxReceives: 5,
      http: new HttpClient({ timeoutMs: 10_000 }),
      queue: recordingRetries(retryDelays),
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: {
          mrs: { type: 'gitlab-comment', baseUrl: gl.url, token: 'gitlab-token' },
          openMrs: { type: 'gitlab-comment', baseUrl: gl.url, token: 'gitlab-token', pullRequests: 'open' },
          wrong: { type: 'gitlab-comment', baseUrl: gl.url, token: 'wrong-token' },
        },
        routes: [
          { match: { service: 'shop' }, targets: ['mrs'] },
          { match: { service: 'open-*' }, targets: ['openMrs'] },
          { match: { service: 'wrong-*' }, targets: ['wrong'] },
        ],
        dispatch: { maxReceives: 5 },
      },
    });
    writeFileSync(join(h.secretsDir, 'gitlab-token'), TOKEN);
    writeFileSync(join(h.secretsDir, 'wrong-token'), WRONG);
  });
  afterAll(async () => {
    await h.stop();
    await gl.stop();
  });
  beforeEach(() => {
    gl.reset();
    retryDelays.length = 0;
  });
  afterEach(() => expect(gl.violations).toEqual([]));

  const ingest = async (e: DeploymentEvent) => {
    await ingestEvent(e, h.runtime.ingest);
    await h.drainDispatch();
  };
  const notesOn = (iid: number) => gl.notes.filter((n) => n.iid === iid);
  const writes = () => gl.requests.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`);
  const notesPath = (iid: number) => `/api/v4/projects/${PROJECT_ID}/merge_requests/${iid}/notes`;

  it('writes one note on each merge request containing the commit and edits it at each transition', async () => {
    gl.linkMergeRequest('acme/shop', sha('one'), 3);
    gl.linkMergeRequest('acme/shop', sha('one'), 4, 'merged');
    const queued = event('one', 'queued');

    await ingest(queued);
    await ingest(event('one', 'in_progress'));
    await ingest(event('one', 'succeeded'));

    const [three, four] = [notesOn(3)[0], notesOn(4)[0]];
    expect([notesOn(3).length, notesOn(4).length]).toEqual([1, 1]);
    expect(three?.body.split('\n').slice(0, 3)).toEqual([
      '<!-- shipcast:shop/production -->',
      `<!-- shipcast-deployment:2026-03-01T10:00:00.000Z ${queued.deploymentId} -->`,
      '### ✅ shop 2\\.0\\.0 → production: succeeded',
    ]);
    expect(writes()).toEqual([
      `POST ${notesPath(3)}`,
      `POST ${notesPath(4)}`,
      `PUT ${notesPath(3)}/${three?.id}`,
      `PUT ${notesPath(4)}/${four?.id}`,
      `PUT ${notesPath(3)}/${three?.id}`,
      `PUT ${notesPath(4)}/${four?.id}`,
    ]);
    expect(gl.requests[0]?.path).toBe(
      `/api/v4/projects/acme%2Fshop/repository/commits/${sha('one')}/merge_requests`,
    );
    expect(await h.store.getDelivery(queued.deploymentId, 'mrs')).toMatchObject({
      state: 'delivered',
      refs: { [`comment:${PROJECT_ID}!3`]: String(three?.id), [`comment:${PROJECT_ID}!4`]: String(four?.id) },
    });
  });

  it('finds its note by the hidden marker for a later deployment of the same service and environment', async () => {
    gl.linkMergeRequest('acme/shop', sha('first'), 11);
    gl.linkMergeRequest('acme/shop', sha('second'), 11);
    await ingest(event('first', 'succeeded'));
    await ingest(event('second', 'stopped'));

    expect(notesOn(11)).toHaveLength(1);
    expect(notesOn(11)[0]?.body).toContain('### ⏹️ shop 2\\.0\\.0 → production: stopped');
  });

  it('edits its note instead of writing a second one when the answer to its post was lost', async () => {
    gl.linkMergeRequest('acme/shop', sha('lost'), 21);
    gl.intercept(`POST ${notesPath(21)}`, { status: 502, body: '502 Bad Gateway' }, { after: true });
    const started = event('lost', 'in_progress');
    await ingest(started);
    expect(await h.store.getDelivery(started.deploymentId, 'mrs')).toMatchObject({ state: 'retrying' });

    await h.queue.enqueue([{ v: 1, deploymentId: started.deploymentId, seq: 1, target: 'mrs' }]);
    await h.drainDispatch();

    expect(notesOn(21)).toHaveLength(1);
    expect(writes().at(-1)).toBe(`PUT ${notesPath(21)}/${notesOn(21)[0]?.id}`);
    expect(await h.store.getDelivery(started.deploymentId, 'mrs')).toMatchObject({ state: 'delivered' });
  });

  it('makes mentions, references, links, images and HTML from event text inert', async () => {
    gl.linkMergeRequest('acme/shop', sha('hostile'), 31);
    await ingest(
      event('hostile', 'failed', {
        actor: '@root',
        description: FORGE_HOSTILE,
        error: { message: `!12 ~security %"v1" ${FORGE_HOSTILE}` },
        url: 'https://ci.example.com/runs/hostile) [x](https://evil.example',
      }),
    );

    const body = notesOn(31)[0]?.body ?? '';
    expect(
      activeMarkdown(body, [
        /^<!-- shipcast:shop\/production -->$/,
        /^\[Open deployment\]\(https:\/\/ci\.example\.com\/runs\/hostile%29%20%5Bx%5D%28https:\/\/evil\.example\)$/,
      ]),
    ).toEqual([]);
    expect(body).toContain('**Deployed by:** \\@\u2060root');
  });

  it('writes only on open merge requests when told to', async () => {
    gl.linkMergeRequest('acme/shop', sha('open'), 41, 'merged');
    gl.linkMergeRequest('acme/shop', sha('open'), 42, 'opened');
    await ingest(event('open', 'succeeded', { service: 'open-shop' }));

    expect([notesOn(41).length, notesOn(42).length]).toEqual([0, 1]);
  });

  it('waits out a 429 through the queue, then writes its note', async () => {
    gl.linkMergeRequest('acme/shop', sha('limited'), 51);
    gl.rateLimitNext(1, 45);
    const started = event('limited', 'in_progress');
    await ingest(started);
    expect(retryDelays).toEqual([45]);
    expect(notesOn(51)).toHaveLength(0);

    await h.queue.enqueue([{ v: 1, deploymentId: started.deploymentId, seq: 1, target: 'mrs' }]);
    await h.drainDispatch();

    expect(notesOn(51)).toHaveLength(1);
  });

  it('fails for good when the token is rejected, without the token in the error or the logs', async () => {
    gl.linkMergeRequest('acme/shop', sha('wrong'), 61);
    const started = event('wrong', 'in_progress', { service: 'wrong-shop' });
    await ingest(started);

    const record = await h.store.getDelivery(started.deploymentId, 'wrong');
    expect(record?.state).toBe('failed');
    expect(record?.lastError).toMatch(/GitLab refused to list the merge requests .*: 401 401 Unauthorized/);
    for (const token of [TOKEN, WRONG]) {
      expect(record?.lastError).not.toContain(token);
      expect(h.logs.lines.join('\n')).not.toContain(token);
    }
  });

  it("ignores a note with Shipcast's marker written by someone else, and comments anew", async () => {
    gl.linkMergeRequest('acme/shop', sha('forged'), 101);
    const forged =
      '<!-- shipcast:shop/production -->\n<!-- shipcast-deployment:2099-01-01T00:00:00.000Z x -->\nmine';
    gl.notes.push({
      id: 990_001,
      projectId: PROJECT_ID,
      iid: 101,
      body: forged,
      system: false,
      author: { id: 666, username: 'mallory' },
    });

    await ingest(event('forged', 'succeeded'));

    expect(notesOn(101)).toHaveLength(2);
    expect(notesOn(101)[0]?.body).toBe(forged);
    expect(notesOn(101)[1]?.author).toEqual(gitlabAccount(0));
    expect(notesOn(101)[1]?.body).toContain('### ✅ shop 2\\.0\\.0 → production: succeeded');
    expect(writes()).toEqual([`POST ${notesPath(101)}`]);
  });

  it('ignores a stamp from the future', async () => {
    gl.linkMergeRequest('acme/shop', sha('future'), 102);
    gl.notes.push({
      id: 990_002,
      projectId: PROJECT_ID,
      iid: 102,
      body: '<!-- shipcast:shop/production -->\n<!-- shipcast-deployment:2099-01-01T00:00:00.000Z x -->\nold',
      system: false,
      author: gitlabAccount(0),
    });

    await ingest(event('future', 'succeeded'));

    expect(notesOn(102)).toHaveLength(1);
    expect(notesOn(102)[0]?.body).toContain('### ✅ shop 2\\.0\\.0 → production: succeeded');
  });
});
