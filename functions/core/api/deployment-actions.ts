import { randomUUID } from 'node:crypto';
import type { Hono } from 'hono';
import { cleanText } from '../chat/sanitize.ts';
import { InvalidInputError, issuesFromZod } from '../errors.ts';
import { lazy } from '../lazy.ts';
import { type OperatorRequest, recordAcceptedStop, recordOperatorEvent } from '../operator-actions.ts';
import { SHIPCAST_DEPLOYMENT_ID } from '../sources/native.ts';
import * as z from '../zod-mini.ts';
import { requireScope } from './auth.ts';
import type { RouteContext } from './context.ts';
import { parseJsonBody, readUtf8Body } from './json.ts';

/**
 * `POST /v1/deployments/{id}/actions`: records in a deployment's history a stop someone made with their own
 * AWS credentials (`shipcast codedeploy stop`), with who asked. Shipcast does not call CodeDeploy here: the
 * authority to stop stays with the caller's IAM identity (and CloudTrail), so an API token that may write
 * events never becomes a way to stop deployments. The history entry, the record's `stopRequest` and the
 * update of the living chat messages are the ones a Slack button makes (operator-actions.ts).
 */
export const DEPLOYMENT_ACTIONS_PATH = '/v1/deployments/:id/actions';

/** The body: what was done, by whom, and what CodeDeploy answered. */
export const deploymentActionSchema = lazy(() =>
  z.strictObject({
    action: z.enum(['stop', 'stop-and-rollback']),
    /** Who asked (a person or a pipeline); shown in the history and on the chat message. */
    actor: z.string().check(z.minLength(1), z.maxLength(100)),
    /** `recorded`: CodeDeploy accepted the stop; `failed`: it refused (the record keeps the attempt). */
    outcome: z._default(z.enum(['recorded', 'failed']), 'recorded'),
    /** What CodeDeploy answered (`Pending`, an error name and message). */
    detail: z.optional(z.string().check(z.minLength(1), z.maxLength(500))),
  }),
);

/**
 * Adds the route (scope `deployments:write`, not the CI's `events:write`: a recorded stop takes the Stop buttons
 * off the Slack message, which a build token must not be able to do).
 */
export function mountDeploymentActions(
  app: Hono<{ Variables: { token: string } }>,
  context: RouteContext,
): void {
  app.post(DEPLOYMENT_ACTIONS_PATH, requireScope(context.config, 'deployments:write'), async (c) => {
    const id = c.req.param('id');
    const parsed = deploymentActionSchema().safeParse(parseJsonBody(await readUtf8Body(c.req)));
    if (!parsed.success) throw new InvalidInputError('request body', issuesFromZod(parsed.error));
    const key = c.req.header('idempotency-key');
    if (key !== undefined && !/^[\x21-\x7e]{1,255}$/.test(key)) {
      throw new InvalidInputError('headers', [
        { path: 'Idempotency-Key', message: 'must be 1-255 printable ASCII characters without spaces' },
      ]);
    }
    const deployment = SHIPCAST_DEPLOYMENT_ID.test(id) ? await context.store.getDeployment(id) : undefined;
    if (!deployment) return c.json({ error: 'not_found', message: `no deployment ${id}` }, 404);
    const body = parsed.data;
    const request: OperatorRequest = {
      deploymentId: id,
      action: body.action,
      via: 'api',
      actor: cleanText(body.actor, 100) || 'unknown',
      // The token is what Shipcast verified; the actor is what its holder says.
      actorId: `token:${c.get('token')}`,
      // The same key records once; without one, every request is an event of its own.
      requestId: key ?? randomUUID(),
    };
    const what = body.action === 'stop' ? 'StopDeployment' : 'StopDeployment with rollback';
    const detail = body.detail ? cleanText(body.detail, 500) : undefined;
    const event =
      body.outcome === 'recorded'
        ? (
            await recordAcceptedStop(
              deployment,
              request,
              'recorded',
              `${what} called by the caller${detail ? `: ${detail}` : ''}`,
              context,
            )
          ).event
        : await recordOperatorEvent(
            deployment,
            request,
            { outcome: 'failed', detail: `${what} failed${detail ? `: ${detail}` : ''}` },
            context,
          );
    context.logger.info('operator action recorded', {
      deploymentId: id,
      action: body.action,
      outcome: body.outcome,
      token: c.get('token'),
    });
    return c.json({ eventId: event.eventId, deploymentId: id, operator: event.operator }, 201);
  });
}
