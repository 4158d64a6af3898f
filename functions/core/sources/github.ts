import type { Handler } from 'hono';
import type { RouteContext } from '../api/context.ts';
import { parseJsonBody } from '../api/json.ts';
import { retryOnConflict } from '../errors.ts';
import { deploymentIdFor, eventIdFor } from '../ids.ts';
import { ingestEvents } from '../ingest.ts';
import type { BuildStatus, CiEvent, DeploymentEvent } from '../schema.ts';
import { type Status, wordTable } from '../status.ts';
import {
  answerOnce,
  ciAnswer,
  deliveryId,
  githubSignatureValid,
  type HookAnswer,
  httpUrlOf,
  idOf,
  isFinalBuild,
  isoTime,
  notConfigured,
  obj,
  parseWebhookJson,
  saveCiEventForward,
  sourceSecret,
  str,
  unauthorized,
} from './webhook-signature.ts';

type Json = Record<string, unknown>;

/**
 * Shipcast status per GitHub deployment status `state`. `inactive` (GitHub retired the deployment after
 * a newer one succeeded) says nothing about how this one went: recorded, no status change. `error`
 * (the deployment could not run) and `failure` both end it as failed.
 */
export const DEPLOYMENT_STATE_STATUS: Readonly<Record<string, Status | null>> = wordTable({
  queued: 'queued',
  pending: 'queued',
  in_progress: 'in_progress',
  success: 'succeeded',
  failure: 'failed',
  error: 'failed',
  inactive: null,
});

/**
 * Build status per workflow run `status` (until it is `completed`) and per `conclusion` (after).
 * `neutral` is GitHub's "finished, neither passed nor failed", shown green: succeeded. `skipped` and
 * `stale` (GitHub gave up on the run) never ran to an end: cancelled. `action_required` waits for an
 * approval and the same run continues: waiting, not final.
 */
export const WORKFLOW_STATUS: Readonly<Record<string, BuildStatus>> = wordTable({
  requested: 'queued',
  queued: 'queued',
  pending: 'queued',
  waiting: 'waiting',
  in_progress: 'running',
});
export const WORKFLOW_CONCLUSION: Readonly<Record<string, BuildStatus>> = wordTable({
  success: 'succeeded',
  neutral: 'succeeded',
  failure: 'failed',
  startup_failure: 'failed',
  timed_out: 'timed_out',
  cancelled: 'cancelled',
  skipped: 'cancelled',
  stale: 'cancelled',
  action_required: 'waiting',
});

/**
 * The marker the `github-deployment` target puts in the payload of every GitHub deployment it creates:
 * `payload.shipcast = { marker: "shipcast", deploymentId, source, sourceDeploymentId }`.
 */
const SHIPCAST_MARKER = 'shipcast';
const SHIPCAST_ID = /^dep_[0-9a-f]{24}$/;

/** `POST /v1/hooks/github` (api/optional-routes.ts): deployments, deployment statuses, workflow runs and pushes. */
export function githubHook(context: RouteContext): Handler {
  return async (c) => {
    const configured = context.config.sources.github;
    if (!configured) return notConfigured(c, 'github');
    const raw = new Uint8Array(await c.req.arrayBuffer());
    const secret = await sourceSecret(context, configured.secret);
    if (!githubSignatureValid(c.req.header('x-hub-signature-256'), raw, secret)) {
      context.logger.warn('GitHub webhook refused: signature does not verify', {
        delivery: c.req.header('x-github-delivery'),
      });
      return unauthorized(c, 'X-Hub-Signature-256');
    }
    const delivery = deliveryId(c.req.header('x-github-delivery'), 'X-GitHub-Delivery');
    const event = c.req.header('x-github-event') ?? '';
    return answerOnce(c, context, 'github:delivery', delivery, raw, async () => {
      const body = parseWebhookJson(raw);
      const answer = await handle(event, body, context);
      context.logger.info('GitHub webhook handled', { event, delivery, status: answer.status });
      return answer;
    });
  };
}

async function handle(
  event: string,
  body: Json,
  context: RouteContext,
): Promise<HookAnswer & { remember?: boolean }> {
  const action = str(body.action);
  switch (event) {
    case 'ping':
      return { status: 200, body: { pong: true, hookId: idOf(body.hook_id) ?? null }, remember: false };
    case 'deployment':
    case 'deployment_status':
      if (action !== 'created') return ignored(event, `action ${action ?? '(none)'} is not handled`);
      return deploymentEvent(event, body, context);
    case 'workflow_run':
      return workflowRun(body, context);
    case 'push':
      return push(body, context);
    default:
      return ignored(event || '(no X-GitHub-Event)');
  }
}

function ignored(event: string, reason?: string): HookAnswer & { remember: false } {
  return { status: 202, body: { ignored: event, ...(reason ? { reason } : {}) }, remember: false };
}

interface Repository {
  fullName: string;
  name: string;
  owner: string;
}

function repositoryOf(body: Json): Repository | undefined {
  const repository = obj(body.repository);
  const fullName = str(repository.full_name);
  const name = str(repository.name) ?? fullName?.split('/')[1];
  const owner =
    str(obj(repository.owner).login) ?? str(obj(repository.owner).name) ?? fullName?.split('/')[0];
  return fullName && name && owner ? { fullName, name, owner } : undefined;
}

/** `deployment.payload` as an object (GitHub keeps whatever JSON the creator sent; it may be a string). */
function payloadOf(deployment: Json): Json {
  const payload = deployment.payload;
  if (typeof payload === 'string') {
    try {
      return obj(parseJsonBody(payload, 'deployment.payload'));
    } catch {
      return {};
    }
  }
  return obj(payload);
}

/** The Shipcast deployment id a Shipcast-created GitHub deployment carries, if it is one. */
export function shipcastDeploymentOf(deployment: Json): string | undefined {
  const marker = obj(payloadOf(deployment).shipcast);
  const id = str(marker.deploymentId);
  return marker.marker === SHIPCAST_MARKER && id && SHIPCAST_ID.test(id) ? id : undefined;
}

async function deploymentEvent(
  event: 'deployment' | 'deployment_status',
  body: Json,
  context: RouteContext,
): Promise<HookAnswer> {
  const deployment = obj(body.deployment);
  const status = event === 'deployment_status' ? obj(body.deployment_status) : undefined;
  const repository = repositoryOf(body);
  const githubId = idOf(deployment.id);
  const statusId = status && idOf(status.id);
  const missing = [
    !repository && 'repository.full_name',
    !githubId && 'deployment.id',
    status && !statusId && 'deployment_status.id',
    status && !str(status.state) && 'deployment_status.state',
  ].filter(Boolean);
  if (!repository || !githubId || missing.length > 0) {
    return ignored(event, `the payload lacks ${missing.join(', ')}`);
  }
  const sourceDeploymentId = `${repository.fullName}#${githubId}`;
  const eventId = status
    ? eventIdFor('github', 'deployment_status', repository.fullName, githubId, statusId as string)
    : eventIdFor('github', 'deployment', repository.fullName, githubId, 'created');
  const receivedAt = context.clock.now().toISOString();
  const state = status ? (str(status.state) as string) : 'created';
  const normalized: DeploymentEvent = {
    eventId,
    source: 'github',
    sourceDeploymentId,
    deploymentId: deploymentIdFor('github', sourceDeploymentId),
    kind: 'deployment',
    status: status ? (DEPLOYMENT_STATE_STATUS[state] ?? null) : 'queued',
    sourceStatus: state,
    occurredAt: isoTime(status?.created_at) ?? isoTime(deployment.created_at) ?? receivedAt,
    receivedAt,
    service: str(payloadOf(deployment).service) ?? repository.name,
    environment: str(deployment.environment),
    revision: {
      repository: repository.fullName,
      ...(str(deployment.sha) ? { commit: str(deployment.sha) } : {}),
      ...(str(deployment.ref) ? { ref: str(deployment.ref) } : {}),
    },
    actor: str(obj(deployment.creator).login) ?? str(obj(body.sender).login),
    description: str(status?.description) ?? str(deployment.description),
    url: httpUrlOf(status?.log_url) ?? httpUrlOf(status?.target_url),
    details: {
      githubRepository: repository.fullName,
      githubDeploymentId: githubId,
      ...(str(deployment.task) ? { githubTask: str(deployment.task) as string } : {}),
    },
  };
  for (const key of Object.keys(normalized) as (keyof DeploymentEvent)[]) {
    if (normalized[key] === undefined) delete normalized[key];
  }

  const shipcastId = shipcastDeploymentOf(deployment);
  if (shipcastId) {
    if (await createdByShipcast(shipcastId, repository.fullName, githubId, context))
      return link(normalized, shipcastId, context);
    // Anyone can write the marker and compute an id: only Shipcast's own delivery record proves it.
    context.logger.warn(
      "a GitHub deployment carries Shipcast's marker, but no delivery of that Shipcast deployment created it; recorded as an ordinary deployment",
      { shipcastId, github: sourceDeploymentId },
    );
  }

  const [result] = await ingestEvents([normalized], context);
  return {
    status: 202,
    body: { eventId, deploymentId: normalized.deploymentId, status: result?.status ?? null },
  };
}

/** Re-reads before deciding that Shipcast did not create a marked deployment (ms): the webhook may overtake the record. */
const RECORD_WAITS_MS = [0, 250, 750, 1500];

/**
 * Did Shipcast create GitHub deployment `githubId` of `repository` for its deployment `shipcastId`? Only if a
 * `github-deployment` delivery of that deployment holds both (the target saves them right after creating it).
 * GitHub may announce the deployment before that write lands: while a github-deployment delivery of an existing
 * deployment has no GitHub deployment yet, the record is read again a few times (2.5 s at most).
 */
async function createdByShipcast(
  shipcastId: string,
  repository: string,
  githubId: string,
  context: RouteContext,
): Promise<boolean> {
  const targets = Object.entries(context.config.targets)
    .filter(([, target]) => target.type === 'github-deployment')
    .map(([name]) => name);
  if (targets.length === 0) return false;
  for (const [read, pause] of RECORD_WAITS_MS.entries()) {
    if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause));
    const deliveries = await Promise.all(targets.map((name) => context.store.getDelivery(shipcastId, name)));
    const matches = deliveries.some(
      (delivery) =>
        delivery?.refs?.githubDeploymentId === githubId &&
        delivery.refs.githubRepository?.toLowerCase() === repository.toLowerCase(),
    );
    if (matches) return true;
    if (deliveries.every((delivery) => delivery?.refs?.githubDeploymentId)) return false;
    if (read === 0 && !(await context.store.getDeployment(shipcastId))) return false;
  }
  return false;
}

/**
 * A GitHub deployment Shipcast itself created (through the github-deployment target): its events are
 * kept in the history of the Shipcast deployment it mirrors, with no status of their own, and the
 * record notes the GitHub deployment. No second deployment, no transition, no dispatch: nothing loops.
 */
async function link(event: DeploymentEvent, shipcastId: string, context: RouteContext): Promise<HookAnswer> {
  const { store, logger } = context;
  const current = await store.getDeployment(shipcastId);
  if (!current) {
    logger.warn(
      'a Shipcast-created GitHub deployment names a Shipcast deployment this Shipcast does not have',
      {
        shipcastId,
        github: event.sourceDeploymentId,
      },
    );
    return {
      status: 202,
      body: {
        ignored: 'deployment',
        reason: `created by Shipcast deployment ${shipcastId}, which is not here`,
      },
    };
  }
  await store.putEvent({
    ...event,
    deploymentId: shipcastId,
    status: null,
    disposition: 'no-status',
    note: `linked: GitHub deployment ${event.sourceDeploymentId} was created by Shipcast for this deployment`,
  });
  await retryOnConflict(async () => {
    const { current: record, rev } = await store.loadForUpdate(shipcastId);
    if (!record || record.details?.githubDeploymentId) return;
    await store.saveDeployment(
      {
        ...record,
        details: { ...record.details, ...(event.details ?? {}) },
        updatedAt: context.clock.now().toISOString(),
        rev: (rev ?? 0) + 1,
      },
      rev,
    );
  });
  logger.info('GitHub deployment event linked to its Shipcast deployment', {
    eventId: event.eventId,
    deploymentId: shipcastId,
    github: event.sourceDeploymentId,
  });
  return { status: 200, body: { linked: shipcastId, eventId: event.eventId } };
}

async function workflowRun(body: Json, context: RouteContext): Promise<HookAnswer> {
  const run = obj(body.workflow_run);
  const repository = repositoryOf(body);
  const runId = idOf(run.id);
  if (!repository || !runId)
    return ignored('workflow_run', 'the payload lacks repository or workflow_run.id');
  const attempt = idOf(run.run_attempt) ?? '1';
  const runStatus = str(run.status) ?? str(body.action) ?? 'unknown';
  const conclusion = str(run.conclusion);
  const status =
    runStatus === 'completed' ? conclusion && WORKFLOW_CONCLUSION[conclusion] : WORKFLOW_STATUS[runStatus];
  const now = context.clock.now().toISOString();
  const event: Omit<CiEvent, 'rev'> = {
    eventId: eventIdFor('github', 'workflow_run', repository.fullName.toLowerCase(), runId, attempt),
    source: 'github',
    type: 'BUILD',
    username: repository.owner,
    app: repository.name,
    eventTime: isoTime(run.created_at) ?? now,
    updatedAt: isoTime(run.updated_at) ?? now,
    repository: repository.fullName.toLowerCase(),
    ...(str(run.head_sha) ? { commit: str(run.head_sha) } : {}),
    ...(str(run.head_branch) ? { branch: str(run.head_branch) } : {}),
    ...(status ? { status, final: isFinalBuild(status) } : {}),
    sourceStatus: conclusion ? `${runStatus}/${conclusion}` : runStatus,
    fields: {
      event: 'workflow_run',
      action: str(body.action) ?? null,
      runId,
      runAttempt: attempt,
      runNumber: typeof run.run_number === 'number' ? run.run_number : null,
      workflowId: idOf(run.workflow_id) ?? null,
      name: str(run.name) ?? str(obj(body.workflow).name) ?? null,
      trigger: str(run.event) ?? null,
      status: runStatus,
      conclusion: conclusion ?? null,
      url: httpUrlOf(run.html_url) ?? null,
    },
  };
  const { write, event: saved } = await saveCiEventForward(event, context);
  return ciAnswer(saved, write);
}

const NO_COMMIT = /^0{40}$/;

async function push(body: Json, context: RouteContext): Promise<HookAnswer> {
  const repository = repositoryOf(body);
  const ref = str(body.ref);
  const after = str(body.after);
  if (!repository || !ref || !after) return ignored('push', 'the payload lacks repository, ref or after');
  if (body.deleted === true || NO_COMMIT.test(after)) return ignored('push', `${ref} was deleted`);
  const branch = ref.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : undefined;
  const tag = ref.startsWith('refs/tags/') ? ref.slice('refs/tags/'.length) : undefined;
  const pushedAt = obj(body.repository).pushed_at;
  const now = context.clock.now().toISOString();
  const event: Omit<CiEvent, 'rev'> = {
    eventId: eventIdFor(
      'github',
      'push',
      repository.fullName.toLowerCase(),
      ref,
      str(body.before) ?? '',
      after,
    ),
    source: 'github',
    type: 'PUSH',
    username: repository.owner,
    app: repository.name,
    eventTime: epochTime(pushedAt) ?? now,
    updatedAt: now,
    repository: repository.fullName.toLowerCase(),
    commit: after,
    ...(branch ? { branch } : {}),
    fields: {
      event: 'push',
      ref,
      tag: tag ?? null,
      before: str(body.before) ?? null,
      after,
      forced: body.forced === true,
      created: body.created === true,
      pusher: str(obj(body.pusher).name) ?? str(obj(body.sender).login) ?? null,
      compare: httpUrlOf(body.compare) ?? null,
      message: str(obj(body.head_commit).message, Number.POSITIVE_INFINITY)?.slice(0, 1000) ?? null,
    },
  };
  const { write, event: saved } = await saveCiEventForward(event, context);
  return ciAnswer(saved, write);
}

/** Epoch seconds as an ISO time, if they are a date JavaScript can hold (a signed payload can say 1e20). */
function epochTime(seconds: unknown): string | undefined {
  if (typeof seconds !== 'number') return undefined;
  const date = new Date(seconds * 1000);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}
