import { retryOnConflict } from './errors.ts';
import { eventIdFor } from './ids.ts';
import type { IngestContext } from './ingest.ts';
import { type CodeDeployDeploymentRef, type DeploymentOperations, OperationFailedError } from './ports.ts';
import type { Deployment, DispatchMessage, OperatorAction, StoredEvent } from './schema.ts';
import { CODEDEPLOY_SOURCE } from './sources/codedeploy.ts';
import { isTerminal } from './status.ts';

/**
 * Operators acting on a deployment (stop, stop and roll back), from a Slack button or the HTTP API: one place
 * checks what may be stopped, calls CodeDeploy through the DeploymentOperations port, writes the history
 * event (every request, allowed or not) and has the living chat messages shown again through the dispatch queue.
 */

/** What acting on deployments needs: what ingest needs, plus CodeDeploy (none: stops are refused). */
export interface OperatorContext extends IngestContext {
  operations?: DeploymentOperations;
}

/** One request to act on a deployment. */
export interface OperatorRequest {
  deploymentId: string;
  action: OperatorAction['action'];
  via: OperatorAction['via'];
  actor: string;
  actorId: string;
  /** Unique per request (a Slack click's action_ts, an API request's key): the history event's id comes from it. */
  requestId: string;
}

/** Why a stop was not made. */
export type RefusalReason =
  | 'not_found'
  | 'not_codedeploy'
  | 'finished'
  | 'already_requested'
  | 'no_access'
  | 'not_allowed';

/** What came of a request. */
export type OperatorAnswer =
  | { kind: 'requested'; deployment: Deployment; status: string; message: string }
  | { kind: 'refused'; reason: RefusalReason; message: string }
  | { kind: 'failed'; code: string; message: string };

const MAX_CONFLICT_RETRIES = 8;

/**
 * How long a stop claim holds (the API function's timeout is 10 s): a claim left by a request that never
 * finished (the function timed out between claiming and CodeDeploy's answer) lapses after it.
 */
export const STOP_CLAIM_LEASE_MS = 60_000;

/**
 * Stops a CodeDeploy deployment in progress (rolling it back when asked): refused, with no CodeDeploy call,
 * when the deployment is unknown, not CodeDeploy's, finished, already being stopped, or in an account
 * Shipcast has no role in. Every answer but `not_found` is written to the deployment's history.
 */
export async function stopDeployment(
  request: OperatorRequest,
  context: OperatorContext,
): Promise<OperatorAnswer> {
  const deployment = await context.store.getDeployment(request.deploymentId);
  if (!deployment) {
    return {
      kind: 'refused',
      reason: 'not_found',
      message: `Shipcast has no deployment ${request.deploymentId}`,
    };
  }
  const refusal = refusalFor(deployment, context.operations, context.clock.now().getTime());
  if (refusal) {
    await recordOperatorEvent(deployment, request, { outcome: 'refused', detail: refusal.message }, context);
    return refusal;
  }
  // Claimed on the record before CodeDeploy is called: of two clicks at once, one calls and the other is
  // answered "already asked", instead of both calling.
  const claim = await claimStop(deployment.id, request, context);
  if (claim.kind === 'refused') {
    await recordOperatorEvent(deployment, request, { outcome: 'refused', detail: claim.message }, context);
    return claim;
  }
  const ref = codeDeployRef(deployment) as CodeDeployDeploymentRef;
  const rollback = request.action === 'stop-and-rollback';
  let answer: { status: string; statusMessage?: string };
  try {
    answer = await (context.operations as DeploymentOperations).stopCodeDeploy(ref, { rollback });
  } catch (error) {
    const code = error instanceof OperationFailedError ? error.code : 'Error';
    const message = `CodeDeploy refused StopDeployment of ${ref.deploymentId}: ${(error as Error).message}`;
    context.logger.warn('StopDeployment failed', { deploymentId: deployment.id, code });
    // Nothing was stopped (as far as CodeDeploy said): the claim goes, so that someone can ask again. Should
    // that write fail, the claim lapses by itself.
    await releaseStop(deployment.id, claim.at, context).catch((error: unknown) =>
      context.logger.warn('could not release the stop claim; it lapses by itself', { error: error as Error }),
    );
    await recordOperatorEvent(deployment, request, { outcome: 'failed', detail: message }, context);
    return { kind: 'failed', code, message };
  }
  const message = `CodeDeploy answered StopDeployment of ${ref.deploymentId}${rollback ? ' (with rollback)' : ''}: ${answer.status}${answer.statusMessage ? ` (${answer.statusMessage})` : ''}`;
  const { updated } = await recordAcceptedStop(deployment, request, 'requested', message, context);
  context.logger.info('deployment stop requested', {
    deploymentId: deployment.id,
    codeDeployId: ref.deploymentId,
    rollback,
    via: request.via,
    actorId: request.actorId,
    status: answer.status,
  });
  return { kind: 'requested', deployment: updated ?? deployment, status: answer.status, message };
}

/** Why this deployment cannot be stopped now, or undefined when it can. */
function refusalFor(
  deployment: Deployment,
  operations: DeploymentOperations | undefined,
  now: number,
): Extract<OperatorAnswer, { kind: 'refused' }> | undefined {
  if (deployment.source !== CODEDEPLOY_SOURCE) {
    return {
      kind: 'refused',
      reason: 'not_codedeploy',
      message: `${deployment.id} is a ${deployment.source} deployment: only CodeDeploy deployments can be stopped from Shipcast`,
    };
  }
  if (isTerminal(deployment.status)) {
    return {
      kind: 'refused',
      reason: 'finished',
      message: `the deployment already ended (${deployment.status}): nothing to stop`,
    };
  }
  if (deployment.stopRequest) {
    const by = deployment.stopRequest;
    return {
      kind: 'refused',
      reason: 'already_requested',
      message: `${by.actor} already asked to ${by.action === 'stop' ? 'stop' : 'stop and roll back'} it at ${by.at}`,
    };
  }
  const claim = deployment.stopClaim;
  if (claim && now - Date.parse(claim.at) < STOP_CLAIM_LEASE_MS) {
    return {
      kind: 'refused',
      reason: 'already_requested',
      message: `someone else is asking CodeDeploy to stop it right now (since ${claim.at})`,
    };
  }
  const ref = codeDeployRef(deployment);
  if (!ref) {
    return {
      kind: 'refused',
      reason: 'not_codedeploy',
      message: `the record of ${deployment.id} names no CodeDeploy account, region and deployment id`,
    };
  }
  if (!operations) {
    return {
      kind: 'refused',
      reason: 'no_access',
      message:
        "this Shipcast may not stop deployments (the construct's stopDeployments prop is off, or no CodeDeploy endpoint locally)",
    };
  }
  if (!operations.reaches(ref.account)) {
    return {
      kind: 'refused',
      reason: 'no_access',
      message: `the deployment runs in account ${ref.account}, where Shipcast has no role: stop it there`,
    };
  }
  return undefined;
}

/** The CodeDeploy deployment behind a Shipcast record (`<account>:<region>:<d-…>`), if it is one. */
export function codeDeployRef(deployment: Deployment): CodeDeployDeploymentRef | undefined {
  const [account, region, id] = deployment.sourceDeploymentId.split(':');
  const ref = {
    account: deployment.details?.account ?? account ?? '',
    region: deployment.details?.region ?? region ?? '',
    deploymentId: deployment.details?.codeDeployId ?? id ?? '',
  };
  return /^\d{12}$/.test(ref.account) &&
    /^[a-z]{2}(-[a-z]+)+-\d$/.test(ref.region) &&
    /^d-[A-Z0-9]{9}$/.test(ref.deploymentId)
    ? ref
    : undefined;
}

/**
 * Records a stop CodeDeploy accepted (`requested`: Shipcast called it; `recorded`: the caller, e.g. the CLI
 * with its own AWS credentials, did and says so): the history event, the record's `stopRequest`, and a
 * refresh of the living chat messages.
 */
export async function recordAcceptedStop(
  deployment: Deployment,
  request: OperatorRequest,
  outcome: 'requested' | 'recorded',
  detail: string,
  context: OperatorContext,
): Promise<{ event: StoredEvent; updated?: Deployment }> {
  const event = await recordOperatorEvent(deployment, request, { outcome, detail }, context);
  const updated = isTerminal(deployment.status)
    ? undefined
    : await markStopRequested(deployment.id, event, context);
  if (updated) await refreshLivingMessages(updated, event.eventId, context);
  return { event, updated };
}

/** Writes an operator event (who asked what, and what came of it) to the deployment's history. */
export async function recordOperatorEvent(
  deployment: Deployment,
  request: OperatorRequest,
  result: Pick<OperatorAction, 'outcome' | 'detail'>,
  context: Pick<OperatorContext, 'store' | 'clock'>,
): Promise<StoredEvent> {
  const now = context.clock.now().toISOString();
  const operator: OperatorAction = {
    action: request.action,
    via: request.via,
    actor: request.actor,
    actorId: request.actorId,
    ...result,
  };
  const event: StoredEvent = {
    eventId: eventIdFor('operator', deployment.id, request.via, request.requestId),
    source: deployment.source,
    sourceDeploymentId: deployment.sourceDeploymentId,
    deploymentId: deployment.id,
    kind: 'operator',
    status: null,
    sourceStatus: `${request.action}:${result.outcome}`,
    occurredAt: now,
    receivedAt: now,
    actor: request.actor,
    description: `${describeAction(operator)}: ${result.detail}`,
    operator,
    disposition: 'no-status',
  };
  await context.store.putEvent(event);
  return event;
}

/** `Stop and roll back asked by alice (Slack)`. */
export function describeAction(action: Pick<OperatorAction, 'action' | 'via' | 'actor' | 'outcome'>): string {
  const what = action.action === 'stop' ? 'Stop' : 'Stop and roll back';
  const verb = action.outcome === 'refused' ? 'refused to' : 'asked by';
  return `${what} ${verb} ${action.actor} (${action.via === 'slack' ? 'Slack' : 'API'})`;
}

/** What claiming a stop came to: claimed (at this time), or refused. */
type StopClaim = { kind: 'claimed'; at: string } | Extract<OperatorAnswer, { kind: 'refused' }>;

/**
 * Claims the stop on the record before CodeDeploy is called (conditional on the record's rev): refused when
 * a stop was already asked, someone else's claim holds, or the deployment ended, by the time it is written.
 * The accepted stop then goes on the record as `stopRequest` (recordAcceptedStop), which chat messages show.
 */
async function claimStop(
  deploymentId: string,
  request: OperatorRequest,
  context: OperatorContext,
): Promise<StopClaim> {
  const { result } = await updateRecord<StopClaim>(deploymentId, context, (current, now) => {
    if (!current) {
      return {
        result: {
          kind: 'refused',
          reason: 'not_found',
          message: `Shipcast has no deployment ${deploymentId}`,
        },
      };
    }
    const refusal = refusalFor(current, context.operations, now.getTime());
    if (refusal) return { result: refusal };
    const at = now.toISOString();
    return {
      next: { ...current, stopClaim: { actorId: request.actorId, at } },
      result: { kind: 'claimed', at },
    };
  });
  return result;
}

/** Takes a claim made at `at` off the record again (CodeDeploy refused the stop); another one is left alone. */
async function releaseStop(deploymentId: string, at: string, context: OperatorContext): Promise<void> {
  await updateRecord(deploymentId, context, (current) => {
    if (!current || current.stopClaim?.at !== at) return { result: undefined };
    const { stopClaim: _claim, ...rest } = current;
    return { next: rest, result: undefined };
  });
}

/** Puts the accepted stop on the record (chat messages show it); the record as written, or undefined if gone. */
async function markStopRequested(
  deploymentId: string,
  event: StoredEvent,
  context: OperatorContext,
): Promise<Deployment | undefined> {
  const { written } = await updateRecord(deploymentId, context, (current) => {
    if (!current) return { result: undefined };
    // The claim (if any) has done its work: the stop is on the record now.
    const { stopClaim: _claim, ...rest } = current;
    const stopRequest = { ...(event.operator as OperatorAction), at: event.occurredAt };
    return { next: { ...rest, stopRequest }, result: undefined };
  });
  return written;
}

/**
 * Reads the record, lets `change` decide (`next`: write it, with a new rev and updatedAt; no `next`: write
 * nothing) and writes conditionally on the rev it read, reading again when another writer won. Answers
 * `change`'s result and the record as written, if it was.
 */
async function updateRecord<T>(
  deploymentId: string,
  context: OperatorContext,
  change: (current: Deployment | undefined, now: Date) => { next?: Omit<Deployment, 'rev'>; result: T },
): Promise<{ result: T; written?: Deployment }> {
  return retryOnConflict(async () => {
    const { current, rev } = await context.store.loadForUpdate(deploymentId);
    const now = context.clock.now();
    const { next, result } = change(current, now);
    if (!next) return { result };
    const written: Deployment = { ...next, updatedAt: now.toISOString(), rev: (rev ?? 0) + 1 };
    await context.store.saveDeployment(written, rev);
    return { result, written };
  }, MAX_CONFLICT_RETRIES);
}

/**
 * Queues the deployment's latest transition again for every Slack target it went to, marked as a refresh:
 * the dispatcher updates the living message (who stopped it, no more buttons) like any other delivery.
 */
async function refreshLivingMessages(
  deployment: Deployment,
  eventId: string,
  context: OperatorContext,
): Promise<void> {
  const latest = deployment.transitions.at(-1);
  if (!latest) return;
  const routed = new Set(deployment.transitions.flatMap((t) => t.targets));
  const messages: DispatchMessage[] = [...routed]
    // Only a bot's message is updated in place; an incoming webhook can only post the transition again.
    .filter((name) => {
      // The validated config has `mode` whenever both a token and a webhook URL are set (no target code here:
      // the API bundle carries none).
      const target = context.config.targets[name];
      return target?.type === 'slack' && (target.mode ?? (target.token ? 'bot' : 'webhook')) === 'bot';
    })
    .map((target) => ({ v: 1, deploymentId: deployment.id, seq: latest.seq, target, refresh: eventId }));
  if (messages.length > 0) await context.queue.enqueue(messages);
}
