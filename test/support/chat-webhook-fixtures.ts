import type { Deployment, Transition } from '../../functions/core/schema.ts';
import type { Status } from '../../functions/core/status.ts';

/** Fixed deployments for rendering snapshots: the same bytes on every run. */
export type Scenario = 'started' | 'succeeded' | 'failed' | 'rolled-back';

export const SCENARIOS: Scenario[] = ['started', 'succeeded', 'failed', 'rolled-back'];

const transition = (seq: number, from: Status | null, to: Status, at: string): Transition => ({
  seq,
  from,
  to,
  at,
  eventId: `evt_fixture_${seq}`,
  targets: ['chat'],
});

const base: Deployment = {
  id: 'dpl_7f3a9c2e1b4d',
  source: 'codedeploy',
  sourceDeploymentId: 'd-4F2KQ8ZX1',
  service: 'checkout',
  environment: 'production',
  version: '1.4.2',
  revision: { repository: 'acme/checkout', commit: '9fceb02d0ae598e95dc970b74767f19372d61af8' },
  actor: 'alice@example.com',
  description: 'Release 1.4.2: faster basket totals',
  url: 'https://deploy.example.com/deployments/d-4F2KQ8ZX1',
  status: 'in_progress',
  sourceStatus: 'InProgress',
  createdAt: '2026-03-01T10:00:00.000Z',
  updatedAt: '2026-03-01T10:00:05.000Z',
  startedAt: '2026-03-01T10:00:05.000Z',
  transitions: [transition(1, null, 'in_progress', '2026-03-01T10:00:05.000Z')],
  rev: 1,
};

/** The deployment record and the transition a target is asked to announce, for each scenario. */
export function scenario(name: Scenario): { deployment: Deployment; transition: Transition } {
  const started = transition(1, null, 'in_progress', '2026-03-01T10:00:05.000Z');
  const finished = (to: Status) => transition(2, 'in_progress', to, '2026-03-01T10:06:22.000Z');
  switch (name) {
    case 'started':
      return { deployment: base, transition: started };
    case 'succeeded': {
      const end = finished('succeeded');
      return {
        deployment: {
          ...base,
          status: 'succeeded',
          sourceStatus: 'Succeeded',
          finishedAt: end.at,
          transitions: [started, end],
          rev: 2,
        },
        transition: end,
      };
    }
    case 'failed': {
      const end = finished('failed');
      return {
        deployment: {
          ...base,
          status: 'failed',
          sourceStatus: 'Failed',
          finishedAt: end.at,
          error: {
            code: 'HEALTH_CONSTRAINTS',
            message: 'The overall deployment failed because too many individual instances failed deployment',
          },
          transitions: [started, end],
          rev: 2,
        },
        transition: end,
      };
    }
    case 'rolled-back': {
      const end = finished('succeeded');
      return {
        deployment: {
          ...base,
          id: 'dpl_9b8c7d6e5f4a',
          sourceDeploymentId: 'd-8H3JW2LQ9',
          version: '1.4.1',
          description: 'Automatic rollback of d-4F2KQ8ZX1',
          url: 'https://deploy.example.com/deployments/d-8H3JW2LQ9',
          actor: 'codedeploy',
          rollbackOf: 'dpl_7f3a9c2e1b4d',
          status: 'succeeded',
          sourceStatus: 'Succeeded',
          finishedAt: end.at,
          transitions: [started, end],
          rev: 2,
        },
        transition: end,
      };
    }
  }
}

/** Every kind of hostile text the chat targets must render inert. */
export const HOSTILE = {
  mentions: '@channel @here @everyone <!channel> <!here> <@U123> <@&123> <#456> <at>x</at> <users/all>',
  markup:
    '*bold* _x_ ~strike~ `code` <b>x</b> [click](https://evil.example) <https://evil.example|docs> # heading',
  invisible: 'pay\u202Elapyap\u2066 iso\u2069 zero\u200Bwidth',
};

/** A failed deployment whose every text field is hostile, with a `javascript:` URL. */
export function hostileScenario(): { deployment: Deployment; transition: Transition } {
  const { deployment, transition: end } = scenario('failed');
  return {
    deployment: {
      ...deployment,
      service: `checkout ${HOSTILE.mentions}`,
      environment: `production ${HOSTILE.invisible}`,
      version: '[1.4.2](https://evil.example/spoof) <https://evil.example|1.4.2>',
      actor: `${HOSTILE.mentions} ${HOSTILE.invisible}`,
      description: `${HOSTILE.markup} ${HOSTILE.mentions} ${HOSTILE.invisible}`,
      url: 'javascript:alert(document.cookie)',
      revision: { repository: 'acme/checkout', commit: '9fceb02](https://evil.example)' },
      error: { code: '<!channel>', message: `${HOSTILE.markup} ${HOSTILE.mentions}` },
    },
    transition: end,
  };
}

/** Characters that reorder or hide text (must never reach a chat). */
export const INVISIBLE = /[\u202A-\u202E\u2066-\u2069\u200B-\u200F\uFEFF]/;

/** Every string inside a JSON value. */
export function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value && typeof value === 'object') return Object.values(value).flatMap(strings);
  return [];
}
