import { describe, expect, it } from 'vitest';
import type { Deployment, Transition } from '../../functions/core/schema.ts';
import { changeFacts } from '../../functions/core/targets/change-event.ts';

const transition: Transition = {
  seq: 2,
  from: 'in_progress',
  to: 'succeeded',
  at: '2026-03-01T10:07:00.000Z',
  eventId: 'evt_1',
  targets: ['pd'],
};

function deployment(extra: Partial<Deployment> = {}): Deployment {
  return {
    id: 'dep_0123456789abcdef01234567',
    source: 'codedeploy',
    sourceDeploymentId: '123456789012:eu-west-1:d-ABCDEF123',
    service: 'checkout',
    environment: 'checkout-prod',
    status: 'succeeded',
    sourceStatus: 'SUCCEEDED',
    createdAt: '2026-03-01T10:00:00.000Z',
    updatedAt: '2026-03-01T10:07:00.000Z',
    details: { region: 'eu-west-1', account: '123456789012', codeDeployId: 'd-ABCDEF123' },
    transitions: [],
    rev: 3,
    ...extra,
  };
}

describe('change facts', () => {
  it('links a CodeDeploy deployment to its page in the AWS console of its region', () => {
    const facts = changeFacts(deployment({ version: '1.4.2', actor: 'ana' }), transition);

    expect(facts.summary).toBe('checkout 1.4.2 → checkout-prod succeeded (by ana)');
    expect(facts.links).toEqual([
      {
        href: 'https://eu-west-1.console.aws.amazon.com/codesuite/codedeploy/deployments/d-ABCDEF123?region=eu-west-1',
        text: 'CodeDeploy d-ABCDEF123',
      },
    ]);
  });

  it('builds no console link from a region or id that is not AWS’s, and names the commit when there is no version', () => {
    const facts = changeFacts(
      deployment({
        details: { region: 'evil.example.com/x', codeDeployId: 'd-ABCDEF123' },
        revision: { repository: 'acme/checkout', commit: '9f1c2d3e4b5a69788796a5b4c3d2e1f0a9b8c7d6' },
      }),
      transition,
    );

    expect(facts.links).toEqual([
      {
        href: 'https://github.com/acme/checkout/commit/9f1c2d3e4b5a69788796a5b4c3d2e1f0a9b8c7d6',
        text: 'Commit 9f1c2d3',
      },
    ]);
    expect(facts.summary).toBe('checkout 9f1c2d3 → checkout-prod succeeded');
  });

  it('says a successful rollback rolled back', () => {
    const facts = changeFacts(
      deployment({ version: '1.4.1', rollbackOf: 'dep_fedcba9876543210fedcba98' }),
      transition,
    );

    expect(facts.summary).toBe('checkout 1.4.1 → checkout-prod rolled back');
  });
});
