import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApi } from '../../functions/core/api/app.ts';
import { deploymentIdFor } from '../../functions/core/ids.ts';
import { ingestEvents } from '../../functions/core/ingest.ts';
import type { DeploymentEvent } from '../../functions/core/schema.ts';
import { normalizeRepository } from '../../functions/core/timeline.ts';
import { nativeEvent } from '../support/events.ts';
import { createHarness, type Harness } from '../support/harness.ts';

const TOKEN = 'timeline-token-51f0a9';

type Json = Record<string, unknown>;
type TimelineAnswer = {
  repository: string;
  commit: string;
  events: { eventId: string; type: string; parentEventId?: string; eventTime: string }[];
  firstPushAt: string | null;
  leadTimeSeconds: number | null;
};

const fixture = (name: string): Json =>
  JSON.parse(readFileSync(new URL(`../fixtures/pipelines/${name}`, import.meta.url), 'utf8')) as Json;
const PUSH = fixture('push-event.json');
const PULL_REQUEST = fixture('pull-request-event.json');
const BUILD = fixture('build-event.json');

describe('normalizeRepository', () => {
  it.each([
    ['acme/checkout', 'acme/checkout'],
    ['Acme/Checkout', 'acme/checkout'],
    ['https://github.com/Acme/Checkout', 'acme/checkout'],
    ['https://github.com/acme/checkout.git', 'acme/checkout'],
    ['https://github.com/acme/checkout/', 'acme/checkout'],
    ['https://github.com/acme/checkout/tree/main', 'acme/checkout'],
    ['https://github.com/acme/checkout/commit/9fceb02', 'acme/checkout'],
    ['http://github.com/acme/checkout', 'acme/checkout'],
    ['git@github.com:acme/checkout.git', 'acme/checkout'],
    ['ssh://git@github.com/acme/checkout.git', 'acme/checkout'],
    ['https://gitlab.com/acme/checkout', 'acme/checkout'],
    ['https://gitlab.com/Acme/Platform/Checkout.git', 'acme/platform/checkout'],
    ['https://gitlab.com/acme/platform/checkout/-/merge_requests/7', 'acme/platform/checkout'],
    ['git@gitlab.com:acme/platform/checkout.git', 'acme/platform/checkout'],
    ['https://bitbucket.org/acme/checkout', 'acme/checkout'],
    ['https://mona@bitbucket.org/acme/checkout.git', 'acme/checkout'],
    ['https://bitbucket.org/acme/checkout/commits/9fceb02', 'acme/checkout'],
    ['https://git.example.org/scm/acme/checkout.git', 'acme/checkout'],
    ['https://ghe.example.org/Acme/Checkout.git', 'acme/checkout'],
  ])('normalizes %s to %s', (input, expected) => {
    expect(normalizeRepository(input)).toBe(expected);
  });

  it.each([[''], ['   '], ['checkout'], ['https://github.com/acme'], ['not a url://x'], [undefined], [null]])(
    'names no repository for %j',
    (input) => {
      expect(normalizeRepository(input)).toBeUndefined();
    },
  );
});

describe('one timeline behind a deployment', () => {
  let h: Harness;
  let api: ReturnType<typeof createApi>;
  let n = 0;

  beforeAll(async () => {
    h = await createHarness({
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: { console: { type: 'log' } },
        routes: [{ targets: ['console'] }],
      },
      env: { SHIPCAST_SECRET_API_TOKEN: TOKEN },
    });
    api = createApi(h.runtime.api);
  });
  afterAll(async () => {
    await h?.stop();
  });
  beforeEach(() => {
    h.clock.advance(1000);
  });

  /** A commit no other test uses (40 hex characters). */
  const newCommit = () => `${process.pid.toString(16)}${(++n).toString(16)}`.padStart(40, 'c');

  const record = async (kind: string, body: Json): Promise<string> => {
    const response = await api.request(`/acme/apps/checkout/events/${kind}?apiToken=${TOKEN}`, {
      method: 'PUT',
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(200);
    return ((await response.json()) as { event_id: string }).event_id;
  };
  const deploymentAnswer = async (id: string) => {
    const response = await api.request(`/v1/deployments/${id}`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(response.status).toBe(200);
    return (await response.json()) as { deployment: Json; timeline?: TimelineAnswer };
  };

  it('links push, pull request and build of a commit (and the build to its push) to the deployment, with lead time', async () => {
    const commit = newCommit();
    const pushAt = h.clock.now().toISOString();
    const push = await record('pushEvent', { ...PUSH, commit_id: commit });
    h.clock.advance(60_000);
    const pr = await record('pullRequestEvent', { ...PULL_REQUEST, commit_id: commit });
    h.clock.advance(60_000);
    const build = await record('buildEvent', { ...BUILD, commit_id: commit, parent_event_id: push });
    await api.request(`/acme/apps/checkout/events/${build}?apiToken=${TOKEN}`, {
      method: 'POST',
      body: JSON.stringify({ build_status: 'Success', build_end: '2024-03-01T10:05:00Z' }),
    });
    // Another commit's push must stay out of this timeline.
    await record('pushEvent', { ...PUSH, commit_id: newCommit() });

    h.clock.advance(60_000);
    const started = nativeEvent(`timeline-${n}`, 'in_progress', {
      revision: { repository: 'https://github.com/Acme/Checkout.git', commit, ref: 'main' },
    });
    await ingestEvents([started], h.runtime.api);
    const running = await deploymentAnswer(started.deploymentId);
    expect(running.timeline).toMatchObject({
      repository: 'acme/checkout',
      commit,
      firstPushAt: pushAt,
      // No finish yet: measured to when Shipcast first heard of the deployment.
      leadTimeSeconds: 180,
    });

    const finishedAt = new Date(Date.parse(pushAt) + 600_000).toISOString();
    await ingestEvents(
      [nativeEvent(`timeline-${n}`, 'succeeded', { occurredAt: finishedAt, finishedAt })],
      h.runtime.api,
    );
    const { timeline } = await deploymentAnswer(started.deploymentId);
    expect(timeline?.events.map((e) => [e.type, e.eventId])).toEqual([
      ['PUSH', push],
      ['PULLREQUEST', pr],
      ['BUILD', build],
    ]);
    expect(timeline?.events[2]).toMatchObject({ parentEventId: push, status: 'succeeded', final: true });
    expect(timeline?.events[0]).not.toHaveProperty('rev');
    expect(timeline?.firstPushAt).toBe(pushAt);
    expect(timeline?.leadTimeSeconds).toBe(600);
    // The finished deployment keeps its commit's push time: DORA's change lead time reads it.
    expect((await h.store.getDeployment(started.deploymentId))?.commits).toEqual([
      { sha: commit, time: pushAt },
    ]);
  });

  it('follows parent_event_id to a parent recorded for another commit', async () => {
    const head = newCommit();
    const merge = newCommit();
    const pushAt = h.clock.now().toISOString();
    const push = await record('pushEvent', { ...PUSH, commit_id: head });
    h.clock.advance(30_000);
    const build = await record('buildEvent', { ...BUILD, commit_id: merge, parent_event_id: push });
    h.clock.advance(30_000);
    const deployment = nativeEvent(`timeline-${n}`, 'succeeded', {
      revision: { repository: 'acme/checkout', commit: merge },
    });
    await ingestEvents([deployment], h.runtime.api);
    const { timeline } = await deploymentAnswer(deployment.deploymentId);
    expect(timeline?.events.map((e) => e.eventId)).toEqual([push, build]);
    expect(timeline?.firstPushAt).toBe(pushAt);
    expect(timeline?.leadTimeSeconds).toBe(60);
  });

  it('joins a CodeDeploy deployment whose enrichment names the GitHub commit', async () => {
    const commit = newCommit();
    const pushAt = h.clock.now().toISOString();
    const push = await record('pushEvent', { ...PUSH, commit_id: commit });
    h.clock.advance(1000);
    const build = await record('buildEvent', { ...BUILD, commit_id: commit, parent_event_id: push });
    h.clock.advance(120_000);
    const now = h.clock.now().toISOString();
    const sourceDeploymentId = `d-TIMELINE${n}`;
    const codedeploy: DeploymentEvent = {
      eventId: `evt_codedeploy_timeline_${n}`,
      source: 'codedeploy',
      sourceDeploymentId,
      deploymentId: deploymentIdFor('codedeploy', sourceDeploymentId),
      kind: 'deployment',
      status: 'succeeded',
      sourceStatus: 'SUCCEEDED',
      occurredAt: now,
      receivedAt: now,
      service: 'checkout',
      environment: 'production',
      finishedAt: now,
      // What enrichment from BatchGetDeployments adds for a GitHub revision.
      revision: { repository: 'Acme/Checkout', commit },
      enrichment: { state: 'done', at: now, attempts: 1 },
      details: { application: 'checkout', deploymentGroup: 'production' },
    };
    await ingestEvents([codedeploy], h.runtime.api);
    const { timeline } = await deploymentAnswer(codedeploy.deploymentId);
    expect(timeline?.events.map((e) => e.eventId)).toEqual([push, build]);
    expect(timeline?.firstPushAt).toBe(pushAt);
    expect(timeline?.leadTimeSeconds).toBe(121);
  });

  it('links CI events that name their repository only by URL', async () => {
    const commit = newCommit();
    const push = await record('pushEvent', {
      repo_url: 'https://gitlab.com/Acme/Platform/Checkout.git',
      commit_id: commit,
    });
    const deployment = nativeEvent(`timeline-${n}`, 'succeeded', {
      revision: { repository: 'git@gitlab.com:acme/platform/checkout.git', commit },
    });
    await ingestEvents([deployment], h.runtime.api);
    const { timeline } = await deploymentAnswer(deployment.deploymentId);
    expect(timeline?.repository).toBe('acme/platform/checkout');
    expect(timeline?.events.map((e) => e.eventId)).toEqual([push]);
  });

  it('has no first push and no lead time when only a build of the commit is known', async () => {
    const commit = newCommit();
    const build = await record('buildEvent', { ...BUILD, commit_id: commit, parent_event_id: 'unknown' });
    const deployment = nativeEvent(`timeline-${n}`, 'succeeded', {
      revision: { repository: 'acme/checkout', commit },
    });
    await ingestEvents([deployment], h.runtime.api);
    const { timeline } = await deploymentAnswer(deployment.deploymentId);
    expect(timeline).toEqual({
      repository: 'acme/checkout',
      commit,
      events: [expect.objectContaining({ eventId: build })],
      firstPushAt: null,
      leadTimeSeconds: null,
    });
  });

  it('adds an empty timeline for a commit nothing was recorded for, and none without repository and commit', async () => {
    const withCommit = nativeEvent(`timeline-${++n}`, 'succeeded', {
      revision: { repository: 'acme/checkout', commit: newCommit() },
    });
    const withoutRepository = nativeEvent(`timeline-${++n}`, 'succeeded', {
      revision: { commit: newCommit() },
    });
    const withoutRevision = nativeEvent(`timeline-${++n}`, 'succeeded');
    await ingestEvents([withCommit, withoutRepository, withoutRevision], h.runtime.api);
    expect((await deploymentAnswer(withCommit.deploymentId)).timeline).toMatchObject({
      events: [],
      firstPushAt: null,
      leadTimeSeconds: null,
    });
    expect(await deploymentAnswer(withoutRepository.deploymentId)).not.toHaveProperty('timeline');
    expect(await deploymentAnswer(withoutRevision.deploymentId)).not.toHaveProperty('timeline');
  });
});
