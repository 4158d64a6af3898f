import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../functions/core/api/app.ts';
import { computeDora, type DoraDeployment, type DoraIncident } from '../../functions/core/dora.ts';
import { DoraWindowTooLargeError, doraFromStore } from '../../functions/core/dora-query.ts';
import type { Incident } from '../../functions/core/incidents.ts';
import type { Deployment } from '../../functions/core/schema.ts';
import { createHarness, type Harness } from '../support/harness.ts';

const TOKENS = {
  admin: 'dora-admin-0a1b2c3d',
  reader: 'dora-reader-4e5f6a7b',
  writer: 'dora-writer-8c9d0e1f',
};

type Json = Record<string, unknown>;

/** The parts of the answer computeDora makes. */
const FIGURES = [
  'from',
  'to',
  'interval',
  'deploymentFrequency',
  'changeLeadTime',
  'changeFailRate',
  'recoveryTime',
  'reworkRate',
  'series',
  'classified',
] as const;
const figuresOf = (value: Json) => Object.fromEntries(FIGURES.map((k) => [k, value[k]]));

describe('GET /v1/metrics/dora', () => {
  let h: Harness;
  let api: ReturnType<typeof createApi>;

  beforeAll(async () => {
    h = await createHarness({
      config: {
        api: {
          tokens: [
            { name: 'admin', secret: 'admin' },
            { name: 'reader', secret: 'reader', scopes: ['read'] },
            { name: 'writer', secret: 'writer', scopes: ['events:write', 'deployments:read'] },
          ],
        },
        targets: { console: { type: 'log' } },
        routes: [{ targets: ['console'] }],
      },
      env: {
        SHIPCAST_SECRET_ADMIN: TOKENS.admin,
        SHIPCAST_SECRET_READER: TOKENS.reader,
        SHIPCAST_SECRET_WRITER: TOKENS.writer,
      },
    });
    api = createApi(h.runtime.api);
  });
  afterAll(async () => {
    await h?.stop();
  });

  const bearer = (who: keyof typeof TOKENS = 'admin') => ({ authorization: `Bearer ${TOKENS[who]}` });
  const at = (iso: string) => h.clock.advance(Date.parse(iso) - h.clock.now().getTime());
  const send = (path: string, body: unknown) =>
    api.request(path, {
      method: 'POST',
      headers: { ...bearer(), 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const metrics = async (query: string, who: keyof typeof TOKENS = 'admin') => {
    const response = await api.request(`/v1/metrics/dora?${query}`, { headers: bearer(who) });
    return { status: response.status, body: (await response.json()) as Json };
  };

  /** What was sent, as computeDora takes it: the expected side of every comparison. */
  const sent: DoraDeployment[] = [];
  const sentIncidents: DoraIncident[] = [];

  /** Records a finished deployment through POST /v1/events (created when it finished). */
  const deploy = async (d: {
    service: string;
    version: string;
    status: 'succeeded' | 'failed';
    finishedAt: string;
    environment?: string;
    commits?: { sha: string; time: string }[];
    commit?: string;
    commitTime?: string;
  }) => {
    at(d.finishedAt);
    const environment = d.environment ?? 'production';
    const response = await send('/v1/events', {
      // Its own id: the same version deployed again is another deployment (a native identity is the version).
      deploymentId: `${d.version}@${d.finishedAt}`,
      service: d.service,
      environment,
      version: d.version,
      status: d.status,
      timestamp: d.finishedAt,
      ...(d.commits ? { commits: d.commits } : {}),
      ...(d.commit ? { commit: d.commit, commitTime: d.commitTime } : {}),
    });
    expect(response.status).toBe(202);
    const { deploymentId } = (await response.json()) as { deploymentId: string };
    const commits = [
      ...(d.commits ?? []),
      ...(d.commit && d.commitTime ? [{ sha: d.commit, time: d.commitTime }] : []),
    ];
    sent.push({
      id: deploymentId,
      service: d.service,
      environment,
      status: d.status,
      version: d.version,
      ...(d.commit ? { commit: d.commit } : {}),
      createdAt: d.finishedAt,
      finishedAt: d.finishedAt,
      ...(commits.length > 0 ? { commits } : {}),
    });
    return deploymentId;
  };

  /** A small history of `service` in production, March 2026: successes, a failure, a redeploy of v1, commits. */
  const record = async (service: string) => {
    await deploy({
      service,
      version: 'v1',
      status: 'succeeded',
      finishedAt: '2026-02-20T10:00:00.000Z',
      commit: 'c0',
      commitTime: '2026-02-19T10:00:00.000Z',
    });
    await deploy({
      service,
      version: 'v2',
      status: 'succeeded',
      finishedAt: '2026-03-02T10:00:00.000Z',
      commits: [
        { sha: 'c1', time: '2026-03-01T10:00:00.000Z' },
        { sha: 'c2', time: '2026-03-02T08:00:00.000Z' },
      ],
    });
    await deploy({
      service,
      version: 'v3',
      status: 'failed',
      finishedAt: '2026-03-03T12:00:00.000Z',
      commit: 'c3',
      commitTime: '2026-03-03T11:00:00.000Z',
    });
    await deploy({
      service,
      version: 'v4',
      status: 'succeeded',
      finishedAt: '2026-03-05T10:00:00.000Z',
      commit: 'c4',
      commitTime: '2026-03-05T09:00:00.000Z',
    });
    await deploy({ service, version: 'v2', status: 'succeeded', finishedAt: '2026-03-05T11:30:00.000Z' });
    await deploy({
      service,
      version: 'v5',
      status: 'succeeded',
      finishedAt: '2026-03-10T10:00:00.000Z',
      commit: 'c5',
      commitTime: '2026-03-10T08:00:00.000Z',
    });
    await deploy({
      service,
      version: 'v6',
      status: 'succeeded',
      finishedAt: '2026-03-11T10:00:00.000Z',
      environment: 'staging',
    });
  };

  const WINDOW = 'from=2026-03-02T00:00:00Z&to=2026-03-16T00:00:00Z';
  const OPTIONS = {
    from: '2026-03-02T00:00:00.000Z',
    to: '2026-03-16T00:00:00.000Z',
    interval: 'week' as const,
  };

  it('answers what computeDora computes from the same deployments and incidents, with the band source', async () => {
    await record('shop');
    at('2026-03-10T12:00:00.000Z');
    const incident = await send('/v1/incidents', {
      id: 'I1',
      service: 'shop',
      environment: 'production',
      status: 'resolved',
      title: 'Errors after v5',
      openedAt: '2026-03-10T12:00:00Z',
      resolvedAt: '2026-03-10T15:00:00Z',
    });
    const { incident: stored } = (await incident.json()) as { incident: Json };
    sentIncidents.push({
      id: stored.id as string,
      service: 'shop',
      environment: 'production',
      openedAt: '2026-03-10T12:00:00.000Z',
      resolvedAt: '2026-03-10T15:00:00.000Z',
      causedByChange: true,
    });

    const { status, body } = await metrics(`service=shop&environment=production&${WINDOW}&interval=week`);

    expect(status).toBe(200);
    const expected = computeDora(
      sent.filter((d) => d.service === 'shop'),
      sentIncidents,
      OPTIONS,
    );
    expect(figuresOf(body)).toEqual(figuresOf(expected as unknown as Json));
    expect(body.deploymentFrequency).toMatchObject({ deployments: 4 });
    expect(body.changeFailRate).toMatchObject({ failed: 3, basedOn: 4 }); // v3 failed, v4 rolled back, v5 incident
    expect(body.changeLeadTime).toMatchObject({ basedOn: 4 }); // c1, c2, c4, c5; c0 is history; c3 failed
    expect(body).toMatchObject({
      services: ['shop'],
      environment: 'production',
      bandSource: expect.stringContaining('DORA'),
      productionEnvironments: ['prod*'],
      // The service's finished deployments of every environment are read: the staging v6 too, then filtered out.
      reads: { deployments: 7, incidents: 1 },
    });
  });

  it('changes the recovery time when the incident linked to the last deployment is resolved', async () => {
    await deploy({
      service: 'search',
      version: 'a',
      status: 'succeeded',
      finishedAt: '2026-03-03T10:00:00.000Z',
    });
    await deploy({
      service: 'search',
      version: 'b',
      status: 'succeeded',
      finishedAt: '2026-03-04T10:00:00.000Z',
    });
    const incident = {
      id: 'R1',
      service: 'search',
      environment: 'production',
      title: 'Search down',
      openedAt: '2026-03-04T11:00:00Z',
    };
    await send('/v1/incidents', { ...incident, status: 'open' });
    const open = await metrics(`service=search&environment=production&${WINDOW}`);

    await send('/v1/incidents', { ...incident, status: 'resolved', resolvedAt: '2026-03-04T12:00:00Z' });
    const resolved = await metrics(`service=search&environment=production&${WINDOW}`);

    expect(open.body.recoveryTime).toMatchObject({ value: null, unrecovered: 1 });
    expect(resolved.body.recoveryTime).toMatchObject({
      value: 7200,
      basedOn: 1,
      unrecovered: 0,
      band: 'high',
    });
    expect(resolved.body.changeFailRate).toMatchObject({ failed: 1, basedOn: 2 });
  });

  it('counts a deployment the native event marks hotfix as rework', async () => {
    for (const [version, hotfix, finishedAt] of [
      ['1', false, '2026-03-03T10:00:00.000Z'],
      ['2', true, '2026-03-04T10:00:00.000Z'],
    ] as const) {
      at(finishedAt);
      await send('/v1/events', {
        service: 'fixes',
        environment: 'production',
        status: 'succeeded',
        version,
        hotfix,
        timestamp: finishedAt,
      });
    }

    const { body } = await metrics(`service=fixes&${WINDOW}`);

    expect(body.reworkRate).toMatchObject({ rework: 1, basedOn: 2, value: 0.5 });
    expect(body.classified).toEqual([expect.objectContaining({ rework: ['a hotfix'], rollback: false })]);
  });

  it('measures a comma-separated set of services together', async () => {
    await record('ads');
    const both = await metrics(`service=shop,ads&${WINDOW}`);
    const shop = await metrics(`service=shop&${WINDOW}`);

    expect(both.status).toBe(200);
    expect((both.body.deploymentFrequency as Json).deployments).toBe(
      2 * ((shop.body.deploymentFrequency as Json).deployments as number),
    );
    expect(both.body.services).toEqual(['shop', 'ads']);
  });

  it('stays correct over 320 deployments in the window and reads them with a few bounded queries, no scan', async () => {
    const records: DoraDeployment[] = [];
    for (let i = 0; i < 340; i++) {
      const finishedAt = new Date(Date.UTC(2026, 4, 1) + i * 3 * 3600_000).toISOString();
      const d: Deployment = {
        id: `dep_bulk${String(i).padStart(20, '0')}`,
        source: 'native',
        sourceDeploymentId: `bulk/${i}`,
        service: 'bulk',
        environment: i % 10 === 9 ? 'staging' : 'production',
        version: `v${i % 7 === 6 ? i - 2 : i}`,
        status: i % 13 === 5 ? 'failed' : 'succeeded',
        sourceStatus: 'done',
        createdAt: finishedAt,
        updatedAt: finishedAt,
        finishedAt,
        commits: [
          { sha: `s${i}`, time: new Date(Date.parse(finishedAt) - ((i % 5) + 1) * 3600_000).toISOString() },
        ],
        transitions: [],
        rev: 1,
      };
      await h.store.saveDeployment(d, null);
      records.push({
        id: d.id,
        service: 'bulk',
        environment: d.environment as string,
        status: d.status,
        version: d.version,
        createdAt: finishedAt,
        finishedAt,
        commits: d.commits,
      });
    }
    const commands: string[] = [];
    h.dynamodb.middlewareStack.add(
      (next, context) => async (args) => {
        commands.push(context.commandName as string);
        return next(args);
      },
      { step: 'initialize', name: 'countDoraReads' },
    );
    // 20 deployments before the window (history), 320 in it.
    const from = new Date(Date.UTC(2026, 4, 1) + 20 * 3 * 3600_000).toISOString();
    const to = '2026-07-01T00:00:00.000Z';

    const { status, body } = await metrics(`service=bulk&from=${from}&to=${to}&interval=month`);
    h.dynamodb.middlewareStack.remove('countDoraReads');

    expect(status).toBe(200);
    expect(figuresOf(body)).toEqual(
      figuresOf(computeDora(records, [], { from, to, interval: 'month' }) as unknown as Json),
    );
    expect((body.changeFailRate as Json).basedOn).toBeGreaterThan(250);
    expect(body.reads).toEqual({ deployments: 340, incidents: 0 });
    // byFinish answers the deployments (no record is read): the history, the incidents, and the window's first
    // 250 entries, then the rest of the window in 16 slices queried in parallel.
    expect(commands).toEqual(Array.from({ length: 3 + 16 }, () => 'QueryCommand'));
  });

  it('reads incidents past their first share again with what the deployments left, refusing only past the cap', async () => {
    for (const n of [1, 2, 3, 4]) {
      await h.store.saveIncident(
        {
          id: `inc_noisy_${n}`,
          source: 'api',
          service: 'noisy',
          environment: 'production',
          title: `alert ${n}`,
          status: 'resolved',
          openedAt: `2026-05-0${n}T10:00:00.000Z`,
          resolvedAt: `2026-05-0${n}T11:00:00.000Z`,
          link: 'none',
          createdAt: `2026-05-0${n}T10:00:00.000Z`,
          updatedAt: `2026-05-0${n}T11:00:00.000Z`,
          rev: 1,
        } as Incident,
        null,
      );
    }
    const ask = (maxReads: number) =>
      doraFromStore(h.store, {
        services: ['noisy'],
        from: '2026-05-01T00:00:00.000Z',
        to: '2026-06-01T00:00:00.000Z',
        interval: 'month',
        productionEnvironments: ['prod*'],
        maxReads,
      });

    // The first pass gives incidents 3 of 130 (a tenth after the history's 100), 1 of 10, 1 of 5: each
    // time they are read again with what the deployments (none) left, until the cap itself is short (4
    // incidents and a look at the window need 5).
    await expect(ask(130)).resolves.toMatchObject({ reads: { deployments: 0, incidents: 4 } });
    await expect(ask(10)).resolves.toMatchObject({ reads: { deployments: 0, incidents: 4 } });
    await expect(ask(5)).resolves.toMatchObject({ reads: { deployments: 0, incidents: 4 } });
    await expect(ask(4)).rejects.toThrow('this window needs more than 4 deployments and incidents read');
  });

  it('refuses a window that would read more than the cap instead of reading on, and answers one within it', async () => {
    const ask = (maxReads: number) =>
      doraFromStore(h.store, {
        services: ['bulk'],
        from: '2026-05-01T00:00:00.000Z',
        to: '2026-07-01T00:00:00.000Z',
        interval: 'week',
        productionEnvironments: ['prod*'],
        maxReads,
      });

    await expect(ask(150)).rejects.toBeInstanceOf(DoraWindowTooLargeError);
    // 340 deployments: past the window's first share (400 less 100 for the history and 30 for incidents),
    // within the cap.
    await expect(ask(400)).resolves.toMatchObject({ reads: { deployments: 340, incidents: 0 } });
  });

  it('reads a range in the same order with the attributes asked and none of the bulk, and within the cap', async () => {
    const range = {
      service: 'bulk',
      after: '2026-05-01T00:00:00.000Z',
      before: '2026-07-01T00:00:00.000Z',
      order: 'asc' as const,
    };
    const whole = await h.store.deploymentsInRange({ ...range, maxReads: 1000 });
    const segmented = await h.store.deploymentsInRange({
      ...range,
      maxReads: 1000,
      attributes: ['id', 'status', 'revision.commit'],
    });
    const capped = await h.store.deploymentsInRange({ ...range, maxReads: 150 });

    expect(segmented.items.map((d) => d.id)).toEqual(whole.items.map((d) => d.id));
    expect(segmented).toMatchObject({ read: whole.read, more: false });
    // What is asked, and what a finished record stores with it (its `finish`): never the packed bulk.
    const keys = new Set(segmented.items.flatMap((d) => Object.keys(d)));
    expect(keys).toContain('id');
    expect(keys).toContain('status');
    for (const bulk of ['transitions', 'description', 'details', 'packed', 'finish', 'pk', 'gsi5pk']) {
      expect(keys).not.toContain(bulk);
    }
    expect(capped.read).toBeLessThanOrEqual(150);
    expect(capped.more).toBe(true);
  });

  it('takes the lead time from commitTime and commits on native events', async () => {
    const { body } = await metrics(`service=shop&environment=production&${WINDOW}`);
    const week2 = (body.series as Json[])[1] as Json;
    // v5 finished 03-10 10:00; its commit c5 was made at 08:00.
    expect(week2.changeLeadTime).toMatchObject({ value: 7200, basedOn: 1 });
  });

  it.each([
    ['interval=day', 'interval'],
    ['from=yesterday', 'from'],
    [`from=2026-03-16T00:00:00Z&to=2026-03-02T00:00:00Z`, 'from'],
    [`from=2024-01-01T00:00:00Z&to=2026-03-02T00:00:00Z`, 'from'],
    [`service=${Array.from({ length: 21 }, (_, i) => `s${i}`).join(',')}`, 'service'],
    ['service=a,,b', 'service'],
    ['colour=blue', 'colour'],
  ])('answers 400 naming the field for %s', async (query, field) => {
    const { status, body } = await metrics(query);
    expect(status).toBe(400);
    expect((body.issues as { path: string }[]).map((i) => i.path)).toContain(field);
  });

  it('answers a read token and refuses a token without metrics:read with 403', async () => {
    const reader = await metrics(`service=shop&${WINDOW}`, 'reader');
    const writer = await metrics(`service=shop&${WINDOW}`, 'writer');

    expect(reader.status).toBe(200);
    expect(writer.status).toBe(403);
    expect(writer.body.message).toContain('lacks the scope metrics:read');
  });
});
