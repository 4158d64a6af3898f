/**
 * The five DORA metrics, computed from Shipcast's own records: deployment frequency, change lead time, change
 * fail rate, failed deployment recovery time and deployment rework rate, with their performance bands and a
 * series per week or month. A pure function of the deployments and incidents it is given; every rule is
 * written out in docs/dora.md, and the worked examples in test/unit/dora.test.ts freeze them.
 */
import { globToRegExp } from './routing.ts';
import type { Status } from './status.ts';

/** A deployment as the metrics need it. */
export interface DoraDeployment {
  id: string;
  service: string;
  environment: string;
  status: Status;
  /** What was deployed: compared to find redeploys of an earlier version (the commit when there is none). */
  version?: string;
  commit?: string;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** Shipcast id of the deployment this one rolls back (CodeDeploy's rollback link). */
  rollbackOf?: string;
  /** Shipcast id of the rollback that replaced this deployment. */
  rolledBackBy?: string;
  /** Marked as a fix for a failure (`hotfix` on the event, or a route's rule). */
  hotfix?: boolean;
  /** Commits this deployment brought, with their times (from linked pushes, `commits` or `commitTime`). */
  commits?: { sha: string; time: string }[];
}

/** An incident as the metrics need it. */
export interface DoraIncident {
  id: string;
  service: string;
  environment: string;
  openedAt: string;
  resolvedAt?: string;
  /** The deployment that caused it; without one, the latest successful production deployment before it opened. */
  deploymentId?: string;
  /** False when the incident says no change caused it: it then marks no deployment failed. */
  causedByChange?: boolean;
}

/** Which deployments count and how the series is cut. */
export interface DoraOptions {
  /** Inclusive start and exclusive end (ISO 8601) of the window, by each deployment's finish. */
  from: string;
  to: string;
  interval: 'week' | 'month';
  /** Globs of the production environments (default `prod*`). */
  productionEnvironments?: string[];
}

/** A DORA performance band. */
export type Band = 'elite' | 'high' | 'medium' | 'low';

/** One metric's figures: the value, what it is based on, and its band (null when there is nothing to rate). */
export interface Metric {
  value: number | null;
  basedOn: number;
  band: Band | null;
}

/** The five metrics over one period. */
export interface DoraFigures {
  /** Successful production deployments, and per week on average. */
  deploymentFrequency: Metric & {
    deployments: number;
    perWeek: number;
    deploymentDaysPerWeek: number | null;
  };
  /** Median seconds from commit to the finish of the first successful production deployment containing it. */
  changeLeadTime: Metric & { deploymentsWithLeadTime: number };
  /** Failed ÷ deployments of new change. */
  changeFailRate: Metric & { failed: number };
  /** Median seconds from a failed deployment to recovery. */
  recoveryTime: Metric & { unrecovered: number };
  /** Deployments made in response to a failure ÷ deployments. */
  reworkRate: Metric & { rework: number };
}

/** What computeDora answers. */
export interface DoraResult extends DoraFigures {
  from: string;
  to: string;
  interval: 'week' | 'month';
  series: ({ start: string; end: string } & DoraFigures)[];
  /** Why each counted deployment is a failure, a rollback or rework (for drilling down). */
  classified: { deploymentId: string; failed: string[]; rework: string[]; rollback: boolean }[];
}

/** The bands' thresholds and where they come from (docs/dora.md repeats them). */
export const BAND_SOURCE =
  'DORA State of DevOps 2023 (as DevLake applies them); rework rate has no published bands: the change fail rate thresholds are applied';

const DAY = 86_400;
const TERMINAL = new Set<Status>(['succeeded', 'failed', 'stopped']);

interface Classified {
  deployment: DoraDeployment;
  finishMs: number;
  rollback: boolean;
  failed: string[];
  rework: string[];
  /** Lead times in seconds of the commits this deployment is the first to bring. */
  leadTimes: number[];
  /** Seconds to recovery when it failed and recovered. */
  recovery?: number;
}

/** Computes the five metrics over the window, and per interval. Deployments before the window give history. */
export function computeDora(
  deployments: DoraDeployment[],
  incidents: DoraIncident[],
  options: DoraOptions,
): DoraResult {
  const production = (options.productionEnvironments ?? ['prod*']).map(globToRegExp);
  const finished: Classified[] = [];
  for (const d of deployments) {
    if (!TERMINAL.has(d.status) || !d.finishedAt || !production.some((p) => p.test(d.environment))) continue;
    // A finish time that is no time is no finished deployment (and would break the order everything relies on).
    const finishMs = Date.parse(d.finishedAt);
    if (!Number.isFinite(finishMs)) continue;
    finished.push({
      deployment: d,
      finishMs,
      rollback: false,
      failed: [],
      rework: [],
      leadTimes: [],
    });
  }
  finished.sort((a, b) => a.finishMs - b.finishMs || a.deployment.id.localeCompare(b.deployment.id));
  const classified = classify(finished, incidents);
  const fromMs = Date.parse(options.from);
  const toMs = Date.parse(options.to);
  const inWindow = classified.filter((c) => c.finishMs >= fromMs && c.finishMs < toMs);
  const series = buckets(fromMs, toMs, options.interval).map(([start, end]) => ({
    start: new Date(start).toISOString(),
    end: new Date(end).toISOString(),
    ...figures(
      inWindow.slice(
        firstIndex(inWindow, (c) => c.finishMs >= start),
        firstIndex(inWindow, (c) => c.finishMs >= end),
      ),
      start,
      end,
    ),
  }));
  return {
    from: options.from,
    to: options.to,
    interval: options.interval,
    ...figures(inWindow, fromMs, toMs),
    series,
    classified: inWindow
      .filter((c) => c.failed.length > 0 || c.rework.length > 0 || c.rollback)
      .map((c) => ({
        deploymentId: c.deployment.id,
        failed: c.failed,
        rework: c.rework,
        rollback: c.rollback,
      })),
  };
}

/** Marks rollbacks, failures, rework, lead times and recovery on every finished production deployment (in finish order). */
function classify(all: Classified[], incidents: DoraIncident[]): Classified[] {
  const byId = new Map(all.map((c) => [c.deployment.id, c]));
  const groups = new Map<string, Classified[]>();
  for (const c of all) {
    const key = `${c.deployment.service}\u0000${c.deployment.environment}`;
    const group = groups.get(key);
    if (group) group.push(c);
    else groups.set(key, [c]);
  }
  for (const group of groups.values()) {
    let current: Classified | undefined;
    const seenVersions = new Set<string>();
    const shipped = new Set<string>();
    for (const c of group) {
      const d = c.deployment;
      if (d.status === 'failed') c.failed.push('ended failed');
      if (d.status === 'stopped') c.failed.push('was stopped');
      if (d.rolledBackBy) c.failed.push(`rolled back by ${d.rolledBackBy}`);
      if (d.rollbackOf) {
        c.rollback = true;
        const replaced = byId.get(d.rollbackOf);
        if (replaced && !replaced.failed.some((r) => r.startsWith('rolled back'))) {
          replaced.failed.push(`rolled back by ${d.id}`);
        }
      }
      if (d.status !== 'succeeded') continue;
      const identity = d.version ?? d.commit;
      const currentIdentity = current?.deployment.version ?? current?.deployment.commit;
      if (
        current &&
        identity &&
        currentIdentity &&
        identity !== currentIdentity &&
        seenVersions.has(identity)
      ) {
        // A redeploy of an earlier, different version: it is a rollback, and the deployment it replaced failed.
        c.rollback = true;
        if (!current.failed.some((r) => r.startsWith('rolled back'))) {
          current.failed.push(`rolled back by ${d.id} (a redeploy of the earlier version ${identity})`);
        }
      }
      // Lead time: only for a deployment with a previous one, and only for commits no earlier deployment brought.
      if (current && !c.rollback) {
        for (const commit of d.commits ?? []) {
          if (shipped.has(commit.sha)) continue;
          const seconds = (c.finishMs - Date.parse(commit.time)) / 1000;
          if (Number.isFinite(seconds) && seconds > 0) c.leadTimes.push(seconds);
        }
      }
      for (const commit of d.commits ?? []) shipped.add(commit.sha);
      if (identity) seenVersions.add(identity);
      current = c;
    }
  }
  // Each group's start times, sorted: the deployments started during an incident are found by binary search.
  const starts = new Map<Classified[], { startMs: number; c: Classified }[]>();
  for (const group of groups.values()) {
    starts.set(
      group,
      group
        .map((c) => ({ startMs: Date.parse(c.deployment.startedAt ?? c.deployment.createdAt), c }))
        .sort((a, b) => a.startMs - b.startMs),
    );
  }
  /** Resolution times of the incidents that marked each deployment failed. */
  const resolutions = new Map<Classified, number[]>();
  for (const incident of incidents) {
    const opened = Date.parse(incident.openedAt);
    const group = groups.get(`${incident.service}\u0000${incident.environment}`) ?? [];
    const linked = incident.deploymentId ? byId.get(incident.deploymentId) : latestSucceeded(group, opened);
    if (linked && incident.causedByChange !== false) {
      linked.failed.push(`incident ${incident.id}`);
      if (incident.resolvedAt) {
        resolutions.set(linked, [...(resolutions.get(linked) ?? []), Date.parse(incident.resolvedAt)]);
      }
    }
    const resolved = incident.resolvedAt ? Date.parse(incident.resolvedAt) : Number.POSITIVE_INFINITY;
    const byStart = starts.get(group) ?? [];
    for (let i = firstIndex(byStart, (s) => s.startMs >= opened); i < byStart.length; i++) {
      const { startMs, c } = byStart[i] as { startMs: number; c: Classified };
      if (startMs >= resolved) break;
      if (c !== linked) c.rework.push(`during incident ${incident.id}`);
    }
  }
  for (const group of groups.values()) {
    // nextSucceeded[i]: the first successful deployment at index i or later (group order is finish order).
    const nextSucceeded: (Classified | undefined)[] = new Array(group.length + 1);
    for (let i = group.length - 1; i >= 0; i--) {
      const c = group[i] as Classified;
      nextSucceeded[i] = c.deployment.status === 'succeeded' ? c : nextSucceeded[i + 1];
    }
    for (const c of group) {
      if (c.rollback) c.rework.unshift('a rollback');
      if (c.deployment.hotfix) c.rework.push('a hotfix');
      if (c.failed.length === 0) continue;
      const ends = [...(resolutions.get(c) ?? [])];
      const next = nextSucceeded[firstIndex(group, (n) => n.finishMs > c.finishMs)];
      if (next) ends.push(next.finishMs);
      const end = ends.filter((e) => e > c.finishMs).sort((a, b) => a - b)[0];
      if (end !== undefined) c.recovery = (end - c.finishMs) / 1000;
    }
  }
  return all;
}

/** The latest successful deployment of a group (in finish order) that finished at or before `at`. */
function latestSucceeded(group: Classified[], at: number): Classified | undefined {
  for (let i = firstIndex(group, (c) => c.finishMs > at) - 1; i >= 0; i--) {
    const c = group[i] as Classified;
    if (c.deployment.status === 'succeeded') return c;
  }
  return undefined;
}

/** The first index of a list, sorted so that `after` is false then true, where `after` holds (its length if never). */
function firstIndex<T>(sorted: T[], after: (item: T) => boolean): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (after(sorted[middle] as T)) high = middle;
    else low = middle + 1;
  }
  return low;
}

function figures(counted: Classified[], startMs: number, endMs: number): DoraFigures {
  const successful = counted.filter((c) => c.deployment.status === 'succeeded');
  const weeks = Math.max((endMs - startMs) / (7 * DAY * 1000), 1 / 7);
  const days = deploymentDaysPerWeek(successful, startMs, endMs);
  const newChange = counted.filter((c) => !c.rollback);
  const failed = newChange.filter((c) => c.failed.length > 0);
  const leadTimes: number[] = [];
  for (const c of successful) for (const seconds of c.leadTimes) leadTimes.push(seconds);
  const recoveries: number[] = [];
  for (const c of failed) if (c.recovery !== undefined) recoveries.push(c.recovery);
  const rework = counted.filter((c) => c.rework.length > 0);
  const leadTime = median(leadTimes);
  const failRate = newChange.length > 0 ? failed.length / newChange.length : null;
  const recovery = median(recoveries);
  const reworkRate = counted.length > 0 ? rework.length / counted.length : null;
  return {
    deploymentFrequency: {
      value: successful.length,
      deployments: successful.length,
      perWeek: round(successful.length / weeks),
      deploymentDaysPerWeek: days,
      basedOn: successful.length,
      band: frequencyBand(days, successful, startMs, endMs),
    },
    changeLeadTime: {
      value: leadTime,
      basedOn: leadTimes.length,
      deploymentsWithLeadTime: successful.filter((c) => c.leadTimes.length > 0).length,
      band:
        leadTime === null
          ? null
          : leadTime < DAY
            ? 'elite'
            : leadTime < 7 * DAY
              ? 'high'
              : leadTime < 30 * DAY
                ? 'medium'
                : 'low',
    },
    changeFailRate: {
      value: failRate === null ? null : round(failRate),
      failed: failed.length,
      basedOn: newChange.length,
      band: rateBand(failRate),
    },
    recoveryTime: {
      value: recovery,
      basedOn: recoveries.length,
      unrecovered: failed.length - recoveries.length,
      band:
        recovery === null
          ? null
          : recovery < 3600
            ? 'elite'
            : recovery < DAY
              ? 'high'
              : recovery < 7 * DAY
                ? 'medium'
                : 'low',
    },
    reworkRate: {
      value: reworkRate === null ? null : round(reworkRate),
      rework: rework.length,
      basedOn: counted.length,
      band: rateBand(reworkRate),
    },
  };
}

function rateBand(rate: number | null): Band | null {
  if (rate === null) return null;
  return rate <= 0.05 ? 'elite' : rate <= 0.1 ? 'high' : rate <= 0.15 ? 'medium' : 'low';
}

/** Median distinct UTC days with a successful deployment per week (Monday-based weeks overlapping the period). */
function deploymentDaysPerWeek(successful: Classified[], startMs: number, endMs: number): number | null {
  if (endMs - startMs < 7 * DAY * 1000) return null;
  return median(distinctDays(successful, buckets(startMs, endMs, 'week')));
}

/** Distinct UTC days with a deployment in each of the consecutive periods (deployments in finish order). */
function distinctDays(sorted: Classified[], periods: [number, number][]): number[] {
  const days = periods.map(() => new Set<string>());
  let k = 0;
  for (const c of sorted) {
    while (k < periods.length && c.finishMs >= (periods[k] as [number, number])[1]) k++;
    if (k === periods.length) break;
    if (c.finishMs >= (periods[k] as [number, number])[0]) {
      (days[k] as Set<string>).add((c.deployment.finishedAt as string).slice(0, 10));
    }
  }
  return days.map((d) => d.size);
}

function frequencyBand(
  daysPerWeek: number | null,
  successful: Classified[],
  startMs: number,
  endMs: number,
): Band | null {
  if (daysPerWeek === null) return null;
  if (daysPerWeek >= 5) return 'elite';
  if (daysPerWeek >= 1) return 'high';
  const perMonth = distinctDays(successful, buckets(startMs, endMs, 'month'));
  return (median(perMonth) ?? 0) >= 1 ? 'medium' : 'low';
}

/** The median; of an even count, the mean of the two middle values. Null for none. */
export function median(values: number[]): number | null {
  if (values.length === 0) return null;
  // A typed array sorts numbers natively (no comparator calls): tens of thousands of lead times a request.
  const sorted = Float64Array.from(values).sort();
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** [start, end) of each week (Monday 00:00 UTC) or calendar month (UTC) overlapping [from, to), cut to it. */
export function buckets(fromMs: number, toMs: number, interval: 'week' | 'month'): [number, number][] {
  const out: [number, number][] = [];
  const first = new Date(fromMs);
  let start =
    interval === 'week'
      ? Date.UTC(
          first.getUTCFullYear(),
          first.getUTCMonth(),
          first.getUTCDate() - ((first.getUTCDay() + 6) % 7),
        )
      : Date.UTC(first.getUTCFullYear(), first.getUTCMonth(), 1);
  while (start < toMs) {
    const s = new Date(start);
    const end =
      interval === 'week'
        ? Date.UTC(s.getUTCFullYear(), s.getUTCMonth(), s.getUTCDate() + 7)
        : Date.UTC(s.getUTCFullYear(), s.getUTCMonth() + 1, 1);
    out.push([Math.max(start, fromMs), Math.min(end, toMs)]);
    start = end;
  }
  return out;
}

function round(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}
