import { cut } from '../chat/sanitize.ts';
import type { HttpAnswer } from '../http-client.ts';
import type { Deployment, Transition } from '../schema.ts';
import { isTerminal } from '../status.ts';
import { type ChangeFacts, changeFacts, defined, type VendorErrors, vendorCall } from './change-event.ts';
import type { PagerDutyConfig } from './pagerduty.schema.ts';
import { defineTarget } from './target.ts';

/**
 * PagerDuty Change Events: one change event per deployment when it finishes, and (with `onStart`) one
 * when it starts, on the service the routing key belongs to; responders see it on the incident ("recent
 * changes") and in the service's activity.
 *
 * `POST /v2/change/enqueue` with `routing_key`, `payload.summary` (≤ 1024 characters), `payload.source`,
 * `payload.timestamp`, `payload.custom_details` and `links` ({href, text}); 202 accepts it; 400 (an invalid
 * event or routing key) is permanent; 429 and 5xx are retried. Payloads ≤ 512 KB.
 * Docs: developer.pagerduty.com, "Send a Change Event" (PagerDuty/developer-docs
 * docs/events-API-v2/03-Change-Events.md) and "Events API v2 Overview" (response codes & retry logic);
 * error body `{status, message, errors[]}` from PagerDuty/api-schema reference/events-v2/openapiv3.json.
 *
 * Change events have no dedup key: each accepted one is another entry. The delivery's refs say which were
 * sent (`started`, `finished`: the transition seq), so a repeated transition never sends one again.
 */
export const pagerdutyTarget = defineTarget<PagerDutyConfig>({
  type: 'pagerduty',
  secretNames: (config) => [config.routingKey],
  async send({ deployment, transition, delivery }, context) {
    const { config, secrets, http, logger, clock } = context;
    const refs = delivery?.refs ?? {};
    const finishing = isTerminal(transition.to);
    if (!finishing && (!config.onStart || refs.started)) {
      logger.debug('PagerDuty: nothing to send for this transition', { to: transition.to });
      return {};
    }
    if (finishing && refs.finished) {
      logger.info('PagerDuty: the change event of this deployment’s end was already sent', {
        finishedSeq: refs.finished,
      });
      return {};
    }
    const routingKey = await secrets.get(config.routingKey);
    const facts = changeFacts(deployment, transition);
    await vendorCall(
      'PagerDuty change event',
      () =>
        http.send({
          method: 'POST',
          url: `${config.url.replace(/\/+$/, '')}/v2/change/enqueue`,
          body: { routing_key: routingKey, ...changeEvent(deployment, transition, facts, config) },
          timeoutMs: config.timeoutMs,
        }),
      { errors: PAGERDUTY_ERRORS, secrets, secretNames: [config.routingKey], nowMs: clock.now().getTime() },
    );
    return { refs: { [finishing ? 'finished' : 'started']: String(transition.seq) } };
  },
});

/** The change event without its routing key. */
export function changeEvent(
  deployment: Deployment,
  transition: Transition,
  { view, summary, links }: ChangeFacts,
  config: Pick<PagerDutyConfig, 'source'>,
) {
  return {
    payload: {
      summary: cut(summary, 1024),
      source: cut(config.source ?? `${view.service}/${view.environment}`, 255),
      timestamp: (isTerminal(transition.to) ? deployment.finishedAt : deployment.startedAt) ?? transition.at,
      custom_details: defined<string>({
        service: view.service,
        environment: view.environment,
        version: view.version,
        commit: view.commit?.sha,
        repository: view.repository,
        actor: view.actor,
        outcome: view.statusText,
        status: transition.to,
        description: view.description,
        error: view.error,
        duration: view.duration,
        instances: view.counts,
        shipcast_deployment_id: deployment.id,
        source: view.source,
        source_deployment_id: cut(deployment.sourceDeploymentId, 200),
        rollback_of: view.rollbackOf,
      }),
    },
    ...(links.length > 0 ? { links } : {}),
  };
}

/** PagerDuty's error body: `{"status":"invalid event","message":"Event object is invalid","errors":[…]}`. */
const PAGERDUTY_ERRORS: VendorErrors = {
  message(answer: HttpAnswer) {
    const body = answer.json<{ status?: unknown; message?: unknown; errors?: unknown }>();
    if (!body || typeof body !== 'object') return undefined;
    const errors = Array.isArray(body.errors) ? body.errors.filter((e) => typeof e === 'string') : [];
    const message = typeof body.message === 'string' ? body.message : undefined;
    return [message, ...errors].filter(Boolean).join('; ') || undefined;
  },
};
