/**
 * What `GET /v1/metrics/dora` reads and how Shipcast's records become computeDora's input. Every read is a
 * bounded query of index partitions (docs/api.md says which and how many items at most): never a table scan.
 */
import { BAND_SOURCE, computeDora, type DoraDeployment, type DoraIncident, type DoraResult } from './dora.ts';
import type { Incident } from './incidents.ts';
import type { DeploymentStore, RangeQuery, RangeResult } from './ports.ts';
import type { Deployment } from './schema.ts';

/** Deployments read per service (or service/environment) before the window: the history the rules need. */
export const DORA_HISTORY_DEPLOYMENTS = 100;
/** Items (deployments and incidents) one request reads at most; a window that needs more is refused. */
export const DORA_MAX_READS = 20_000;
/**
 * The share of the cap left after the history that the incidents' read starts with (1,990 of 20,000): the
 * history, the incidents and the window are read at once, so each starts with its part of the cap; one
 * that needs more is read again alone with all that the others left (doraFromStore).
 */
export const DORA_INCIDENT_SHARE = 0.1;
/** Incidents opened this long before the window are read too (they can still be open in it). */
export const DORA_INCIDENT_LOOKBACK_DAYS = 30;

/** The only attributes of a deployment record the metrics read (`toDoraDeployment` takes nothing else). */
export const DORA_DEPLOYMENT_ATTRIBUTES = [
  'id',
  'service',
  'environment',
  'status',
  'version',
  'revision.commit',
  'createdAt',
  'startedAt',
  'finishedAt',
  'rollbackOf',
  'rolledBackBy',
  'commits',
  'hotfix',
] as const;
/** The only attributes of an incident record the metrics read (`toDoraIncident` takes nothing else). */
export const DORA_INCIDENT_ATTRIBUTES = [
  'id',
  'service',
  'environment',
  'openedAt',
  'resolvedAt',
  'deploymentId',
  'link',
  'causedByChange',
] as const;

/** A DORA request, validated. */
export interface DoraQuery {
  /** None: every service. */
  services?: string[];
  environment?: string;
  from: string;
  to: string;
  interval: 'week' | 'month';
  productionEnvironments: string[];
  /** Items read at most (DORA_MAX_READS unless told). */
  maxReads?: number;
}

/** The window would read more than DORA_MAX_READS items: a shorter window or fewer services answers. */
export class DoraWindowTooLargeError extends Error {
  override name = 'DoraWindowTooLargeError';
}

/** computeDora's result over the stored records, with where the bands come from and what was read. */
export type DoraAnswer = DoraResult & {
  bandSource: string;
  productionEnvironments: string[];
  reads: { deployments: number; incidents: number };
};

/** Reads the window's deployments and incidents (plus history) with bounded queries and computes the metrics. */
export async function doraFromStore(store: DeploymentStore, query: DoraQuery): Promise<DoraAnswer> {
  const partitions = query.services ?? [undefined];
  const maxReads = query.maxReads ?? DORA_MAX_READS;
  let budget = maxReads;
  const tooLarge = () =>
    new DoraWindowTooLargeError(
      `this window needs more than ${maxReads} deployments and incidents read; ask for a shorter window (from/to) or fewer services`,
    );
  const deployments = new Map<string, Deployment>();
  const incidents = new Map<string, Incident>();
  let deploymentReads = 0;
  let incidentReads = 0;
  const incidentsFrom = new Date(
    Date.parse(query.from) - DORA_INCIDENT_LOOKBACK_DAYS * 86_400_000,
  ).toISOString();
  for (const service of partitions) {
    const where = { service, environment: query.environment };
    // A service's finished deployments by their finish (what computeDora counts by); every service's records by creation.
    const deploymentsIn = (
      range: Omit<RangeQuery, 'service' | 'environment' | 'attributes'>,
    ): Promise<RangeResult<Deployment>> => {
      const read = { ...where, ...range, attributes: DORA_DEPLOYMENT_ATTRIBUTES };
      return service === undefined
        ? store.deploymentsInRange(read)
        : store.finishedDeploymentsInRange({ ...read, service });
    };
    const incidentsIn = (maxReads: number) =>
      store.incidentsInRange({
        ...where,
        after: incidentsFrom,
        before: query.to,
        order: 'asc',
        maxReads,
        attributes: DORA_INCIDENT_ATTRIBUTES,
      });
    const windowIn = (maxReads: number) =>
      deploymentsIn({ after: query.from, before: query.to, order: 'asc', maxReads });
    const historyReads = Math.min(DORA_HISTORY_DEPLOYMENTS, budget);
    const incidentShare = Math.max(1, Math.floor((budget - historyReads) * DORA_INCIDENT_SHARE));
    let [history, opened, window] = await Promise.all([
      deploymentsIn({ before: query.from, order: 'desc', maxReads: historyReads }),
      incidentsIn(incidentShare),
      windowIn(Math.max(0, budget - historyReads - incidentShare)),
    ]);
    // A read past its share is read again with what the others left (the incidents first when both are):
    // the same answer as reading one after the other, and at most twice the cap read in all.
    if (opened.more) opened = await incidentsIn(budget - history.read - (window.more ? 0 : window.read));
    if (window.more) window = await windowIn(budget - history.read - opened.read);
    if (opened.more || window.more) throw tooLarge();
    budget -= history.read + opened.read + window.read;
    deploymentReads += history.read + window.read;
    incidentReads += opened.read;
    for (const d of [...history.items, ...window.items]) deployments.set(d.id, d);
    for (const i of opened.items) incidents.set(i.id, i);
  }
  const result = computeDora(
    [...deployments.values()].map(toDoraDeployment),
    [...incidents.values()].map(toDoraIncident),
    {
      from: query.from,
      to: query.to,
      interval: query.interval,
      productionEnvironments: query.productionEnvironments,
    },
  );
  return {
    ...result,
    bandSource: BAND_SOURCE,
    productionEnvironments: query.productionEnvironments,
    reads: { deployments: deploymentReads, incidents: incidentReads },
  };
}

/** A stored deployment as computeDora takes it (`commits` as stored; the revision's commit as its only one otherwise none). */
export function toDoraDeployment(d: Deployment): DoraDeployment {
  return {
    id: d.id,
    service: d.service ?? '',
    environment: d.environment ?? '',
    status: d.status,
    ...(d.version ? { version: d.version } : {}),
    ...(d.revision?.commit ? { commit: d.revision.commit } : {}),
    createdAt: d.createdAt,
    ...(d.startedAt ? { startedAt: d.startedAt } : {}),
    ...(d.finishedAt ? { finishedAt: d.finishedAt } : {}),
    ...(d.rollbackOf ? { rollbackOf: d.rollbackOf } : {}),
    ...(d.rolledBackBy ? { rolledBackBy: d.rolledBackBy } : {}),
    ...(d.commits?.length ? { commits: d.commits } : {}),
    ...(d.hotfix ? { hotfix: true } : {}),
  };
}

/**
 * A stored incident as computeDora takes it: the deployment it names is passed only when the caller named it;
 * an automatic link is computeDora's own rule, applied to the same records.
 */
export function toDoraIncident(i: Incident): DoraIncident {
  return {
    id: i.id,
    service: i.service,
    environment: i.environment,
    openedAt: i.openedAt,
    ...(i.resolvedAt ? { resolvedAt: i.resolvedAt } : {}),
    ...(i.link === 'given' && i.deploymentId ? { deploymentId: i.deploymentId } : {}),
    causedByChange: i.causedByChange,
  };
}
