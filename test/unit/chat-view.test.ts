import { describe, expect, it } from 'vitest';
import { chatView } from '../../functions/core/chat/view.ts';
import type { Deployment, Transition } from '../../functions/core/schema.ts';

const transition: Transition = {
  seq: 1,
  from: null,
  to: 'succeeded',
  at: '2026-03-01T10:00:00.000Z',
  eventId: 'evt_1',
  targets: ['chat'],
};

const deployment = (source: string, repository: string, commit: string): Deployment => ({
  id: 'dep_0123456789abcdef01234567',
  source,
  sourceDeploymentId: 'x',
  service: 'checkout',
  environment: 'production',
  revision: { repository, commit },
  status: 'succeeded',
  sourceStatus: 'success',
  createdAt: '2026-03-01T10:00:00.000Z',
  updatedAt: '2026-03-01T10:00:00.000Z',
  transitions: [transition],
  rev: 1,
});

const SHA = '6113728f27ae82c7b1a177c8d03f9e96e0adf246';

describe('chatView commit link', () => {
  it.each([
    ['an owner/name slug from a GitHub-side source', 'native', 'acme/checkout', SHA],
    ['a GitHub URL, whatever the source', 'gitlab', 'https://github.com/acme/checkout.git', SHA],
    ['an abbreviated commit', 'codedeploy', 'acme/checkout', '6113728'],
  ])('links the commit on GitHub for %s', (_what, source, repository, commit) => {
    expect(chatView(deployment(source, repository, commit), transition).commit?.url).toBe(
      `https://github.com/acme/checkout/commit/${commit}`,
    );
  });

  it.each([
    ['a GitLab project path (not a GitHub repository of the same name)', 'gitlab', 'acme/checkout', SHA],
    ['a commit that is not a hex id', 'native', 'acme/checkout', '../../../evil/x'],
    ['a commit with a query', 'native', 'acme/checkout', `${SHA}?x=1`],
    ['an owner of dots', 'native', '../checkout', SHA],
    ['a repository on another host', 'native', 'https://gitlab.com/acme/checkout', SHA],
  ])('makes no link for %s', (_what, source, repository, commit) => {
    expect(chatView(deployment(source, repository, commit), transition).commit?.url).toBeUndefined();
  });
});
