import type { SendResult, TargetDefinition } from '../../functions/core/targets/target.ts';
import type { Harness } from './harness.ts';

/**
 * Sends a deployment's first transition to a target again, straight to its `send` with the delivery record as
 * it stands: what a repeated call would do past the dispatcher's own check of the delivered transition.
 */
export async function sendAgain(
  h: Harness,
  definition: TargetDefinition<never>,
  target: string,
  deploymentId: string,
): Promise<SendResult> {
  const deployment = await h.store.getDeployment(deploymentId);
  const delivery = await h.store.getDelivery(deploymentId, target);
  if (!deployment) throw new Error(`no deployment ${deploymentId}`);
  return definition.send(
    { deployment, transition: deployment.transitions[0] as never, delivery },
    {
      name: target,
      config: h.runtime.dispatch.config.targets[target] as never,
      http: h.runtime.dispatch.http,
      secrets: h.runtime.dispatch.secrets,
      logger: h.logs.logger,
      clock: h.clock,
      limiter: h.store,
      deliveryOf: (id, name) => h.store.getDelivery(id, name),
    },
  );
}
