/**
 * Incidents: opened, updated and resolved through `POST /v1/incidents` (or CDEvents incident events, or
 * PagerDuty webhooks), each linked to the deployment that caused it. docs/incidents.md describes the rules.
 */
import { InvalidInputError, issuesFromZod, retryOnConflict } from './errors.ts';
import { stableHash } from './ids.ts';
import { lazy } from './lazy.ts';
import type { DeploymentStore } from './ports.ts';
import { globToRegExp } from './routing.ts';
import type { Incident } from './schema.ts';
import { SHIPCAST_DEPLOYMENT_ID } from './sources/native.ts';
import * as z from './zod-mini.ts';

export type { Incident } from './schema.ts';

/** A Shipcast incident id, as `POST /v1/incidents` answers it. */
export const SHIPCAST_INCIDENT_ID = /^inc_[0-9a-f]{24}$/;

const text = (max: number) =>
  z
    .string()
    .check(z.trim(), z.minLength(1, 'must not be empty'), z.maxLength(max, `at most ${max} characters`));
const dateTime = () =>
  z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time, e.g. 2024-03-01T10:00:00Z' });

/** Body of `POST /v1/incidents`. */
export const incidentBodySchema = lazy(() =>
  z.strictObject({
    id: z.optional(text(200)),
    service: text(128),
    environment: text(128),
    status: z.enum(['open', 'resolved'], { error: 'must be open or resolved' }),
    title: z.optional(text(500)),
    severity: z.optional(text(32)),
    url: z.optional(
      z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).check(z.maxLength(2048)),
    ),
    openedAt: z.optional(dateTime()),
    resolvedAt: z.optional(dateTime()),
    deploymentId: z.optional(
      z
        .string()
        .check(z.regex(SHIPCAST_DEPLOYMENT_ID, 'must be a Shipcast deployment id (dep_ + 24 hex digits)')),
    ),
    causedByChange: z.optional(z.boolean()),
  }),
);

/** A validated incident body. */
export type IncidentBody = z.infer<ReturnType<typeof incidentBodySchema>>;

/** Validates an incident body; every problem is reported with its field path. */
export function parseIncidentBody(body: unknown): IncidentBody {
  const result = incidentBodySchema().safeParse(body);
  if (!result.success) throw new InvalidInputError('request body', issuesFromZod(result.error));
  return result.data;
}

/**
 * The Shipcast id of the incident a body names: its `id` when that is a Shipcast id, else a hash of the
 * source, service, environment and the caller's `id` (or, without one, `openedAt` and `title`).
 */
export function incidentIdFor(source: string, body: IncidentBody): string {
  if (body.id && SHIPCAST_INCIDENT_ID.test(body.id)) return body.id;
  if (body.id) return `inc_${stableHash(source, body.service, body.environment, body.id)}`;
  if (!body.openedAt || !body.title) {
    throw new InvalidInputError('request body', [
      {
        path: 'id',
        message:
          'required unless openedAt and title are given: without them a retry or an update of this request could not find the same incident',
      },
    ]);
  }
  return `inc_${stableHash(source, body.service, body.environment, new Date(body.openedAt).toISOString(), body.title)}`;
}

/** What applying an incident body needs. */
export interface IncidentContext {
  store: DeploymentStore;
  now: string;
  productionEnvironments: string[];
  /** The title of a new incident the body gives none (an event source's); else a new incident needs one. */
  defaultTitle?: string;
  /**
   * False: an `open` body leaves a resolved incident resolved (an event source's late or redelivered
   * detection); the API reopens it.
   */
  reopen?: boolean;
}

/**
 * Opens, updates or resolves the incident the body names, links it to its deployment and stores it.
 * Everything is checked before anything is written: a rejected body stores nothing.
 */
export async function applyIncident(
  source: string,
  body: IncidentBody,
  context: IncidentContext,
): Promise<{ incident: Incident; created: boolean }> {
  // Two writers of one incident: the one that lost the conditional write reads it again and applies its body.
  return retryOnConflict(() => applyOnce(source, body, context), MAX_ATTEMPTS);
}

/** Writes of one incident tried at most, when another writer got in first. */
const MAX_ATTEMPTS = 3;

async function applyOnce(
  source: string,
  body: IncidentBody,
  context: IncidentContext,
): Promise<{ incident: Incident; created: boolean }> {
  const id = incidentIdFor(source, body);
  const current = await context.store.getIncident(id);
  const problems: { path: string; message: string }[] = [];
  if (!current && SHIPCAST_INCIDENT_ID.test(body.id ?? '')) {
    problems.push({ path: 'id', message: `no incident ${body.id}; send your own id to open one` });
  }
  if (current && (current.service !== body.service || current.environment !== body.environment)) {
    problems.push({
      path: current.service !== body.service ? 'service' : 'environment',
      message: `incident ${id} is ${current.service} in ${current.environment}; it cannot move`,
    });
  }
  const title = body.title ?? current?.title ?? context.defaultTitle;
  if (!title) problems.push({ path: 'title', message: 'required to open an incident' });
  const status =
    body.status === 'open' && current?.status === 'resolved' && context.reopen === false
      ? 'resolved'
      : body.status;
  const openedAt = iso(body.openedAt) ?? current?.openedAt ?? context.now;
  const resolvedAt =
    status === 'resolved' ? (iso(body.resolvedAt) ?? current?.resolvedAt ?? context.now) : undefined;
  if (body.status === 'open' && body.resolvedAt) {
    problems.push({ path: 'resolvedAt', message: 'only with status resolved' });
  }
  if (resolvedAt && resolvedAt < openedAt) {
    problems.push({ path: 'resolvedAt', message: `must not be before openedAt (${openedAt})` });
  }
  let deploymentId = body.deploymentId ?? (current?.link === 'given' ? current.deploymentId : undefined);
  let link: Incident['link'] = deploymentId ? 'given' : 'none';
  if (body.deploymentId) {
    const deployment = await context.store.getDeployment(body.deploymentId);
    if (!deployment || deployment.service !== body.service) {
      problems.push({
        path: 'deploymentId',
        message: deployment
          ? `deployment ${body.deploymentId} is of service ${deployment.service ?? '(none)'}, not ${body.service}`
          : `no deployment ${body.deploymentId}`,
      });
    }
  }
  if (problems.length > 0) throw new InvalidInputError('request body', problems);
  if (!deploymentId && isProduction(body.environment, context.productionEnvironments)) {
    deploymentId = (await context.store.latestSucceededBefore(body.service, body.environment, openedAt))?.id;
    if (deploymentId) link = 'auto';
  }
  const incident: Incident = {
    id,
    source,
    ...((body.id && !SHIPCAST_INCIDENT_ID.test(body.id)) || current?.sourceId
      ? { sourceId: current?.sourceId ?? body.id }
      : {}),
    service: body.service,
    environment: body.environment,
    ...optional('severity', body.severity ?? current?.severity),
    title: title as string,
    ...optional('url', body.url ?? current?.url),
    status,
    openedAt,
    ...optional('resolvedAt', resolvedAt),
    ...optional('deploymentId', deploymentId),
    link,
    causedByChange: body.causedByChange ?? current?.causedByChange ?? true,
    createdAt: current?.createdAt ?? context.now,
    updatedAt: context.now,
    rev: (current?.rev ?? 0) + 1,
  };
  await context.store.saveIncident(incident, current ? current.rev : null, current?.deploymentId);
  return { incident, created: !current };
}

/** Whether an environment is a production one by `dora.productionEnvironments` globs. */
export function isProduction(environment: string, globs: string[]): boolean {
  return globs.some((glob) => globToRegExp(glob).test(environment));
}

function iso(value: string | undefined): string | undefined {
  return value === undefined ? undefined : new Date(value).toISOString();
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
