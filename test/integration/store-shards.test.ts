/**
 * Sharded index partitions read as one: the merged, paginated reads of the store equal the sorted full set,
 * over random shard layouts, item sets, filters and page sizes (fast-check, fixed seeds), on DynamoDB Local.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DynamoStore } from '../../functions/adapters/aws/dynamo-store.ts';
import { mergedIndexReader, shardOf } from '../../functions/adapters/aws/index-reads.ts';
import {
  LIST_SHARDS,
  TABLE,
  type TableIndex,
  TRANSITION_SHARDS,
} from '../../functions/adapters/aws/table.ts';
import type { Incident } from '../../functions/core/incidents.ts';
import type { Deployment } from '../../functions/core/schema.ts';
import { createTestTable, dynamoClient } from '../support/emulators.ts';

const ENVIRONMENTS = ['production', 'staging', 'qa'] as const;
const BASE = Date.UTC(2026, 2, 1, 10);
const at = (minute: number) => new Date(BASE + minute * 60_000).toISOString();

function deployment(id: string, minute: number, environment: string): Deployment {
  return {
    id,
    source: 'native',
    sourceDeploymentId: id,
    service: `svc-${id.length % 2}`,
    environment,
    version: '1',
    status: 'succeeded',
    sourceStatus: 'done',
    createdAt: at(minute),
    updatedAt: at(minute),
    finishedAt: at(minute),
    transitions: [{ from: null, to: 'succeeded', at: at(minute), recordedAt: at(minute) }],
    rev: 1,
  } as unknown as Deployment;
}

function incident(id: string, minute: number, environment: string, status: Incident['status']): Incident {
  return {
    id,
    source: 'api',
    service: 'svc',
    environment,
    title: id,
    status,
    openedAt: at(minute),
    link: 'none',
    causedByChange: true,
    createdAt: at(minute),
    updatedAt: at(minute),
    rev: 1,
  };
}

/** Ids, creation minutes (few, so many records share one) and environments of a random set of records. */
const records = (max: number) =>
  fc.uniqueArray(
    fc.record({
      n: fc.integer({ min: 0, max: 10_000 }),
      minute: fc.integer({ min: 0, max: 5 }),
      environment: fc.constantFrom(...ENVIRONMENTS),
      open: fc.boolean(),
    }),
    { minLength: Math.floor(max / 2), maxLength: max, selector: (r) => r.n },
  );

/** Every page of a listing, following its cursor; fails on a page over the limit or a runaway cursor. */
async function allPages<T>(
  page: (cursor?: string) => Promise<{ items: T[]; cursor?: string }>,
  limit: number,
): Promise<T[]> {
  const seen: T[] = [];
  let cursor: string | undefined;
  for (let pages = 0; ; pages++) {
    expect(pages).toBeLessThan(200);
    const answer = await page(cursor);
    expect(answer.items.length).toBeLessThanOrEqual(limit);
    seen.push(...answer.items);
    cursor = answer.cursor;
    if (!cursor) return seen;
  }
}

const sortKeyOf = (r: { createdAt?: string; openedAt?: string; id: string }) =>
  `${r.createdAt ?? r.openedAt}#${r.id}`;
const ordered = <T extends { id: string; createdAt?: string; openedAt?: string }>(
  items: T[],
  order: 'asc' | 'desc',
) => {
  const sorted = [...items].sort((a, b) => (sortKeyOf(a) < sortKeyOf(b) ? -1 : 1));
  return (order === 'asc' ? sorted : sorted.reverse()).map((r) => r.id);
};

// Hundreds of DynamoDB Local calls each: a loaded machine can take longer than the default 30 s.
describe('sharded index partitions', { timeout: 120_000 }, () => {
  let client: DynamoDBClient;
  let doc: DynamoDBDocumentClient;
  let shared: string;
  let run = 0;

  beforeAll(async () => {
    client = dynamoClient(inject('dynamodbEndpoint'));
    doc = DynamoDBDocumentClient.from(client);
    shared = await createTestTable(client);
  });
  afterAll(() => client?.destroy());

  it('merges any layout of partitions into one sequence sorted by sort key, in both orders and any range', async () => {
    const byTime = TABLE.indexes.find((i) => i.name === 'byTime') as TableIndex;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 12 }),
        fc.uniqueArray(fc.record({ n: fc.nat(999), minute: fc.nat(4), shard: fc.nat(100) }), {
          minLength: 5,
          maxLength: 20,
          selector: (e) => e.n,
        }),
        fc.integer({ min: 1, max: 6 }),
        fc.constantFrom('asc' as const, 'desc' as const),
        fc.option(fc.tuple(fc.nat(4), fc.nat(4), fc.boolean(), fc.boolean()), { nil: undefined }),
        async (partitions, entries, pageSize, order, range) => {
          // Prepare: entries spread over `partitions` partitions as the generator says (skewed, empty ones too).
          const base = `PROP${++run}`;
          const sortKey = (e: { n: number; minute: number }) => `${at(e.minute)}#e${e.n}`;
          await Promise.all(
            entries.map((e) =>
              doc.send(
                new PutCommand({
                  TableName: shared,
                  Item: {
                    pk: `E#${base}#${e.n}`,
                    sk: 'META',
                    gsi3pk: `${base}#${e.shard % partitions}`,
                    gsi3sk: sortKey(e),
                  },
                }),
              ),
            ),
          );
          const lower = range
            ? { value: `${at(Math.min(range[0], range[1]))}#e${range[0]}`, inclusive: range[2] }
            : undefined;
          const upper = range
            ? { value: `${at(Math.max(range[0], range[1]))}#e${range[1]}`, inclusive: range[3] }
            : undefined;

          // Act
          const reader = mergedIndexReader(doc, shared, {
            index: byTime,
            partitions: Array.from({ length: partitions }, (_, p) => `${base}#${p}`),
            order,
            lower,
            upper,
            pageSize,
          });
          const read: string[] = [];
          for (let e = await reader.next(); e; e = await reader.next()) read.push(String(e.gsi3sk));

          // Assess
          const inRange = (k: string) =>
            (!lower || k > lower.value || (lower.inclusive && k === lower.value)) &&
            (!upper || k < upper.value || (upper.inclusive && k === upper.value));
          const expected = entries.map(sortKey).filter(inRange).sort();
          expect(read).toEqual(order === 'asc' ? expected : expected.reverse());
        },
      ),
      { seed: 1401, numRuns: 12 },
    );
  });

  it('pages through every deployment across all shards without duplicates or gaps, filtered by environment or not', async () => {
    await fc.assert(
      fc.asyncProperty(
        records(16),
        fc.integer({ min: 2, max: 7 }),
        fc.constantFrom('asc' as const, 'desc' as const),
        fc.option(fc.constantFrom(...ENVIRONMENTS), { nil: undefined }),
        async (set, limit, order, environment) => {
          const store = new DynamoStore(client, await createTestTable(client));
          const stored = set.map((r) => deployment(`dep_${r.n}`, r.minute, r.environment));
          await Promise.all(stored.map((d) => store.saveDeployment(d, null)));

          const seen = await allPages(
            (cursor) => store.listDeployments({ environment, limit, order, cursor }),
            limit,
          );

          const wanted = stored.filter((d) => !environment || d.environment === environment);
          expect(seen.map((d) => d.id)).toEqual(ordered(wanted, order));
          expect(seen).toEqual(expect.arrayContaining(wanted));
        },
      ),
      { seed: 1402, numRuns: 5 },
    );
  });

  it('pages through every incident across all shards, filtered by status and environment, newest first', async () => {
    await fc.assert(
      fc.asyncProperty(
        records(20),
        fc.integer({ min: 1, max: 6 }),
        fc.option(fc.constantFrom('open' as const, 'resolved' as const), { nil: undefined }),
        fc.option(fc.constantFrom(...ENVIRONMENTS), { nil: undefined }),
        async (set, limit, status, environment) => {
          const store = new DynamoStore(client, await createTestTable(client));
          const stored = set.map((r) =>
            incident(`inc_${r.n}`, r.minute, r.environment, r.open ? 'open' : 'resolved'),
          );
          await Promise.all(stored.map((i) => store.saveIncident(i, null)));

          const seen = await allPages(
            (cursor) => store.listIncidents({ status, environment, limit, cursor }),
            limit,
          );

          const wanted = stored.filter(
            (i) => (!status || i.status === status) && (!environment || i.environment === environment),
          );
          expect(seen.map((i) => i.id)).toEqual(ordered(wanted, 'desc'));
        },
      ),
      { seed: 1403, numRuns: 5 },
    );
  });

  it('reads a creation-time range of all deployments across shards in order, and says when it stopped early', async () => {
    await fc.assert(
      fc.asyncProperty(
        records(18),
        fc.nat(5),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 25 }),
        fc.constantFrom('asc' as const, 'desc' as const),
        async (set, fromMinute, span, maxReads, order) => {
          const store = new DynamoStore(client, await createTestTable(client));
          const stored = set.map((r) => deployment(`dep_${r.n}`, r.minute, r.environment));
          await Promise.all(stored.map((d) => store.saveDeployment(d, null)));
          const after = at(fromMinute);
          const before = at(fromMinute + span);

          const found = await store.deploymentsInRange({ after, before, order, maxReads });

          const inRange = ordered(
            stored.filter((d) => d.createdAt >= after && d.createdAt < before),
            order,
          );
          expect(found.items.map((d) => d.id)).toEqual(inRange.slice(0, maxReads));
          expect(found.read).toBe(Math.min(maxReads, inRange.length));
          expect(found.more).toBe(inRange.length > maxReads);
        },
      ),
      { seed: 1404, numRuns: 6 },
    );
  });

  it('keeps a listing inside from and to whatever cursor it is given, even one of another listing', async () => {
    const store = new DynamoStore(client, await createTestTable(client));
    const stored = Array.from({ length: 12 }, (_, n) => deployment(`dep_range${n}`, n, 'production'));
    await Promise.all(stored.map((d) => store.saveDeployment(d, null)));
    // A cursor of the unfiltered listing, newest first, positioned after minute 9 (minutes 11, 10 answered).
    const unfiltered = await store.listDeployments({ limit: 2 });
    expect(unfiltered.items.map((d) => d.id)).toEqual(['dep_range11', 'dep_range10']);

    const desc = await store.listDeployments({ limit: 20, to: at(4), cursor: unfiltered.cursor });
    const asc = await store.listDeployments({ limit: 20, order: 'asc', from: at(8) });
    const ascFromOther = await store.listDeployments({
      limit: 20,
      order: 'asc',
      from: at(8),
      cursor: (await store.listDeployments({ limit: 2, order: 'asc' })).cursor,
    });

    expect(desc.items.map((d) => d.id)).toEqual(['dep_range3', 'dep_range2', 'dep_range1', 'dep_range0']);
    expect(asc.items.map((d) => d.id)).toEqual(['dep_range8', 'dep_range9', 'dep_range10', 'dep_range11']);
    expect(ascFromOther.items.map((d) => d.id)).toEqual(asc.items.map((d) => d.id));
  });

  it("finds the sweep's transitions across every shard of every hour in order of recording, in bounded steps", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.record({ n: fc.nat(10_000), minute: fc.nat(150) }), {
          minLength: 6,
          maxLength: 20,
          selector: (r) => r.n,
        }),
        fc.integer({ min: 3, max: 8 }),
        async (set, limit) => {
          const store = new DynamoStore(client, await createTestTable(client));
          for (const r of set)
            await store.saveDeployment(deployment(`dep_${r.n}`, r.minute, 'production'), null);

          // The sweep's way: from a position, at most `limit` at a time, until nothing is left.
          const seen: string[] = [];
          let position = at(-1);
          for (let steps = 0; ; steps++) {
            expect(steps).toBeLessThan(50);
            const found = await store.transitionsRecordedBetween(position, at(200), limit);
            expect(found.length).toBeLessThanOrEqual(limit);
            seen.push(...found.map((t) => t.deploymentId));
            if (found.length < limit) break;
            position = (found.at(-1) as { position: string }).position;
          }

          expect(seen).toEqual(
            ordered(
              set.map((r) => deployment(`dep_${r.n}`, r.minute, 'x')),
              'asc',
            ),
          );
        },
      ),
      { seed: 1405, numRuns: 5 },
    );
  });

  it('writes no index when a record changes but its index keys do not, only the moved entry when they do, and the finish entry once', async () => {
    // Prepare: every write asks DynamoDB for the units it consumed, per index.
    const store = new DynamoStore(client, shared);
    const consumed: Record<string, number>[] = [];
    client.middlewareStack.add(
      (next) => async (args) => {
        (args.input as Record<string, unknown>).ReturnConsumedCapacity = 'INDEXES';
        const result = await next(args);
        const capacity = (result.output as { ConsumedCapacity?: { GlobalSecondaryIndexes?: object } })
          .ConsumedCapacity;
        const byIndex = (capacity?.GlobalSecondaryIndexes ?? {}) as Record<
          string,
          { CapacityUnits?: number }
        >;
        consumed.push(Object.fromEntries(Object.entries(byIndex).map(([k, v]) => [k, v.CapacityUnits ?? 0])));
        return result;
      },
      { step: 'initialize', name: 'indexUnits' },
    );
    const { finishedAt: _, ...queued } = deployment('dep_index_writes', 0, 'production');
    const created = { ...queued, status: 'queued' } as Deployment;
    try {
      await store.saveDeployment(created, null);
      const running = { ...created, status: 'in_progress', rev: 2 } as Deployment;
      // Act: a new status, same transition (no key moves); then a new transition (the sweep's key moves);
      // then the finish, in the same minute (byFinish's entry is written); then a later update of the record.
      await store.saveDeployment(running, 1);
      const moved = {
        ...running,
        rev: 3,
        transitions: [...running.transitions, { ...running.transitions[0], recordedAt: at(1) }],
      } as Deployment;
      await store.saveDeployment(moved, 2);
      const finished = { ...moved, status: 'succeeded', finishedAt: at(1), rev: 4 } as Deployment;
      await store.saveDeployment(finished, 3);
      await store.saveDeployment({ ...finished, updatedAt: at(2), rev: 5 }, 4);
    } finally {
      client.middlewareStack.remove('indexUnits');
    }

    // Assess
    expect(Object.keys(consumed[0] ?? {}).sort()).toEqual(
      ['byRecordedTransition', 'byService', 'byServiceEnv', 'byTime'].sort(),
    );
    expect(Object.values(consumed[1] ?? {}).reduce((a, b) => a + b, 0)).toBe(0);
    expect(
      Object.entries(consumed[2] ?? {})
        .filter(([, units]) => units > 0)
        .map(([name]) => name),
    ).toEqual(['byRecordedTransition']);
    expect(
      Object.entries(consumed[3] ?? {})
        .filter(([, units]) => units > 0)
        .map(([name]) => name),
    ).toEqual(['byFinish']);
    expect(Object.values(consumed[4] ?? {}).reduce((a, b) => a + b, 0)).toBe(0);
  });

  it('writes a CodeDeploy record of three transitions, enriched, in one table write unit per update and reads it back whole', async () => {
    // Prepare: a record as the CodeDeploy path builds it (details, enrichment, counts, three routed transitions).
    const store = new DynamoStore(client, shared);
    const tableUnits: number[] = [];
    client.middlewareStack.add(
      (next) => async (args) => {
        (args.input as Record<string, unknown>).ReturnConsumedCapacity = 'INDEXES';
        const result = await next(args);
        const capacity = (result.output as { ConsumedCapacity?: { Table?: { CapacityUnits?: number } } })
          .ConsumedCapacity;
        if (capacity?.Table) tableUnits.push(capacity.Table.CapacityUnits ?? 0);
        return result;
      },
      { step: 'initialize', name: 'tableUnits' },
    );
    const transition = (seq: number, from: string | null, to: string) => ({
      seq,
      from,
      to,
      at: at(seq),
      recordedAt: at(seq),
      eventId: `ev_0123456789abcdef0123456789abcdef${seq}`,
      targets: ['webhook-one', 'webhook-two', 'webhook-three'],
    });
    const base = deployment('dep_codedeploy_size', 0, 'production');
    const full = {
      ...base,
      source: 'codedeploy',
      sourceDeploymentId: 'd-4F2KQ8ZX1',
      account: '123456789012',
      region: 'us-east-1',
      revision: {
        repository: 'octo-org/checkout-service',
        commit: '7f3c2a9e4b1d8c6f0a5e3b2d1c9f8e7a6b5c4d3e',
      },
      description: 'Deployment of checkout-service to production (bench)',
      details: {
        application: 'checkout-service',
        deploymentGroup: 'checkout-service-production',
        creator: 'user',
        region: 'us-east-1',
      },
      enrichment: { state: 'done', at: at(1), attempts: 1 },
      counts: { pending: 0, inProgress: 0, succeeded: 3, failed: 0, skipped: 0 },
      status: 'succeeded',
      sourceStatus: 'SUCCEEDED',
      transitions: [transition(1, null, 'queued'), transition(2, 'queued', 'in_progress')],
    } as unknown as Deployment;
    const finished = {
      ...full,
      rev: 2,
      transitions: [...full.transitions, transition(3, 'in_progress', 'succeeded')],
    } as Deployment;
    try {
      // Act
      await store.saveDeployment(full, null);
      await store.saveDeployment(finished, 1);
    } finally {
      client.middlewareStack.remove('tableUnits');
    }

    // Assess
    expect(tableUnits).toEqual([1, 1]);
    expect(await store.getDeployment(finished.id)).toEqual(finished);
  });

  it('files a transition recorded in the same minute as the one before under the same sweep entry, read once that minute has started by `until`', async () => {
    // Prepare: every write asks DynamoDB for the sweep index's units.
    const store = new DynamoStore(client, await createTestTable(client));
    const sweepUnits: number[] = [];
    client.middlewareStack.add(
      (next) => async (args) => {
        (args.input as Record<string, unknown>).ReturnConsumedCapacity = 'INDEXES';
        const result = await next(args);
        const capacity = (
          result.output as {
            ConsumedCapacity?: { GlobalSecondaryIndexes?: Record<string, { CapacityUnits?: number }> };
          }
        ).ConsumedCapacity;
        if (capacity)
          sweepUnits.push(capacity.GlobalSecondaryIndexes?.byRecordedTransition?.CapacityUnits ?? 0);
        return result;
      },
      { step: 'initialize', name: 'sweepUnits' },
    );
    const created = deployment('dep_same_minute', 0, 'production');
    const seconds = (s: number) => new Date(BASE + s * 1000).toISOString();
    const withTransition = (d: Deployment, recordedAt: string, rev: number) =>
      ({
        ...d,
        rev,
        transitions: [...d.transitions, { ...d.transitions[0], seq: d.transitions.length + 1, recordedAt }],
      }) as Deployment;
    const second = withTransition(created, seconds(20), 2);
    const third = withTransition(second, seconds(70), 3);
    try {
      // Act: created at 10:00:00, a transition at 10:00:20 (same minute), another at 10:01:10 (the next).
      await store.saveDeployment(created, null);
      await store.saveDeployment(second, 1);
      await store.saveDeployment(third, 2);
    } finally {
      client.middlewareStack.remove('sweepUnits');
    }

    // Assess: a put, nothing, a move (delete and put).
    expect(sweepUnits).toEqual([1, 0, 2]);
    const ids = async (until: string) =>
      (await store.transitionsRecordedBetween(at(-1), until, 10)).map((t) => t.deploymentId);
    expect(await ids(seconds(59))).toEqual([]);
    expect(await ids(seconds(60))).toEqual(['dep_same_minute']);
  });

  it('spreads ids evenly over the shards of a partition', () => {
    const counts = new Array<number>(LIST_SHARDS).fill(0);
    const transitionCounts = new Array<number>(TRANSITION_SHARDS).fill(0);
    for (let n = 0; n < 8000; n++) {
      const shard = shardOf(`dep_${n}`, LIST_SHARDS);
      const transitionShard = shardOf(`dep_${n}`, TRANSITION_SHARDS);
      counts[shard] = (counts[shard] ?? 0) + 1;
      transitionCounts[transitionShard] = (transitionCounts[transitionShard] ?? 0) + 1;
    }
    // Even within 10 %: no shard takes much more than its share of the writes.
    for (const count of counts) expect(Math.abs(count - 8000 / LIST_SHARDS)).toBeLessThan(100);
    for (const count of transitionCounts) expect(Math.abs(count - 8000 / TRANSITION_SHARDS)).toBeLessThan(50);
  });
});
