import type { Deployment, Transition } from '../../functions/core/schema.ts';
import type { Status } from '../../functions/core/status.ts';

/** Words that try every trick on a chat platform: mentions, markup, spoofed links, invisible characters. */
export const HOSTILE =
  '@channel @here @everyone @all @**all** @*admins* @_**silent** <@U123> *bold* _x_ <b>x</b> ' +
  '[click](https://evil.example) <a href="https://evil.example">docs</a> $$\\pi$$ ~~gone~~ `code` ' +
  '#**general** <time:2026-03-01> :smile: evil.com javascript:alert(1) ' +
  '\u202Eexe.txt\u202C \u2066isolated\u2069 zero\u200Bwidth';

const transition = (seq: number, from: Status | null, to: Status, at: string): Transition => ({
  seq,
  from,
  to,
  at,
  eventId: `evt_fixed_${seq}`,
  targets: ['chat'],
});

/** A fixed deployment record as of one of four moments, for payload snapshots. */
export function fixedDeployment(moment: 'started' | 'succeeded' | 'failed' | 'rolled-back'): {
  deployment: Deployment;
  transition: Transition;
} {
  const started = transition(1, null, 'in_progress', '2026-03-01T10:00:00.000Z');
  const base: Deployment = {
    id: 'dep_01HQFIXED0000000000000000',
    source: 'native',
    sourceDeploymentId: 'deploy-1842',
    service: 'checkout',
    environment: 'production',
    version: '1.4.2',
    revision: { repository: 'acme/checkout', commit: '3f9c2e1b7a6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b' },
    actor: 'alice',
    description: 'Weekly release',
    url: 'https://ci.example.com/deployments/1842',
    status: 'in_progress',
    sourceStatus: 'in_progress',
    createdAt: '2026-03-01T10:00:00.000Z',
    updatedAt: '2026-03-01T10:00:00.000Z',
    startedAt: '2026-03-01T10:00:00.000Z',
    transitions: [started],
    rev: 1,
  };
  if (moment === 'started') return { deployment: base, transition: started };
  const end = (to: Status) => transition(2, 'in_progress', to, '2026-03-01T10:06:17.000Z');
  const finished = { ...base, finishedAt: '2026-03-01T10:06:17.000Z', updatedAt: '2026-03-01T10:06:17.000Z' };
  if (moment === 'succeeded') {
    const t = end('succeeded');
    return { deployment: { ...finished, status: 'succeeded', transitions: [started, t] }, transition: t };
  }
  if (moment === 'failed') {
    const t = end('failed');
    return {
      deployment: {
        ...finished,
        status: 'failed',
        error: { code: 'HEALTH_CONSTRAINTS', message: 'Too many instances failed the health check' },
        transitions: [started, t],
      },
      transition: t,
    };
  }
  const t = end('succeeded');
  return {
    deployment: {
      ...finished,
      id: 'dep_01HQFIXED0000000000000001',
      version: '1.4.1',
      description: 'Roll back to 1.4.1',
      status: 'succeeded',
      rollbackOf: 'dep_01HQFIXED0000000000000000',
      transitions: [started, t],
    },
    transition: t,
  };
}

/** A deployment whose every free-text field is hostile, its link a `javascript:` URL. */
export function hostileDeployment(): { deployment: Deployment; transition: Transition } {
  const { deployment, transition } = fixedDeployment('failed');
  return {
    deployment: {
      ...deployment,
      service: 'checkout <b>@everyone</b>',
      environment: 'prod\u202E @here',
      version: '[1.4.2](https://evil.example/phish)',
      actor: '@**all**',
      description: HOSTILE,
      error: { code: '<a href="https://evil.example">E</a>', message: HOSTILE },
      url: 'javascript:alert(1)',
    },
    transition,
  };
}
