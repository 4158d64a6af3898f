import type { Handler } from 'hono';
import { secretsEqual } from '../api/auth.ts';
import type { RouteContext } from '../api/context.ts';
import { deploymentIdFor, eventIdFor } from '../ids.ts';
import { ingestEvents } from '../ingest.ts';
import type { BuildStatus, CiEvent, DeploymentEvent } from '../schema.ts';
import { type Status, wordTable } from '../status.ts';
import {
  answerOnce,
  ciAnswer,
  deliveryId,
  type HookAnswer,
  httpUrlOf,
  idOf,
  isFinalBuild,
  isoTime,
  MAX_FIELD_CHARS,
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
 * Shipcast status per GitLab deployment `status`. `blocked` waits for an approval (queued); `skipped`
 * never ran (stopped).
 */
export const DEPLOYMENT_STATUS: Readonly<Record<string, Status>> = wordTable({
  created: 'queued',
  blocked: 'queued',
  running: 'in_progress',
  success: 'succeeded',
  failed: 'failed',
  canceled: 'stopped',
  skipped: 'stopped',
});

/**
 * Build status per GitLab pipeline `status`. `manual` and `scheduled` wait for a person or a time
 * (waiting, not final); `skipped` never ran (cancelled); `canceling` is still running.
 */
export const PIPELINE_STATUS: Readonly<Record<string, BuildStatus>> = wordTable({
  created: 'queued',
  waiting_for_resource: 'waiting',
  preparing: 'queued',
  pending: 'queued',
  running: 'running',
  canceling: 'running',
  success: 'succeeded',
  failed: 'failed',
  canceled: 'cancelled',
  skipped: 'cancelled',
  manual: 'waiting',
  scheduled: 'waiting',
});

const FULL_SHA = /^[0-9a-f]{40}$/;

/** `POST /v1/hooks/gitlab` (api/optional-routes.ts): Deployment and Pipeline hooks. */
export function gitlabHook(context: RouteContext): Handler {
  return async (c) => {
    const configured = context.config.sources.gitlab;
    if (!configured) return notConfigured(c, 'gitlab');
    const presented = c.req.header('x-gitlab-token');
    const expected = await sourceSecret(context, configured.token);
    if (!presented || !secretsEqual(presented, expected)) {
      context.logger.warn('GitLab webhook refused: X-Gitlab-Token does not match');
      return unauthorized(c, 'X-Gitlab-Token');
    }
    const raw = new Uint8Array(await c.req.arrayBuffer());
    // Idempotency-Key stays the same when GitLab retries or a person resends the request;
    // X-Gitlab-Event-UUID (older GitLab) identifies the event.
    const delivery =
      deliveryId(c.req.header('idempotency-key'), 'Idempotency-Key') ??
      deliveryId(c.req.header('x-gitlab-event-uuid'), 'X-Gitlab-Event-UUID');
    return answerOnce(c, context, 'gitlab:delivery', delivery, raw, async () => {
      const body = parseWebhookJson(raw);
      const kind = str(body.object_kind) ?? '';
      const answer =
        kind === 'deployment'
          ? await deployment(body, context)
          : kind === 'pipeline'
            ? await pipeline(body, context)
            : ignored(kind || c.req.header('x-gitlab-event') || '(no object_kind)');
      context.logger.info('GitLab webhook handled', { kind, delivery, status: answer.status });
      return answer;
    });
  };
}

function ignored(kind: string, reason?: string): HookAnswer & { remember: false } {
  return { status: 202, body: { ignored: kind, ...(reason ? { reason } : {}) }, remember: false };
}

/** `group/sub/project` → its path, namespace and name. */
function projectOf(body: Json): { path: string; namespace: string; name: string } | undefined {
  const path = str(obj(body.project).path_with_namespace);
  if (!path?.includes('/')) return undefined;
  const cut = path.lastIndexOf('/');
  return { path, namespace: path.slice(0, cut), name: path.slice(cut + 1) };
}

async function deployment(body: Json, context: RouteContext): Promise<HookAnswer> {
  const project = projectOf(body);
  const id = idOf(body.deployment_id);
  const sourceStatus = str(body.status);
  if (!project || !id || !sourceStatus) {
    return ignored('deployment', 'the payload lacks project.path_with_namespace, deployment_id or status');
  }
  const sourceDeploymentId = `${project.path}#${id}`;
  const receivedAt = context.clock.now().toISOString();
  const fromUrl = str(body.commit_url)?.split('/').pop();
  const commit = fromUrl && FULL_SHA.test(fromUrl) ? fromUrl : str(body.short_sha);
  const event: DeploymentEvent = {
    eventId: eventIdFor('gitlab', 'deployment', project.path, id, sourceStatus),
    source: 'gitlab',
    sourceDeploymentId,
    deploymentId: deploymentIdFor('gitlab', sourceDeploymentId),
    kind: 'deployment',
    status: DEPLOYMENT_STATUS[sourceStatus] ?? null,
    sourceStatus,
    occurredAt: isoTime(body.status_changed_at) ?? receivedAt,
    receivedAt,
    service: project.name,
    revision: {
      repository: project.path,
      ...(commit ? { commit } : {}),
      ...(str(body.ref) ? { ref: str(body.ref) } : {}),
    },
    details: {
      gitlabProject: project.path,
      gitlabDeploymentId: id,
      ...(str(body.environment_tier) ? { environmentTier: str(body.environment_tier) as string } : {}),
      ...(httpUrlOf(body.environment_external_url)
        ? { environmentUrl: httpUrlOf(body.environment_external_url) as string }
        : {}),
    },
  };
  const environment = str(body.environment);
  const actor = str(obj(body.user).username);
  const url = httpUrlOf(body.deployable_url);
  const description = str(body.commit_title, Number.POSITIVE_INFINITY)?.slice(0, MAX_FIELD_CHARS);
  if (environment) event.environment = environment;
  if (actor) event.actor = actor;
  // The user's address, for the email target's interested users (GitLab sends "[REDACTED]" when it is private).
  const actorEmail = str(obj(body.user).email);
  if (actorEmail && /^[^\s@<>",;:]+@[^\s@<>",;:]+\.[A-Za-z]{2,63}$/.test(actorEmail)) {
    event.details = { ...event.details, actorEmail };
  }
  if (url) event.url = url;
  if (description) event.description = description;
  const [result] = await ingestEvents([event], context);
  return {
    status: 202,
    body: { eventId: event.eventId, deploymentId: event.deploymentId, status: result?.status ?? null },
  };
}

async function pipeline(body: Json, context: RouteContext): Promise<HookAnswer> {
  const project = projectOf(body);
  const attributes = obj(body.object_attributes);
  const id = idOf(attributes.id);
  const sourceStatus = str(attributes.status);
  if (!project || !id || !sourceStatus) {
    return ignored(
      'pipeline',
      'the payload lacks project.path_with_namespace, object_attributes.id or status',
    );
  }
  const status = PIPELINE_STATUS[sourceStatus];
  const now = context.clock.now().toISOString();
  const ref = str(attributes.ref);
  const event: Omit<CiEvent, 'rev'> = {
    eventId: eventIdFor('gitlab', 'pipeline', project.path.toLowerCase(), id),
    source: 'gitlab',
    type: 'BUILD',
    username: project.namespace,
    app: project.name,
    eventTime: isoTime(attributes.created_at) ?? now,
    updatedAt: isoTime(attributes.finished_at) ?? now,
    repository: project.path.toLowerCase(),
    ...(str(attributes.sha) ? { commit: str(attributes.sha) } : {}),
    ...(ref && attributes.tag !== true ? { branch: ref } : {}),
    ...(status ? { status, final: isFinalBuild(status) } : {}),
    sourceStatus,
    fields: {
      event: 'pipeline',
      pipelineId: id,
      iid: idOf(attributes.iid) ?? null,
      name: str(attributes.name) ?? null,
      ref: ref ?? null,
      tag: attributes.tag === true,
      trigger: str(attributes.source) ?? null,
      status: sourceStatus,
      duration: typeof attributes.duration === 'number' ? attributes.duration : null,
      url: httpUrlOf(attributes.url) ?? null,
      user: str(obj(body.user).username) ?? null,
    },
  };
  const { write, event: saved } = await saveCiEventForward(event, context);
  return ciAnswer(saved, write);
}
