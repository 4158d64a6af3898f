import type { Deployment, Incident } from './schema.ts';

/** The deployment as the API and targets show it: no storage internals. */
export function publicDeployment(deployment: Deployment): Omit<Deployment, 'rev'> {
  const { rev: _rev, ...rest } = deployment;
  return rest;
}

/** The incident as the API shows it: every field present (null when unknown), no `rev`. */
export function publicIncident(incident: Incident) {
  return {
    id: incident.id,
    source: incident.source,
    sourceId: incident.sourceId ?? null,
    service: incident.service,
    environment: incident.environment,
    severity: incident.severity ?? null,
    title: incident.title,
    url: incident.url ?? null,
    status: incident.status,
    openedAt: incident.openedAt,
    resolvedAt: incident.resolvedAt ?? null,
    deploymentId: incident.deploymentId ?? null,
    link: incident.link,
    causedByChange: incident.causedByChange,
    createdAt: incident.createdAt,
    updatedAt: incident.updatedAt,
  };
}
