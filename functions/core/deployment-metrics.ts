import type { Metrics } from './telemetry.ts';

/**
 * The metrics of a finished deployment in one EMF record (written to stdout: no AWS call): `DeploymentFinished`
 * (Count) by service, environment and outcome, and `LeadTimeSeconds` (Seconds) by service and environment when
 * the lead time is known. In this record `service` is the deployed service; `function` is Shipcast's own.
 */
export function deploymentFinished(
  metrics: Metrics,
  deployment: { service: string; environment: string; outcome: string; leadTimeSeconds?: number },
): void {
  if (!metrics.enabled) return;
  const dimension = (value: string) => (value.trim() ? value.slice(0, 1024) : '(none)');
  const leadTime =
    deployment.leadTimeSeconds !== undefined && Number.isFinite(deployment.leadTimeSeconds)
      ? deployment.leadTimeSeconds
      : undefined;
  const directives: Record<string, unknown>[] = [
    {
      Namespace: 'Shipcast',
      Dimensions: [['service', 'environment', 'outcome']],
      Metrics: [{ Name: 'DeploymentFinished', Unit: 'Count' }],
    },
  ];
  if (leadTime !== undefined) {
    directives.push({
      Namespace: 'Shipcast',
      Dimensions: [['service', 'environment']],
      Metrics: [{ Name: 'LeadTimeSeconds', Unit: 'Seconds' }],
    });
  }
  try {
    const record = Object.assign(Object.create(null) as Record<string, unknown>, {
      _aws: { Timestamp: Date.now(), CloudWatchMetrics: directives },
      function: metrics.service,
      service: dimension(deployment.service),
      environment: dimension(deployment.environment),
      outcome: dimension(deployment.outcome),
      DeploymentFinished: 1,
      ...(leadTime !== undefined ? { LeadTimeSeconds: leadTime } : {}),
    });
    process.stdout.write(`${JSON.stringify(record)}\n`);
  } catch {
    // Metrics must not fail the work they count.
  }
}
