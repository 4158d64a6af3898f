import { createHash, createHmac } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApi } from '../../functions/core/api/app.ts';
import { dispatchBatch } from '../../functions/core/dispatch.ts';
import { deploymentIdFor } from '../../functions/core/ids.ts';
import { ingestEvent } from '../../functions/core/ingest.ts';
import type { DeploymentEvent } from '../../functions/core/schema.ts';
import { nativeEvent } from '../support/events.ts';
import {
  type GitHubAnswer,
  type GitHubServer,
  githubError,
  startGitHubServer,
} from '../support/github-server.ts';
import { createHarness, type Harness, recordingRetries } from '../support/harness.ts';

const TOKEN = 'ghp_deploytoken0123456789abcdef';
const sha = (name: string) => createHash('sha1').update(name).digest('hex');
// biome-ignore lint/suspicious/noExplicitAny: fixture payloads are edited freely
const githubFixture = (path: string): Record<string, any> =>
  JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'github', path), 'utf8'));

/** A native event of the service `deploy-shop` in production, on acme/shop at the commit named after `id`. */
const event = (id: string, status: DeploymentEvent['status'], extra: Partial<DeploymentEvent> = {}) =>
  nativeEvent(id, status, {
    service: 'deploy-shop',
    environment: 'production',
    version: '2.0.0',
    revision: { repository: 'acme/shop', commit: sha(id) },
    url: `https://ci.example.com/runs/${id}`,
    ...extra,
  });

describe('github-deployment target', () => {
  let h: Harness;
  let gh: GitHubServer;
  const retryDelays: number[] = [];

  beforeAll(async () => {
    gh = await startGitHubServer({ tokens: [TOKEN] });
    h = await createHarness({
      maxReceives: 5,
      queue: recordingRetries(retryDelays),
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: {
          github: {
            type: 'github-deployment',
            baseUrl: gh.url,
            token: 'github-token',
            environments: { 'stag*': 'staging', production: 'prod' },
            environmentUrl: 'https://{{environment}}.example.com/{{service}}',
            // Short for the case whose answer never comes; long enough for a loaded machine to read a local answer.
            timeoutMs: 3_000,
          },
        },
        routes: [{ targets: ['github'] }],
        dispatch: { maxReceives: 5 },
      },
    });
    writeFileSync(join(h.secretsDir, 'github-token'), TOKEN);
  });
  afterAll(async () => {
    await h.stop();
    await gh.stop();
  });
  beforeEach(() => {
    gh.reset();
    retryDelays.length = 0;
  });
  afterEach(() => {
    // Every body Shipcast sent must fit GitHub's published request schemas.
    expect(gh.violations).toEqual([]);
  });

  const ingest = async (e: DeploymentEvent) => {
    await ingestEvent(e, h.runtime.ingest);
    await h.drainDispatch();
  };
  /** Delivers a transition again, as the queue would after the retry delay. */
  const redeliver = async (deploymentId: string, seq: number) => {
    await h.queue.enqueue([{ v: 1, deploymentId, seq, target: 'github' }]);
    await h.drainDispatch();
  };
  const delivery = (deploymentId: string) => h.store.getDelivery(deploymentId, 'github');
  const isQueued = async (deploymentId: string) =>
    (await h.dispatchMessages()).some((m) => m.deploymentId === deploymentId);

  it('creates one GitHub deployment for queued → in_progress → succeeded and posts their statuses in order', async () => {
    const queued = event('one', 'queued');
    await ingest(queued);
    await ingest(event('one', 'in_progress'));
    await ingest(event('one', 'succeeded'));

    const [created, ...others] = gh.deploymentsOf(queued.deploymentId);
    expect(others).toEqual([]);
    expect(created).toMatchObject({
      owner: 'acme',
      repo: 'shop',
      ref: sha('one'),
      environment: 'prod',
      task: 'deploy',
      auto_merge: false,
      required_contexts: [],
      payload: { shipcast: { marker: 'shipcast', deploymentId: queued.deploymentId } },
      description: 'deploy-shop 2.0.0 via Shipcast',
    });
    expect(created?.statuses.map((s) => [s.state, s.auto_inactive])).toEqual([
      ['queued', false],
      ['in_progress', false],
      ['success', true],
    ]);
    expect(created?.statuses[2]).toMatchObject({
      description: 'deploy-shop 2.0.0 to production: deployed',
      log_url: 'https://ci.example.com/runs/one',
      environment_url: 'https://production.example.com/deploy-shop',
    });
    expect(await delivery(queued.deploymentId)).toMatchObject({
      state: 'delivered',
      deliveredSeq: 3,
      refs: {
        githubDeploymentId: String(created?.id),
        githubRepository: 'acme/shop',
        githubEnvironment: 'prod',
      },
    });
    const post = gh.requests.find((r) => r.method === 'POST');
    expect(post?.headers).toMatchObject({
      accept: 'application/vnd.github+json',
      'x-github-api-version': '2022-11-28',
      authorization: `Bearer ${TOKEN}`,
    });
    expect(post?.headers['user-agent']).toBeTruthy();
  });

  it('reads the repository from a GitHub URL and maps the environment through a glob', async () => {
    const started = event('url', 'in_progress', {
      environment: 'staging-eu',
      revision: { repository: 'https://github.com/acme/web.git', commit: sha('url') },
    });
    await ingest(started);

    expect(gh.deploymentsOf(started.deploymentId)).toMatchObject([
      { owner: 'acme', repo: 'web', environment: 'staging', statuses: [{ state: 'in_progress' }] },
    ]);
  });

  it.each<[string, GitHubAnswer]>([
    ['the connection is reset', { reset: true }],
    ['GitHub answers 500', { status: 500, body: githubError('Server Error') }],
    ['the answer never comes (timeout)', { hang: true }],
  ])('reuses the deployment GitHub stored when %s after creating it', async (_, answer) => {
    const started = event(`crash-${JSON.stringify(answer).length}`, 'in_progress');
    gh.intercept('POST /repos/acme/shop/deployments', answer, { after: true });

    await ingest(started);

    expect(gh.deploymentsOf(started.deploymentId)).toHaveLength(1);
    const failed = await delivery(started.deploymentId);
    expect(failed?.state).toBe('retrying');
    expect(failed?.refs?.githubDeploymentId).toBeUndefined();

    await redeliver(started.deploymentId, 1);

    const [only, ...others] = gh.deploymentsOf(started.deploymentId);
    expect(others).toEqual([]);
    expect(only?.statuses.map((s) => s.state)).toEqual(['in_progress']);
    const lookup = gh.requests.find((r) => r.method === 'GET' && r.path === '/repos/acme/shop/deployments');
    expect(Object.fromEntries(lookup?.query ?? [])).toMatchObject({
      sha: sha(started.sourceDeploymentId),
      environment: 'prod',
      task: 'deploy',
    });
    expect(await delivery(started.deploymentId)).toMatchObject({
      state: 'delivered',
      refs: { githubDeploymentId: String(only?.id) },
    });
  });

  it('keeps the GitHub deployment id when its status fails, and the retry posts the status without creating again', async () => {
    const started = event('status-fails', 'in_progress');
    gh.intercept('POST /repos/acme/shop/deployments/*/statuses', {
      status: 502,
      body: githubError('Bad Gateway'),
    });

    await ingest(started);

    const [created] = gh.deploymentsOf(started.deploymentId);
    expect(await delivery(started.deploymentId)).toMatchObject({
      state: 'retrying',
      refs: { githubDeploymentId: String(created?.id), githubRepository: 'acme/shop' },
    });
    gh.reset();

    await redeliver(started.deploymentId, 1);

    expect(gh.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      `POST /repos/acme/shop/deployments/${created?.id}/statuses`,
    ]);
    expect(gh.deploymentsOf(started.deploymentId)).toHaveLength(1);
    expect(created?.statuses.map((s) => s.state)).toEqual(['in_progress']);
  });

  it('creates only one GitHub deployment when two transitions of a deployment are dispatched at once', async () => {
    const queued = event('race', 'queued');
    await ingestEvent(queued, h.runtime.ingest);
    await ingestEvent(event('race', 'in_progress'), h.runtime.ingest);
    // The dispatch queue hands out one transition of a (deployment, target) at a time; copies handed to two
    // dispatchers anyway (a redrive of an older copy, say) still make one GitHub deployment.
    const messages = [1, 2].map((seq) => ({
      messageId: `race-${seq}`,
      receiptHandle: `race-${seq}`,
      body: JSON.stringify({ v: 1, deploymentId: queued.deploymentId, seq, target: 'github' }),
      receiveCount: 1,
    }));

    // Two dispatchers, one message each, at the same time.
    await Promise.all(messages.map((m) => dispatchBatch([m], h.runtime.dispatch)));
    await redeliver(queued.deploymentId, 1);
    await redeliver(queued.deploymentId, 2);

    const [only, ...others] = gh.deploymentsOf(queued.deploymentId);
    expect(others).toEqual([]);
    expect(only?.statuses.at(-1)?.state).toBe('in_progress');
    expect((await delivery(queued.deploymentId))?.deliveredSeq).toBe(2);
  });

  it('marks the GitHub deployment a successful rollback replaced inactive, once', async () => {
    const original = event('rb-original', 'succeeded');
    await ingest(original);
    const rollback = event('rb-rollback', 'in_progress', {
      rollbackOfSourceId: 'rb-original',
      version: '1.9.0',
    });
    await ingest(rollback);
    const [replaced] = gh.deploymentsOf(original.deploymentId);
    const [own] = gh.deploymentsOf(rollback.deploymentId);
    expect(replaced?.statuses.map((s) => s.state)).toEqual(['success']);
    // The rollback's own success status fails once, after the replaced deployment was marked.
    gh.intercept(`POST /repos/acme/shop/deployments/${own?.id}/statuses`, {
      status: 503,
      body: 'unavailable',
    });

    await ingest(event('rb-rollback', 'succeeded', { rollbackOfSourceId: 'rb-original', version: '1.9.0' }));
    expect(await delivery(rollback.deploymentId)).toMatchObject({
      state: 'retrying',
      refs: { replacedInactive: String(replaced?.id) },
    });
    await redeliver(rollback.deploymentId, 2);

    expect(replaced?.statuses.map((s) => s.state)).toEqual(['success', 'inactive']);
    expect(own?.statuses.map((s) => s.state)).toEqual(['in_progress', 'success']);
    expect((await delivery(rollback.deploymentId))?.state).toBe('delivered');
  });

  it.each<[string, DeploymentEvent['status'], string]>([
    ['failed', 'failed', 'failure'],
    ['stopped', 'stopped', 'error'],
  ])('reports a %s deployment as %s with the reason cut to 140 characters', async (_, status, state) => {
    const ended = event(`end-${status}`, status, {
      error: { code: 'HEALTH_CONSTRAINTS', message: `health checks failed: ${'x'.repeat(300)}` },
    });
    await ingest(ended);

    const [created] = gh.deploymentsOf(ended.deploymentId);
    expect(created?.statuses).toHaveLength(1);
    const [posted] = created?.statuses ?? [];
    expect(posted?.state).toBe(state);
    expect(Array.from(posted?.description ?? '')).toHaveLength(140);
    expect(posted?.description).toMatch(
      /^deploy-shop 2\.0\.0 to production: \w+: health checks failed: x+…$/,
    );
  });

  it.each<[string, Partial<DeploymentEvent>]>([
    ['no revision', { revision: undefined }],
    ['no commit', { revision: { repository: 'acme/shop' } }],
    [
      'a repository elsewhere',
      { revision: { repository: 'https://gitlab.com/acme/shop', commit: 'abc123' } },
    ],
  ])('delivers a deployment with %s without calling GitHub', async (name, extra) => {
    const started = event(`skip-${name}`, 'in_progress', extra);
    await ingest(started);

    expect(gh.requests).toEqual([]);
    expect(await delivery(started.deploymentId)).toMatchObject({ state: 'delivered', deliveredSeq: 1 });
    const logged = h.logs
      .entries()
      .find((e) => e.deploymentId === started.deploymentId && e.level === 'INFO');
    expect(String(logged?.message)).toMatch(/^no GitHub deployment: /);
  });

  it.each<[string, () => GitHubAnswer, number]>([
    [
      '429 with Retry-After',
      () => ({ status: 429, headers: { 'retry-after': '120' }, body: githubError('slow down') }),
      120,
    ],
    [
      '403 with x-ratelimit-remaining: 0',
      () => ({
        status: 403,
        headers: {
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset': String(Math.floor(h.clock.now().getTime() / 1000) + 600),
        },
        body: githubError('API rate limit exceeded for installation ID 1.'),
      }),
      600,
    ],
    [
      '403 secondary rate limit without headers',
      () => ({
        status: 403,
        body: githubError('You have exceeded a secondary rate limit. Please wait a few minutes.'),
      }),
      60,
    ],
    [
      '429 secondary rate limit with a short Retry-After',
      () => ({
        status: 429,
        headers: { 'retry-after': '5' },
        body: githubError('You have exceeded a secondary rate limit.'),
      }),
      5,
    ],
    ['429 without headers or message', () => ({ status: 429, body: '' }), 60],
    [
      '429 secondary rate limit without headers',
      () => ({
        status: 429,
        body: githubError('You have exceeded a secondary rate limit and have been temporarily blocked.'),
      }),
      60,
    ],
  ])('puts the delivery back on the queue after a %s', async (name, answer, seconds) => {
    const started = event(`limit-${name}`, 'in_progress');
    gh.intercept('POST /repos/acme/shop/deployments', answer());

    await ingest(started);

    const record = await delivery(started.deploymentId);
    expect(record?.state).toBe('retrying');
    expect(record?.lastError).toMatch(
      /^GitHub rate limit while trying to create the deployment in acme\/shop: 4\d\d /,
    );
    expect(await isQueued(started.deploymentId)).toBe(false);
    expect(retryDelays).toHaveLength(1);
    // The reset header is absolute epoch seconds: the wait is counted from when the answer is read.
    expect(retryDelays[0]).toBeGreaterThanOrEqual(seconds - 5);
    expect(retryDelays[0]).toBeLessThanOrEqual(seconds);
    expect(gh.deploymentsOf(started.deploymentId)).toEqual([]);
    // Its retry would take a later test's one-shot answer from the fake GitHub.
    await h.discardHeld(started.deploymentId);
    // Wait the limit out: no call with this token goes to GitHub before its reset.
    h.clock.advance((seconds + 1) * 1000);
  });

  it('asks again when GitHub merged instead of creating (202)', async () => {
    const started = event('merged', 'in_progress');
    gh.intercept('POST /repos/acme/shop/deployments', {
      status: 202,
      body: { message: 'Auto-merged main into topic-branch on deployment.' },
    });

    await ingest(started);
    expect((await delivery(started.deploymentId))?.lastError).toContain('Auto-merged main');
    await redeliver(started.deploymentId, 1);

    expect(gh.deploymentsOf(started.deploymentId)).toHaveLength(1);
    expect((await delivery(started.deploymentId))?.state).toBe('delivered');
  });

  it.each<[string, string, GitHubAnswer, RegExp]>([
    [
      '404 (no such repository)',
      'GET /repos/acme/shop/deployments',
      { status: 404, body: githubError('Not Found') },
      /404 Not Found .*repository does not exist/,
    ],
    [
      '422 (validation failed)',
      'POST /repos/acme/shop/deployments',
      {
        status: 422,
        body: githubError('Validation Failed', [{ resource: 'Deployment', field: 'ref', code: 'invalid' }]),
      },
      /422 Validation Failed \[ref invalid\]/,
    ],
    [
      '403 without rate-limit headers',
      'POST /repos/acme/shop/deployments',
      { status: 403, body: githubError('Resource not accessible by integration') },
      /403 Resource not accessible by integration/,
    ],
    [
      '409 (merge conflict or failed checks)',
      'POST /repos/acme/shop/deployments',
      { status: 409, body: githubError('Conflict: Commit status checks failed for main.') },
      /409 Conflict: Commit status checks failed/,
    ],
  ])('fails the delivery for good on %s, with GitHub’s message', async (name, route, answer, message) => {
    const started = event(`permanent-${name}`, 'in_progress');
    gh.intercept(route, answer);
    const dead = await h.dlqDepth();

    await ingest(started);

    const record = await delivery(started.deploymentId);
    expect(record?.state).toBe('failed');
    expect(record?.lastError).toMatch(message);
    expect(record?.lastError).not.toContain(TOKEN);
    expect(await h.dlqDepth()).toBe(dead + 1);
    expect(gh.deploymentsOf(started.deploymentId)).toEqual([]);
  });
});

describe("github-deployment target: GitHub's limits", () => {
  let h: Harness;
  let gh: GitHubServer;
  const retryDelays: number[] = [];

  beforeAll(async () => {
    gh = await startGitHubServer({ tokens: [TOKEN], rateLimit: { limit: 5000 }, now: () => h.clock.now() });
    h = await createHarness({
      queue: recordingRetries(retryDelays),
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: {
          github: {
            type: 'github-deployment',
            baseUrl: gh.url,
            token: 'github-token',
            maxWritesPerMinute: 2,
          },
        },
        routes: [{ targets: ['github'] }],
      },
    });
    writeFileSync(join(h.secretsDir, 'github-token'), TOKEN);
  });
  afterAll(async () => {
    await h.stop();
    await gh.stop();
  });
  beforeEach(() => {
    gh.reset();
    retryDelays.length = 0;
  });

  const lookups = () => gh.requests.filter((r) => r.method === 'GET' && r.path.endsWith('/deployments'));
  /** Delivers every transition not yet delivered again, a minute later (as the queue would after the wait). */
  const nextMinute = async (events: DeploymentEvent[]) => {
    h.clock.advance(61_000);
    for (const e of events) {
      const record = await h.store.getDelivery(e.deploymentId, 'github');
      if (record?.state !== 'delivered')
        await h.queue.enqueue([{ v: 1, deploymentId: e.deploymentId, seq: 1, target: 'github' }]);
    }
    await h.drainDispatch();
  };

  it('takes the write budget before looking up: a burst of new deployments makes one look-up each', async () => {
    const burst = Array.from({ length: 6 }, (_, i) => event(`burst-${i}`, 'queued'));
    for (const e of burst) await ingestEvent(e, h.runtime.ingest);

    await h.drainDispatch();
    for (let minute = 0; minute < 12 && lookups().length < 100; minute++) await nextMinute(burst);

    for (const e of burst) {
      expect(await h.store.getDelivery(e.deploymentId, 'github')).toMatchObject({ state: 'delivered' });
      expect(gh.deploymentsOf(e.deploymentId)).toHaveLength(1);
    }
    // Two writes a minute, two writes a deployment (create, status): one deployment a minute, one look-up each.
    expect(lookups()).toHaveLength(6);
    expect(gh.requests.filter((r) => r.method === 'POST')).toHaveLength(12);
  });

  it('waits for the hourly reset instead of spending the last requests on look-ups; statuses still go', async () => {
    const first = event('reserve-1', 'queued');
    await ingestEvent(first, h.runtime.ingest);
    await h.drainDispatch();
    // The next status is answered with 100 requests left this hour: the reserve kept for writes.
    gh.rateLimitRemaining.set(TOKEN, 101);
    h.clock.advance(61_000);
    await ingestEvent(event('reserve-1', 'in_progress'), h.runtime.ingest);
    await h.drainDispatch();
    const second = event('reserve-2', 'queued');
    await ingestEvent(second, h.runtime.ingest);
    gh.reset();

    await h.drainDispatch();

    expect(lookups()).toHaveLength(0);
    expect(gh.deploymentsOf(second.deploymentId)).toEqual([]);
    const waiting = await h.store.getDelivery(second.deploymentId, 'github');
    expect(waiting).toMatchObject({ state: 'retrying' });
    expect(waiting?.lastError).toMatch(/hourly limit .* waiting \d+ s for its reset/);
    const reset = Math.ceil(h.clock.now().getTime() / 3_600_000) * 3_600_000;
    expect(retryDelays).toContain(Math.ceil((reset - h.clock.now().getTime()) / 1000));
    // The deployment GitHub already has still gets its statuses from the reserve.
    h.clock.advance(61_000);
    await ingestEvent(event('reserve-1', 'succeeded'), h.runtime.ingest);
    await h.drainDispatch();
    expect(gh.deploymentsOf(first.deploymentId)[0]?.statuses.map((s) => s.state)).toEqual([
      'queued',
      'in_progress',
      'success',
    ]);

    h.clock.advance(reset - h.clock.now().getTime() + 1_000);
    gh.rateLimitRemaining.delete(TOKEN);
    await nextMinute([second]);
    expect(lookups()).toHaveLength(1);
    expect(await h.store.getDelivery(second.deploymentId, 'github')).toMatchObject({ state: 'delivered' });
  });
});

describe('github-deployment target: deployments that came from GitHub', () => {
  const WEBHOOK_SECRET = 'gh-hook-secret-for-echo-tests';
  let h: Harness;
  let gh: GitHubServer;
  let api: ReturnType<typeof createApi>;
  let statusIds = 0;

  beforeAll(async () => {
    gh = await startGitHubServer({ tokens: [TOKEN] });
    h = await createHarness({
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        sources: { github: { secret: 'github-webhook' } },
        targets: {
          github: { type: 'github-deployment', baseUrl: gh.url, token: 'github-token' },
          mirror: {
            type: 'github-deployment',
            baseUrl: gh.url,
            token: 'github-token',
            statusesOnGitHubDeployments: true,
          },
        },
        routes: [
          { match: { service: 'plain' }, targets: ['github'] },
          { match: { service: 'mirrored' }, targets: ['mirror'] },
        ],
      },
    });
    writeFileSync(join(h.secretsDir, 'github-token'), TOKEN);
    writeFileSync(join(h.secretsDir, 'github-webhook'), WEBHOOK_SECRET);
    api = createApi(h.runtime.api);
  });
  afterAll(async () => {
    await h.stop();
    await gh.stop();
  });

  /** A GitHub deployment another tool created on the fake GitHub (payload naming the Shipcast service). */
  const createdElsewhere = async (service: string) => {
    const response = await fetch(`${gh.url}/repos/Codertocat/Hello-World/deployments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ref: sha(service), environment: 'production', payload: { service } }),
    });
    return (await response.json()) as { id: number };
  };
  const webhook = async (event: string, payload: Record<string, unknown>) => {
    const body = JSON.stringify(payload);
    const response = await api.request('/v1/hooks/github', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': event,
        'x-github-delivery': `delivery-${++statusIds}`,
        'x-hub-signature-256': `sha256=${createHmac('sha256', WEBHOOK_SECRET).update(body).digest('hex')}`,
      },
      body,
    });
    expect(response.status).toBeLessThan(300);
    return response.json();
  };
  /** GitHub's `deployment` (created) webhook of deployment `id`, from the real payload. */
  const deploymentHook = (id: number, service: string) => {
    const payload = structuredClone(githubFixture('deployment/created.json'));
    Object.assign(payload.deployment, { id, sha: sha(service), payload: { service } });
    return payload;
  };
  /** GitHub's `deployment_status` (created) webhook of one status of deployment `id`. */
  const statusHook = (id: number, service: string, state: string) => {
    const payload = structuredClone(githubFixture('deployment_status/created.json'));
    Object.assign(payload.deployment, { id, sha: sha(service), payload: { service } });
    Object.assign(payload.deployment_status, { id: 90_000 + ++statusIds, state });
    return payload;
  };

  it('creates no second GitHub deployment of a deployment GitHub announced, and calls GitHub not at all by default', async () => {
    const original = await createdElsewhere('plain');
    gh.reset();

    await webhook('deployment', deploymentHook(original.id, 'plain'));
    await webhook('deployment_status', statusHook(original.id, 'plain', 'in_progress'));
    await h.drainDispatch();

    expect(gh.requests).toEqual([]);
    expect(gh.deployments).toHaveLength(1);
    const id = deploymentIdFor('github', `Codertocat/Hello-World#${original.id}`);
    expect(await h.store.getDelivery(id, 'github')).toMatchObject({ state: 'delivered', deliveredSeq: 2 });
    expect(h.logs.lines.join('\n')).toContain(`it already is GitHub deployment ${original.id}`);
  });

  it('posts statuses on the original when configured, and their echoes cause no new sends', async () => {
    const original = await createdElsewhere('mirrored');
    gh.reset();

    await webhook('deployment', deploymentHook(original.id, 'mirrored'));
    await h.drainDispatch();
    await webhook('deployment_status', statusHook(original.id, 'mirrored', 'success'));
    await h.drainDispatch();

    const stored = gh.deployments.find((d) => d.id === original.id);
    expect(gh.deployments).toHaveLength(2);
    expect(gh.requests.filter((r) => r.path.endsWith('/deployments'))).toEqual([]);
    expect(stored?.statuses.map((s) => s.state)).toEqual(['queued', 'success']);

    // GitHub announces every status Shipcast posted as a deployment_status webhook: none is a transition.
    const id = deploymentIdFor('github', `Codertocat/Hello-World#${original.id}`);
    const transitions = (await h.store.getDeployment(id))?.transitions.length;
    for (const status of stored?.statuses ?? [])
      await webhook('deployment_status', statusHook(original.id, 'mirrored', status.state));
    await h.drainDispatch();

    expect((await h.store.getDeployment(id))?.transitions.length).toBe(transitions);
    expect(stored?.statuses.map((s) => s.state)).toEqual(['queued', 'success']);
    expect(await h.dispatchMessages()).toEqual([]);
  });
});
