import type { Deployment, Transition } from '../../functions/core/schema.ts';

/** Fixed deployments for the rendering snapshots. */
export function chatFixture(kind: 'started' | 'succeeded' | 'failed' | 'rolled-back'): {
  deployment: Deployment;
  transition: Transition;
} {
  const status = kind === 'started' ? 'in_progress' : kind === 'failed' ? 'failed' : 'succeeded';
  const transition: Transition = {
    seq: 2,
    from: 'queued',
    to: status,
    at: '2026-03-01T10:06:22.000Z',
    eventId: 'evt_fixture',
    targets: ['chat'],
  };
  const deployment: Deployment = {
    id: kind === 'rolled-back' ? 'dep_0rb7k2' : 'dep_0f4x9q',
    source: 'codedeploy',
    sourceDeploymentId: kind === 'rolled-back' ? 'd-ROLLBACK1' : 'd-4F2KQ8ZX1',
    service: 'checkout',
    environment: 'production',
    version: kind === 'rolled-back' ? '1.4.1' : '1.4.2',
    revision: { repository: 'acme/checkout', commit: '3f9c2b1e8d7a6c5b4a39281706f5e4d3c2b1a098' },
    actor: 'alice',
    description: 'Canary then full rollout',
    url: 'https://console.aws.amazon.com/codesuite/codedeploy/deployments/d-4F2KQ8ZX1',
    status,
    sourceStatus: status,
    createdAt: '2026-03-01T10:00:00.000Z',
    updatedAt: '2026-03-01T10:06:22.000Z',
    startedAt: '2026-03-01T10:00:05.000Z',
    ...(kind === 'started' ? {} : { finishedAt: '2026-03-01T10:06:22.000Z' }),
    ...(kind === 'failed'
      ? {
          error: { code: 'HEALTH_CONSTRAINTS', message: 'Too many individual instances failed deployment' },
          counts: { succeeded: 2, failed: 3 },
        }
      : {}),
    ...(kind === 'rolled-back' ? { rollbackOf: 'dep_0f4x9q' } : {}),
    transitions: [transition],
    rev: 3,
  };
  return { deployment, transition };
}
