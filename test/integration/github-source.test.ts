import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../functions/core/api/app.ts';
import { deploymentIdFor } from '../../functions/core/ids.ts';
import { MAX_WEBHOOK_BODY_BYTES } from '../../functions/core/sources/webhook-signature.ts';
import { type GitHubServer, startGitHubServer } from '../support/github-server.ts';
import { createHarness, type Harness } from '../support/harness.ts';

const SECRET = 'gh-webhook-secret-0123456789';
const TOKEN = 'api-token-0123456789';
const GITHUB_TOKEN = 'ghp_LinkTestToken0123456789abcdef';
const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'github');

// biome-ignore lint/suspicious/noExplicitAny: fixture payloads are walked and edited freely
type Json = Record<string, any>;

/** A fixture from test/fixtures/github (real payloads from @octokit/webhooks-examples). */
const fixture = (path: string): Json => JSON.parse(readFileSync(join(FIXTURES, path), 'utf8'));
const sign = (body: string, secret = SECRET) =>
  `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

describe('GitHub webhooks (POST /v1/hooks/github)', () => {
  let h: Harness;
  let api: ReturnType<typeof createApi>;
  let github: GitHubServer;

  beforeAll(async () => {
    github = await startGitHubServer({ tokens: [GITHUB_TOKEN] });
    h = await createHarness({
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        sources: { github: { secret: 'github-webhook' } },
        targets: {
          console: { type: 'log' },
          github: {
            type: 'github-deployment',
            token: 'github-token',
            baseUrl: github.url,
            // One test holds a status call until it times out (a hang on purpose).
            timeoutMs: 4_000,
          },
        },
        routes: [{ targets: ['console'] }, { match: { service: 'linked-*' }, targets: ['github'] }],
      },
      env: { SHIPCAST_SECRET_API_TOKEN: TOKEN, SHIPCAST_SECRET_GITHUB_TOKEN: GITHUB_TOKEN },
    });
    writeFileSync(join(h.secretsDir, 'github-webhook'), SECRET);
    api = createApi(h.runtime.api);
  });
  afterAll(async () => {
    await h?.stop();
    await github?.stop();
  });

  /** Posts `payload` as GitHub would: signed, with the event name and a delivery id. */
  const deliver = (
    event: string,
    payload: Json | string,
    options: { delivery?: string; headers?: Record<string, string> } = {},
  ) => {
    const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
    return api.request('/v1/hooks/github', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': event,
        'x-github-delivery': options.delivery ?? randomUUID(),
        'x-hub-signature-256': sign(body),
        ...options.headers,
      },
      body,
    });
  };

  let statusIds = 0;
  /** A copy of a fixture with its deployment made unique (so tests do not share records); every status gets its own id. */
  const uniqueDeployment = (path: string, id: number, changes: (p: Json) => void = () => {}): Json => {
    const payload = structuredClone(fixture(path));
    payload.deployment.id = id;
    if (payload.deployment_status) payload.deployment_status.id = id * 1000 + ++statusIds;
    changes(payload);
    return payload;
  };

  describe('signature', () => {
    const payload = () => uniqueDeployment('deployment/created.json', 7_000_001);
    const body = JSON.stringify(payload());

    it.each([
      ['a signature made with another secret', { 'x-hub-signature-256': sign(body, 'not-the-secret') }],
      [
        'a signature with one hex digit changed',
        { 'x-hub-signature-256': sign(body).replace(/.$/, (d) => (d === '0' ? '1' : '0')) },
      ],
      [
        'a signature over a body with one byte flipped',
        { 'x-hub-signature-256': sign(body.replace('"created"', '"createe"')) },
      ],
      [
        'the hex digest without the sha256= prefix',
        { 'x-hub-signature-256': sign(body).slice('sha256='.length) },
      ],
      [
        'only the SHA-1 X-Hub-Signature header',
        {
          'x-hub-signature-256': '',
          'x-hub-signature': `sha1=${createHmac('sha1', SECRET).update(body).digest('hex')}`,
        },
      ],
      ['an empty X-Hub-Signature-256', { 'x-hub-signature-256': '' }],
    ])('answers 401 and stores nothing for %s', async (_what, headers) => {
      const response = await api.request('/v1/hooks/github', {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-github-event': 'deployment',
          'x-github-delivery': randomUUID(),
          ...headers,
        },
        body,
      });
      expect(response.status).toBe(401);
      expect(await response.json()).toMatchObject({
        error: 'unauthorized',
        message: expect.stringContaining('X-Hub-Signature-256'),
      });
      expect(
        await h.store.getDeployment(deploymentIdFor('github', 'Codertocat/Hello-World#7000001')),
      ).toBeUndefined();
    });

    it('accepts the same body with the right signature', async () => {
      const response = await deliver('deployment', body);
      expect(response.status).toBe(202);
      expect(
        await h.store.getDeployment(deploymentIdFor('github', 'Codertocat/Hello-World#7000001')),
      ).toMatchObject({
        status: 'queued',
      });
    });

    it('answers 400 for invalid JSON with a valid signature, storing nothing', async () => {
      const response = await deliver('deployment', '{"action":"created",');
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: 'invalid_request', issues: [{ path: '' }] });
    });

    it('answers 413 for a body over the limit before verifying it', async () => {
      const big = 'x'.repeat(MAX_WEBHOOK_BODY_BYTES + 1);
      const response = await api.request('/v1/hooks/github', {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-github-event': 'push',
          'x-hub-signature-256': 'sha256=00',
        },
        body: big,
      });
      expect(response.status).toBe(413);
      expect(await response.json()).toMatchObject({ error: 'payload_too_large' });
    });

    it('needs no bearer token: the signature is the credential', async () => {
      const response = await deliver('ping', fixture('ping/ping.json'), {
        headers: { authorization: 'Bearer nope' },
      });
      expect(response.status).toBe(200);
    });
  });

  describe('fixtures', () => {
    it('answers ping with 200 and stores nothing', async () => {
      const response = await deliver('ping', fixture('ping/ping.json'));
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ pong: true, hookId: '109948940' });
    });

    it('records deployment.created as a queued deployment of the repository', async () => {
      const payload = fixture('deployment/created.json');
      const response = await deliver('deployment', payload);
      expect(response.status).toBe(202);
      const sourceDeploymentId = 'Codertocat/Hello-World#145988746';
      const deploymentId = deploymentIdFor('github', sourceDeploymentId);
      expect(await response.json()).toEqual({
        eventId: expect.stringMatching(/^evt_/),
        deploymentId,
        status: 'queued',
      });
      expect(await h.store.getDeployment(deploymentId)).toMatchObject({
        source: 'github',
        sourceDeploymentId,
        service: 'Hello-World',
        environment: 'production',
        status: 'queued',
        sourceStatus: 'created',
        actor: 'Codertocat',
        revision: {
          repository: 'Codertocat/Hello-World',
          commit: 'f95f852bd8fca8fcc58a9a2d6c842781e32a215e',
          ref: 'master',
        },
        details: {
          githubRepository: 'Codertocat/Hello-World',
          githubDeploymentId: '145988746',
          githubTask: 'deploy',
        },
      });
    });

    it('moves the same deployment forward with deployment_status.created (success)', async () => {
      const response = await deliver('deployment_status', fixture('deployment_status/created.json'));
      expect(response.status).toBe(202);
      const deploymentId = deploymentIdFor('github', 'Codertocat/Hello-World#145988746');
      expect(await response.json()).toMatchObject({ deploymentId, status: 'succeeded' });
      const record = await h.store.getDeployment(deploymentId);
      expect(record).toMatchObject({ status: 'succeeded', sourceStatus: 'success' });
      expect(record?.transitions.map((t) => t.to)).toEqual(['queued', 'succeeded']);
    });

    it('records deployment_status.created (in_progress) with its log url', async () => {
      const payload = uniqueDeployment('deployment_status/created.in_progress.json', 7_000_002);
      const response = await deliver('deployment_status', payload);
      expect(response.status).toBe(202);
      expect(
        await h.store.getDeployment(deploymentIdFor('github', 'Codertocat/Hello-World#7000002')),
      ).toMatchObject({
        status: 'in_progress',
        environment: 'github-pages',
        url: 'https://github.com/CorsixTH/CorsixTH/runs/4687056418?check_suite_focus=true',
      });
    });

    it.each([
      ['queued', 'queued'],
      ['pending', 'queued'],
      ['in_progress', 'in_progress'],
      ['success', 'succeeded'],
      ['failure', 'failed'],
      ['error', 'failed'],
    ])('maps deployment status state %s to %s (fixture with the state changed)', async (state, status) => {
      const id = 7_100_000 + ++statusIds;
      const payload = uniqueDeployment('deployment_status/created.json', id, (p) => {
        p.deployment_status.state = state;
      });
      const response = await deliver('deployment_status', payload);
      expect(await response.json()).toMatchObject({ status });
      expect(
        await h.store.getDeployment(deploymentIdFor('github', `Codertocat/Hello-World#${id}`)),
      ).toMatchObject({
        status,
        sourceStatus: state,
      });
    });

    it('records an inactive status in the history without changing the status', async () => {
      const id = 7_000_003;
      await deliver('deployment', uniqueDeployment('deployment/created.json', id));
      const response = await deliver(
        'deployment_status',
        uniqueDeployment('deployment_status/created.json', id, (p) => {
          p.deployment_status.state = 'inactive';
        }),
      );
      expect(response.status).toBe(202);
      const deploymentId = deploymentIdFor('github', `Codertocat/Hello-World#${id}`);
      expect(await h.store.getDeployment(deploymentId)).toMatchObject({ status: 'queued' });
      const events = await h.store.listEvents(deploymentId);
      expect(events.map((e) => [e.sourceStatus, e.disposition]).sort()).toEqual([
        ['created', 'applied'],
        ['inactive', 'no-status'],
      ]);
    });

    it('uses the service a deployment payload names', async () => {
      const id = 7_000_004;
      const response = await deliver(
        'deployment',
        uniqueDeployment('deployment/created.json', id, (p) => {
          p.deployment.payload = { service: 'checkout' };
        }),
      );
      expect(response.status).toBe(202);
      expect(
        await h.store.getDeployment(deploymentIdFor('github', `Codertocat/Hello-World#${id}`)),
      ).toMatchObject({
        service: 'checkout',
      });
    });

    it('turns workflow_run.requested then completed into one BUILD CI event that ends final', async () => {
      const requested = await deliver('workflow_run', fixture('workflow_run/requested.json'));
      expect(requested.status).toBe(202);
      const first = (await requested.json()) as Json;
      expect(first).toMatchObject({ type: 'BUILD', status: 'queued', final: false, write: 'created' });
      const stored = await h.store.getCiEvent(first.eventId);
      // (The stored item's `type` is not asserted: DynamoStore overwrites it with its own item type.)
      expect(stored).toMatchObject({
        source: 'github',
        username: 'octo-org',
        app: 'octo-repo',
        repository: 'octo-org/octo-repo',
        commit: '3484a3fb816e0859fd6e1cea078d76385ff50625',
        branch: 'master',
        status: 'queued',
        sourceStatus: 'queued',
        eventTime: '2020-10-05T16:33:24.000Z',
        fields: {
          runId: '289782451',
          runAttempt: '1',
          url: 'https://github.com/octo-org/octo-repo/actions/runs/289782451',
        },
      });

      const completed = await deliver('workflow_run', fixture('workflow_run/completed.json'));
      expect(await completed.json()).toMatchObject({
        eventId: first.eventId,
        status: 'succeeded',
        final: true,
        write: 'updated',
      });
      expect(await h.store.getCiEvent(first.eventId)).toMatchObject({
        status: 'succeeded',
        sourceStatus: 'completed/success',
        final: true,
        rev: 2,
      });
    });

    it('never changes a final build again (a late in_progress, derived from the fixture)', async () => {
      const late = structuredClone(fixture('workflow_run/requested.json'));
      late.action = 'in_progress';
      late.workflow_run.status = 'in_progress';
      const response = await deliver('workflow_run', late);
      const answer = (await response.json()) as Json;
      expect(answer).toMatchObject({ status: 'succeeded', final: true, write: 'unchanged' });
      expect(await h.store.getCiEvent(answer.eventId)).toMatchObject({ status: 'succeeded', rev: 2 });
    });

    it('keeps a re-run attempt of the same run as its own CI event', async () => {
      const rerun = structuredClone(fixture('workflow_run/requested.json'));
      rerun.workflow_run.run_attempt = 2;
      const answer = (await (await deliver('workflow_run', rerun)).json()) as Json;
      expect(answer).toMatchObject({ status: 'queued', write: 'created' });
      const first = (await (
        await deliver('workflow_run', fixture('workflow_run/completed.json'))
      ).json()) as Json;
      expect(answer.eventId).not.toBe(first.eventId);
    });

    it('turns a branch push into a PUSH CI event', async () => {
      const response = await deliver('push', fixture('push/push.json'));
      expect(response.status).toBe(202);
      const answer = (await response.json()) as Json;
      expect(answer).toMatchObject({ type: 'PUSH', status: null, write: 'created' });
      expect(await h.store.getCiEvent(answer.eventId)).toMatchObject({
        source: 'github',
        username: 'Codertocat',
        app: 'Hello-World',
        repository: 'codertocat/hello-world',
        commit: '6113728f27ae82c7b1a177c8d03f9e96e0adf246',
        branch: 'master',
        fields: { ref: 'refs/heads/master', pusher: 'Codertocat' },
      });
    });

    it('takes the receiving time for a push whose pushed_at is no date a clock can hold', async () => {
      const payload = structuredClone(fixture('push/push.json'));
      payload.after = 'f'.repeat(40);
      payload.repository.pushed_at = 1e20;
      const response = await deliver('push', payload);
      expect(response.status).toBe(202);
      const answer = (await response.json()) as Json;
      expect(await h.store.getCiEvent(answer.eventId)).toMatchObject({
        commit: 'f'.repeat(40),
        eventTime: h.clock.now().toISOString(),
      });
    });

    it('ignores a push that deletes a ref, storing nothing', async () => {
      const response = await deliver('push', fixture('push/deleted.json'));
      expect(response.status).toBe(202);
      expect(await response.json()).toMatchObject({ ignored: 'push' });
    });

    it('answers 202 {ignored} for an event it does not handle', async () => {
      const response = await deliver('issues', {
        action: 'opened',
        repository: fixture('push/push.json').repository,
      });
      expect(response.status).toBe(202);
      expect(await response.json()).toEqual({ ignored: 'issues' });
    });
  });

  describe('redelivery', () => {
    it('answers a redelivery with the same answer and changes nothing', async () => {
      const id = 7_000_005;
      const delivery = randomUUID();
      const payload = uniqueDeployment('deployment/created.json', id);
      const first = await deliver('deployment', payload, { delivery });
      const firstBody = await first.json();
      const deploymentId = deploymentIdFor('github', `Codertocat/Hello-World#${id}`);
      const before = await h.store.getDeployment(deploymentId);

      const again = await deliver('deployment', payload, { delivery });
      expect(again.status).toBe(first.status);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(await again.json()).toEqual(firstBody);
      expect(await h.store.getDeployment(deploymentId)).toEqual(before);
      expect(await h.store.listEvents(deploymentId)).toHaveLength(1);
    });

    it('recognises the same event under a new delivery id as a duplicate', async () => {
      const id = 7_000_006;
      const payload = uniqueDeployment('deployment/created.json', id);
      await deliver('deployment', payload);
      const deploymentId = deploymentIdFor('github', `Codertocat/Hello-World#${id}`);
      const before = await h.store.getDeployment(deploymentId);
      const again = await deliver('deployment', payload);
      expect(await again.json()).toMatchObject({ deploymentId, status: 'queued' });
      expect((await h.store.getDeployment(deploymentId))?.transitions).toEqual(before?.transitions);
      expect(await h.store.listEvents(deploymentId)).toHaveLength(1);
    });
  });

  describe('deployments Shipcast created on GitHub', () => {
    const COMMIT = 'f95f852bd8fca8fcc58a9a2d6c842781e32a215e';
    /** A Shipcast deployment routed to the github-deployment target, and the GitHub deployment it made. */
    const shipcastDeployment = async (version: string) => {
      const created = await api.request('/v1/events', {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          service: 'linked-hello',
          environment: 'production',
          status: 'in_progress',
          version,
          repository: 'Codertocat/Hello-World',
          commit: COMMIT,
        }),
      });
      const { deploymentId } = (await created.json()) as { deploymentId: string };
      await h.drainDispatch();
      const [made] = github.deploymentsOf(deploymentId);
      expect(made).toBeDefined();
      return { shipcastId: deploymentId, githubId: made?.id as number, payload: made?.payload };
    };
    const marker = (shipcastId: string) => ({
      shipcast: { marker: 'shipcast', deploymentId: shipcastId, source: 'native', sourceDeploymentId: 'x' },
    });
    const ordinaryId = (repository: string, id: number) => deploymentIdFor('github', `${repository}#${id}`);

    it('links the events of a GitHub deployment Shipcast made to its deployment: no second deployment, no dispatch', async () => {
      const { shipcastId, githubId, payload } = await shipcastDeployment('loop-1');
      const before = await h.store.getDeployment(shipcastId);

      const deployment = await deliver(
        'deployment',
        uniqueDeployment('deployment/created.json', githubId, (p) => {
          p.deployment.payload = payload;
        }),
      );
      expect(deployment.status).toBe(200);
      expect(await deployment.json()).toMatchObject({ linked: shipcastId });
      for (const state of ['in_progress', 'success']) {
        const status = await deliver(
          'deployment_status',
          uniqueDeployment('deployment_status/created.json', githubId, (p) => {
            p.deployment.payload = JSON.stringify(payload);
            p.deployment_status.state = state;
          }),
        );
        expect(status.status).toBe(200);
        expect(await status.json()).toMatchObject({ linked: shipcastId });
      }

      expect(await h.store.getDeployment(ordinaryId('Codertocat/Hello-World', githubId))).toBeUndefined();
      const after = await h.store.getDeployment(shipcastId);
      expect(after?.status).toBe('in_progress');
      expect(after?.transitions).toEqual(before?.transitions);
      expect(after?.details).toMatchObject({
        githubDeploymentId: String(githubId),
        githubRepository: 'Codertocat/Hello-World',
      });
      const linked = (await h.store.listEvents(shipcastId)).filter((e) => e.source === 'github');
      expect(linked).toHaveLength(3);
      expect(
        linked.every(
          (e) => e.status === null && e.disposition === 'no-status' && e.note?.startsWith('linked'),
        ),
      ).toBe(true);
      expect(await h.dispatchMessages()).toEqual([]);
    });

    it('links a GitHub deployment announced while Shipcast is still posting its first status', async () => {
      // The status call hangs until its timeout: GitHub's webhook arrives while the send is not over.
      github.intercept('POST /repos/Codertocat/Hello-World/deployments/*/statuses', { hang: true });
      const created = await api.request('/v1/events', {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          service: 'linked-hello',
          environment: 'production',
          status: 'in_progress',
          version: 'in-flight',
          repository: 'Codertocat/Hello-World',
          commit: COMMIT,
        }),
      });
      const { deploymentId: shipcastId } = (await created.json()) as { deploymentId: string };
      const draining = h.drainDispatch();
      while (github.deploymentsOf(shipcastId).length === 0) await new Promise((r) => setTimeout(r, 20));
      const [made] = github.deploymentsOf(shipcastId);

      const answer = await deliver(
        'deployment',
        uniqueDeployment('deployment/created.json', made?.id as number, (p) => {
          p.deployment.payload = made?.payload;
        }),
      );

      expect(await answer.json()).toMatchObject({ linked: shipcastId });
      await draining;
      expect(await h.store.getDelivery(shipcastId, 'github')).toMatchObject({
        state: 'retrying',
        refs: { githubDeploymentId: String(made?.id) },
      });
      await h.discardHeld(shipcastId);
    });

    it.each<[string, (genuine: { shipcastId: string; githubId: number }) => [string, number, string]]>([
      [
        'a Shipcast id that does not exist',
        () => ['Codertocat/Hello-World', 7_100_001, `dep_${'0a'.repeat(12)}`],
      ],
      [
        "a real Shipcast id, but another GitHub deployment's id",
        ({ shipcastId }) => ['Codertocat/Hello-World', 7_100_002, shipcastId],
      ],
      [
        'a real Shipcast id and GitHub id, but another repository',
        ({ shipcastId, githubId }) => ['Mallory/Hello-World', githubId, shipcastId],
      ],
    ])('records a forged marker (%s) as the ordinary deployment it is', async (_name, forge) => {
      const genuine = await shipcastDeployment(`forged-${_name.length}`);
      const before = await h.store.getDeployment(genuine.shipcastId);
      const [repository, githubId, claimed] = forge(genuine);

      const answer = await deliver(
        'deployment',
        uniqueDeployment('deployment/created.json', githubId, (p) => {
          p.deployment.payload = marker(claimed);
          p.repository.full_name = repository;
          p.repository.owner.login = repository.split('/')[0];
        }),
      );

      expect(answer.status).toBe(202);
      const id = ordinaryId(repository, githubId);
      expect(await answer.json()).toMatchObject({ deploymentId: id, status: 'queued' });
      expect(await h.store.getDeployment(id)).toMatchObject({ source: 'github', status: 'queued' });
      expect(await h.store.getDeployment(genuine.shipcastId)).toEqual(before);
      expect(h.logs.lines.join('\n')).toContain("carries Shipcast's marker, but no delivery");
      await h.drainDispatch();
    });
  });

  describe('not configured', () => {
    it('answers 404 when sources.github is not configured', async () => {
      const bare = await createHarness({
        config: { api: { tokens: [{ name: 'ci', secret: 'api-token' }] }, targets: {}, routes: [] },
      });
      try {
        const response = await createApi(bare.runtime.api).request('/v1/hooks/github', {
          method: 'POST',
          headers: { 'x-github-event': 'ping', 'x-hub-signature-256': sign('{}') },
          body: '{}',
        });
        expect(response.status).toBe(404);
        expect(await response.json()).toMatchObject({ error: 'not_found' });
      } finally {
        await bare.stop();
      }
    });
  });
});
