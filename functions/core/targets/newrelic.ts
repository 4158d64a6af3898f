import { PermanentDeliveryError, RetryableDeliveryError } from '../errors.ts';
import { answerOf } from '../http-client.ts';
import type { Deployment, Transition } from '../schema.ts';
import { isTerminal } from '../status.ts';
import { versionOf } from './bigpanda.ts';
import type { NewRelicConfig } from './newrelic.schema.ts';
import { defineTarget, type TargetContext } from './target.ts';

/** NerdGraph of each New Relic data center. */
export const NERDGRAPH_URLS = {
  US: 'https://api.newrelic.com/graphql',
  EU: 'https://api.eu.newrelic.com/graphql',
} as const;

/**
 * NerdGraph error classes worth another try (newrelic-client-go, pkg/nerdgraph: IsRetryableError); a
 * `BAD_API_KEY` error code means the key is wrong (IsUnauthorized). Errors come in a 200 answer.
 */
const RETRYABLE_ERROR_CLASSES = new Set(['TIMEOUT', 'INTERNAL_SERVER_ERROR', 'SERVER_ERROR']);

/**
 * The change-tracking mutation (https://docs.newrelic.com/docs/change-tracking/config/nerdgraph/):
 * `changeTrackingCreateEvent`, the current one (the older `changeTrackingCreateDeployment` only takes a GUID).
 * Values travel as variables, never spliced into the query.
 */
const CREATE_EVENT = `mutation ShipcastChange($event: ChangeTrackingEventInput!) {
  changeTrackingCreateEvent(changeTrackingEvent: $event) {
    changeTrackingEvent { changeTrackingId }
    messages
  }
}`;

const ENTITY_SEARCH = `query ShipcastEntity($query: String!) {
  actor { entitySearch(query: $query) { results { entities { guid name } } } }
}`;

type Context = TargetContext<NewRelicConfig>;

/**
 * New Relic: one change-tracking event (category deployment) per deployment when it ends, on the configured
 * entity (its GUID, or its name looked up once and kept in the delivery's refs), dated at the deployment's
 * start, with version, commit, user, description and deep link. `groupId` is the Shipcast deployment id.
 */
export const newrelicTarget = defineTarget<NewRelicConfig>({
  type: 'newrelic',
  secretNames: (config) => [config.apiKey],
  async send({ deployment, transition, delivery }, context) {
    if (!isTerminal(transition.to)) {
      context.logger.info('New Relic is told when a deployment ends; nothing to send now', {
        to: transition.to,
      });
      return {};
    }
    if (delivery?.refs?.changeTrackingId) {
      context.logger.info('New Relic change event already created for this deployment', {
        changeTrackingId: delivery.refs.changeTrackingId,
      });
      return {};
    }
    const found = context.config.entityGuid ?? delivery?.refs?.entityGuid;
    const entityGuid = found ?? (await findEntity(context));
    const learned: Record<string, string> = found ? {} : { entityGuid };
    let data: unknown;
    try {
      data = await nerdGraph(context, CREATE_EVENT, {
        event: changeEvent(deployment, transition, entityGuid, context.config),
      });
    } catch (error) {
      throw withRefs(error, learned);
    }
    const result = (
      data as {
        changeTrackingCreateEvent?: {
          changeTrackingEvent?: { changeTrackingId?: string };
          messages?: unknown;
        };
      }
    )?.changeTrackingCreateEvent;
    const changeTrackingId = result?.changeTrackingEvent?.changeTrackingId;
    if (!changeTrackingId) {
      throw new PermanentDeliveryError(
        `New Relic created no change event: ${describeMessages(result?.messages) || 'no id in the answer'}`,
        { refs: learned },
      );
    }
    return { refs: { ...learned, changeTrackingId } };
  },
});

/** The mutation's `changeTrackingEvent` input for a finished deployment. */
export function changeEvent(
  deployment: Deployment,
  transition: Transition,
  entityGuid: string,
  config: NewRelicConfig,
) {
  const version = versionOf(deployment);
  const commit = deployment.revision?.commit;
  const deepLink = deployment.url && /^https?:\/\//i.test(deployment.url) ? deployment.url : undefined;
  const started = Date.parse(deployment.startedAt ?? deployment.createdAt);
  const where = deployment.environment ? ` → ${deployment.environment}` : '';
  const details = [
    `Shipcast deployment ${deployment.id} (${deployment.source} ${deployment.sourceDeploymentId}) ${transition.to}`,
    deployment.description,
    deployment.error
      ? `error: ${[deployment.error.code, deployment.error.message].filter(Boolean).join(': ')}`
      : undefined,
    deployment.revision?.repository ? `repository: ${deployment.revision.repository}` : undefined,
  ].filter(Boolean);
  return {
    categoryAndTypeData: {
      kind: { category: 'deployment', type: config.deploymentType ?? 'basic' },
      categoryFields: {
        deployment: { version, ...(commit ? { commit } : {}), ...(deepLink ? { deepLink } : {}) },
      },
    },
    entitySearch: { query: `id = '${entityGuid}'` },
    shortDescription: cut(
      `${deployment.service ?? deployment.id} ${version}${where}: ${transition.to.replace('_', ' ')}`,
      140,
    ),
    description: cut(details.join('\n'), 1000),
    groupId: deployment.id,
    ...(deployment.actor ? { user: cut(deployment.actor, 140) } : {}),
    ...(Number.isNaN(started) ? {} : { timestamp: started }),
  };
}

/** The GUID of the entity named `entityName` in `entityDomain`: exactly one must match the name. */
async function findEntity(context: Context): Promise<string> {
  const { entityName = '', entityDomain = 'APM' } = context.config;
  const query = `name = '${entityName.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}' AND domain = '${entityDomain}'`;
  const data = await nerdGraph(context, ENTITY_SEARCH, { query });
  const entities =
    (data as { actor?: { entitySearch?: { results?: { entities?: { guid?: string; name?: string }[] } } } })
      ?.actor?.entitySearch?.results?.entities ?? [];
  // The search matches names loosely; only an exact name counts.
  const exact = entities.filter((e) => e.name === entityName && typeof e.guid === 'string');
  if (exact.length === 1) return exact[0]?.guid as string;
  throw new PermanentDeliveryError(
    exact.length === 0
      ? `New Relic has no ${entityDomain} entity named "${entityName}": check entityName and entityDomain, or set entityGuid`
      : `${exact.length} New Relic ${entityDomain} entities are named "${entityName}" (${exact
          .map((e) => e.guid)
          .join(', ')}): set entityGuid to the one to use`,
  );
}

/** Sends a GraphQL operation; GraphQL errors (in a 200 answer) become delivery errors by their class. */
async function nerdGraph(
  context: Context,
  query: string,
  variables: Record<string, unknown>,
): Promise<unknown> {
  const { config, http, secrets } = context;
  const key = await secrets.get(config.apiKey);
  let answer: { data?: unknown; errors?: GraphQLError[] } | undefined;
  try {
    const response = await http.send({
      method: 'POST',
      url: config.baseUrl ?? NERDGRAPH_URLS[config.region ?? 'US'],
      headers: { 'api-key': key, 'content-type': 'application/json' },
      body: { query, variables },
      timeoutMs: config.timeoutMs,
    });
    answer = response.json();
  } catch (error) {
    if (answerOf(error)?.status === 401) secrets.invalidate(config.apiKey);
    throw error;
  }
  const errors = answer?.errors ?? [];
  if (errors.length === 0) return answer?.data;
  const message = `NerdGraph answered errors: ${errors
    .map((e) => `${e.message ?? 'error'}${e.extensions?.errorClass ? ` (${e.extensions.errorClass})` : ''}`)
    .join('; ')}`;
  if (errors.some((e) => e.extensions?.errorCode === 'BAD_API_KEY')) {
    secrets.invalidate(config.apiKey);
    throw new PermanentDeliveryError(`${message}: check the User API key in secret "${config.apiKey}"`);
  }
  if (errors.some((e) => RETRYABLE_ERROR_CLASSES.has(e.extensions?.errorClass ?? ''))) {
    throw new RetryableDeliveryError(message);
  }
  throw new PermanentDeliveryError(message);
}

interface GraphQLError {
  message?: string;
  extensions?: { errorClass?: string; errorCode?: string };
}

function describeMessages(messages: unknown): string {
  return Array.isArray(messages) ? messages.map(String).join('; ') : '';
}

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** The same kind of delivery error, carrying the refs learned before it (the entity GUID found). */
function withRefs(error: unknown, refs: Record<string, string>): unknown {
  if (Object.keys(refs).length === 0) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof PermanentDeliveryError)
    return new PermanentDeliveryError(message, { cause: error, refs });
  const retryAfter = error instanceof RetryableDeliveryError ? error.retryAfterSeconds : undefined;
  return new RetryableDeliveryError(message, retryAfter, { cause: error, refs });
}
