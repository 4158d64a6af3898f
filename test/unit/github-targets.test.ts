import { createPrivateKey, generateKeyPairSync, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/core/config.ts';
import { referencedSecrets } from '../../functions/core/config-secrets.ts';
import { ConfigError } from '../../functions/core/errors.ts';
import type { Deployment } from '../../functions/core/schema.ts';
import {
  appJwt,
  cut,
  githubSubject,
  parseRepository,
  renderTemplate,
} from '../../functions/core/targets/github.ts';
import { githubEnvironment, isShipcastDeployment } from '../../functions/core/targets/github-deployment.ts';
import { GITHUB_SCHEMA_SOURCE, requestBodyProblems } from '../support/json-schema.ts';

const GITHUB = 'https://api.github.com';

const config = (target: Record<string, unknown>) => ({
  api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
  targets: { gh: target },
  routes: [{ targets: ['gh'] }],
});

function configIssues(target: Record<string, unknown>): string[] {
  try {
    parseConfig(config(target));
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
  }
  throw new Error('the config was accepted');
}

describe('GitHub repository names', () => {
  it.each([
    ['acme/shop', 'acme', 'shop'],
    ['https://github.com/acme/shop', 'acme', 'shop'],
    ['https://github.com/acme/shop.git', 'acme', 'shop'],
    ['https://github.com/acme/shop/', 'acme', 'shop'],
    ['git@github.com:acme/shop.git', 'acme', 'shop'],
    ['ssh://git@github.com/acme/my.repo.git', 'acme', 'my.repo'],
    ['git+https://github.com/acme/shop.git', 'acme', 'shop'],
  ])('reads %s as %s/%s', (value, owner, repo) => {
    expect(parseRepository(value)).toEqual({ owner, repo });
  });

  it('reads URLs of the GitHub Enterprise Server the target talks to', () => {
    expect(
      parseRepository('https://ghe.example.com/acme/shop.git', 'https://ghe.example.com/api/v3'),
    ).toEqual({
      owner: 'acme',
      repo: 'shop',
    });
  });

  it.each([
    'https://gitlab.com/acme/shop',
    'https://github.com/acme/shop/tree/main',
    'https://ghe.example.com/acme/shop',
    'acme/shop/extra',
    'acme',
    '../etc',
    'acme/..',
    's3://bucket/key',
    '',
  ])('does not take %j for a GitHub repository', (value) => {
    expect(parseRepository(value)).toBeUndefined();
  });
});

describe('the repository a GitHub target acts on', () => {
  const deployment = (source: string, repository: string) =>
    ({
      id: 'dep_0123456789abcdef01234567',
      source,
      revision: { repository, commit: 'a'.repeat(40) },
    }) as Deployment;

  it('takes owner/name from a GitHub-side source, and a GitHub URL from any', () => {
    expect(githubSubject(deployment('native', 'acme/shop'), GITHUB)).toEqual({
      repo: { owner: 'acme', repo: 'shop' },
      commit: 'a'.repeat(40),
    });
    expect(githubSubject(deployment('gitlab', 'https://github.com/acme/shop.git'), GITHUB)).toMatchObject({
      repo: { owner: 'acme', repo: 'shop' },
    });
  });

  it('skips a GitLab project path: a GitHub repository of the same name is not it', () => {
    expect(githubSubject(deployment('gitlab', 'acme/shop'), GITHUB)).toEqual({
      skip: '"acme/shop" is a GitLab project path, not a GitHub repository',
    });
  });
});

describe('GitHub target config', () => {
  it('fills in the defaults and names the secrets to grant', () => {
    const parsed = parseConfig(config({ type: 'github-status', token: 'gh-token' }));
    expect(parsed.targets.gh).toEqual({
      type: 'github-status',
      token: 'gh-token',
      baseUrl: 'https://api.github.com',
      maxWritesPerMinute: 80,
      context: 'shipcast/{{environment}}',
    });
    expect(referencedSecrets(parsed)).toContain('gh-token');
    const app = parseConfig(
      config({ type: 'github-deployment', app: { appId: 'Iv23liABC', privateKey: 'gh-app-key' } }),
    );
    expect(app.targets.gh).toMatchObject({ task: 'deploy', requiredContexts: [], autoInactive: true });
    expect(referencedSecrets(app)).toContain('gh-app-key');
  });

  it('rejects an unknown placeholder in the status context at load, naming the allowed ones', () => {
    expect(
      configIssues({ type: 'github-status', token: 't', context: 'ci/{{team}}/{{environment}}' }),
    ).toEqual([
      'targets.gh.context: context: unknown placeholder {{team}}; use {{service}}, {{environment}}',
    ]);
    expect(configIssues({ type: 'github-status', token: 't', context: 'ci/{{environment' })).toEqual([
      'targets.gh.context: context: unbalanced {{ or }}; placeholders are {{service}}, {{environment}}',
    ]);
  });

  it('rejects an environment URL that is not http(s) or has an unknown placeholder', () => {
    expect(
      configIssues({ type: 'github-deployment', token: 't', environmentUrl: 'ftp://{{environment}}' }),
    ).toEqual(['targets.gh.environmentUrl: environmentUrl must start with http:// or https://']);
    expect(
      configIssues({ type: 'github-deployment', token: 't', environmentUrl: 'https://{{region}}.x' }),
    ).toEqual([expect.stringMatching(/unknown placeholder \{\{region\}\}/)]);
  });

  it('asks for exactly one of token and app', () => {
    expect(configIssues({ type: 'github-deployment' })).toEqual([
      expect.stringMatching(/^targets\.gh\.token: set `token`/),
    ]);
    expect(
      configIssues({ type: 'github-deployment', token: 't', app: { appId: 1, privateKey: 'k' } }),
    ).toEqual(['targets.gh.app: use either `token` or `app`, not both']);
    expect(configIssues({ type: 'github-status', token: 't', baseUrl: 'ghe.example.com' })).toEqual([
      expect.stringMatching(/^targets\.gh\.baseUrl: must be an http\(s\) URL/),
    ]);
  });
});

describe('GitHub helpers', () => {
  it('maps environments by exact name first, then by the first matching glob, else keeps the name', () => {
    const mapping = { 'prod*': 'production', 'prod-eu': 'europe', staging: 'stage' };
    expect(githubEnvironment('prod-eu', mapping)).toBe('europe');
    expect(githubEnvironment('prod-us', mapping)).toBe('production');
    expect(githubEnvironment('qa', mapping)).toBe('qa');
    expect(githubEnvironment('qa', undefined)).toBe('qa');
  });

  it('recognises Shipcast’s own GitHub deployments by their payload, as object or JSON text', () => {
    const payload = { shipcast: { marker: 'shipcast', deploymentId: 'dep_1' } };
    expect(isShipcastDeployment({ id: 1, payload }, 'dep_1')).toBe(true);
    expect(isShipcastDeployment({ id: 1, payload: JSON.stringify(payload) }, 'dep_1')).toBe(true);
    expect(isShipcastDeployment({ id: 1, payload }, 'dep_2')).toBe(false);
    expect(isShipcastDeployment({ id: 1, payload: { shipcast: { deploymentId: 'dep_1' } } }, 'dep_1')).toBe(
      false,
    );
    expect(isShipcastDeployment({ id: 1, payload: '' }, 'dep_1')).toBe(false);
  });

  it('cuts descriptions to 140 characters as GitHub counts them (code points)', () => {
    expect(cut('short')).toBe('short');
    const emoji = '🚀'.repeat(200);
    expect(Array.from(cut(emoji))).toHaveLength(140);
    expect(cut(emoji).endsWith('🚀…')).toBe(true);
    expect(cut('a\n  b')).toBe('a b');
  });

  it('fills placeholders, with spaces inside the braces, encoding values when asked', () => {
    expect(renderTemplate('{{ service }}/{{environment}}', { service: 'a b', environment: 'prod' })).toBe(
      'a b/prod',
    );
    expect(renderTemplate('https://x/{{service}}', { service: 'a b/c' }, encodeURIComponent)).toBe(
      'https://x/a%20b%2Fc',
    );
  });

  it('signs the App JWT with RS256 and the documented claims', () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }) as string;
    const jwt = appJwt(12345, createPrivateKey(pem), new Date('2026-03-01T10:00:00Z'));

    const [header, payload, signature] = jwt.split('.') as [string, string, string];
    expect(JSON.parse(Buffer.from(header, 'base64url').toString())).toEqual({ alg: 'RS256', typ: 'JWT' });
    const at = Date.parse('2026-03-01T10:00:00Z') / 1000;
    expect(JSON.parse(Buffer.from(payload, 'base64url').toString())).toEqual({
      iat: at - 60,
      exp: at + 540,
      iss: 12345,
    });
    expect(
      verify('sha256', Buffer.from(`${header}.${payload}`), publicKey, Buffer.from(signature, 'base64url')),
    ).toBe(true);
  });
});

describe('GitHub request schemas (test support)', () => {
  it('come from a recorded @octokit/openapi version', () => {
    expect(GITHUB_SCHEMA_SOURCE).toMatch(/^@octokit\/openapi@\d+\.\d+\.\d+ /);
  });

  it('catch bodies GitHub would reject or ignore', () => {
    expect(requestBodyProblems('repos/create-deployment', { ref: 'abc', payload: { a: 1 } })).toEqual([]);
    expect(requestBodyProblems('repos/create-deployment', { task: 'deploy' })).toEqual([
      expect.stringMatching(/^ref: /),
    ]);
    expect(requestBodyProblems('repos/create-deployment', { ref: 'abc', payload: 5 })).toEqual([
      expect.stringMatching(/^payload: /),
    ]);
    expect(requestBodyProblems('repos/create-deployment', { ref: 'abc', autoMerge: false })).toEqual([
      'autoMerge: not a property of repos/create-deployment',
    ]);
    expect(requestBodyProblems('repos/create-deployment-status', { state: 'succeeded' })).toEqual([
      expect.stringMatching(/^state: /),
    ]);
    expect(requestBodyProblems('repos/create-commit-status', { state: 'in_progress' })).toEqual([
      expect.stringMatching(/^state: /),
    ]);
    expect(requestBodyProblems('repos/create-commit-status', { state: 'pending', target_url: null })).toEqual(
      [],
    );
  });
});
