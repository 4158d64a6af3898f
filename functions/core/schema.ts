import type { Status } from './status.ts';

/** A commit and when it was made (ISO 8601). */
export interface CommitTime {
  sha: string;
  time: string;
}

/** Where the deployed code came from. */
export interface Revision {
  /** `owner/name` for GitHub, or a repository URL. */
  repository?: string;
  commit?: string;
  ref?: string;
  s3?: { bucket: string; key: string; bundleType?: string; version?: string; eTag?: string };
}

/** A deployment's failure, in the source's words. */
export interface DeploymentError {
  code?: string;
  message: string;
}

/** Instance (or task set) counts reported by the source. */
export interface InstanceCounts {
  pending?: number;
  inProgress?: number;
  succeeded?: number;
  failed?: number;
  skipped?: number;
  ready?: number;
}

/**
 * One event as a source reports it, normalized. Sources produce these; `ingest` applies them.
 * Every optional field means "this event says nothing about it", never "clear it".
 */
export interface DeploymentEvent {
  /** Deterministic: the same input always gives the same id, so redeliveries are recognised. */
  eventId: string;
  /** Registry name of the source: `codedeploy`, `native`, … */
  source: string;
  /** The source's own deployment id (`d-4F2KQ8ZX1`, the caller's `deploymentId`, …). */
  sourceDeploymentId: string;
  /** Deterministic Shipcast id: `deploymentIdFor(source, sourceDeploymentId)`. */
  deploymentId: string;
  /** `operator`: someone asked Shipcast to act on the deployment (`operator` says who and what came of it). */
  kind: 'deployment' | 'instance' | 'operator';
  /** Normalized status this event reports, or null when it implies none (e.g. an instance pending). */
  status: Status | null;
  /** The status exactly as the source sent it. */
  sourceStatus: string;
  /** When the source says it happened (ISO 8601). */
  occurredAt: string;
  /** When Shipcast received it (ISO 8601). */
  receivedAt: string;
  service?: string;
  environment?: string;
  /** The AWS account the deployment ran in (CodeDeploy: the trigger message's or EventBridge event's account). */
  account?: string;
  /** The AWS region the deployment ran in. */
  region?: string;
  version?: string;
  revision?: Revision;
  actor?: string;
  description?: string;
  url?: string;
  hosts?: string[];
  error?: DeploymentError;
  counts?: InstanceCounts;
  startedAt?: string;
  finishedAt?: string;
  /** Source deployment id of the deployment this one rolls back. */
  rollbackOfSourceId?: string;
  /** Commits this deployment brings, with their times (native `commits` / `commitTime`): DORA's lead time. */
  commits?: CommitTime[];
  /** Made to fix a failure (native `hotfix`): DORA's rework. */
  hotfix?: boolean;
  /** For instance events: which instance and its own status. */
  instance?: { id: string; status: string };
  /** Source-specific facts worth keeping (application, deployment group, region, account, …). */
  details?: Record<string, string>;
  /** Set by ingest when it asked the source's API for more facts about this deployment. */
  enrichment?: Enrichment;
  /** For operator events: the action asked for, by whom, and its outcome. */
  operator?: OperatorAction;
}

/** An action someone asked of a deployment (a Slack button, `shipcast codedeploy stop`), as its history keeps it. */
export interface OperatorAction {
  action: 'stop' | 'stop-and-rollback';
  /** Where it was asked: a Slack button, or the HTTP API (the CLI). */
  via: 'slack' | 'api';
  /** Who asked: the Slack user's name, or the actor the API caller gave. */
  actor: string;
  /** The Slack user id, or the name of the API token that made the request. */
  actorId: string;
  /**
   * `requested`: CodeDeploy accepted the stop (Shipcast called it); `recorded`: the caller stopped it
   * itself and told Shipcast; `refused`: not allowed or not possible, nothing called; `failed`: CodeDeploy
   * answered an error.
   */
  outcome: 'requested' | 'recorded' | 'refused' | 'failed';
  /** What CodeDeploy answered, or why it was refused. */
  detail: string;
}

/** A forward move of a deployment's status, and the targets it was routed to. */
export interface Transition {
  /** 1-based, increasing by one per transition of the deployment. */
  seq: number;
  from: Status | null;
  to: Status;
  at: string;
  /**
   * When Shipcast recorded it (ISO 8601; absent on transitions recorded before it was kept): the sweep finds
   * transitions whose enqueue was lost by it.
   */
  recordedAt?: string;
  eventId: string;
  /** Names of the targets routed for this transition (decided once, when it happened). */
  targets: string[];
  /** Message templates a route set for some of those targets (chat title/text overrides). */
  messages?: Record<string, { title?: string; text?: string }>;
}

/** How enriching from the source's API went. */
export interface Enrichment {
  state: 'done' | 'failed';
  at: string;
  attempts: number;
  error?: string;
}

/** The deployment record: one per deployment, the normalized current state. */
export interface Deployment {
  id: string;
  source: string;
  sourceDeploymentId: string;
  service?: string;
  environment?: string;
  /** The AWS account it ran in (12 digits), when the source says. */
  account?: string;
  /** The AWS region it ran in, when the source says. */
  region?: string;
  version?: string;
  revision?: Revision;
  actor?: string;
  description?: string;
  url?: string;
  hosts?: string[];
  status: Status;
  sourceStatus: string;
  error?: DeploymentError;
  counts?: InstanceCounts;
  /** First time Shipcast heard of it. */
  createdAt: string;
  updatedAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** Shipcast id of the deployment this one rolls back. */
  rollbackOf?: string;
  /** Shipcast id of the rollback that replaced this deployment. */
  rolledBackBy?: string;
  /** Commits it brings, with their times (from the events, or the first push the timeline links). */
  commits?: CommitTime[];
  /** Made to fix a failure (an event said `hotfix`). */
  hotfix?: boolean;
  enrichment?: Enrichment;
  details?: Record<string, string>;
  /** The latest stop someone asked for (and CodeDeploy accepted): chat messages show who, and drop their buttons. */
  stopRequest?: OperatorAction & { at: string };
  /**
   * A stop being asked of CodeDeploy right now (who, since when): a second request meanwhile is refused. It
   * lapses after STOP_CLAIM_LEASE_MS, should the one asking never finish.
   */
  stopClaim?: { actorId: string; at: string };
  transitions: Transition[];
  /** Optimistic-concurrency revision, incremented by every write. */
  rev: number;
}

/** What happened to an event when it was ingested. */
export type EventDisposition = 'applied' | 'duplicate' | 'stale' | 'no-status';

/** An event as kept in a deployment's history. */
export interface StoredEvent extends DeploymentEvent {
  disposition: EventDisposition;
  /** Why a stale event was not applied. */
  note?: string;
}

/** The per-target delivery state of one deployment. */
export interface Delivery {
  deploymentId: string;
  target: string;
  /** Highest transition seq delivered (0: none yet). A lower or equal seq is never sent again. */
  deliveredSeq: number;
  deliveredStatus?: Status;
  state: 'delivered' | 'retrying' | 'failed';
  /** Every attempt recorded, delivered or not. */
  attempts: number;
  /**
   * Attempts in a row at transition `failingSeq` that failed with a retryable error (cleared when a
   * transition is delivered): giving up is decided on it. Messages held back by an open circuit and
   * failed circuit probes are not counted.
   */
  failedAttempts?: number;
  failingSeq?: number;
  lastError?: string;
  updatedAt: string;
  /** The target's own ids (GitHub deployment id, Slack channel + ts, …), kept for later updates. */
  refs?: Record<string, string>;
  rev: number;
}

/** One queue message: deliver one transition of one deployment to one target. */
export interface DispatchMessage {
  v: 1;
  deploymentId: string;
  seq: number;
  target: string;
  /**
   * Set (to the operator event's id) to show the deployment again at the same transition: a living message
   * re-rendered after someone asked to stop it. Sent even when `seq` was delivered already.
   */
  refresh?: string;
}

/** What happened before a deployment: a push, a pull request or a build (the Pipelines events API's kinds). */
export type CiEventType = 'PUSH' | 'PULLREQUEST' | 'BUILD';

/** A build's status, normalized; the source's own word is kept in `sourceStatus`. */
export type BuildStatus =
  | 'waiting'
  | 'queued'
  | 'running'
  | 'succeeded'
  | 'failed'
  | 'timed_out'
  | 'cancelled';

/**
 * A CI event: a push, pull request or build, from the Pipelines-compatible API or a vendor webhook.
 * Events of the same repository and commit form the timeline behind a deployment.
 */
export interface CiEvent {
  /** Deterministic for webhooks (redeliveries are recognised); generated for Pipelines API calls. */
  eventId: string;
  /** Registry name of the source: `pipelines`, `github`, `gitlab`, `cdevents`. */
  source: string;
  type: CiEventType;
  /** The Pipelines `:username` and `:app_name` (for webhooks: the repository owner and name). */
  username: string;
  app: string;
  /** When the event was created (ISO 8601); lists are ordered by it. */
  eventTime: string;
  updatedAt: string;
  /** `owner/name`, lower case, when known: the timeline key together with `commit`. */
  repository?: string;
  commit?: string;
  branch?: string;
  /** The push or pull-request event that triggered this build. */
  parentEventId?: string;
  /** For builds. */
  status?: BuildStatus;
  sourceStatus?: string;
  /** True once a build reached a terminal status: it never changes again. */
  final?: boolean;
  /** Every field as the source sent it (Pipelines field names for the Pipelines API), for listing back. */
  fields: Record<string, string | number | boolean | null>;
  /** Optimistic-concurrency revision. */
  rev: number;
}

/** An incident as stored and as the API shows it (without `rev`). */
export interface Incident {
  /** Shipcast's id: `inc_` + 24 hex digits. */
  id: string;
  /** Where it came from: `api`, `cdevents` or `pagerduty`. */
  source: string;
  /** The caller's own id of the incident, when it gave one. */
  sourceId?: string;
  service: string;
  environment: string;
  severity?: string;
  title: string;
  url?: string;
  status: 'open' | 'resolved';
  openedAt: string;
  resolvedAt?: string;
  /** The deployment it is linked to: named by the caller (`given`) or found by Shipcast (`auto`). */
  deploymentId?: string;
  link: 'given' | 'auto' | 'none';
  /** False when the caller says no change caused it: it then marks no deployment failed. */
  causedByChange: boolean;
  createdAt: string;
  updatedAt: string;
  rev: number;
}
