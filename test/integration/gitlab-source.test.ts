import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../functions/core/api/app.ts';
import { deploymentIdFor } from '../../functions/core/ids.ts';
import { MAX_WEBHOOK_BODY_BYTES } from '../../functions/core/sources/webhook-signature.ts';
import { createHarness, type Harness } from '../support/harness.ts';

const TOKEN = 'gl-webhook-token-0123456789';
const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'gitlab');

// biome-ignore lint/suspicious/noExplicitAny: fixture payloads are walked and edited freely
type Json = Record<string, any>;

/** A fixture from test/fixtures/gitlab (GitLab's documented example payloads). */
const fixture = (path: string): Json => JSON.parse(readFileSync(join(FIXTURES, path), 'utf8'));

describe('GitLab webhooks (POST /v1/hooks/gitlab)', () => {
  let h: Harness;
  let api: ReturnType<typeof createApi>;
  /** Distinct deployment and pipeline ids for the tests that need a fresh one. */
  let uniqueIds = 0;

  beforeAll(async () => {
    h = await createHarness({
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        sources: { gitlab: { token: 'gitlab-webhook' } },
        targets: { console: { type: 'log' } },
        routes: [{ targets: ['console'] }],
      },
    });
    writeFileSync(join(h.secretsDir, 'gitlab-webhook'), TOKEN);
    api = createApi(h.runtime.api);
  });
  afterAll(async () => {
    await h?.stop();
  });

  const deliver = (payload: Json | string, headers: Record<string, string> = {}) =>
    api.request('/v1/hooks/gitlab', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-gitlab-token': TOKEN,
        'x-gitlab-event': 'Deployment Hook',
        'idempotency-key': randomUUID(),
        ...headers,
      },
      body: typeof payload === 'string' ? payload : JSON.stringify(payload),
    });

  const deploymentWith = (id: number, status: string): Json => ({
    ...fixture('deployment/success.json'),
    deployment_id: id,
    status,
  });

  describe('token', () => {
    it.each([
      ['a wrong token', { 'x-gitlab-token': 'not-the-token' }],
      ['the token with a character more', { 'x-gitlab-token': `${TOKEN}x` }],
      ['an empty token', { 'x-gitlab-token': '' }],
    ])('answers 401 and stores nothing for %s', async (_what, headers) => {
      const response = await deliver(deploymentWith(9_001, 'running'), headers);
      expect(response.status).toBe(401);
      expect(await response.json()).toMatchObject({ error: 'unauthorized' });
      expect(
        await h.store.getDeployment(deploymentIdFor('gitlab', 'root/test-deployment-webhooks#9001')),
      ).toBeUndefined();
    });

    it('answers 401 without the X-Gitlab-Token header', async () => {
      const response = await api.request('/v1/hooks/gitlab', {
        method: 'POST',
        body: JSON.stringify(deploymentWith(9_001, 'running')),
      });
      expect(response.status).toBe(401);
    });

    it('answers 413 for a body over the limit', async () => {
      const response = await deliver('x'.repeat(MAX_WEBHOOK_BODY_BYTES + 1));
      expect(response.status).toBe(413);
    });

    it('answers 400 for invalid JSON with the right token', async () => {
      const response = await deliver('{"object_kind":');
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: 'invalid_request' });
    });
  });

  describe('deployment hook', () => {
    it('records the documented example as a succeeded deployment', async () => {
      const response = await deliver(fixture('deployment/success.json'));
      expect(response.status).toBe(202);
      const sourceDeploymentId = 'root/test-deployment-webhooks#15';
      const deploymentId = deploymentIdFor('gitlab', sourceDeploymentId);
      expect(await response.json()).toEqual({
        eventId: expect.stringMatching(/^evt_/),
        deploymentId,
        status: 'succeeded',
      });
      expect(await h.store.getDeployment(deploymentId)).toMatchObject({
        source: 'gitlab',
        sourceDeploymentId,
        service: 'test-deployment-webhooks',
        environment: 'staging',
        status: 'succeeded',
        sourceStatus: 'success',
        actor: 'root',
        url: 'http://10.126.0.2:3000/root/test-deployment-webhooks/-/jobs/796',
        description: 'Add new file',
        revision: {
          repository: 'root/test-deployment-webhooks',
          commit: '279484c09fbe69ededfced8c1bb6e6d24616b468',
        },
        details: {
          gitlabDeploymentId: '15',
          environmentTier: 'staging',
          environmentUrl: 'https://staging.example.com',
          actorEmail: 'admin@example.com',
        },
      });
      const [event] = await h.store.listEvents(deploymentId);
      expect(event?.occurredAt).toBe('2021-04-28T19:50:00.000Z');
    });

    it.each([
      ['created', 'queued'],
      ['running', 'in_progress'],
      ['success', 'succeeded'],
      ['failed', 'failed'],
      ['canceled', 'stopped'],
    ])('maps status %s to %s (documented example with the status changed)', async (status, expected) => {
      const id = 9_100 + ++uniqueIds;
      const response = await deliver(deploymentWith(id, status));
      expect(await response.json()).toMatchObject({ status: expected });
      expect(
        await h.store.getDeployment(deploymentIdFor('gitlab', `root/test-deployment-webhooks#${id}`)),
      ).toMatchObject({
        status: expected,
        sourceStatus: status,
      });
    });

    it('answers a retry with the same Idempotency-Key with the same answer, changing nothing', async () => {
      const key = randomUUID();
      const payload = deploymentWith(9_002, 'running');
      const first = await deliver(payload, { 'idempotency-key': key });
      const firstBody = await first.json();
      const deploymentId = deploymentIdFor('gitlab', 'root/test-deployment-webhooks#9002');
      const before = await h.store.getDeployment(deploymentId);
      const again = await deliver(payload, { 'idempotency-key': key });
      expect(again.status).toBe(202);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(await again.json()).toEqual(firstBody);
      expect(await h.store.getDeployment(deploymentId)).toEqual(before);
    });

    it('dedupes on X-Gitlab-Event-UUID when there is no Idempotency-Key', async () => {
      const uuid = randomUUID();
      const payload = deploymentWith(9_003, 'running');
      const headers = { 'idempotency-key': '', 'x-gitlab-event-uuid': uuid };
      await deliver(payload, headers);
      const again = await deliver(payload, headers);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(
        await h.store.listEvents(deploymentIdFor('gitlab', 'root/test-deployment-webhooks#9003')),
      ).toHaveLength(1);
    });

    it('enqueues one dispatch message per transition', async () => {
      await h.drainDispatch();
      await deliver(deploymentWith(9_004, 'running'));
      const messages = await h.dispatchMessages();
      expect(messages).toEqual([
        {
          v: 1,
          deploymentId: deploymentIdFor('gitlab', 'root/test-deployment-webhooks#9004'),
          seq: 1,
          target: 'console',
        },
      ]);
    });
  });

  describe('pipeline hook', () => {
    const pipelineWith = (id: number, status: string): Json => {
      const payload = fixture('pipeline/success.json');
      payload.object_attributes.id = id;
      payload.object_attributes.status = status;
      return payload;
    };

    it('records the documented example as a final BUILD CI event', async () => {
      const response = await deliver(fixture('pipeline/success.json'), { 'x-gitlab-event': 'Pipeline Hook' });
      expect(response.status).toBe(202);
      const answer = (await response.json()) as Json;
      expect(answer).toMatchObject({ type: 'BUILD', status: 'succeeded', final: true, write: 'created' });
      expect(await h.store.getCiEvent(answer.eventId)).toMatchObject({
        source: 'gitlab',
        username: 'gitlab-org',
        app: 'gitlab-test',
        repository: 'gitlab-org/gitlab-test',
        commit: 'bcbb5ec396a2c0f828686f14fac9b80b780504f2',
        branch: 'master',
        status: 'succeeded',
        sourceStatus: 'success',
        final: true,
        eventTime: '2016-08-12T15:23:28.000Z',
        fields: {
          pipelineId: '31',
          url: 'http://example.com/gitlab-org/gitlab-test/-/pipelines/31',
          trigger: 'merge_request_event',
        },
      });
    });

    it.each([
      ['created', 'queued'],
      ['waiting_for_resource', 'waiting'],
      ['preparing', 'queued'],
      ['pending', 'queued'],
      ['running', 'running'],
      ['success', 'succeeded'],
      ['failed', 'failed'],
      ['canceled', 'cancelled'],
      ['skipped', 'cancelled'],
      ['manual', 'waiting'],
    ])(
      'maps pipeline status %s to %s (documented example with the status changed)',
      async (status, expected) => {
        const answer = (await (await deliver(pipelineWith(50_000 + ++uniqueIds, status))).json()) as Json;
        expect(answer).toMatchObject({ status: expected });
      },
    );

    it('updates one CI event per pipeline through its statuses and never after it is final', async () => {
      const id = 77_001;
      const steps: [string, string, string][] = [
        ['pending', 'queued', 'created'],
        ['running', 'running', 'updated'],
        ['pending', 'running', 'unchanged'],
        ['failed', 'failed', 'updated'],
        ['running', 'failed', 'unchanged'],
      ];
      let eventId: string | undefined;
      for (const [status, expected, write] of steps) {
        const answer = (await (await deliver(pipelineWith(id, status))).json()) as Json;
        expect(answer, status).toMatchObject({ status: expected, write });
        eventId ??= answer.eventId;
        expect(answer.eventId).toBe(eventId);
      }
      expect(await h.store.getCiEvent(eventId as string)).toMatchObject({
        status: 'failed',
        final: true,
        rev: 3,
      });
    });

    it('ignores other object kinds without storing', async () => {
      const response = await deliver({
        object_kind: 'push',
        project: fixture('pipeline/success.json').project,
      });
      expect(response.status).toBe(202);
      expect(await response.json()).toEqual({ ignored: 'push' });
    });
  });

  it('answers 404 when sources.gitlab is not configured', async () => {
    const bare = await createHarness({
      config: { api: { tokens: [{ name: 'ci', secret: 'api-token' }] }, targets: {}, routes: [] },
    });
    try {
      const response = await createApi(bare.runtime.api).request('/v1/hooks/gitlab', {
        method: 'POST',
        headers: { 'x-gitlab-token': TOKEN },
        body: '{}',
      });
      expect(response.status).toBe(404);
    } finally {
      await bare.stop();
    }
  });
});
