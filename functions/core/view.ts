import type { Deployment } from './schema.ts';

/** The deployment as the API and targets show it: no storage internals. */
export function publicDeployment(deployment: Deployment): Omit<Deployment, 'rev'> {
  const { rev: _rev, ...rest } = deployment;
  return rest;
}
