import type { LogConfig } from './log.schema.ts';
import { defineTarget } from './target.ts';

/** Writes the notification to Shipcast's own log: the default target, needs no credentials. */
export const logTarget = defineTarget<LogConfig>({
  type: 'log',
  secretNames: () => [],
  async send({ deployment, transition }, { name, logger }) {
    logger.info(`${deployment.service ?? '?'} → ${deployment.environment ?? '?'}: ${transition.to}`, {
      target: name,
      deploymentId: deployment.id,
      seq: transition.seq,
      from: transition.from,
      to: transition.to,
      // The logger reserves `service` (the function's own name), so the deployment's facts are nested.
      deployment: {
        service: deployment.service,
        environment: deployment.environment,
        version: deployment.version,
        commit: deployment.revision?.commit,
        actor: deployment.actor,
        source: deployment.source,
      },
    });
    return {};
  },
});
