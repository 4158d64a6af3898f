import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HttpClient } from '../../functions/core/http-client.ts';
import { ingestEvent } from '../../functions/core/ingest.ts';
import type { DeploymentEvent } from '../../functions/core/schema.ts';
import { gitlabStatusTarget } from '../../functions/core/targets/gitlab-status.ts';
import { nativeEvent } from '../support/events.ts';
import { type GitLabServer, startGitLabServer } from '../support/gitlab-server.ts';
import { createHarness, type Harness, recordingRetries } from '../support/harness.ts';
import { sendAgain } from '../support/send-again.ts';

const TOKEN = 'glpat-statusToken0123456789ab';
const READ_ONLY = 'glpat-readOnlyToken0123456789';
const WRONG = 'glpat-wrongToken000000000000';
const sha = (name: string) => createHash('sha1').update(name).digest('hex');

describe('gitlab-status target', () => {
  let h: Harness;
  let gl: GitLabServer;
  const retryDelays: number[] = [];

  /** A native event of `service` in production on the project URL of the stand-in, at the commit named after `id`. */
  const event = (id: string, status: DeploymentEvent['status'], extra: Partial<DeploymentEvent> = {}) =>
    nativeEvent(id, status, {
      service: 'shop',
      version: '2.0.0',
      revision: { repository: `${gl.url}/acme/platform/shop.git`, commit: sha(id), ref: 'refs/heads/main' },
      url: `https://ci.example.com/runs/${id}`,
      ...extra,
    });

  beforeAll(async () => {
    gl = await startGitLabServer({
      tokens: [TOKEN, READ_ONLY],
      readOnlyTokens: [READ_ONLY],
      projects: { 'acme/platform/shop': 42, 'acme/api': 43 },
      now: () => h.clock.now(),
    });
    h = await createHarness({
      maxReceives: 5,
      http: new HttpClient({ timeoutMs: 10_000 }),
      queue: recordingRetries(retryDelays),
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: {
          gl: { type: 'gitlab-status', baseUrl: gl.url, token: 'gitlab-token' },
          named: {
            type: 'gitlab-status',
            baseUrl: gl.url,
            token: 'gitlab-token',
            name: 'deploy: {{service}} in {{ environment }}',
            targetUrl: 'https://deploys.example.com/{{service}}/{{deploymentId}}',
          },
          readOnly: { type: 'gitlab-status', baseUrl: gl.url, token: 'read-only-token' },
          wrong: { type: 'gitlab-status', baseUrl: gl.url, token: 'wrong-token' },
        },
        routes: [
          { match: { service: 'shop' }, targets: ['gl'] },
          { match: { service: 'named-*' }, targets: ['named'] },
          { match: { service: 'readonly-*' }, targets: ['readOnly'] },
          { match: { service: 'wrong-*' }, targets: ['wrong'] },
        ],
        dispatch: { maxReceives: 5 },
      },
    });
    writeFileSync(join(h.secretsDir, 'gitlab-token'), TOKEN);
    writeFileSync(join(h.secretsDir, 'read-only-token'), READ_ONLY);
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
  const posted = () =>
    gl.requests.filter((r) => r.method === 'POST').map((r) => r.json<{ state: string }>().state);

  it('moves one commit status through pending, running and success on the deployed commit', async () => {
    const queued = event('one', 'queued');
    await ingest(queued);
    await ingest(event('one', 'in_progress'));
    await ingest(event('one', 'succeeded'));

    expect(posted()).toEqual(['pending', 'running', 'success']);
    expect(gl.requests[0]?.path).toBe(`/api/v4/projects/acme%2Fplatform%2Fshop/statuses/${sha('one')}`);
    expect(gl.requests[0]?.headers['private-token']).toBe(TOKEN);
    expect(gl.statuses.filter((s) => s.sha === sha('one'))).toEqual([
      expect.objectContaining({
        project: 'acme/platform/shop',
        name: 'shipcast/production',
        ref: 'main',
        status: 'success',
        description: 'shop 2.0.0 to production: deployed',
        target_url: 'https://ci.example.com/runs/one',
      }),
    ]);
    expect(await h.store.getDelivery(queued.deploymentId, 'gl')).toMatchObject({
      state: 'delivered',
      deliveredSeq: 3,
      refs: { lastStatus: expect.stringMatching(/^[0-9a-f]{16}$/) },
    });
  });

  it.each<[DeploymentEvent['status'], string]>([
    ['failed', 'failed'],
    ['stopped', 'canceled'],
  ])('reports a %s deployment as %s', async (status, state) => {
    await ingest(event(`end-${status}`, status));
    expect(gl.statuses.find((s) => s.sha === sha(`end-${status}`))?.status).toBe(state);
  });

  it('does not post a state it posted last', async () => {
    const started = event('same', 'in_progress');
    await ingest(started);
    gl.reset();

    const again = await sendAgain(h, gitlabStatusTarget as never, 'gl', started.deploymentId);

    expect(again).toEqual({});
    expect(gl.requests).toEqual([]);
  });

  it("counts GitLab's refusal to repeat the state it has as delivered, when the answer to the post was lost", async () => {
    gl.intercept(
      'POST /api/v4/projects/*/statuses/*',
      { status: 502, body: '502 Bad Gateway' },
      { after: true },
    );
    const started = event('lost', 'in_progress');
    await ingest(started);
    expect(await h.store.getDelivery(started.deploymentId, 'gl')).toMatchObject({ state: 'retrying' });

    await h.queue.enqueue([{ v: 1, deploymentId: started.deploymentId, seq: 1, target: 'gl' }]);
    await h.drainDispatch();

    expect(posted()).toEqual(['running', 'running']);
    expect(gl.statuses.filter((s) => s.sha === sha('lost'))).toHaveLength(1);
    expect(await h.store.getDelivery(started.deploymentId, 'gl')).toMatchObject({ state: 'delivered' });
  });

  it('uses the name and link templates', async () => {
    const started = event('named', 'in_progress', { service: 'named-shop', environment: 'eu prod' });
    await ingest(started);

    expect(gl.statuses.find((s) => s.sha === sha('named'))).toMatchObject({
      name: 'deploy: named-shop in eu prod',
      target_url: `https://deploys.example.com/named-shop/${started.deploymentId}`,
    });
  });

  it('takes the project path from a GitLab deployment and skips a bare path from another source', async () => {
    await ingest({
      ...event('from-gitlab', 'succeeded', {
        revision: { repository: 'acme/api', commit: sha('from-gitlab') },
      }),
      source: 'gitlab',
    });
    const bare = event('bare', 'succeeded', { revision: { repository: 'acme/api', commit: sha('bare') } });
    await ingest(bare);

    expect(gl.statuses.find((s) => s.sha === sha('from-gitlab'))).toMatchObject({ project: 'acme/api' });
    expect(gl.statuses.some((s) => s.sha === sha('bare'))).toBe(false);
    expect(await h.store.getDelivery(bare.deploymentId, 'gl')).toMatchObject({ state: 'delivered' });
    expect(h.logs.entries().map((e) => e.message)).toContain(
      `no commit status: "acme/api" is not a GitLab project of ${gl.url}`,
    );
  });

  it.each([
    ['with Retry-After', true],
    ['with RateLimit-Reset only', false],
  ])('waits out a 429 %s through the queue, then posts', async (_, retryAfter) => {
    const started = event(`limited-${retryAfter}`, 'in_progress');
    gl.rateLimitNext(1, 30, { retryAfter });
    await ingest(started);
    expect(retryDelays).toEqual([30]);
    expect((await h.store.getDelivery(started.deploymentId, 'gl'))?.lastError).toBe(
      'GitLab rate limit while trying to post the running status of ' +
        `${sha(`limited-${retryAfter}`).slice(0, 12)} in acme/platform/shop: 429 Retry later; retrying in 30 s`,
    );

    await h.queue.enqueue([{ v: 1, deploymentId: started.deploymentId, seq: 1, target: 'gl' }]);
    await h.drainDispatch();

    expect(gl.statuses.find((s) => s.sha === sha(`limited-${retryAfter}`))?.status).toBe('running');
  });

  it('fails for good when the token may not write, saying what it needs', async () => {
    const started = event('readonly', 'in_progress', { service: 'readonly-shop' });
    await ingest(started);

    const record = await h.store.getDelivery(started.deploymentId, 'readOnly');
    expect(record?.state).toBe('failed');
    expect(record?.lastError).toMatch(
      /403 403 Forbidden — the token lacks permission: it needs the api scope/,
    );
  });

  it('fails for good when the token is rejected, without the token in the error or the logs', async () => {
    const started = event('wrong', 'in_progress', { service: 'wrong-shop' });
    await ingest(started);

    const record = await h.store.getDelivery(started.deploymentId, 'wrong');
    expect(record?.state).toBe('failed');
    expect(record?.lastError).toMatch(/401 401 Unauthorized — the token was rejected/);
    expect(gl.requests).toHaveLength(2);
    for (const token of [TOKEN, READ_ONLY, WRONG]) {
      expect(record?.lastError).not.toContain(token);
      expect(h.logs.lines.join('\n')).not.toContain(token);
    }
  });
});
