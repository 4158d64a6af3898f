import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/core/config.ts';
import { deploymentIdFor } from '../../functions/core/ids.ts';
import { ingestEvent } from '../../functions/core/ingest.ts';
import type { CiEvent, Deployment, DeploymentEvent } from '../../functions/core/schema.ts';
import { deploymentSequenceNumber, environmentType } from '../../functions/core/targets/jira.ts';
import { nativeEvent } from '../support/events.ts';
import { createHarness, type Harness, recordingRetries } from '../support/harness.ts';
import { type JiraServer, startJiraServer } from '../support/jira-server.ts';

const CLOUD_ID = '5f0b9c2e-7a41-4c55-9d8e-0a1b2c3d4e5f';
const CLIENT_ID = 'aB3kQ9xZ7mP2wR5tY8uV';
const CLIENT_SECRET = 'Vb72LmQx9PzK4nJ6hG1fD0sA';
const COMMIT = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';

describe('jira target', () => {
  let h: Harness;
  let jira: JiraServer;
  const delays: number[] = [];

  beforeAll(async () => {
    jira = await startJiraServer({
      clients: { [CLIENT_ID]: CLIENT_SECRET },
      cloudId: CLOUD_ID,
      issueKeys: ['SHOP-7', 'SHOP-9', 'SHOP-12', 'OPS-3'],
    });
    const base = { type: 'jira', cloudId: CLOUD_ID, clientId: 'jira-client-id', baseUrl: jira.url };
    h = await createHarness({
      maxReceives: 5,
      queue: recordingRetries(delays),
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: {
          jira: {
            ...base,
            clientSecret: 'jira-client-secret',
            environmentTypes: { 'qa-*': 'testing' },
            url: 'https://shipcast.example.com/deployments/{deploymentId}',
          },
          refused: {
            ...base,
            clientSecret: 'jira-wrong-secret',
            url: 'https://shipcast.example.com/d/{deploymentId}',
          },
        },
        routes: [
          { match: { service: 'jira-*' }, targets: ['jira'] },
          { match: { service: 'refused-*' }, targets: ['refused'] },
        ],
        dispatch: { maxReceives: 5 },
      },
    });
    writeFileSync(join(h.secretsDir, 'jira-client-id'), CLIENT_ID);
    writeFileSync(join(h.secretsDir, 'jira-client-secret'), CLIENT_SECRET);
    writeFileSync(join(h.secretsDir, 'jira-wrong-secret'), 'not-the-secret-4Tq');
  });
  afterAll(async () => {
    await h.stop();
    await jira.stop();
  });
  beforeEach(() => {
    delays.length = 0;
  });

  const ingest = (event: DeploymentEvent) => ingestEvent(event, h.runtime.ingest);
  const bulkCalls = (deploymentUrlPart: string) =>
    jira.requests.filter((r) => r.path.endsWith('/bulk') && r.body.includes(deploymentUrlPart));
  let ciCounter = 0;
  const ciEvent = (type: CiEvent['type'], fields: CiEvent['fields'], branch?: string): CiEvent => {
    ciCounter++;
    return {
      eventId: `ci-jira-${ciCounter}`,
      source: 'pipelines',
      type,
      username: 'acme',
      app: 'shop',
      eventTime: `2026-03-01T09:0${ciCounter}:00.000Z`,
      updatedAt: `2026-03-01T09:0${ciCounter}:00.000Z`,
      repository: 'acme/shop',
      commit: COMMIT,
      ...(branch ? { branch } : {}),
      fields,
      rev: 0,
    };
  };

  it('submits one Jira deployment per Shipcast deployment with the issue keys of its branch, commit and pull request, updated at each transition', async () => {
    await h.store.saveCiEvent(ciEvent('PUSH', { message: 'SHOP-7 fix totals\n\nAlso closes SHOP-9.' }), null);
    await h.store.saveCiEvent(
      ciEvent('PULLREQUEST', { title: 'SHOP-12 Cart rework', build_url: 'https://x/UTF-8' }),
      null,
    );
    const facts = {
      service: 'jira-shop',
      version: '5.1.0',
      actor: 'ana@example.com',
      url: 'https://ci.example.com/runs/77',
      revision: { repository: 'acme/shop', commit: COMMIT, ref: 'feature/SHOP-12-cart' },
    };
    const issuedBefore = jira.issued.length;
    await ingest(nativeEvent('jr-1', 'in_progress', facts));
    await h.drainDispatch();
    await ingest(nativeEvent('jr-1', 'succeeded', facts));
    await h.drainDispatch();

    const id = deploymentIdFor('native', 'jr-1');
    const record = await h.store.getDeployment(id);
    expect(bulkCalls(facts.url)).toHaveLength(2);
    const [stored] = [...jira.deployments.values()].filter((d) => d.data.url === facts.url);
    expect(stored?.key).toBe(`jira-shop/production/${deploymentSequenceNumber(record as Deployment)}`);
    expect(Math.floor((stored?.data.deploymentSequenceNumber ?? 0) / 1000)).toBe(
      Date.parse(record?.createdAt ?? ''),
    );
    expect(stored?.submissions).toBe(2);
    expect(stored?.data).toMatchObject({
      schemaVersion: '1.0',
      updateSequenceNumber: 2,
      state: 'successful',
      displayName: 'jira-shop 5.1.0',
      label: '5.1.0',
      pipeline: { id: 'jira-shop', displayName: 'jira-shop', url: facts.url },
      environment: { id: 'production', displayName: 'production', type: 'production' },
      triggeredBy: { email: 'ana@example.com' },
    });
    expect(stored?.data.associations).toEqual([
      { associationType: 'issueIdOrKeys', values: ['SHOP-12', 'SHOP-7', 'SHOP-9'] },
    ]);
    expect(bulkCalls(facts.url)[0]?.json<{ deployments: { state: string }[] }>().deployments[0]?.state).toBe(
      'in_progress',
    );
    // One token for both calls: it is cached until it expires.
    expect(jira.issued.length - issuedBefore).toBeLessThanOrEqual(1);
    expect(bulkCalls(facts.url)[1]?.headers.authorization).toBe(`Bearer ${jira.issued.at(-1)}`);
  });

  it('maps a stopped deployment to cancelled and a failed one already rolled back to rolled_back, typed by the config', async () => {
    await ingest(
      nativeEvent('jr-2', 'stopped', {
        service: 'jira-api',
        environment: 'qa-eu',
        description: 'OPS-3 hotfix',
      }),
    );
    await ingest(nativeEvent('jr-3', 'in_progress', { service: 'jira-api', description: 'SHOP-7 again' }));
    await h.drainDispatch();
    await ingest(
      nativeEvent('jr-4', 'succeeded', {
        service: 'jira-api',
        description: 'SHOP-7 rollback',
        rollbackOfSourceId: 'jr-3',
      }),
    );
    await ingest(nativeEvent('jr-3', 'failed', { service: 'jira-api', description: 'SHOP-7 again' }));
    await h.drainDispatch();

    const link = (sourceId: string) =>
      `https://shipcast.example.com/deployments/${deploymentIdFor('native', sourceId)}`;
    const dataOf = (sourceId: string) =>
      [...jira.deployments.values()].find((d) => d.data.url === link(sourceId))?.data;
    expect(dataOf('jr-2')).toMatchObject({
      state: 'cancelled',
      environment: { id: 'qa-eu', type: 'testing' },
    });
    expect(dataOf('jr-3')).toMatchObject({ state: 'rolled_back', updateSequenceNumber: 2 });
    expect(dataOf('jr-4')).toMatchObject({ state: 'successful' });
  });

  it('logs unknown issue keys and a rejected deployment instead of failing, and sends nothing without a key', async () => {
    await ingest(nativeEvent('jr-5', 'succeeded', { service: 'jira-web', description: 'NOPE-1 and SHOP-9' }));
    await ingest(nativeEvent('jr-6', 'succeeded', { service: 'jira-web', description: 'NOPE-2 only' }));
    await ingest(nativeEvent('jr-7', 'succeeded', { service: 'jira-web', description: 'no key here' }));

    await h.drainDispatch();

    for (const sourceId of ['jr-5', 'jr-6', 'jr-7']) {
      expect((await h.store.getDelivery(deploymentIdFor('native', sourceId), 'jira'))?.state).toBe(
        'delivered',
      );
    }
    expect(bulkCalls(deploymentIdFor('native', 'jr-7'))).toHaveLength(0);
    const warnings = h.logs.lines.filter((l) => l.includes('"level":"WARN"'));
    expect(
      warnings.some((l) => l.includes('Jira does not know some issue keys') && l.includes('NOPE-1')),
    ).toBe(true);
    expect(
      warnings.some((l) => l.includes('Jira rejected the deployment') && l.includes('unknown issue keys')),
    ).toBe(true);
  });

  it('gets a new token once when Jira answers 401, and waits out a 429 by its Retry-After', async () => {
    jira.revokeTokens();
    const issuedBefore = jira.issued.length;
    await ingest(nativeEvent('jr-8', 'succeeded', { service: 'jira-auth', description: 'SHOP-12' }));
    await h.drainDispatch();
    expect(jira.issued.length - issuedBefore).toBe(1);
    expect((await h.store.getDelivery(deploymentIdFor('native', 'jr-8'), 'jira'))?.state).toBe('delivered');

    jira.script({ status: 429, headers: { 'retry-after': '30' }, body: { message: 'Rate limit exceeded' } });
    await ingest(nativeEvent('jr-9', 'succeeded', { service: 'jira-auth', description: 'SHOP-12' }));
    await h.drainDispatch();
    expect(delays).toEqual([30]);
    expect((await h.store.getDelivery(deploymentIdFor('native', 'jr-9'), 'jira'))?.state).toBe('retrying');
  });

  it('gives up on client credentials Atlassian refuses, the secrets and tokens in no error or log', async () => {
    await ingest(nativeEvent('jr-10', 'succeeded', { service: 'refused-api', description: 'SHOP-7' }));

    await h.drainDispatch();

    const delivery = await h.store.getDelivery(deploymentIdFor('native', 'jr-10'), 'refused');
    expect(delivery?.state).toBe('failed');
    expect(delivery?.lastError).toContain(
      'Atlassian refused the OAuth client credentials in secrets "jira-client-id" and "jira-wrong-secret"',
    );
    const logged = JSON.stringify(h.logs.lines);
    for (const value of [CLIENT_SECRET, 'not-the-secret-4Tq', ...jira.issued]) {
      expect(logged).not.toContain(value);
      expect(delivery?.lastError).not.toContain(value);
    }
  });

  it('types environments by the config first, then by their name', () => {
    const config = { environmentTypes: { 'eu-*': 'staging' as const } };
    expect(environmentType('eu-prod', config)).toBe('staging');
    expect(environmentType('production', config)).toBe('production');
    expect(environmentType('checkout-prod', {})).toBe('production');
    expect(environmentType('uat', {})).toBe('staging');
    expect(environmentType('qa', {})).toBe('testing');
    expect(environmentType('dev', {})).toBe('development');
    expect(environmentType('blue', {})).toBe('unmapped');
  });

  it('rejects a config with a bad cloud id or an unknown environment type, naming the field', () => {
    const config = (target: Record<string, unknown>) => ({
      api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
      targets: { jira: { type: 'jira', cloudId: CLOUD_ID, clientId: 'a', clientSecret: 'b', ...target } },
      routes: [],
    });
    expect(() => parseConfig(config({ cloudId: 'acme.atlassian.net' }), 't')).toThrow(
      /targets\.jira\.cloudId: a cloud id/,
    );
    expect(() => parseConfig(config({ environmentTypes: { prod: 'live' } }), 't')).toThrow(
      /targets\.jira\.environmentTypes\.prod/,
    );
  });
});
