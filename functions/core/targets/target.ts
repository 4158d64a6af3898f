import type { HttpClient } from '../http-client.ts';
import type { Clock, EventBus, RateLimiter, SecretSource, SesSender } from '../ports.ts';
import type { CiEvent, Delivery, Deployment, Transition } from '../schema.ts';
import type { Logger } from '../telemetry.ts';

/** What a target is asked to announce: one transition of one deployment. */
export interface Notification {
  deployment: Deployment;
  transition: Transition;
  /** The delivery state before this send (holds the target's own ids from earlier sends). */
  delivery?: Delivery;
}

/** What a target gets to do its work. */
export interface TargetContext<C> {
  /** The target's name in the config. */
  name: string;
  config: C;
  http: HttpClient;
  secrets: SecretSource;
  logger: Logger;
  clock: Clock;
  /** Limits shared by all dispatchers (e.g. GitHub's 80 content-creating requests a minute). */
  limiter: RateLimiter;
  /** Title/text templates a route set for this transition, if any (chat targets prefer them to their own). */
  message?: { title?: string; text?: string };
  /** Reads the delivery state of another deployment (e.g. the one a rollback replaced). */
  deliveryOf(deploymentId: string, target: string): Promise<Delivery | undefined>;
  /** The newest earlier finished deployment of the same service and environment (CDEvents: deployed or upgraded). */
  previousDeployment?(): Promise<Deployment | undefined>;
  /** The CI events behind the deployment's commit (pushes, pull requests, builds: its timeline), oldest first. */
  ciEvents?(): Promise<Omit<CiEvent, 'rev'>[]>;
  /** The event bus adapter (EventBridge in AWS and locally), where the runtime has one. */
  eventBus?: EventBus;
  /** Amazon SES, for the `email` target (the dispatcher's runtimes wire it; absent elsewhere). */
  ses?: SesSender;
  /**
   * Saves target ids learned mid-send on this delivery at once, before the send ends (a webhook about what was
   * just created may ask for them). Never throws: when the write fails, the ids are saved with the outcome.
   */
  keep?(refs: Record<string, string>): Promise<void>;
}

/** What a successful send leaves behind: the target's own ids to keep for later sends. */
export interface SendResult {
  refs?: Record<string, string>;
}

/**
 * One destination. Each lives in its own file with one `send`, its config schema in `schemas.ts`;
 * registering it is one line in `targets/index.ts` (and its schema in `TARGET_CONFIG_SCHEMAS`).
 * `send` throws RetryableDeliveryError or PermanentDeliveryError; anything else counts as retryable.
 */
export interface TargetDefinition<C = unknown> {
  type: string;
  /** Names of the secrets the config refers to (to grant and resolve them). */
  secretNames(config: C): string[];
  send(notification: Notification, context: TargetContext<C>): Promise<SendResult>;
  /** AWS permissions the dispatcher needs for this config; the construct grants exactly these. */
  awsPermissions?(config: C): AwsPermission[];
  /**
   * Libraries `send` loads on first use (`import()`), and which of them a config needs: the construct bundles only
   * those into the dispatcher and leaves the others out (their `import()` then never runs).
   */
  lazyModules?: { all: readonly string[]; needed(config: C): string[] };
}

/** One IAM grant: actions on resources of one service, named by the parts of their ARNs (account: the stack's). */
export interface AwsPermission {
  actions: string[];
  /** `arn:<partition>:<service>:<region>:<account>:<resource>/<resourceName>`; region default: the stack's. */
  resources: Array<{ service: string; region?: string; resource: string; resourceName: string }>;
}

/** Helps a target file declare itself with its config type (from `schemas.ts`). */
export function defineTarget<C>(definition: TargetDefinition<C>): TargetDefinition<C> {
  return definition;
}
