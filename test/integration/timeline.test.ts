import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createApi } from '../../functions/core/api/app.ts';
import { deploymentIdFor } from '../../functions/core/ids.ts';
import { ingestEvents } from '../../functions/core/ingest.ts';
import type { CiEvent, DeploymentEvent } from '../../functions/core/schema.ts';
import { normalizeRepository, TIMELINE_EVENTS } from '../../functions/core/timeline.ts';
import { nativeEvent } from '../support/events.ts';
import { createHarness, type Harness } from '../support/harness.ts';

const TOKEN = 'timeline-token-51f0a9';

type Json = Record<string, unknown>;
type TimelineAnswer = {
  repository: string;
  commit: string;
  events: { eventId: string; type: string; parentEventId?: string; eventTime: string }[];
  eventsTotal: number;
  eventsTotalExact: boolean;
  cursor: string | null;
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
      eventsTotal: 1,
      eventsTotalExact: true,
      cursor: null,
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

  describe('a commit with many CI events', () => {
    const EVENTS = 320;
    const PUSHES = 40;
    let commit: string;
    let deploymentId: string;
    let pushAt: string;
    const ids: string[] = [];

    /** A CI event as the Pipelines API records it, `seconds` after the first. */
    const ciEvent = (eventId: string, seconds: number, extra: Partial<CiEvent>): CiEvent => {
      const at = new Date(Date.parse(pushAt) + seconds * 1000).toISOString();
      return {
        eventId,
        source: 'pipelines',
        type: 'BUILD',
        username: 'acme',
        app: 'checkout',
        eventTime: at,
        updatedAt: at,
        repository: 'acme/checkout',
        commit,
        status: 'succeeded',
        final: true,
        fields: { build_status: 'Success', build_name: `build ${eventId}`, commit_id: commit },
        rev: 1,
        ...extra,
      };
    };

    beforeAll(async () => {
      commit = newCommit();
      pushAt = h.clock.now().toISOString();
      // The commit's first push, then builds; each build's parent is a push of another commit (PUSHES of them).
      const first = `pev_first_${n}`;
      await h.store.saveCiEvent(
        ciEvent(first, 0, { type: 'PUSH', status: undefined, final: undefined }),
        null,
      );
      ids.push(first);
      const parents: string[] = [];
      for (let p = 0; p < PUSHES; p++) {
        const parent = `pev_parent_${n}_${p}`;
        parents.push(parent);
        await h.store.saveCiEvent(
          ciEvent(parent, 1, { type: 'PUSH', commit: newCommit(), status: undefined, final: undefined }),
          null,
        );
      }
      for (let i = 1; i < EVENTS; i++) {
        const id = `pev_many_${n}_${String(i).padStart(4, '0')}`;
        ids.push(id);
        await h.store.saveCiEvent(ciEvent(id, 10 + i, { parentEventId: parents[i % PUSHES] }), null);
      }
      const deployment = nativeEvent(`timeline-many-${n}`, 'succeeded', {
        revision: { repository: 'acme/checkout', commit },
      });
      await ingestEvents([deployment], h.runtime.api);
      deploymentId = deployment.deploymentId;
    });

    const ciPage = async (query: string) => {
      const response = await api.request(`/v1/deployments/${deploymentId}/ci-events${query}`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      expect(response.status).toBe(200);
      return (await response.json()) as { events: { eventId: string }[]; cursor: string | null };
    };

    it('answers the newest events of the commit with their parents, the total count and a cursor, in a bounded answer', async () => {
      const getOne = vi.spyOn(h.store, 'getCiEvent');
      const getMany = vi.spyOn(h.store, 'getCiEvents');

      const response = await api.request(`/v1/deployments/${deploymentId}`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });

      expect(response.status).toBe(200);
      const text = await response.text();
      const { timeline } = JSON.parse(text) as { timeline: TimelineAnswer };
      expect(timeline.eventsTotal).toBe(EVENTS);
      expect(timeline.eventsTotalExact).toBe(true);
      expect(timeline.cursor).toEqual(expect.any(String));
      const ofCommit = timeline.events.filter((e) => !e.eventId.startsWith('pev_parent_'));
      expect(ofCommit.map((e) => e.eventId)).toEqual(ids.slice(-TIMELINE_EVENTS));
      // Every parent of the events shown, read in one batch (not one read per parent).
      const parents = new Set(ofCommit.map((e) => e.parentEventId));
      expect(timeline.events.filter((e) => e.eventId.startsWith('pev_parent_'))).toHaveLength(parents.size);
      expect(getOne).not.toHaveBeenCalled();
      expect(getMany).toHaveBeenCalledTimes(1);
      // The first push is found among the commit's oldest events, which the answer does not list.
      expect(timeline.firstPushAt).toBe(pushAt);
      // 50 events and 40 parents of about 400 bytes each: the answer stays far below the 6 MB limit.
      expect(Buffer.byteLength(text)).toBeLessThan(64 * 1024);
      getOne.mockRestore();
      getMany.mockRestore();
    });

    it('stops counting at the bound it is given', async () => {
      expect(await h.store.countCiEventsForCommit('acme/checkout', commit, 100)).toBe(100);
      expect(await h.store.countCiEventsForCommit('acme/checkout', commit, EVENTS + 1)).toBe(EVENTS);
    });

    it('pages through every event of the commit from the timeline cursor on, with no gap and no duplicate', async () => {
      const { timeline } = (await (
        await api.request(`/v1/deployments/${deploymentId}`, {
          headers: { authorization: `Bearer ${TOKEN}` },
        })
      ).json()) as { timeline: TimelineAnswer };
      const seen = timeline.events.filter((e) => !e.eventId.startsWith('pev_parent_')).map((e) => e.eventId);
      let cursor = timeline.cursor;
      let pages = 0;
      while (cursor) {
        const page = await ciPage(`?limit=70&cursor=${encodeURIComponent(cursor)}`);
        expect(page.events.length).toBeLessThanOrEqual(70);
        seen.push(...page.events.map((e) => e.eventId));
        cursor = page.cursor;
        pages++;
      }

      expect(pages).toBe(Math.ceil((EVENTS - TIMELINE_EVENTS) / 70));
      expect(new Set(seen).size).toBe(seen.length);
      expect([...seen].sort()).toEqual([...ids].sort());
    });

    it('pages from the newest event without a cursor, and refuses a cursor of another listing', async () => {
      const first = await ciPage('?limit=100');
      expect(first.events.map((e) => e.eventId)).toEqual(ids.slice(-100).reverse());

      const other = nativeEvent(`timeline-other-${++n}`, 'succeeded', {
        revision: { repository: 'acme/checkout', commit: newCommit() },
      });
      await ingestEvents([other], h.runtime.api);
      const foreign = await api.request(
        `/v1/deployments/${other.deploymentId}/ci-events?cursor=${encodeURIComponent(first.cursor as string)}`,
        { headers: { authorization: `Bearer ${TOKEN}` } },
      );
      expect(foreign.status).toBe(400);
      expect(await foreign.json()).toMatchObject({ issues: [{ path: 'cursor' }] });
      const full = await ciPage('?limit=100');
      expect(full.events).toHaveLength(100);
      const over = await api.request(`/v1/deployments/${deploymentId}/ci-events?limit=101`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      expect(over.status).toBe(400);
    });
  });
});
