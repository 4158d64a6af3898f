import { describe, expect, it } from 'vitest';
import {
  buckets,
  computeDora,
  type DoraDeployment,
  type DoraIncident,
  median,
} from '../../functions/core/dora.ts';

/** A production deployment of `shop` (times are 2026 UTC, "MM-DDTHH:MM"). */
function deployment(
  id: string,
  fields: Partial<DoraDeployment> & { finished: string; version?: string },
): DoraDeployment {
  const { finished, ...rest } = fields;
  return {
    id,
    service: 'shop',
    environment: 'production',
    status: 'succeeded',
    createdAt: `2026-${finished}:00Z`,
    finishedAt: `2026-${finished}:00Z`,
    ...rest,
  };
}
const at = (t: string) => `2026-${t}:00Z`;
const commit = (sha: string, t: string) => ({ sha, time: at(t) });
const iso = (t: string) => new Date(at(t)).toISOString();

describe('DORA metrics: worked example (two weeks of one service)', () => {
  // Every figure below is recomputed by hand in docs/dora.md ("A worked example").
  const deployments: DoraDeployment[] = [
    deployment('A', { version: 'v1', finished: '02-20T10:00', commits: [commit('c0', '02-19T10:00')] }),
    deployment('B', {
      version: 'v2',
      startedAt: at('03-02T09:00'),
      finished: '03-02T10:00',
      commits: [commit('c1', '03-01T10:00'), commit('c2', '03-02T08:00')],
    }),
    deployment('C', {
      version: 'v3',
      status: 'failed',
      finished: '03-03T12:00',
      commits: [commit('c3', '03-03T11:00')],
    }),
    deployment('D', {
      version: 'v3',
      startedAt: at('03-03T13:00'),
      finished: '03-03T14:00',
      commits: [commit('c3', '03-03T11:00'), commit('c4', '03-03T12:30')],
    }),
    deployment('E', { version: 'v4', finished: '03-05T10:00', commits: [commit('c5', '03-05T09:00')] }),
    deployment('F', { version: 'v3', startedAt: at('03-05T11:00'), finished: '03-05T11:30' }),
    deployment('G', { version: 'v3', finished: '03-06T10:00' }),
    deployment('H', {
      version: 'v5',
      hotfix: true,
      startedAt: at('03-10T09:00'),
      finished: '03-10T10:00',
      commits: [commit('c6', '03-10T08:00')],
    }),
    deployment('J', {
      version: 'v6',
      startedAt: at('03-10T13:00'),
      finished: '03-11T10:00',
      commits: [commit('c7', '03-10T12:30')],
    }),
    deployment('K', {
      version: 'v7',
      environment: 'staging',
      finished: '03-11T12:00',
      commits: [commit('c8', '03-11T11:00')],
    }),
    deployment('L', { version: 'v8', status: 'stopped', finished: '03-12T10:00' }),
    deployment('M', { version: 'v9', status: 'in_progress', finished: '03-13T10:00' }),
  ];
  const incidents: DoraIncident[] = [
    {
      id: 'I1',
      service: 'shop',
      environment: 'production',
      openedAt: at('03-10T12:00'),
      resolvedAt: at('03-10T15:00'),
    },
    {
      id: 'I2',
      service: 'shop',
      environment: 'production',
      openedAt: at('03-12T09:00'),
      resolvedAt: at('03-12T09:30'),
      causedByChange: false,
    },
  ];
  const result = computeDora(deployments, incidents, {
    from: at('03-02T00:00'),
    to: at('03-16T00:00'),
    interval: 'week',
  });

  it('counts successful production deployments and rates the frequency by deployment days per week', () => {
    expect(result.deploymentFrequency).toEqual({
      value: 7,
      deployments: 7,
      perWeek: 3.5,
      deploymentDaysPerWeek: 3,
      basedOn: 7,
      band: 'high',
    });
  });

  it('takes the median lead time of the commits each deployment is the first to ship', () => {
    expect(result.changeLeadTime).toEqual({
      value: 7200,
      basedOn: 7,
      deploymentsWithLeadTime: 5,
      band: 'elite',
    });
  });

  it('counts failed, rolled back, stopped and incident-linked deployments of new change', () => {
    expect(result.changeFailRate).toEqual({ value: 0.5, failed: 4, basedOn: 8, band: 'low' });
    expect(result.classified).toEqual([
      { deploymentId: 'C', failed: ['ended failed'], rework: [], rollback: false },
      {
        deploymentId: 'E',
        failed: ['rolled back by F (a redeploy of the earlier version v3)'],
        rework: [],
        rollback: false,
      },
      { deploymentId: 'F', failed: [], rework: ['a rollback'], rollback: true },
      { deploymentId: 'H', failed: ['incident I1'], rework: ['a hotfix'], rollback: false },
      { deploymentId: 'J', failed: [], rework: ['during incident I1'], rollback: false },
      { deploymentId: 'L', failed: ['was stopped'], rework: [], rollback: false },
    ]);
  });

  it('measures recovery to the next successful deployment or the linked incident’s resolution, whichever is first', () => {
    expect(result.recoveryTime).toEqual({ value: 7200, basedOn: 3, unrecovered: 1, band: 'high' });
  });

  it('counts rollbacks, hotfixes and deployments during an open incident as rework', () => {
    expect(result.reworkRate).toEqual({ value: 0.3333, rework: 3, basedOn: 9, band: 'low' });
  });

  it('gives the same figures per week, with medians of even counts as the mean of the middle two', () => {
    expect(result.series.map((s) => [s.start, s.end])).toEqual([
      [iso('03-02T00:00'), iso('03-09T00:00')],
      [iso('03-09T00:00'), iso('03-16T00:00')],
    ]);
    const [week1, week2] = result.series;
    expect(week1).toMatchObject({
      deploymentFrequency: { value: 5, deploymentDaysPerWeek: 4, band: 'high' },
      changeLeadTime: { value: 7200, basedOn: 5 },
      changeFailRate: { value: 0.4, failed: 2, basedOn: 5 },
      recoveryTime: { value: 6300, basedOn: 2, unrecovered: 0 },
      reworkRate: { value: 0.1667, rework: 1, basedOn: 6 },
    });
    expect(week2).toMatchObject({
      deploymentFrequency: { value: 2, deploymentDaysPerWeek: 2 },
      changeLeadTime: { value: 42300, basedOn: 2 },
      changeFailRate: { value: 0.6667, failed: 2, basedOn: 3 },
      recoveryTime: { value: 18000, basedOn: 1, unrecovered: 1 },
      reworkRate: { value: 0.6667, rework: 2, basedOn: 3 },
    });
  });
});

describe('DORA metrics: edge cases', () => {
  const window = { from: at('03-01T00:00'), to: at('04-01T00:00'), interval: 'month' as const };

  it("gives a service's first deployment no lead time, and never attributes its commits to the next", () => {
    const result = computeDora(
      [
        deployment('P1', {
          service: 'api',
          version: '1',
          finished: '03-02T10:00',
          commits: [commit('x1', '03-01T10:00')],
        }),
        deployment('P2', {
          service: 'api',
          version: '2',
          finished: '03-03T10:00',
          commits: [commit('x1', '03-01T10:00'), commit('x2', '03-03T09:00')],
        }),
      ],
      [],
      window,
    );
    expect(result.changeLeadTime).toMatchObject({ value: 3600, basedOn: 1, deploymentsWithLeadTime: 1 });
  });

  it('has no lead time (not zero) without a known commit time, and drops lead times of zero or less', () => {
    const result = computeDora(
      [
        deployment('Q1', { version: '1', finished: '03-02T10:00' }),
        deployment('Q2', { version: '2', finished: '03-03T10:00' }),
        deployment('Q3', {
          version: '3',
          finished: '03-04T10:00',
          commits: [commit('late', '03-04T11:00'), commit('same', '03-04T10:00')],
        }),
      ],
      [],
      window,
    );
    expect(result.changeLeadTime).toEqual({
      value: null,
      basedOn: 0,
      deploymentsWithLeadTime: 0,
      band: null,
    });
  });

  it('does not take a redeploy of the same version for a rollback', () => {
    const result = computeDora(
      [
        deployment('R1', { version: '1', finished: '03-02T10:00' }),
        deployment('R2', { version: '1', finished: '03-02T11:00' }),
      ],
      [],
      window,
    );
    expect(result.changeFailRate).toMatchObject({ value: 0, failed: 0, basedOn: 2 });
    expect(result.reworkRate).toMatchObject({ value: 0, rework: 0 });
  });

  it("follows CodeDeploy's rollback link: the rolled-back deployment failed, the rollback is not new change", () => {
    const result = computeDora(
      [
        deployment('S0', { version: '1', finished: '03-02T10:00' }),
        deployment('S1', { version: '2', status: 'failed', rolledBackBy: 'S2', finished: '03-03T10:00' }),
        deployment('S2', { version: '1', rollbackOf: 'S1', finished: '03-03T10:20' }),
      ],
      [],
      window,
    );
    expect(result.changeFailRate).toEqual({ value: 0.5, failed: 1, basedOn: 2, band: 'low' });
    expect(result.recoveryTime).toMatchObject({ value: 1200, basedOn: 1 });
    expect(result.classified).toEqual([
      { deploymentId: 'S1', failed: ['ended failed', 'rolled back by S2'], rework: [], rollback: false },
      { deploymentId: 'S2', failed: [], rework: ['a rollback'], rollback: true },
    ]);
  });

  it('links an incident to the deployment it names, and one that says no change caused it to none', () => {
    const result = computeDora(
      [
        deployment('T1', { version: '1', finished: '03-02T10:00' }),
        deployment('T2', { version: '2', finished: '03-02T12:00' }),
      ],
      [
        {
          id: 'named',
          service: 'shop',
          environment: 'production',
          openedAt: at('03-02T13:00'),
          deploymentId: 'T1',
        },
        {
          id: 'no-change',
          service: 'shop',
          environment: 'production',
          openedAt: at('03-02T14:00'),
          causedByChange: false,
        },
      ],
      window,
    );
    expect(result.classified).toEqual([
      { deploymentId: 'T1', failed: ['incident named'], rework: [], rollback: false },
    ]);
    expect(result.recoveryTime).toMatchObject({ value: 7200, basedOn: 1 });
  });

  it('counts only finished deployments to the production environments it is told about', () => {
    const deployments = [
      deployment('U1', { environment: 'prod-eu', finished: '03-02T10:00' }),
      deployment('U2', { environment: 'live', finished: '03-02T11:00' }),
      deployment('U3', { environment: 'production', status: 'in_progress', finished: '03-02T12:00' }),
    ];
    expect(computeDora(deployments, [], window).deploymentFrequency.value).toBe(1);
    expect(
      computeDora(deployments, [], { ...window, productionEnvironments: ['live', 'prod-*'] })
        .deploymentFrequency.value,
    ).toBe(2);
  });

  it('has no rates and no bands without deployments', () => {
    const empty = computeDora([], [], window);
    expect(empty.changeFailRate).toEqual({ value: null, failed: 0, basedOn: 0, band: null });
    expect(empty.deploymentFrequency).toMatchObject({ value: 0, deploymentDaysPerWeek: 0, band: 'low' });
  });

  it('rates a service deploying on fewer than one day a week but every month as medium, and one skipping months as low', () => {
    const quarter = { from: iso('01-05T00:00'), to: iso('04-06T00:00'), interval: 'month' as const };
    // Monday weeks 01-05 … 03-30: 13 weeks, deployments in 3 of them (two on one day, one a day later).
    const monthly = [
      deployment('J1', { finished: '01-14T10:00' }),
      deployment('F1', { finished: '02-11T10:00' }),
      deployment('F2', { finished: '02-11T15:00' }),
      deployment('M1', { finished: '03-11T10:00' }),
      deployment('M2', { finished: '03-12T10:00' }),
    ];
    const skipping = monthly.filter((d) => !d.id.startsWith('F'));

    // Months January … April (April cut to its first 5 days): 1, 1, 2, 0 days: a median of 1.
    expect(computeDora(monthly, [], quarter).deploymentFrequency).toMatchObject({
      value: 5,
      deploymentDaysPerWeek: 0,
      band: 'medium',
    });
    // Months January … April (April cut to its first 5 days): 1, 0, 2, 0 days: a median of 0.5.
    expect(computeDora(skipping, [], quarter).deploymentFrequency).toMatchObject({
      value: 3,
      deploymentDaysPerWeek: 0,
      band: 'low',
    });
  });

  it('leaves out a deployment whose finish is not a time, answering as without it', () => {
    const month = { from: iso('03-02T00:00'), to: iso('03-30T00:00'), interval: 'week' as const };
    const valid = [
      deployment('V1', { version: 'v1', finished: '03-02T10:00' }),
      deployment('V2', { version: 'v2', finished: '03-09T10:00', status: 'failed' }),
      deployment('V3', { version: 'v3', finished: '03-16T10:00' }),
      deployment('V4', { version: 'v1', finished: '03-23T10:00' }),
    ];
    const broken = { ...deployment('X', { version: 'v9', finished: '03-10T10:00' }), finishedAt: 'soon' };

    expect(computeDora([valid[0]!, broken, ...valid.slice(1)], [], month)).toEqual(
      computeDora(valid, [], month),
    );
  });

  it('defines the median of an even count as the mean of the middle two', () => {
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([5])).toBe(5);
    expect(median([])).toBeNull();
  });

  it('cuts a window into Monday weeks and calendar months, trimmed to the window', () => {
    expect(
      buckets(Date.parse(at('03-04T00:00')), Date.parse(at('03-18T00:00')), 'week').map(([s, e]) => [
        new Date(s).toISOString(),
        new Date(e).toISOString(),
      ]),
    ).toEqual([
      [iso('03-04T00:00'), iso('03-09T00:00')],
      [iso('03-09T00:00'), iso('03-16T00:00')],
      [iso('03-16T00:00'), iso('03-18T00:00')],
    ]);
    expect(buckets(Date.parse(at('01-15T00:00')), Date.parse(at('03-01T00:00')), 'month')).toHaveLength(2);
  });
});
