import type { Deployment, Transition } from '../schema.ts';
import { publicDeployment } from '../view.ts';
import type { Notification, TargetContext } from './target.ts';

/**
 * The events Shipcast publishes on buses and webhooks: a CloudEvents 1.0 event in Shipcast's own type,
 * or a CDEvent (spec v0.5) in a CloudEvents envelope. Shared by the `eventbridge` and `webhook` targets.
 * CloudEvents: https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/spec.md;
 * CDEvents: https://github.com/cdevents/spec/tree/v0.5.1 (continuous-deployment.md, cloudevents-binding.md).
 */

/** The formats a target can publish in. */
export type EventFormat = 'shipcast' | 'cloudevents' | 'cdevents';

/** CloudEvents over HTTP: attributes in `ce-*` headers (binary) or everything in the body (structured). */
export type CloudEventsMode = 'binary' | 'structured';

/** The CloudEvents `source` (and EventBridge `Source`) unless a target names its own. */
export const DEFAULT_EVENT_SOURCE = 'shipcast';

/** The CDEvents spec version Shipcast writes in `context.specversion`. */
export const CDEVENTS_SPEC_VERSION = '0.5.1';

/** A CloudEvent, structured-mode JSON (attributes and `data` side by side). */
export interface CloudEvent {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  data: unknown;
}

/** A CDEvent (the `data` of its CloudEvent). */
export interface CDEvent {
  context: { specversion: string; id: string; source: string; type: string; timestamp: string };
  subject: {
    id: string;
    source: string;
    content: { environment: { id: string; source: string }; artifactId?: string };
  };
  customData: unknown;
  customDataContentType: 'application/json';
}

/** The service predicates of CDEvents' continuous-deployment stage that a finished deployment can be. */
export type ServicePredicate = 'deployed' | 'upgraded' | 'rolledback' | 'removed';

/** The event type of each predicate in CDEvents v0.5 (the subject's own version is 0.3.0 for all four). */
const CDEVENT_TYPES: Record<ServicePredicate, string> = {
  deployed: 'dev.cdevents.service.deployed.0.3.0',
  upgraded: 'dev.cdevents.service.upgraded.0.3.0',
  rolledback: 'dev.cdevents.service.rolledback.0.3.0',
  removed: 'dev.cdevents.service.removed.0.3.0',
};

/** Shipcast's own CloudEvents type of a transition: `dev.shipcast.deployment.<status>`. */
export function shipcastEventType(transition: Transition): string {
  return `dev.shipcast.deployment.${transition.to}`;
}

/** The id of a transition's event, the same on every retry: `<deploymentId>:<seq>`. */
export function transitionEventId(deployment: Deployment, transition: Transition): string {
  return `${deployment.id}:${transition.seq}`;
}

/** Shipcast's webhook body (its `shipcast` format), also the `data` of its CloudEvents. */
export function shipcastPayload(deployment: Deployment, transition: Transition) {
  return {
    type: 'deployment.transition',
    id: transitionEventId(deployment, transition),
    deployment: publicDeployment(deployment),
    transition: { seq: transition.seq, from: transition.from, to: transition.to, at: transition.at },
  };
}

/** A transition as a CloudEvent of Shipcast's own type; `data` is the `shipcast` payload. */
export function shipcastCloudEvent(
  deployment: Deployment,
  transition: Transition,
  source: string,
): CloudEvent {
  return {
    specversion: '1.0',
    id: transitionEventId(deployment, transition),
    source,
    type: shipcastEventType(transition),
    subject: deployment.id,
    time: transition.at,
    datacontenttype: 'application/json',
    data: shipcastPayload(deployment, transition),
  };
}

/** What decides between `deployed` and `upgraded`: whether the service ran in the environment before. */
export interface ServiceHistory {
  /** The newest earlier finished deployment of the same service and environment succeeded (and was no removal). */
  deployedBefore: boolean;
}

/**
 * The CDEvents predicate of a transition, or undefined when none applies: CDEvents' service events say a
 * change is done, so only a deployment that succeeded has one. A deployment that came in as a CDEvent keeps
 * its predicate; a rollback (`rollbackOf`) is `rolledback`; otherwise `upgraded` when the service was
 * deployed to the environment before, `deployed` when not.
 */
export function servicePredicate(
  deployment: Deployment,
  transition: Transition,
  history: ServiceHistory,
): ServicePredicate | undefined {
  if (transition.to !== 'succeeded') return undefined;
  const action = deployment.details?.action;
  if (deployment.source === 'cdevents' && action && action in CDEVENT_TYPES)
    return action as ServicePredicate;
  if (deployment.rollbackOf) return 'rolledback';
  return history.deployedBefore ? 'upgraded' : 'deployed';
}

/**
 * The artifact deployed, as the package URL CDEvents asks for: the one a CDEvents source sent, else
 * `pkg:generic/<service>@<version>` (the version, else the commit, else the Shipcast deployment id).
 */
export function artifactIdOf(deployment: Deployment): string {
  if (deployment.details?.artifactId) return deployment.details.artifactId;
  const name = deployment.service?.trim() || deployment.id;
  const version = deployment.version?.trim() || deployment.revision?.commit?.trim() || deployment.id;
  return `pkg:generic/${encodeURIComponent(name)}@${encodeURIComponent(version)}`;
}

/**
 * A transition as a CDEvent, or why there is none (the transition is not a finished, successful change, or
 * the deployment names no environment, which every CDEvents service event requires).
 */
export function cdevent(
  deployment: Deployment,
  transition: Transition,
  source: string,
  history: ServiceHistory,
): { event: CDEvent } | { skipped: string } {
  const predicate = servicePredicate(deployment, transition, history);
  if (!predicate) {
    return { skipped: `CDEvents has no service event for a deployment that is ${transition.to}` };
  }
  const environment = deployment.environment?.trim();
  if (!environment) {
    return { skipped: 'the deployment names no environment, which every CDEvents service event requires' };
  }
  return {
    event: {
      context: {
        specversion: CDEVENTS_SPEC_VERSION,
        id: transitionEventId(deployment, transition),
        source,
        type: CDEVENT_TYPES[predicate],
        timestamp: transition.at,
      },
      subject: {
        id: deployment.service?.trim() || deployment.id,
        source,
        content: {
          environment: { id: environment, source },
          ...(predicate === 'removed' ? {} : { artifactId: artifactIdOf(deployment) }),
        },
      },
      customData: shipcastPayload(deployment, transition),
      customDataContentType: 'application/json',
    },
  };
}

/** A CDEvent in its CloudEvents envelope, as the CDEvents CloudEvents binding maps the attributes. */
export function cdeventCloudEvent(event: CDEvent): CloudEvent {
  return {
    specversion: '1.0',
    id: event.context.id,
    source: event.context.source,
    type: event.context.type,
    subject: event.subject.id,
    time: event.context.timestamp,
    datacontenttype: 'application/json',
    data: event,
  };
}

/**
 * The CloudEvent a target publishes for a transition in `format` (`cloudevents` or `cdevents`), or why it
 * publishes nothing.
 */
export function cloudEventFor(
  format: Exclude<EventFormat, 'shipcast'>,
  deployment: Deployment,
  transition: Transition,
  source: string,
  history: () => Promise<ServiceHistory>,
): Promise<{ event: CloudEvent } | { skipped: string }> {
  if (format === 'cloudevents') {
    return Promise.resolve({ event: shipcastCloudEvent(deployment, transition, source) });
  }
  // Only a successful transition can be a CDEvent: the history (a store read) is looked up for those only.
  if (transition.to !== 'succeeded') {
    return Promise.resolve({
      skipped: `CDEvents has no service event for a deployment that is ${transition.to}`,
    });
  }
  return history().then((known) => {
    const built = cdevent(deployment, transition, source, known);
    return 'event' in built ? { event: cdeventCloudEvent(built.event) } : built;
  });
}

/** The format fields of a target's config. */
export interface EventFormatConfig {
  format?: EventFormat;
  mode?: CloudEventsMode;
  source?: string;
}

/**
 * Whether the service ran in the environment before this deployment: the newest earlier finished deployment
 * of the same service and environment (one store read) succeeded and was not a removal.
 */
export function historyOf(
  context: Pick<TargetContext<unknown>, 'previousDeployment'>,
): () => Promise<ServiceHistory> {
  return async () => {
    const previous = await context.previousDeployment?.();
    return {
      deployedBefore: previous?.status === 'succeeded' && previous.details?.action !== 'removed',
    };
  };
}

/**
 * A webhook's headers (content type, and `ce-*` in binary mode) and body in its configured format, or why
 * this transition has nothing to send in it.
 */
export async function formatWebhookEvent(
  { deployment, transition }: Pick<Notification, 'deployment' | 'transition'>,
  context: Pick<TargetContext<EventFormatConfig>, 'config' | 'previousDeployment'>,
): Promise<{ headers: Record<string, string>; body: string } | { skipped: string }> {
  const { format = 'shipcast', mode = 'structured', source = DEFAULT_EVENT_SOURCE } = context.config;
  if (format === 'shipcast') {
    return {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(shipcastPayload(deployment, transition)),
    };
  }
  const built = await cloudEventFor(format, deployment, transition, source, historyOf(context));
  return 'event' in built ? httpCloudEvent(built.event, mode) : built;
}

/** HTTP headers and body of a CloudEvent in the CloudEvents HTTP binding's binary or structured mode. */
export function httpCloudEvent(
  event: CloudEvent,
  mode: CloudEventsMode,
): { headers: Record<string, string>; body: string } {
  if (mode === 'structured') {
    return {
      headers: { 'content-type': 'application/cloudevents+json; charset=utf-8' },
      body: JSON.stringify(event),
    };
  }
  return {
    headers: {
      'content-type': 'application/json',
      'ce-specversion': event.specversion,
      'ce-id': headerValue(event.id),
      'ce-source': headerValue(event.source),
      'ce-type': headerValue(event.type),
      'ce-subject': headerValue(event.subject),
      'ce-time': event.time,
    },
    body: JSON.stringify(event.data),
  };
}

/**
 * An attribute as a `ce-*` header value: the HTTP binding (3.1.3.2) percent-encodes space, `"`, `%` and
 * everything outside printable ASCII, as UTF-8 bytes.
 */
function headerValue(value: string): string {
  return Array.from(value, (char) =>
    /^[\x21-\x7e]$/.test(char) && char !== '"' && char !== '%'
      ? char
      : Array.from(
          new TextEncoder().encode(char),
          (byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`,
        ).join(''),
  ).join('');
}
