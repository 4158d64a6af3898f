import type { ShipcastConfig } from './config.ts';
import { deploymentFinished } from './deployment-metrics.ts';
import { ConcurrentUpdateError } from './errors.ts';
import { deploymentIdFor } from './ids.ts';
import type { Clock, DeploymentStore, DispatchQueue, Enricher } from './ports.ts';
import { needsPrevious, routeMessages, routeTransition } from './routing.ts';
import type { Deployment, DeploymentEvent, DispatchMessage, EventDisposition, Transition } from './schema.ts';
import { decide, isTerminal, type Status } from './status.ts';
import { count, type Logger, type Metrics } from './telemetry.ts';
import { normalizeRepository, withoutCredentials } from './timeline.ts';

/** What ingesting needs: the ports, the config and the telemetry. */
export interface IngestContext {
  store: DeploymentStore;
  queue: DispatchQueue;
  clock: Clock;
  config: ShipcastConfig;
  logger: Logger;
  metrics: Metrics;
  /** Per source name, an API that can enrich its events (CodeDeploy's BatchGetDeployments). */
  enrichers?: Record<string, Enricher>;
}

/** The answer for one ingested event. */
export interface IngestResult {
  eventId: string;
  deploymentId: string;
  /** The deployment's status after the event (null: the event created no record, e.g. an instance pending). */
  status: Status | null;
  disposition: EventDisposition;
}

const MAX_CONFLICT_RETRIES = 8;

/** A deployment record as loaded for a conditional update (what `DeploymentStore.loadForUpdate` answers). */
type Loaded = Awaited<ReturnType<DeploymentStore['loadForUpdate']>>;

/**
 * The records of one batch's deployments as this invocation last read or wrote them. The events of a batch
 * share one read per deployment instead of one each (a fleet's instance events arrive in batches of one
 * deployment's): an event that changes the record writes it conditionally on its revision, so a record
 * someone else changed since is re-read then; an event that changes nothing is recorded against what the
 * batch saw, as if it had arrived when the batch was read.
 */
export type BatchRecords = Map<string, Loaded>;

/** A new, empty BatchRecords for one batch of events. */
export function batchRecords(): BatchRecords {
  return new Map();
}

/**
 * Enriches what can be enriched, then applies the events in order. Events of a deployment already
 * seen are recognised by their deterministic id: a redelivery re-sends the deliveries of the transition
 * it caused (a crash may have stopped them) and changes nothing else.
 */
export async function ingestEvents(
  events: DeploymentEvent[],
  context: IngestContext,
  options: IngestOptions = {},
): Promise<IngestResult[]> {
  const records = batchRecords();
  await enrichEvents(events, context, records);
  const results: IngestResult[] = [];
  for (const event of events) results.push(await ingestEvent(event, context, options, records));
  return results;
}

/** How to ingest events whose source cannot give a repeated input the same event id. */
export interface IngestOptions {
  /**
   * The event's id is new for every request (a native event without an Idempotency-Key): a retry of the
   * same input is a new event, so a duplicate of a recent transition's status sends that transition again
   * (see RESEND_WINDOW_MS). Sources with stable ids complete a lost enqueue by the id instead.
   */
  resendOnDuplicate?: boolean;
}

/** Applies one event (already enriched, if at all). */
export async function ingestEvent(
  event: DeploymentEvent,
  context: IngestContext,
  options: IngestOptions = {},
  records: BatchRecords = batchRecords(),
): Promise<IngestResult> {
  const mine: StoredByThisCall = {};
  for (let attempt = 1; ; attempt++) {
    try {
      return await applyOnce(event, context, mine, options, records);
    } catch (error) {
      records.delete(event.deploymentId);
      if (!(error instanceof ConcurrentUpdateError) || attempt >= MAX_CONFLICT_RETRIES) throw error;
      context.logger.debug('deployment changed concurrently; re-reading', {
        deploymentId: event.deploymentId,
        attempt,
      });
    }
  }
}

/** What this ingestEvent call stored for its event, so an attempt after a lost race can correct it. */
interface StoredByThisCall {
  stored?: { disposition: EventDisposition; note?: string };
}

async function applyOnce(
  event: DeploymentEvent,
  context: IngestContext,
  mine: StoredByThisCall,
  options: IngestOptions,
  records: BatchRecords,
): Promise<IngestResult> {
  const { store, logger } = context;
  const loaded = records.get(event.deploymentId) ?? (await store.loadForUpdate(event.deploymentId));
  records.set(event.deploymentId, loaded);
  const { current, rev, rolledBackBy } = loaded;
  const decision = event.status === null ? null : decide(current?.status ?? null, event.status);
  const disposition: EventDisposition =
    decision === null ? 'no-status' : decision.kind === 'advance' ? 'applied' : decision.kind;
  const note = decision?.kind === 'stale' ? decision.reason : undefined;
  const result = (status: Status | null, d: EventDisposition): IngestResult => ({
    eventId: event.eventId,
    deploymentId: event.deploymentId,
    status,
    disposition: d,
  });

  const put = await store.putEvent({ ...event, disposition, note });
  // An earlier attempt of this call stored the event, then lost the race for the record: the deployment has
  // moved since, so the event is marked for what it is now (not "applied" without a transition) and applied.
  const retried =
    put === 'exists' &&
    mine.stored !== undefined &&
    !current?.transitions.some((t) => t.eventId === event.eventId);
  if (retried && (mine.stored?.disposition !== disposition || mine.stored?.note !== note)) {
    await store.setEventDisposition(event.deploymentId, event.eventId, disposition, note);
  }
  if (put === 'created' || retried) mine.stored = { disposition, note };
  const stored = retried ? 'created' : put;
  if (stored === 'exists' && event.rollbackOfSourceId && current?.rollbackOf) {
    // A redelivery: the link to the rolled-back deployment may be what failed the first time (it is a
    // write of its own after the record's). Making it again changes nothing when it is there.
    await store.linkRollback(current.rollbackOf, current.id);
    records.delete(current.rollbackOf);
  }
  if (stored === 'exists') {
    const caused = current?.transitions.find((t) => t.eventId === event.eventId);
    if (caused) {
      // Seen and applied before; the enqueue may not have happened (a crash in between): complete it.
      await enqueueTransition(current as Deployment, caused, context);
      return result(current?.status ?? null, 'applied');
    }
    if (decision?.kind !== 'advance') {
      logger.info('event already recorded', { eventId: event.eventId, deploymentId: event.deploymentId });
      return result(current?.status ?? null, 'duplicate');
    }
    // Recorded but never applied (a crash between the two writes): apply it now.
  } else if (put === 'created') {
    count(context.metrics, 'EventsIngested', { source: event.source });
  }

  if (options.resendOnDuplicate && stored === 'created' && decision?.kind === 'duplicate' && current) {
    await resendRecentTransition(current, context);
  }

  if (!current && event.status === null) return result(null, disposition);

  const now = context.clock.now().toISOString();
  const next = merge(current, event, rolledBackBy, now, decision?.kind === 'advance');
  let transition: Transition | undefined;
  if (decision?.kind === 'advance') {
    next.status = decision.to;
    next.sourceStatus = event.sourceStatus;
    transition = {
      seq: next.transitions.length + 1,
      from: decision.from,
      to: decision.to,
      at: event.occurredAt,
      recordedAt: now,
      eventId: event.eventId,
      ...(await routeFor(next, decision.to, context)),
    };
    next.transitions = [...next.transitions, transition];
    if (isTerminal(decision.to)) await addPushedCommit(next, store);
  }
  if (!isTerminal(next.status)) {
    // Enrichment can know the end before the end's own event arrives; the record says it when it happens.
    delete next.finishedAt;
    delete next.error;
  }
  if (decision?.kind === 'stale') {
    logger.info('event not applied', {
      eventId: event.eventId,
      deploymentId: event.deploymentId,
      reason: note,
    });
  }

  if (current && !transition && sameRecord(current, next)) return result(current.status, disposition);
  next.rev = (rev ?? 0) + 1;
  await store.saveDeployment(next, rev);
  records.set(event.deploymentId, { current: next, rev: next.rev, rolledBackBy });
  if (transition && isTerminal(transition.to)) {
    deploymentFinished(context.metrics, {
      service: next.service ?? '',
      environment: next.environment ?? '',
      outcome: transition.to,
      leadTimeSeconds: leadTimeSeconds(next),
    });
  }
  if (stored === 'exists' && transition)
    await store.setEventDisposition(event.deploymentId, event.eventId, 'applied');

  if (event.rollbackOfSourceId && !current?.rollbackOf) {
    await store.linkRollback(next.rollbackOf as string, next.id);
    records.delete(next.rollbackOf as string);
  }
  if (transition) await enqueueTransition(next, transition, context);
  return result(next.status, transition ? 'applied' : disposition);
}

/**
 * How long after a transition a new event repeating its status sends it again (with `resendOnDuplicate`).
 * A caller whose request failed after the record was written and before the enqueue (a 500, a timeout)
 * retries with what is a new event: that retry completes the enqueue. The queue's deduplication and the
 * delivery records make the repeat harmless when nothing was lost.
 */
export const RESEND_WINDOW_MS = 15 * 60_000;

async function resendRecentTransition(current: Deployment, context: IngestContext): Promise<void> {
  const last = current.transitions.at(-1);
  if (!last || last.to !== current.status) return;
  const age = context.clock.now().getTime() - Date.parse(current.updatedAt);
  if (!(age >= 0 && age <= RESEND_WINDOW_MS)) return;
  await enqueueTransition(current, last, context);
}

async function routeFor(
  deployment: Deployment,
  to: Status,
  context: IngestContext,
): Promise<Pick<Transition, 'targets' | 'messages'>> {
  let previous: Status | undefined;
  if (deployment.service && deployment.environment && needsPrevious(context.config, to)) {
    previous = (await context.store.previousTerminal(deployment.service, deployment.environment, deployment))
      ?.status;
  }
  const input = { deployment, to, previous };
  const messages = routeMessages(context.config, input);
  return {
    targets: routeTransition(context.config, input),
    ...(Object.keys(messages).length > 0 ? { messages } : {}),
  };
}

async function enqueueTransition(deployment: Deployment, transition: Transition, context: IngestContext) {
  if (transition.targets.length === 0) return;
  const messages: DispatchMessage[] = transition.targets.map((target) => ({
    v: 1,
    deploymentId: deployment.id,
    seq: transition.seq,
    target,
  }));
  await context.queue.enqueue(messages);
}

/**
 * The next record: an advancing event's facts win; any other event only fills what is still unknown
 * (a late or duplicate event never rewrites what a newer one said).
 */
function merge(
  current: Deployment | undefined,
  event: DeploymentEvent,
  rolledBackBy: string | undefined,
  now: string,
  advancing: boolean,
): Deployment {
  const base: Deployment = current
    ? { ...current, transitions: [...current.transitions] }
    : {
        id: event.deploymentId,
        source: event.source,
        sourceDeploymentId: event.sourceDeploymentId,
        status: event.status as Status,
        sourceStatus: event.sourceStatus,
        createdAt: now,
        updatedAt: now,
        transitions: [],
        rev: 0,
      };
  const facts: Partial<Deployment> = {
    service: event.service,
    environment: event.environment,
    account: event.account,
    region: event.region,
    version: event.version,
    revision: revisionWithoutCredentials(event.revision),
    actor: event.actor,
    description: event.description,
    url: event.url,
    hosts: event.hosts,
    error: event.error,
    counts: event.counts,
    startedAt: event.startedAt,
    finishedAt: event.finishedAt,
    commits: event.commits,
    hotfix: event.hotfix,
    rollbackOf: event.rollbackOfSourceId
      ? deploymentIdFor(event.source, event.rollbackOfSourceId)
      : undefined,
  };
  const next = base as unknown as Record<string, unknown>;
  for (const [field, value] of Object.entries(facts)) {
    if (value === undefined) continue;
    if (advancing || next[field] === undefined) next[field] = value;
  }
  if (event.details)
    base.details = advancing ? { ...base.details, ...event.details } : { ...event.details, ...base.details };
  if (event.enrichment) base.enrichment = event.enrichment;
  if (rolledBackBy) base.rolledBackBy = rolledBackBy;
  base.updatedAt = now;
  return base;
}

/** Whatever the source, a deployment never keeps credentials a repository URL carried. */
function revisionWithoutCredentials(revision: Deployment['revision']): Deployment['revision'] {
  if (!revision?.repository) return revision;
  return { ...revision, repository: withoutCredentials(revision.repository) };
}

function sameRecord(a: Deployment, b: Deployment): boolean {
  // Key order does not count: DynamoDB returns maps in any order, and merging (`details`) reorders keys,
  // so an order-sensitive comparison rewrote unchanged records (a PutItem plus its GSI writes per event).
  const strip = (d: Deployment) => JSON.stringify({ ...d, updatedAt: '', rev: 0 }, sortedKeys);
  return strip(a) === strip(b);
}

function sortedKeys(_key: string, value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
}

/**
 * Seconds from the deployed commit's time (the revision's commit, else the newest of `commits`) to the finish
 * of a succeeded deployment; undefined when either is unknown or it is not positive.
 */
function leadTimeSeconds(deployment: Deployment): number | undefined {
  if (deployment.status !== 'succeeded' || !deployment.finishedAt || !deployment.commits?.length)
    return undefined;
  const head =
    deployment.commits.find((c) => c.sha === deployment.revision?.commit?.trim()) ??
    [...deployment.commits].sort((a, b) => b.time.localeCompare(a.time))[0];
  const seconds = (Date.parse(deployment.finishedAt) - Date.parse(head?.time ?? '')) / 1000;
  return Number.isFinite(seconds) && seconds > 0 ? seconds : undefined;
}

/**
 * On finishing, the deployment's revision commit gets the time of its first push the timeline links (GitHub,
 * GitLab or Pipelines push events), unless an event already gave its time: DORA's change lead time.
 */
async function addPushedCommit(deployment: Deployment, store: IngestContext['store']): Promise<void> {
  const repository = normalizeRepository(deployment.revision?.repository);
  const sha = deployment.revision?.commit?.trim();
  if (!repository || !sha || deployment.commits?.some((c) => c.sha === sha)) return;
  // The oldest events of the commit hold its first push (one bounded page, as the timeline reads it).
  const oldest = await store.ciEventsForCommit(repository, sha, { limit: 100, order: 'asc' });
  const pushes = oldest.items.filter((e) => e.type === 'PUSH');
  const first = pushes.map((e) => e.eventTime).sort()[0];
  if (first) deployment.commits = [...(deployment.commits ?? []), { sha, time: first }];
}

/**
 * Enriches events whose deployment is not enriched yet (or failed before), noting how it went on each. An
 * instance event retries no failed enrichment (a fleet's storm of them would call the API and rewrite the
 * record once per batch): the deployment's own next event does. The records read land in `records`.
 */
export async function enrichEvents(
  events: DeploymentEvent[],
  context: IngestContext,
  records: BatchRecords = batchRecords(),
): Promise<void> {
  const { enrichers, store, logger, clock } = context;
  if (!enrichers) return;
  const firstOfDeployment = new Map<string, DeploymentEvent>();
  for (const event of events) {
    const first = firstOfDeployment.get(event.deploymentId);
    if (enrichers[event.source] && (!first || (first.kind === 'instance' && event.kind !== 'instance'))) {
      firstOfDeployment.set(event.deploymentId, event);
    }
  }
  const needed: DeploymentEvent[] = [];
  const previous = new Map<string, Deployment['enrichment']>();
  for (const event of firstOfDeployment.values()) {
    const loaded = records.get(event.deploymentId) ?? (await store.loadForUpdate(event.deploymentId));
    records.set(event.deploymentId, loaded);
    const { current } = loaded;
    if (current?.enrichment?.state === 'done') continue;
    if (current?.enrichment && event.kind === 'instance') continue;
    previous.set(event.deploymentId, current?.enrichment);
    needed.push(event);
  }
  const bySource = new Map<string, DeploymentEvent[]>();
  for (const event of needed) bySource.set(event.source, [...(bySource.get(event.source) ?? []), event]);
  for (const [source, sourceEvents] of bySource) {
    const outcomes = await (enrichers[source] as Enricher).enrich(sourceEvents);
    for (const event of sourceEvents) {
      const outcome = outcomes.get(event.deploymentId) ?? {
        ok: false as const,
        error: 'no answer for this deployment',
      };
      const attempts = (previous.get(event.deploymentId)?.attempts ?? 0) + 1;
      const enrichment = outcome.ok
        ? { state: 'done' as const, at: clock.now().toISOString(), attempts }
        : { state: 'failed' as const, at: clock.now().toISOString(), attempts, error: outcome.error };
      if (!outcome.ok) {
        logger.warn('enrichment failed; the event is recorded and enrichment is retried on a later event', {
          deploymentId: event.deploymentId,
          error: outcome.error,
        });
      }
      event.enrichment = enrichment;
      // Events later in the batch for the same deployment carry the same facts.
      for (const other of events) {
        if (other !== event && other.deploymentId === event.deploymentId) copyFacts(event, other);
      }
    }
  }
}

function copyFacts(from: DeploymentEvent, to: DeploymentEvent) {
  const fields = [
    'service',
    'environment',
    'revision',
    'actor',
    'description',
    'rollbackOfSourceId',
  ] as const;
  for (const field of fields) {
    if (to[field] === undefined && from[field] !== undefined)
      (to as unknown as Record<string, unknown>)[field] = from[field];
  }
}
