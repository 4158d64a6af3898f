/**
 * The `byFinish` index and the DORA metrics' read of it, on DynamoDB Local: which records get the finish keys,
 * and a window read cut into parallel time slices answering exactly the window's finished deployments in
 * order, with fixed times chosen to fall on the slices' edges.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DynamoStore } from '../../functions/adapters/aws/dynamo-store.ts';
import {
  FINISH_ATTRIBUTES,
  FINISH_PACKED_ATTRIBUTES,
  FINISH_PROJECTION,
  TABLE,
} from '../../functions/adapters/aws/table.ts';
import { DORA_DEPLOYMENT_ATTRIBUTES } from '../../functions/core/dora-query.ts';
import type { FinishedRangeQuery } from '../../functions/core/ports.ts';
import type { Deployment } from '../../functions/core/schema.ts';
import { createTestTable, dynamoClient } from '../support/emulators.ts';

const SERVICE = 'team/orders';
const T0 = Date.parse('2026-03-02T00:00:00.000Z');
const MINUTE = 60_000;
const iso = (ms: number) => new Date(ms).toISOString();
/** The window: 80 minutes, so that after a first page ending at T0 the 16 slices are cut every 5 minutes. */
const AFTER = iso(T0);
const BEFORE = iso(T0 + 80 * MINUTE);

function deployment(
  id: string,
  finishedMs: number | undefined,
  environment = 'production',
  status: Deployment['status'] = 'succeeded',
): Deployment {
  const createdAt = iso((finishedMs ?? T0) - 5 * MINUTE);
  return {
    id,
    source: 'native',
    sourceDeploymentId: id,
    service: SERVICE,
    environment,
    version: id,
    revision: { repository: 'acme/orders', commit: `c-${id}`, ref: 'main' },
    status,
    sourceStatus: status,
    createdAt,
    updatedAt: finishedMs === undefined ? createdAt : iso(finishedMs),
    ...(finishedMs === undefined ? {} : { finishedAt: iso(finishedMs) }),
    transitions: [],
    rev: 1,
  } as unknown as Deployment;
}

/** Four at `after` itself (the first page of 3 stops between them), two on every cut, one just before each. */
function windowDeployments(): Deployment[] {
  const list = ['a', 'b', 'c', 'd'].map((x) => deployment(`dep_at_after_${x}`, T0));
  for (let k = 1; k < 16; k++) {
    const cut = T0 + k * 5 * MINUTE;
    list.push(deployment(`dep_cut${k}_a`, cut), deployment(`dep_cut${k}_b`, cut));
    list.push(deployment(`dep_before_cut${k}`, cut - 1));
  }
  list.push(deployment('dep_staging', T0 + 35 * MINUTE, 'staging', 'failed'));
  list.push(deployment('dep_last', T0 + 80 * MINUTE - 1));
  return list;
}

/** Outside the window, or not finished: never in a window read. */
const outside = [
  deployment('dep_on_before', T0 + 80 * MINUTE),
  deployment('dep_just_before_after', T0 - 1),
  deployment('dep_day_before', T0 - 1440 * MINUTE),
  deployment('dep_two_days_before', T0 - 2880 * MINUTE, 'production', 'stopped'),
  deployment('dep_running', undefined, 'production', 'in_progress'),
];

const byFinish = (list: Deployment[], order: 'asc' | 'desc') => {
  const key = (d: Deployment) => `${d.finishedAt}#${d.id}`;
  const sorted = [...list].sort((a, b) => (key(a) < key(b) ? -1 : 1)).map((d) => d.id);
  return order === 'asc' ? sorted : sorted.reverse();
};

describe('finished deployments by finish (byFinish)', () => {
  let client: DynamoDBClient;
  let doc: DynamoDBDocumentClient;
  let store: DynamoStore;
  let tableName: string;
  const queries: string[] = [];
  const inWindow = windowDeployments();

  beforeAll(async () => {
    client = dynamoClient(inject('dynamodbEndpoint'));
    doc = DynamoDBDocumentClient.from(client);
    tableName = await createTestTable(client);
    // A first page of 3 entries: the windows below go on in 16 slices, as a window of over 1,000 would.
    store = new DynamoStore(client, tableName, undefined, 3);
    for (const d of [...inWindow, ...outside]) await store.saveDeployment(d, null);
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'QueryCommand') queries.push(context.commandName);
        return next(args);
      },
      { step: 'initialize', name: 'countQueries' },
    );
  });
  afterAll(() => client?.destroy());

  const read = async (query: Omit<FinishedRangeQuery, 'service'>) => {
    queries.length = 0;
    const found = await store.finishedDeploymentsInRange({ service: SERVICE, ...query });
    return { ...found, ids: found.items.map((d) => d.id), queries: queries.length };
  };
  const stored = async (id: string) =>
    (await doc.send(new GetCommand({ TableName: tableName, Key: { pk: `DEP#${id}`, sk: 'META' } }))).Item;

  it('answers exactly the top-level attributes the metrics read, from the packed finish and two plain ones', () => {
    const index = TABLE.indexes.find((i) => i.name === 'byFinish');
    const topLevel = new Set(DORA_DEPLOYMENT_ATTRIBUTES.map((path) => path.split('.')[0]));
    const answered = new Set([
      'service',
      ...FINISH_PACKED_ATTRIBUTES,
      ...FINISH_PROJECTION.filter((name) => name !== 'finish'),
    ]);

    expect(index).toMatchObject({ projection: 'INCLUDE', nonKeyAttributes: FINISH_PROJECTION });
    expect(new Set(FINISH_ATTRIBUTES)).toEqual(topLevel);
    expect(answered).toEqual(topLevel);
  });

  it("stores a finished record's finish attributes in one string and reads the record back whole", async () => {
    const full = {
      ...deployment('dep_packed', T0 - 4 * 1440 * MINUTE),
      service: 'team/packed',
      startedAt: iso(T0 - 4 * 1440 * MINUTE - 2 * MINUTE),
      rollbackOf: 'dep_older',
      hotfix: true,
      commits: [{ sha: 'a'.repeat(40), time: iso(T0 - 5 * 1440 * MINUTE) }],
    } as Deployment;
    const running = { ...full, status: 'in_progress', finishedAt: undefined } as unknown as Deployment;
    await store.saveDeployment(running, null);
    const whileRunning = await stored('dep_packed');
    await store.saveDeployment({ ...full, rev: 2 }, 1);
    const item = await stored('dep_packed');

    expect(whileRunning).toMatchObject({ version: 'dep_packed', commits: full.commits });
    expect(whileRunning).not.toHaveProperty('finish');
    for (const name of FINISH_PACKED_ATTRIBUTES) expect(item).not.toHaveProperty(name);
    expect(item).toMatchObject({ id: 'dep_packed', service: 'team/packed', status: 'succeeded' });
    expect(JSON.parse(String(item?.finish))).toEqual({
      version: 'dep_packed',
      revision: full.revision,
      createdAt: full.createdAt,
      startedAt: full.startedAt,
      finishedAt: full.finishedAt,
      rollbackOf: 'dep_older',
      commits: full.commits,
      hotfix: true,
    });
    expect(await store.getDeployment('dep_packed')).toEqual({ ...full, rev: 2 });
    expect(await store.getDeployment('dep_packed', 'eventually')).toEqual({ ...full, rev: 2 });
  });

  it('gives a record its finish keys when it reaches a terminal status and keeps them on later updates', async () => {
    // Another service: the window reads below never see it.
    const running = {
      ...deployment('dep_lifecycle', undefined, 'production', 'in_progress'),
      service: 'team/life',
    };
    await store.saveDeployment(running, null);
    const before = await stored('dep_lifecycle');

    const finishedAt = iso(T0 - 3 * 1440 * MINUTE);
    await store.saveDeployment({ ...running, status: 'failed', finishedAt, rev: 2 }, 1);
    const finished = await stored('dep_lifecycle');
    await store.linkRollback('dep_lifecycle', 'dep_its_rollback');
    await store.saveDeployment(
      {
        ...running,
        status: 'failed',
        finishedAt,
        updatedAt: iso(T0),
        rolledBackBy: 'dep_its_rollback',
        rev: 4,
      },
      3,
    );
    const updated = await stored('dep_lifecycle');

    expect(before).not.toHaveProperty('gsi5pk');
    expect(before).not.toHaveProperty('gsi5sk');
    expect(finished).toMatchObject({ gsi5pk: 'F#team%2Flife', gsi5sk: `${finishedAt}#dep_lifecycle` });
    expect(updated).toMatchObject({ gsi5pk: 'F#team%2Flife', gsi5sk: `${finishedAt}#dep_lifecycle` });
    const found = await store.finishedDeploymentsInRange({
      service: 'team/life',
      before: iso(T0),
      order: 'desc',
      maxReads: 10,
    });
    expect(found.items).toEqual([
      expect.objectContaining({ id: 'dep_lifecycle', status: 'failed', rolledBackBy: 'dep_its_rollback' }),
    ]);
    expect(found.items[0]).not.toHaveProperty('transitions');
    expect(found.items[0]).not.toHaveProperty('gsi5pk');
  });

  it('reads exactly the finished deployments of the window, oldest first, across 16 parallel slices', async () => {
    const found = await read({ after: AFTER, before: BEFORE, order: 'asc', maxReads: 1000 });

    expect(found.ids).toEqual(byFinish(inWindow, 'asc'));
    expect(found).toMatchObject({ read: inWindow.length, more: false });
    // The first page, then one query per slice.
    expect(found.queries).toBe(1 + 16);
  });

  it('reads the window newest first across its slices', async () => {
    const found = await read({ after: AFTER, before: BEFORE, order: 'desc', maxReads: 1000 });

    expect(found.ids).toEqual(byFinish(inWindow, 'desc'));
    expect(found).toMatchObject({ read: inWindow.length, more: false });
    expect(found.queries).toBe(1 + 16);
  });

  it("filters on the environment, counting the other environments' entries as read", async () => {
    const found = await read({
      environment: 'production',
      after: AFTER,
      before: BEFORE,
      order: 'asc',
      maxReads: 1000,
    });

    expect(found.ids).toEqual(byFinish(inWindow, 'asc').filter((id) => id !== 'dep_staging'));
    expect(found).toMatchObject({ read: inWindow.length, more: false });
  });

  it('stops at maxReads with more, answering the first deployments in order without a gap', async () => {
    const capped = await read({ after: AFTER, before: BEFORE, order: 'asc', maxReads: 12 });
    const exact = await read({ after: AFTER, before: BEFORE, order: 'asc', maxReads: inWindow.length });

    expect(capped).toMatchObject({ read: 12, more: true });
    expect(capped.ids.length).toBeGreaterThanOrEqual(4);
    expect(capped.ids).toEqual(byFinish(inWindow, 'asc').slice(0, capped.ids.length));
    expect(exact).toMatchObject({ read: inWindow.length, more: false });
    expect(exact.ids).toEqual(byFinish(inWindow, 'asc'));
  });

  it('answers whole entries whatever attributes are asked, and refuses one the index does not hold', async () => {
    const found = await read({
      after: AFTER,
      before: BEFORE,
      order: 'asc',
      maxReads: 1000,
      attributes: ['id', 'revision.commit'],
    });

    expect(found.ids).toEqual(byFinish(inWindow, 'asc'));
    expect(found.items[0]).toEqual({
      id: 'dep_at_after_a',
      service: SERVICE,
      environment: 'production',
      status: 'succeeded',
      version: 'dep_at_after_a',
      revision: { repository: 'acme/orders', commit: 'c-dep_at_after_a', ref: 'main' },
      createdAt: iso(T0 - 5 * MINUTE),
      finishedAt: AFTER,
    });
    await expect(
      read({ before: AFTER, order: 'desc', maxReads: 10, attributes: ['id', 'transitions'] }),
    ).rejects.toThrow('transitions cannot be read from it');
  });

  it('finds the latest succeeded deployment to finish at or before a time, however many were created after it', async () => {
    const service = 'team/linking';
    const at = T0 - 1440 * MINUTE;
    const of = (d: Deployment, createdMs: number) =>
      ({ ...d, service, createdAt: iso(createdMs) }) as Deployment;
    // Created ten days before and finished two minutes before `at`: 120 deployments were created after it.
    await store.saveDeployment(of(deployment('dep_link_long', at - 2 * MINUTE), at - 14_400 * MINUTE), null);
    for (let n = 0; n < 120; n++) {
      const created = at - 12_960 * MINUTE + n * MINUTE;
      await store.saveDeployment(of(deployment(`dep_link_${n}`, created + 5 * MINUTE), created), null);
    }
    const late = [
      deployment('dep_link_failed', at - MINUTE, 'production', 'failed'),
      deployment('dep_link_staging', at - 30_000, 'staging'),
      deployment('dep_link_after', at + 1),
    ];
    for (const d of late) await store.saveDeployment(of(d, at - 10 * MINUTE), null);
    // 300 preview deployments finished after it: more than a page of the query, all filtered out.
    for (let n = 0; n < 300; n++) {
      const finished = at - 90_000 + n;
      await store.saveDeployment(
        of(deployment(`dep_link_pr_${n}`, finished, `pr-${n}`), finished - MINUTE),
        null,
      );
    }

    expect((await store.latestSucceededBefore(service, 'production', iso(at)))?.id).toBe('dep_link_long');
    // At its finish exactly, still it; a millisecond before, the newest of the 120.
    expect((await store.latestSucceededBefore(service, 'production', iso(at - 2 * MINUTE)))?.id).toBe(
      'dep_link_long',
    );
    expect((await store.latestSucceededBefore(service, 'production', iso(at - 2 * MINUTE - 1)))?.id).toBe(
      'dep_link_119',
    );
    expect((await store.latestSucceededBefore(service, 'staging', iso(at)))?.id).toBe('dep_link_staging');
    expect(
      await store.latestSucceededBefore(service, 'production', iso(at - 20_000 * MINUTE)),
    ).toBeUndefined();
  });

  it('reads the history before a time newest first, up to maxReads', async () => {
    const two = await read({ before: AFTER, order: 'desc', maxReads: 2 });
    const all = await read({ before: AFTER, order: 'desc', maxReads: 10 });

    expect(two).toMatchObject({ ids: ['dep_just_before_after', 'dep_day_before'], read: 2, more: true });
    expect(all).toMatchObject({
      ids: ['dep_just_before_after', 'dep_day_before', 'dep_two_days_before'],
      read: 3,
      more: false,
    });
  });
});
