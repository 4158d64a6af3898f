import type {
  CiEvent,
  Delivery,
  Deployment,
  DeploymentEvent,
  DispatchMessage,
  Incident,
  StoredEvent,
} from './schema.ts';
import type { Status } from './status.ts';

/** Persistence for deployments, their history, deliveries and idempotency keys. */
export interface DeploymentStore {
  /**
   * The deployment record, or undefined when there is none (a rollback link alone is not a record).
   * `eventually`: an eventually consistent read (half the price), which may miss a write of the last second.
   */
  getDeployment(id: string, read?: 'eventually'): Promise<Deployment | undefined>;
  /** The record with its revision for a conditional write, and a rollback link that arrived before it. */
  loadForUpdate(id: string): Promise<{ current?: Deployment; rev: number | null; rolledBackBy?: string }>;
  /** Stores an event in the history unless it is already there; tells which. */
  putEvent(event: StoredEvent): Promise<'created' | 'exists'>;
  /** Updates the disposition of an event already in the history (after a crash or a race). */
  setEventDisposition(
    deploymentId: string,
    eventId: string,
    disposition: StoredEvent['disposition'],
    note?: string,
  ): Promise<void>;
  /** Writes the whole record if its stored `rev` is `expectedRev` (null: it must not exist); else ConcurrentUpdateError. */
  saveDeployment(next: Deployment, expectedRev: number | null): Promise<void>;
  /** Marks `originalId` as rolled back by `rollbackId` (the original may not be stored yet); bumps its rev. */
  linkRollback(originalId: string, rollbackId: string): Promise<void>;
  listEvents(deploymentId: string): Promise<StoredEvent[]>;
  listDeployments(query: DeploymentQuery): Promise<{ items: Deployment[]; cursor?: string }>;
  /** The newest terminal deployment of the same service and environment created before `before`. */
  previousTerminal(service: string, environment: string, before: Deployment): Promise<Deployment | undefined>;
  getDelivery(deploymentId: string, target: string): Promise<Delivery | undefined>;
  listDeliveries(deploymentId: string): Promise<Delivery[]>;
  /** Writes a delivery if its stored `rev` is `expectedRev` (null: it must not exist); false if someone else wrote first. */
  saveDelivery(next: Delivery, expectedRev: number | null): Promise<boolean>;
  /**
   * Writes several deliveries of one deployment at once (one write), each if its stored `rev` is its
   * `expectedRev`; false (and nothing written) if someone else wrote any of them first.
   */
  saveDeliveries(writes: readonly { next: Delivery; expectedRev: number | null }[]): Promise<boolean>;
  /** What holds an idempotency key: its request hash, and its response once answered (none while pending). */
  getIdempotent(scope: string, key: string): Promise<IdempotentResult | undefined>;
  /**
   * Claims an idempotency key for a request (one conditional write, no response yet): undefined when this
   * call claimed it, else what holds it. Of concurrent claims of one key, exactly one gets undefined.
   */
  claimIdempotent(
    scope: string,
    key: string,
    requestHash: string,
    ttlSeconds: number,
  ): Promise<IdempotentResult | undefined>;
  /** Stores a CI event if its stored `rev` is `expectedRev` (null: it must not exist); else ConcurrentUpdateError. */
  saveCiEvent(next: CiEvent, expectedRev: number | null): Promise<void>;
  getCiEvent(eventId: string): Promise<CiEvent | undefined>;
  /** CI events of one Pipelines app, by event time (`desc` newest first), paginated with a cursor. */
  listCiEvents(query: CiEventQuery): Promise<{ items: CiEvent[]; cursor?: string }>;
  /**
   * A page of the CI events of a repository's commit, by event time (`desc`, newest first, unless told),
   * at most `limit` of them, with a cursor for the rest. A cursor of another listing is an InvalidInputError.
   */
  ciEventsForCommit(
    repository: string,
    commit: string,
    page: { limit: number; cursor?: string; order?: 'asc' | 'desc' },
  ): Promise<{ items: CiEvent[]; cursor?: string }>;
  /** How many CI events the commit has, counting at most `max` (the answer is `max` when there are more). */
  countCiEventsForCommit(repository: string, commit: string, max: number): Promise<number>;
  /** The CI events of these ids that exist, in any order (batched reads, not one per id). */
  getCiEvents(eventIds: readonly string[]): Promise<CiEvent[]>;
  putIdempotent(scope: string, key: string, result: IdempotentResult, ttlSeconds: number): Promise<void>;
  /**
   * The generation an identity of a source is at (1 until it was advanced): for sources whose deployments
   * are named by what they deploy (BigPanda: component, version and hosts), deploying the same thing again
   * is a new generation. Never expires.
   */
  getGeneration(scope: string, identity: string): Promise<number>;
  /** Moves the generation from `from` to `from + 1` if it is still `from`; false if another call moved it first. */
  advanceGeneration(scope: string, identity: string, from: number): Promise<boolean>;
  /** A target's circuit breaker state, shared by every dispatcher; undefined until its first failure. */
  getCircuit(target: string): Promise<CircuitState | undefined>;
  /** Counts one more failure in a row, in one atomic write (creating a closed circuit); the state after it. */
  countCircuitFailure(target: string): Promise<CircuitState>;
  /** Writes the circuit if its stored `rev` is `expectedRev` (null: it must not exist); false if it changed first. */
  saveCircuit(next: CircuitState, expectedRev: number | null): Promise<boolean>;
  /**
   * Deployments whose newest transition was recorded after position `after`, in a minute that started no
   * later than the time `until` (ISO 8601), in that order, at most `limit`: the sweep's bounded read (an
   * index, never a scan). Positions go by minute: a later transition in the same minute keeps its position.
   */
  transitionsRecordedBetween(after: string, until: string, limit: number): Promise<RecordedTransition[]>;
  /** How far the sweep has looked (a RecordedTransition's position); undefined before its first run. */
  getSweepPosition(): Promise<string | undefined>;
  /** Moves the sweep's position forward (never back). */
  saveSweepPosition(position: string): Promise<void>;
  getIncident(id: string): Promise<Incident | undefined>;
  /**
   * Writes the incident if its stored `rev` is `expectedRev` (null: it must not exist), else
   * ConcurrentUpdateError; then its copy under the deployment it is linked to (removed from `previousDeploymentId`).
   */
  saveIncident(next: Incident, expectedRev: number | null, previousDeploymentId?: string): Promise<void>;
  /** Incidents newest (by `openedAt`) first, paginated with a cursor. */
  listIncidents(query: IncidentQuery): Promise<{ items: Incident[]; cursor?: string }>;
  /** The incidents linked to a deployment (at most `limit`), by `openedAt`. */
  incidentsOfDeployment(deploymentId: string, limit: number): Promise<Incident[]>;
  /**
   * The succeeded deployment of the service and environment that finished last at or before `at` (looking
   * through the service's last 2,000 to finish by then, of every environment): what the DORA metrics read of
   * it (FINISH_ATTRIBUTES), not the whole record.
   */
  latestSucceededBefore(service: string, environment: string, at: string): Promise<Deployment | undefined>;
  /** Deployments by creation time in a range, reading at most `query.maxReads` items (`more`: it stopped early). */
  deploymentsInRange(query: RangeQuery): Promise<RangeResult<Deployment>>;
  /** Incidents by `openedAt` in a range, reading at most `query.maxReads` items (`more`: it stopped early). */
  incidentsInRange(query: RangeQuery): Promise<RangeResult<Incident>>;
  /**
   * Finished deployments of a service by `finishedAt` in a range, holding only the attributes the DORA metrics
   * read (`query.attributes` may ask for fewer), reading at most `query.maxReads` items (`more`: it stopped early; the items are then the first ones
   * in order, without a gap).
   */
  finishedDeploymentsInRange(query: FinishedRangeQuery): Promise<RangeResult<Deployment>>;
}

/** A deployment found by the sweep: its id, and where it stands in the order of recorded transitions. */
export interface RecordedTransition {
  deploymentId: string;
  /** `<recordedAt>#<deploymentId>`: positions sort by the time the transition was recorded. */
  position: string;
}

/** A bounded read of one service (and environment), or of all, over `[after, before)`. */
export interface RangeQuery {
  service?: string;
  environment?: string;
  /** Inclusive lower bound (ISO 8601); none: from the oldest. */
  after?: string;
  /** Exclusive upper bound (ISO 8601). */
  before: string;
  order: 'asc' | 'desc';
  /** Items read at most (those an environment filter drops count too). */
  maxReads: number;
  /**
   * The attributes of each item the caller needs (dotted paths, e.g. `revision.commit`): a store reads only
   * these, or what holds them (it may answer a few more stored with them). None: every attribute.
   */
  attributes?: readonly string[];
}

/** A bounded read of one service's finished deployments (of every environment, or filtered to one). */
export type FinishedRangeQuery = Omit<RangeQuery, 'service'> & { service: string };

/** What a bounded read found, how many items it read, and whether more were left unread. */
export interface RangeResult<T> {
  items: T[];
  read: number;
  more: boolean;
}

export interface IncidentQuery {
  service?: string;
  environment?: string;
  status?: 'open' | 'resolved';
  limit: number;
  cursor?: string;
}

/**
 * One target's circuit breaker. Closed: calls go through. Open: the target's messages wait in the queue
 * until `openedAt` + the cool-down, then one dispatcher at a time claims a probe (`probeOwner` until
 * `probeUntil`); a probe that works closes it, one that fails opens it again.
 */
export interface CircuitState {
  target: string;
  state: 'closed' | 'open';
  /** Retryable failures in a row (reset by a success while closed, and on closing). */
  failures: number;
  /** When it (last) opened, epoch milliseconds. */
  openedAt?: number;
  /**
   * No probe before this, epoch milliseconds: set when the failure that opened it asked for a longer
   * wait than the cool-down (a rate limit's Retry-After or reset).
   */
  reopensAt?: number;
  probeOwner?: string;
  /** Epoch milliseconds; after it, another dispatcher may claim the probe (the prober crashed). */
  probeUntil?: number;
  updatedAt?: string;
  /** Optimistic-concurrency revision, bumped by `saveCircuit` (not by failure counts). */
  rev: number;
}

/** A request made with an Idempotency-Key: its body's hash, and the answer once it was given. */
export interface IdempotentResult {
  requestHash: string;
  /** Absent while the request that claimed the key has not answered (or did not live to answer). */
  response?: Record<string, unknown>;
}

export interface CiEventQuery {
  username: string;
  app: string;
  order: 'asc' | 'desc';
  limit: number;
  cursor?: string;
}

export interface DeploymentQuery {
  service?: string;
  environment?: string;
  /** Only deployments with this normalized status (filtered after reading). */
  status?: Status;
  /** Only deployments from this source (filtered after reading). */
  source?: string;
  /** Created at or after (ISO 8601, as `toISOString` writes it): part of the index's key condition. */
  from?: string;
  /** Created before (ISO 8601, as `toISOString` writes it): part of the index's key condition. */
  to?: string;
  limit: number;
  cursor?: string;
  /** By creation time; `desc` (newest first) unless told. */
  order?: 'asc' | 'desc';
}

/** The dispatch queue. */
export interface DispatchQueue {
  /** Sends messages (batched by the adapter). Either all are sent or it throws. */
  enqueue(messages: DispatchMessage[]): Promise<void>;
  /** Makes a received message visible again only after `seconds` (the delay a target asked for). */
  retryLater(receiptHandle: string, seconds: number): Promise<void>;
  /**
   * Moves a message that can never be delivered to the dead-letter queue, with the reason. `messageId`
   * (of the received message) makes a repeated call for the same received message add no second copy.
   */
  deadLetter(body: string, reason: string, messageId?: string): Promise<void>;
}

/**
 * The ingest queue, as the API writes to it: CodeDeploy triggers that reach the API through an SNS HTTP(S)
 * subscription join the ones SNS delivers to the queue directly, so one function parses and enriches them all.
 */
export interface IngestQueue {
  /** Queues one verified SNS notification: its JSON envelope, as SNS→SQS delivers it. Throws if not sent. */
  sendSnsNotification(envelopeJson: string): Promise<void>;
}

/**
 * A rate limit shared by every dispatcher (state in the store): at most `limit` takes per key per window.
 * `take` answers 0 when the call may go now, else the seconds until the window has room again.
 */
export interface RateLimiter {
  take(key: string, limit: number, windowSeconds: number): Promise<number>;
}

/** Time, injectable for tests. */
export interface Clock {
  now(): Date;
}

/** Resolves secret values by name (Secrets Manager in AWS, env/file locally). */
export interface SecretSource {
  get(name: string): Promise<string>;
  /** Forgets a cached value so the next `get` fetches it again (after a 401, say). */
  invalidate(name: string): void;
}

/** A source's API that can add facts to an event (CodeDeploy's BatchGetDeployments). */
export interface Enricher {
  /** Enriches the events in place where it can; returns per deployment whether it worked. */
  enrich(events: DeploymentEvent[]): Promise<Map<string, { ok: true } | { ok: false; error: string }>>;
}

/** One event for a bus (EventBridge's PutEvents entry). */
export interface EventBusEntry {
  source: string;
  detailType: string;
  /** JSON text. */
  detail: string;
  time?: Date;
}

/** What the bus answered for one entry: its event id, or why it was not put. */
export type EventBusEntryResult = { eventId: string } | { errorCode: string; errorMessage?: string };

/** Puts events on an event bus (EventBridge in AWS); the SDK stays in the adapter. */
export interface EventBus {
  /**
   * Puts entries on the bus named by name or ARN (an ARN's region wins over the runtime's); answers one result
   * per entry, in order. Throws when the call as a whole fails (its error's `name` is AWS's error code).
   */
  putEvents(bus: string, entries: EventBusEntry[]): Promise<EventBusEntryResult[]>;
}

export const systemClock: Clock = { now: () => new Date() };

/** An e-mail for Amazon SES to send (SESv2 SendEmail with simple content: SES builds the MIME message). */
export interface SesEmail {
  from: string;
  to: string[];
  replyTo?: string[];
  subject: string;
  text: string;
  html: string;
  headers?: Array<{ name: string; value: string }>;
  configurationSet?: string;
}

/** Which SES to call: the region (default: the runtime's), and another endpoint for a local stand-in. */
export interface SesEndpoint {
  region?: string;
  endpoint?: string;
  timeoutMs?: number;
}

/** Sends e-mail through Amazon SES; throws RetryableDeliveryError or PermanentDeliveryError with SES's reason. */
export interface SesSender {
  send(email: SesEmail, where: SesEndpoint): Promise<{ messageId?: string }>;
}

/** A CodeDeploy deployment, where it lives. */
export interface CodeDeployDeploymentRef {
  account: string;
  region: string;
  /** CodeDeploy's id, `d-XXXXXXXXX`. */
  deploymentId: string;
}

/** What CodeDeploy answered a StopDeployment with (`Pending`, `Succeeded`). */
export interface StopDeploymentAnswer {
  status: string;
  statusMessage?: string;
}

/** An AWS API failure, by AWS's error name (`DeploymentAlreadyCompletedException`, `AccessDeniedException`). */
export class OperationFailedError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'OperationFailedError';
  }
}

/** Operations on deployments in their own system (CodeDeploy's StopDeployment); the SDK stays in the adapter. */
export interface DeploymentOperations {
  /** Whether Shipcast has credentials in this account (its own; another account only through a role). */
  reaches(account: string): boolean;
  /** StopDeployment (`autoRollbackEnabled` = rollback); throws OperationFailedError with AWS's error name. */
  stopCodeDeploy(ref: CodeDeployDeploymentRef, options: { rollback: boolean }): Promise<StopDeploymentAnswer>;
}
