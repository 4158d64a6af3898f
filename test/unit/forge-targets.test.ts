import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/core/config.ts';
import { ConfigError } from '../../functions/core/errors.ts';
import {
  type BitbucketConnection,
  parseBitbucketRepo,
  statusKey,
} from '../../functions/core/targets/bitbucket.ts';
import { gitlabWait, parseGitLabProject } from '../../functions/core/targets/gitlab.ts';
import { markdownText } from '../../functions/core/targets/pr-comment.ts';

const configWith = (target: Record<string, unknown>) => ({
  api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
  targets: { forge: target },
  routes: [{ targets: ['forge'] }],
});

/** The issues parseConfig reports for a config with this one target, as `path: message`. */
function issuesOf(target: Record<string, unknown>): string[] {
  try {
    parseConfig(configWith(target), 'test');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
  }
  return [];
}

describe('status keys', () => {
  it('keeps a short key readable and unchanged', () => {
    expect(statusKey('shipcast-shop-production')).toBe('shipcast-shop-production');
  });

  it('replaces characters outside letters, digits, dot, underscore and dash', () => {
    expect(statusKey('shipcast/shop eu → prod')).toBe('shipcast-shop-eu-prod');
  });

  it('shortens a long key to at most 40 characters with a hash of the whole key, so shared prefixes stay apart', () => {
    const a = statusKey('shipcast-checkout-payments-and-invoicing-production-eu-west-1');
    const b = statusKey('shipcast-checkout-payments-and-invoicing-production-us-east-1');
    expect(a).toMatch(/^shipcast-checkout-payments-and-[0-9a-f]{8}$/);
    expect(statusKey('shipcast-checkout-payments-invoices-production-eu-west-1')).toHaveLength(40);
    expect(b.slice(0, 31)).toBe(a.slice(0, 31));
    expect(b).not.toBe(a);
    expect(statusKey('shipcast-checkout-payments-and-invoicing-production-eu-west-1')).toBe(a);
  });
});

describe('inert Markdown', () => {
  it('breaks mentions and references with a word joiner and escapes every ASCII punctuation mark', () => {
    expect(markdownText('@alice see #12 [x](https://e.example)')).toBe(
      '\\@\u2060alice see \\#\u206012 \\[x\\]\\(https\\:\\/\\/e\\.example\\)',
    );
  });

  it('removes bidi and zero-width characters and collapses whitespace', () => {
    expect(markdownText('a\u202Eb\u200Bc\n\n d')).toBe('abc d');
  });
});

describe('GitLab projects', () => {
  const gitlab = 'https://gitlab.example.com';

  it.each([
    ['https://gitlab.example.com/acme/platform/shop.git', 'acme/platform/shop'],
    ['https://gitlab.example.com/acme/shop/-/tree/main', 'acme/shop'],
    ['git@gitlab.example.com:acme/shop.git', 'acme/shop'],
    ['ssh://git@gitlab.example.com:2222/acme/shop.git', 'acme/shop'],
  ])('reads %s as %s', (repository, project) => {
    expect(parseGitLabProject(repository, gitlab, false)).toBe(project);
  });

  it('strips the relative URL of an instance under a path', () => {
    expect(
      parseGitLabProject('https://example.com/gitlab/acme/shop', 'https://example.com/gitlab', false),
    ).toBe('acme/shop');
  });

  it('takes a bare path only from the GitLab source, and no URL of another host', () => {
    expect(parseGitLabProject('acme/shop', gitlab, true)).toBe('acme/shop');
    expect(parseGitLabProject('acme/shop', gitlab, false)).toBeUndefined();
    expect(parseGitLabProject('https://github.com/acme/shop', gitlab, false)).toBeUndefined();
    expect(parseGitLabProject('https://gitlab.example.com/acme/../shop', gitlab, false)).toBeUndefined();
  });

  it('waits as long as Retry-After says, else until the epoch RateLimit-Reset, else a minute', () => {
    const now = Date.UTC(2026, 2, 1, 10, 0, 0);
    expect(gitlabWait(new Headers({ 'retry-after': '12' }), now)).toBe(12);
    expect(gitlabWait(new Headers({ 'ratelimit-reset': String(now / 1000 + 40) }), now)).toBe(40);
    expect(
      gitlabWait(new Headers({ 'ratelimit-resettime': new Date(now + 25_000).toUTCString() }), now),
    ).toBe(25);
    expect(gitlabWait(new Headers(), now)).toBe(60);
  });
});

describe('Bitbucket repositories', () => {
  const cloud: BitbucketConnection = { api: 'cloud' };
  const server: BitbucketConnection = { api: 'server', baseUrl: 'https://bitbucket.example.com/bb' };

  it.each([
    ['https://bitbucket.org/acme/shop.git', { owner: 'acme', slug: 'shop' }],
    ['git@bitbucket.org:acme/shop.git', { owner: 'acme', slug: 'shop' }],
    ['https://jdoe@bitbucket.org/acme/shop/src/main/', { owner: 'acme', slug: 'shop' }],
  ])('reads the Cloud URL %s', (repository, repo) => {
    expect(parseBitbucketRepo(repository, cloud)).toEqual(repo);
  });

  it.each([
    ['https://bitbucket.example.com/bb/scm/plat/shop.git', { owner: 'PLAT', slug: 'shop' }],
    ['https://bitbucket.example.com/bb/projects/PLAT/repos/shop/browse', { owner: 'PLAT', slug: 'shop' }],
    ['ssh://git@bitbucket.example.com:7999/plat/shop.git', { owner: 'PLAT', slug: 'shop' }],
    ['https://bitbucket.example.com/bb/scm/~jdoe/tools.git', { owner: '~JDOE', slug: 'tools' }],
  ])('reads the Data Center URL %s', (repository, repo) => {
    expect(parseBitbucketRepo(repository, server)).toEqual(repo);
  });

  it('names no repository of another host', () => {
    expect(parseBitbucketRepo('https://github.com/acme/shop', cloud)).toBeUndefined();
    expect(parseBitbucketRepo('https://bitbucket.org/acme/shop', server)).toBeUndefined();
    expect(parseBitbucketRepo('acme/shop', cloud)).toBeUndefined();
  });
});

describe('forge target configs', () => {
  it('requires baseUrl for Bitbucket Data Center and one way to authenticate', () => {
    expect(issuesOf({ type: 'bitbucket-status', api: 'server', token: 't' })).toEqual([
      'targets.forge.baseUrl: required for api "server": the Bitbucket Data Center URL',
    ]);
    expect(issuesOf({ type: 'bitbucket-status', token: 't', username: 'u', password: 'p' })).toEqual([
      'targets.forge.token: use either `token` or `username` + `password`, not both',
    ]);
    expect(issuesOf({ type: 'bitbucket-comment', username: 'u' })).toEqual([
      'targets.forge.password: set `token` (a secret name) or both `username` and `password` (a secret name)',
    ]);
  });

  it('rejects an unknown placeholder and a GitLab URL that carries /api/v4', () => {
    expect(issuesOf({ type: 'gitlab-status', token: 't', name: '{{app}}' })).toEqual([
      'targets.forge.name: name: unknown placeholder {{app}}; use {{service}}, {{environment}}',
    ]);
    expect(
      issuesOf({ type: 'gitlab-comment', token: 't', baseUrl: 'https://gitlab.example.com/api/v4' }),
    ).toEqual(['targets.forge.baseUrl: leave out /api/v4: Shipcast adds it']);
  });

  it('takes the GitHub connection fields for github-comment', () => {
    expect(issuesOf({ type: 'github-comment' })).toEqual([
      'targets.forge.token: set `token` (a secret name) or `app` ({ appId, privateKey, installationId? })',
    ]);
    expect(issuesOf({ type: 'github-comment', token: 'gh', pullRequests: 'open' })).toEqual([]);
  });
});
