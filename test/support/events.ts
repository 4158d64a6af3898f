import { deploymentIdFor } from '../../functions/core/ids.ts';
import type { DeploymentEvent } from '../../functions/core/schema.ts';

let counter = 0;

/**
 * A native-source deployment event of checkout/production for the deployment `id`: each call is a new
 * event (its own id and a later `occurredAt`); `extra` overrides any field.
 */
export function nativeEvent(
  id: string,
  status: DeploymentEvent['status'],
  extra: Partial<DeploymentEvent> = {},
): DeploymentEvent {
  counter++;
  return {
    eventId: `evt_${id}_${status}_${counter}`,
    source: 'native',
    sourceDeploymentId: id,
    deploymentId: deploymentIdFor('native', id),
    kind: 'deployment',
    status,
    sourceStatus: String(status),
    occurredAt: new Date(Date.UTC(2026, 2, 1, 10, 0, 0) + counter * 1000).toISOString(),
    receivedAt: '2026-03-01T10:00:00.000Z',
    service: 'checkout',
    environment: 'production',
    ...extra,
  };
}
