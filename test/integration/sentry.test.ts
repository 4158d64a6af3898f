import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { referencedSecrets } from '../../functions/core/config-secrets.ts';
import type { DeploymentEvent } from '../../functions/core/schema.ts';
import { nativeEvent } from '../support/events.ts';
import type { Harness } from '../support/harness.ts';
import { type SentryServer, sentryRateLimited, startSentryServer } from '../support/sentry-server.ts';
import {
  configWithTarget,
  createTargetHarness,
  type TargetHarness,
  targetConfigIssues,
} from '../support/target-harness.ts';

const TOKEN = 'sntrys_eyJpYXQiOjE3MDAwMDAwMDAsInVybCI6Imh0dHBzOi8vc2VudHJ5LmlvIn0_AbCdEf';
const READ_ONLY = 'sntryu_0123456789abcdef0123456789abcdef0123456789abcdef01234567';
const COMMIT = '9f1c2d3e4b5a69788796a5b4c3d2e1f0a9b8c7d6';
/** The harness's clock (TestClock) starts at 2026-03-01T10:00:00Z. */
const CLOCK_EPOCH_SECONDS = Date.parse('2026-03-01T10:00:00.000Z') / 1000;

describe('sentry target', () => {
  let h: Harness;
  let sentry: SentryServer;
  let t: TargetHarness;

  beforeAll(async () => {
    sentry = await startSentryServer({
      organization: 'acme',
      projects: ['checkout-web', 'checkout-api'],
      tokens: [TOKEN],
      readOnlyTokens: [READ_ONLY],
    });
    const common = { type: 'sentry', url: sentry.url, organization: 'acme', token: 'sentry-token' };
    t = await createTargetHarness({
      targets: {
        sentry: { ...common, projects: ['checkout-web', 'checkout-api'] },
        named: {
          ...common,
          url: `${sentry.url}/`,
          projects: ['checkout-api'],
          release: '{{service}}@{{version}}',
        },
        readOnly: { ...common, projects: ['checkout-web'], token: 'sentry-read-only' },
      },
      routes: { 'checkout*': 'sentry', 'api*': 'named', 'readonly*': 'readOnly' },
      secrets: { 'sentry-token': TOKEN, 'sentry-read-only': READ_ONLY },
    });
    h = t.h;
  });
  afterAll(async () => {
    await t.stop();
    await sentry.stop();
  });
  beforeEach(() => {
    t.retryDelays.length = 0;
  });

  const ingest = (event: DeploymentEvent) => t.ingest(event);
  const callsFor = (version: string) =>
    sentry.requests
      .filter(
        (r) =>
          r.path.includes(`/releases/${encodeURIComponent(version)}/`) ||
          r.body.includes(`"version":"${version}"`),
      )
      .map((r) => r.path.replace('/api/0/organizations/acme', ''));
  const redeliver = (deploymentId: string, seq: number, target: string) =>
    t.redeliver(deploymentId, seq, target);

  it('creates the missing release with its commit, then its deploy, when the deployment succeeds', async () => {
    const base = {
      service: 'checkout',
      version: '1.4.2',
      url: 'https://ci.example.com/runs/42',
      revision: { repository: 'acme/checkout', commit: COMMIT },
    };
    const started = nativeEvent('se-1', 'in_progress', { ...base, startedAt: '2026-03-01T10:01:00.000Z' });
    await ingest(started);
    await h.drainDispatch();
    expect(callsFor('1.4.2')).toEqual([]);

    await ingest(nativeEvent('se-1', 'succeeded', { ...base, finishedAt: '2026-03-01T10:07:17.000Z' }));
    await h.drainDispatch();

    expect(callsFor('1.4.2')).toEqual(['/releases/1.4.2/deploys/', '/releases/', '/releases/1.4.2/deploys/']);
    expect(sentry.releases.get('1.4.2')).toEqual({
      version: '1.4.2',
      projects: ['checkout-web', 'checkout-api'],
      commits: [{ id: COMMIT, repository: 'acme/checkout' }],
      url: `https://github.com/acme/checkout/commit/${COMMIT}`,
      dateReleased: '2026-03-01T10:07:17.000Z',
      deploys: [
        {
          id: expect.any(String),
          environment: 'production',
          name: 'native se-1',
          url: 'https://ci.example.com/runs/42',
          dateStarted: '2026-03-01T10:01:00.000Z',
          dateFinished: '2026-03-01T10:07:17.000Z',
          projects: ['checkout-web', 'checkout-api'],
        },
      ],
    });
    expect(sentry.requests.every((r) => r.headers.authorization === `Bearer ${TOKEN}`)).toBe(true);
    const deployId = sentry.releases.get('1.4.2')?.deploys[0]?.id;
    expect(await h.store.getDelivery(started.deploymentId, 'sentry')).toMatchObject({
      state: 'delivered',
      refs: { release: '1.4.2', deployId },
    });
  });

  it('adds only a deploy to a release that exists, leaving its commits, and sends none for a failure', async () => {
    sentry.releases.set('2.0.0', {
      version: '2.0.0',
      projects: ['checkout-web', 'checkout-api'],
      commits: [{ id: 'a'.repeat(40) }, { id: 'b'.repeat(40) }],
      deploys: [],
    });
    const done = nativeEvent('se-2', 'succeeded', {
      service: 'checkout',
      version: '2.0.0',
      environment: 'staging',
    });
    const failed = nativeEvent('se-3', 'failed', { service: 'checkout', version: '2.0.1' });
    await ingest(done);
    await ingest(failed);

    await h.drainDispatch();

    expect(callsFor('2.0.0')).toEqual(['/releases/2.0.0/deploys/']);
    expect(sentry.releases.get('2.0.0')?.commits).toHaveLength(2);
    expect(sentry.releases.get('2.0.0')?.deploys.map((d) => d.environment)).toEqual(['staging']);
    expect(callsFor('2.0.1')).toEqual([]);
    expect(await h.store.getDelivery(failed.deploymentId, 'sentry')).toMatchObject({ state: 'delivered' });
  });

  it('names the release by the template, from the commit when there is no version, and skips a deployment with neither or without an environment', async () => {
    const byCommit = nativeEvent('se-4', 'succeeded', {
      service: 'api-gw',
      revision: { repository: 'https://github.com/acme/gw.git', commit: COMMIT },
    });
    const nothing = nativeEvent('se-5', 'succeeded', { service: 'api-gw' });
    const nowhere = nativeEvent('se-5e', 'succeeded', {
      service: 'api-gw',
      version: '5.0.0',
      environment: undefined,
    });
    await ingest(byCommit);
    await ingest(nothing);
    await ingest(nowhere);

    await h.drainDispatch();

    expect(sentry.releases.get(`api-gw@${COMMIT}`)).toMatchObject({
      projects: ['checkout-api'],
      commits: [{ id: COMMIT, repository: 'acme/gw' }],
      deploys: [expect.objectContaining({ environment: 'production', projects: ['checkout-api'] })],
    });
    expect(await h.store.getDelivery(nothing.deploymentId, 'named')).toMatchObject({ state: 'delivered' });
    expect(await h.store.getDelivery(nowhere.deploymentId, 'named')).toMatchObject({ state: 'delivered' });
    expect(callsFor('api-gw@5.0.0')).toEqual([]);
    expect(sentry.requests.filter((r) => r.body.includes('"api-gw@"'))).toEqual([]);
  });

  it('creates the deploy alone when its first try failed after the release was created', async () => {
    const done = nativeEvent('se-6', 'succeeded', { service: 'checkout', version: '3.1.0' });
    await ingest(done);
    sentry.script(
      { status: 404, body: { detail: 'The requested resource does not exist' } },
      { status: 201, body: { version: '3.1.0' } },
      { status: 502, body: 'Bad Gateway' },
    );
    sentry.releases.set('3.1.0', {
      version: '3.1.0',
      projects: ['checkout-web', 'checkout-api'],
      commits: [],
      deploys: [],
    });

    await h.drainDispatch();

    const failing = await h.store.getDelivery(done.deploymentId, 'sentry');
    expect(failing?.state).toBe('retrying');
    expect(failing?.lastError).toContain('create the Sentry deploy of release 3.1.0 answered 502');

    await redeliver(done.deploymentId, 1, 'sentry');
    await h.drainDispatch();

    expect(callsFor('3.1.0').slice(3)).toEqual(['/releases/3.1.0/deploys/']);
    expect(sentry.releases.get('3.1.0')?.deploys).toHaveLength(1);
    expect((await h.store.getDelivery(done.deploymentId, 'sentry'))?.state).toBe('delivered');
  });

  it('waits for Retry-After after a 429, else until X-Sentry-Rate-Limit-Reset', async () => {
    const first = nativeEvent('se-7', 'succeeded', { service: 'checkout', version: '4.0.0' });
    const second = nativeEvent('se-8', 'succeeded', { service: 'checkout', version: '4.0.1' });
    await ingest(first);
    sentry.script(sentryRateLimited(CLOCK_EPOCH_SECONDS + 90, 12));
    await h.drainDispatch();
    await ingest(second);
    sentry.script(sentryRateLimited(CLOCK_EPOCH_SECONDS + 25));
    await h.drainDispatch();

    expect(t.retryDelays).toEqual([12, 25]);
    expect((await h.store.getDelivery(second.deploymentId, 'sentry'))?.lastError).toBe(
      'create the Sentry deploy of release 4.0.1 answered 429: You are attempting to use this endpoint too frequently. Limit is 40 requests in 1 seconds',
    );
    await h.discardHeld(first.deploymentId);
    await h.discardHeld(second.deploymentId);
  });

  it('fails with Sentry’s words for a token without the scope and for a release name it refuses, with no token anywhere', async () => {
    const denied = nativeEvent('se-9', 'succeeded', { service: 'readonly-svc', version: '1' });
    const slashed = nativeEvent('se-10', 'succeeded', { service: 'checkout', version: 'feature/x' });
    await ingest(denied);
    await ingest(slashed);

    await h.drainDispatch();

    const deniedDelivery = await h.store.getDelivery(denied.deploymentId, 'readOnly');
    expect(deniedDelivery).toMatchObject({
      state: 'failed',
      lastError:
        'create the Sentry deploy of release 1 answered 403: You do not have permission to perform this action.',
    });
    expect(await h.store.getDelivery(slashed.deploymentId, 'sentry')).toMatchObject({
      state: 'failed',
      lastError: expect.stringContaining(
        'the Sentry release "feature/x" (from the template "{{version}}") contains a slash',
      ),
    });
    expect(callsFor('feature/x')).toEqual([]);
    for (const text of [JSON.stringify(deniedDelivery), ...h.logs.lines]) {
      expect(text).not.toContain(READ_ONLY);
      expect(text).not.toContain(TOKEN);
    }
  });
});

describe('sentry target config', () => {
  const config = (target: Record<string, unknown>) =>
    configWithTarget({
      type: 'sentry',
      organization: 'acme',
      projects: ['web'],
      token: 'sentry-token',
      ...target,
    });
  const issues = (target: Record<string, unknown>) =>
    targetConfigIssues({
      type: 'sentry',
      organization: 'acme',
      projects: ['web'],
      token: 'sentry-token',
      ...target,
    });

  it('defaults to sentry.io and the deployment’s version as the release, and names the token as a secret', () => {
    const parsed = config({});
    expect(parsed.targets.t).toEqual({
      type: 'sentry',
      url: 'https://sentry.io',
      organization: 'acme',
      projects: ['web'],
      token: 'sentry-token',
      release: '{{version}}',
    });
    expect(referencedSecrets(parsed)).toEqual(['api-token', 'sentry-token']);
  });

  it('rejects an unknown release placeholder, no projects and an organization that is not a slug', () => {
    expect(issues({ release: '{{service}}-{{tag}}' })).toEqual([
      expect.stringMatching(/^targets\.t\.release: unknown placeholder \{\{tag\}\}/),
    ]);
    expect(issues({ projects: [] }).map((i) => i.split(':')[0])).toEqual(['targets.t.projects']);
    expect(issues({ organization: 'Acme Inc' }).map((i) => i.split(':')[0])).toEqual([
      'targets.t.organization',
    ]);
  });
});
