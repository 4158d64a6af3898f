/**
 * CodeDeploy's EventBridge events ("CodeDeploy Deployment State-change Notification" and "CodeDeploy Instance
 * State-change Notification", source `aws.codedeploy`), which CodeDeploy publishes for every deployment group
 * without any per-group set-up. An EventBridge rule puts them on the ingest queue as they are; they are turned
 * into the trigger-message shape and parsed by the same parser, so a deployment reported both by an SNS trigger
 * and by EventBridge is one deployment (same account, region and id) with one transition per status.
 * Shapes: https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-codedeploy.html
 */
import { InvalidInputError, issuesFromZod } from '../errors.ts';
import { lazy } from '../lazy.ts';
import * as z from '../zod-mini.ts';

const DEPLOYMENT = 'CodeDeploy Deployment State-change Notification';
const INSTANCE = 'CodeDeploy Instance State-change Notification';

/**
 * EventBridge states → the trigger statuses they correspond to. A deployment's START is the event of the
 * trigger DeploymentStart, whose message says CREATED: mapping both the same way keeps one transition.
 */
export const EVENTBRIDGE_STATES = {
  deployment: { START: 'Created', SUCCESS: 'Succeeded', FAILURE: 'Failed', STOP: 'Stopped', READY: 'Ready' },
  instance: { START: 'InProgress', SUCCESS: 'Succeeded', FAILURE: 'Failed', READY: 'Ready' },
} as const;

/** True for an event of CodeDeploy's on EventBridge (the other fields are checked when it is converted). */
export function isCodeDeployEventBridgeEvent(value: unknown): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<string, unknown>).source === 'aws.codedeploy' &&
    'detail-type' in value
  );
}

const text = () => z.string().check(z.minLength(1, { error: 'must not be empty' }));

const eventSchema = lazy(() =>
  z.looseObject({
    'detail-type': z.enum([DEPLOYMENT, INSTANCE], { error: `expected "${DEPLOYMENT}" or "${INSTANCE}"` }),
    account: z.string().check(z.regex(/^\d{12}$/, 'expected a 12-digit account id')),
    region: text(),
    time: z.optional(z.string()),
    detail: z.looseObject({
      deploymentId: text(),
      application: z.optional(text()),
      deploymentGroup: z.optional(text()),
      state: text(),
      instanceId: z.optional(text()),
      region: z.optional(text()),
    }),
  }),
);

/** The trigger message the event corresponds to (what an SNS trigger would have published). */
export function eventBridgeToTriggerMessage(value: unknown, where: string): Record<string, unknown> {
  const result = eventSchema().safeParse(value);
  if (!result.success) throw new InvalidInputError(where, issuesFromZod(result.error));
  const event = result.data;
  const kind = event['detail-type'] === DEPLOYMENT ? 'deployment' : 'instance';
  const states: Record<string, string> = EVENTBRIDGE_STATES[kind];
  const status = states[event.detail.state.toUpperCase()];
  if (!status) {
    throw new InvalidInputError(where, [
      {
        path: 'detail.state',
        message: `unknown CodeDeploy ${kind} state "${event.detail.state}"; expected one of ${Object.keys(states).join(', ')}`,
      },
    ]);
  }
  const common = {
    region: event.detail.region ?? event.region,
    accountId: event.account,
    deploymentId: event.detail.deploymentId,
    eventTriggerName: null,
    applicationName: event.detail.application,
    deploymentGroupName: event.detail.deploymentGroup,
  };
  if (kind === 'instance') {
    if (!event.detail.instanceId) {
      throw new InvalidInputError(where, [{ path: 'detail.instanceId', message: 'is required' }]);
    }
    return {
      ...common,
      instanceId: event.detail.instanceId,
      instanceStatus: status,
      lastUpdatedAt: event.time,
    };
  }
  if (!event.detail.application || !event.detail.deploymentGroup) {
    throw new InvalidInputError(where, [
      {
        path: event.detail.application ? 'detail.deploymentGroup' : 'detail.application',
        message: 'is required',
      },
    ]);
  }
  const finished = status === 'Succeeded' || status === 'Failed' || status === 'Stopped';
  return { ...common, status, ...(finished ? { completeTime: event.time } : { createTime: event.time }) };
}
