import { InvalidInputError, issuesFromZod } from '../errors.ts';
import { deploymentIdFor } from '../ids.ts';
import { lazy } from '../lazy.ts';
import type { Deployment, DeploymentEvent } from '../schema.ts';
import { type Status, wordTable } from '../status.ts';
import { isRepositoryReference, withoutCredentials } from '../timeline.ts';
import * as z from '../zod-mini.ts';

/** How the native API's status words map to Shipcast statuses (case-insensitive). */
export const NATIVE_STATUS_TABLE: Readonly<Record<string, Status>> = wordTable({
  queued: 'queued',
  pending: 'queued',
  in_progress: 'in_progress',
  started: 'in_progress',
  running: 'in_progress',
  succeeded: 'succeeded',
  success: 'succeeded',
  failed: 'failed',
  failure: 'failed',
  error: 'failed',
  stopped: 'stopped',
  cancelled: 'stopped',
  canceled: 'stopped',
  aborted: 'stopped',
});

const text = (max: number) =>
  z
    .string()
    .check(z.trim(), z.minLength(1, 'must not be empty'), z.maxLength(max, `at most ${max} characters`));

const dateTime = () =>
  z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time, e.g. 2024-03-01T10:00:00Z' });

/** Body of `POST /v1/events`. */
export const nativeEventSchema = lazy(() =>
  z.strictObject({
    service: text(128),
    environment: text(128),
    status: z
      .pipe(
        z.string(),
        z.transform((s) => s.trim().toLowerCase()),
      )
      .check(
        z.refine((s) => s in NATIVE_STATUS_TABLE, {
          message: `must be one of: ${Object.keys(NATIVE_STATUS_TABLE).join(', ')}`,
        }),
      ),
    deploymentId: z.optional(text(200)),
    version: z.optional(text(128)),
    repository: z.optional(
      text(256).check(
        z.refine(isRepositoryReference, {
          message:
            'must name a repository: owner/name (GitLab: group/subgroup/name) or its clone URL, without spaces, control characters or . and .. segments',
        }),
      ),
    ),
    commit: z.optional(text(128)),
    ref: z.optional(text(256)),
    actor: z.optional(text(128)),
    description: z.optional(text(2000)),
    url: z.optional(
      z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).check(z.maxLength(2048)),
    ),
    hosts: z.optional(z.array(text(255)).check(z.maxLength(1000, 'at most 1000 hosts'))),
    timestamp: z.optional(dateTime()),
    /** Commits this deployment brings and when each was made (DORA's change lead time). */
    commits: z.optional(
      z
        .array(z.strictObject({ sha: text(128), time: dateTime() }))
        .check(z.maxLength(MAX_COMMITS, `at most ${MAX_COMMITS} commits`)),
    ),
    /** When `commit` was made: the same as `commits: [{ sha: commit, time: commitTime }]`. */
    commitTime: z.optional(dateTime()),
    /** Made to fix a failure: counts as rework in the DORA metrics. */
    hotfix: z.optional(z.boolean()),
  }),
);

/** Commits one native event may list. */
export const MAX_COMMITS = 250;

/** A validated native event body. */
export type NativeEventBody = z.infer<ReturnType<typeof nativeEventSchema>>;

/** Validates a native event body; every problem is reported with its field path. */
export function parseNativeEvent(body: unknown): NativeEventBody {
  const result = nativeEventSchema().safeParse(body);
  if (!result.success) throw new InvalidInputError('request body', issuesFromZod(result.error));
  if (result.data.commitTime && !result.data.commit) {
    throw new InvalidInputError('request body', [
      { path: 'commitTime', message: 'only with commit (the commit it is the time of)' },
    ]);
  }
  return result.data;
}

/** A Shipcast deployment id (`dep_` + 24 hex digits), as `POST /v1/events` answers it in `deploymentId`. */
export const SHIPCAST_DEPLOYMENT_ID = /^dep_[0-9a-f]{24}$/;

/** Whether the body names its deployment (`deploymentId`, `version` or `commit`), so a retry finds the same one. */
export function hasIdentity(body: NativeEventBody): boolean {
  return body.deploymentId !== undefined || body.version !== undefined || body.commit !== undefined;
}

/**
 * Checks that the Shipcast deployment a body's `deploymentId` names (see SHIPCAST_DEPLOYMENT_ID) exists and
 * is of the body's service and environment; an InvalidInputError naming `deploymentId` otherwise.
 */
export function checkShipcastDeployment(
  body: NativeEventBody,
  deployment: Deployment | undefined,
): Deployment {
  const problem = !deployment
    ? `${body.deploymentId} has the form of a Shipcast deployment id (dep_ + 24 hex digits) but no such deployment exists; send the id Shipcast answered, or your own id in another form`
    : deployment.service !== body.service || deployment.environment !== body.environment
      ? `Shipcast deployment ${body.deploymentId} is ${deployment.service ?? '(no service)'} in ${deployment.environment ?? '(no environment)'}, not ${body.service} in ${body.environment}`
      : undefined;
  if (problem) throw new InvalidInputError('request body', [{ path: 'deploymentId', message: problem }]);
  return deployment as Deployment;
}

/**
 * Normalizes a native event. The deployment is `shipcast` when the body's `deploymentId` is that Shipcast
 * deployment's id (checked by checkShipcastDeployment), else the caller's `deploymentId` within the service,
 * else the service+environment+version (or commit), else this event alone.
 */
export function normalizeNativeEvent(
  body: NativeEventBody,
  eventId: string,
  receivedAt: string,
  shipcast?: Deployment,
): DeploymentEvent {
  const identity = body.deploymentId ?? body.version ?? body.commit;
  const sourceDeploymentId = shipcast
    ? shipcast.sourceDeploymentId
    : body.deploymentId
      ? joinParts(body.service, body.deploymentId)
      : joinParts(body.service, body.environment, identity ?? eventId);
  const status = NATIVE_STATUS_TABLE[body.status] as Status;
  const occurredAt = body.timestamp ? new Date(body.timestamp).toISOString() : receivedAt;
  return {
    eventId,
    source: 'native',
    sourceDeploymentId,
    deploymentId: shipcast ? shipcast.id : deploymentIdFor('native', sourceDeploymentId),
    kind: 'deployment',
    status,
    sourceStatus: body.status,
    occurredAt,
    receivedAt,
    service: body.service,
    environment: body.environment,
    version: body.version,
    revision:
      body.repository || body.commit || body.ref
        ? { repository: withoutCredentials(body.repository), commit: body.commit, ref: body.ref }
        : undefined,
    actor: body.actor,
    description: body.description,
    url: body.url,
    hosts: body.hosts,
    commits: eventCommits(body),
    hotfix: body.hotfix,
    startedAt: status === 'in_progress' ? occurredAt : undefined,
    finishedAt:
      status === 'succeeded' || status === 'failed' || status === 'stopped' ? occurredAt : undefined,
  };
}

/** The body's `commits` and its `commit` with `commitTime`, times normalized to UTC, each sha once. */
function eventCommits(body: NativeEventBody): DeploymentEvent['commits'] {
  const listed = [...(body.commits ?? [])];
  if (body.commit && body.commitTime) listed.push({ sha: body.commit, time: body.commitTime });
  if (listed.length === 0) return undefined;
  const bySha = new Map<string, string>();
  for (const c of listed) if (!bySha.has(c.sha)) bySha.set(c.sha, new Date(c.time).toISOString());
  return [...bySha].map(([sha, time]) => ({ sha, time }));
}

/**
 * Joins the parts of a native deployment's identity with `/`, escaping `%` and `/` inside a part, so that
 * different parts never make the same identity (`a/b` + `c` is not `a` + `b/c`; a caller's deploymentId
 * `production/1.4.2` is not environment `production` + version `1.4.2`). Parts without either character
 * are kept as they are.
 */
function joinParts(...parts: string[]): string {
  return parts.map((part) => part.replaceAll('%', '%25').replaceAll('/', '%2F')).join('/');
}
