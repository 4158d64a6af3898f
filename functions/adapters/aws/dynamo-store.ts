import { deflateRawSync, inflateRawSync } from 'node:zlib';
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  type GetCommandOutput,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { convertToNative } from '@aws-sdk/util-dynamodb';
import { ConcurrentUpdateError, InvalidInputError } from '../../core/errors.ts';
import { stableHash } from '../../core/ids.ts';
import type { Incident } from '../../core/incidents.ts';
import {
  type CiEventQuery,
  type CircuitState,
  type Clock,
  type DeploymentQuery,
  type DeploymentStore,
  type FinishedRangeQuery,
  type IdempotentResult,
  type IncidentQuery,
  type RangeQuery,
  type RangeResult,
  type RateLimiter,
  type RecordedTransition,
  systemClock,
} from '../../core/ports.ts';
import type { CiEvent, Delivery, Deployment, StoredEvent } from '../../core/schema.ts';
import { isTerminal } from '../../core/status.ts';
import {
  batchGetItems,
  decodePosition,
  encodePosition,
  type Item,
  mergedIndexReader,
  projectionOf,
  type SortKeyBound,
  shardOf,
  shardPartitions,
} from './index-reads.ts';
import {
  FINISH_ATTRIBUTES,
  FINISH_PACKED_ATTRIBUTES,
  FINISH_PROJECTION,
  LIST_SHARDS,
  TABLE,
  type TableIndex,
  TRANSITION_SHARDS,
} from './table.ts';

const META = 'META';
const EVENT_PREFIX = 'EVT#';
/**
 * The deliveries of one deployment: one item, an attribute per target (`t:<target>`), so that the deliveries
 * of one transition to every target are recorded with one write (a write unit per KB of the whole item).
 */
const DELIVERIES = 'DLV';
const DELIVERY_ATTRIBUTE_PREFIX = 't:';
const deliveryAttribute = (target: string) => DELIVERY_ATTRIBUTE_PREFIX + target;
const toDelivery = (deploymentId: string, target: string, stored: unknown): Delivery =>
  ({ ...(stored as object), deploymentId, target }) as Delivery;
const ALL_DEPLOYMENTS = 'DEPLOYMENTS';
const GENERATION = 'GEN';

const CIRCUIT = 'CIRCUIT';
const INCIDENT_PREFIX = 'INC#';
const ALL_INCIDENTS = 'INCIDENTS';

const deploymentPk = (id: string) => `DEP#${id}`;
const circuitPk = (target: string) => `CIRCUIT#${target}`;
const ciPk = (eventId: string) => `CI#${eventId}`;
const incidentPk = (id: string) => `INC#${id}`;
// Repository and commit are matched case-insensitively (GitHub treats both so).
const commitPk = (repository: string, commit: string) =>
  `COMMIT#${key(repository.toLowerCase())}#${bounded(commit.toLowerCase())}`;

/**
 * Longest caller-chosen part of a key, in bytes. DynamoDB refuses a key over 2048 bytes, and an item
 * refused after its event was stored would be a half-written request: longer values are hashed.
 * `%h` never occurs in encodeURIComponent's output (its `%` is always followed by two hex digits).
 */
const MAX_KEY_PART_BYTES = 512;
const hashed = (value: string) => `%h${stableHash(value)}`;
const key = (value: string) => {
  let encoded: string;
  try {
    encoded = encodeURIComponent(value);
  } catch {
    return hashed(value); // an unpaired surrogate: not text encodeURIComponent can encode
  }
  return encoded.length <= MAX_KEY_PART_BYTES ? encoded : hashed(value);
};
const bounded = (value: string) => (Buffer.byteLength(value) <= MAX_KEY_PART_BYTES ? value : hashed(value));

/**
 * Finished deployments of a service (of every environment: busy preview environments count too; newest
 * finish first) an incident's automatic link looks through for the latest that succeeded in its own, in
 * pages of LINK_PAGE (DynamoDB's Limit counts entries before the filter).
 */
const LINK_LOOKBACK = 2000;
const LINK_PAGE = 250;
/** Items one query of a bounded range read asks for. */
const RANGE_PAGE_SIZE = 1000;
/** Keys per BatchGetItem (DynamoDB's maximum). */
const BATCH_GET_SIZE = 100;
/** BatchGetItem calls of one range read in flight at once, while its index pages are still being read. */
const RANGE_BATCH_GETS = 8;

/**
 * Entries of `byFinish` the first query of a finished-deployments read asks for: a window of up to this many
 * is one query; a larger one goes on in FINISH_SEGMENTS time slices of the rest, queried in parallel.
 */
const FINISH_FIRST_PAGE = 250;
/**
 * Time slices of a large finished-deployments read, queried in parallel (pages of up to DynamoDB's 1 MB).
 * DynamoDB answers them from different parts of the partition at once; on DynamoDB Local, 16 answered
 * 10,000 entries in 0.3-0.45 s where 8 took 0.4-0.6 s (the bench's DORA scenario).
 */
const FINISH_SEGMENTS = 16;

/** Index entries read per query when a filter is applied after reading (`environment` without `service`, `status`). */
const FILTERED_PAGE_SIZE = 100;
/** Index entries one filtered listing request examines at most, before answering a short page with a cursor. */
const MAX_FILTERED_ENTRIES = 1000;
/** Older deployments of a service and environment `previousTerminal` looks through, and how many per BatchGetItem. */
const PREVIOUS_LOOKBACK = 125;
const PREVIOUS_CHUNK = 5;

const indexNamed = (name: TableIndex['name']) => TABLE.indexes.find((i) => i.name === name) as TableIndex;

/** Deployment store on one DynamoDB table; only single-item conditional writes (works on DynamoDB Local and dynalite). */
export class DynamoStore implements DeploymentStore, RateLimiter {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
    /** The time of the rate limiter's windows and of idempotency expiry; the system clock but in tests. */
    private readonly clock: Clock = systemClock,
    /** Entries the first query of a finished-deployments read asks for (FINISH_FIRST_PAGE but in tests). */
    private readonly finishFirstPage = FINISH_FIRST_PAGE,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, {
      marshallOptions: { removeUndefinedValues: true },
    });
  }

  /** One item by its key, read consistently unless the caller can take a write of the last second missing. */
  private async getItem(pk: string, sk: string, consistent = true): Promise<GetCommandOutput['Item']> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { pk, sk }, ConsistentRead: consistent }),
    );
    return Item;
  }

  async getDeployment(id: string, read?: 'eventually'): Promise<Deployment | undefined> {
    if (!read) return (await this.loadForUpdate(id)).current;
    const Item = await this.getItem(deploymentPk(id), META, false);
    return Item && typeof Item.status === 'string' ? toDeployment(Item) : undefined;
  }

  async loadForUpdate(
    id: string,
  ): Promise<{ current?: Deployment; rev: number | null; rolledBackBy?: string }> {
    const Item = await this.getItem(deploymentPk(id), META);
    if (!Item) return { rev: null };
    const rev = Number(Item.rev ?? 0);
    // A rollback can name its original before the original's first event arrives: the item then holds only the link.
    if (typeof Item.status !== 'string') return { rev, rolledBackBy: Item.rolledBackBy };
    return { current: toDeployment(Item), rev, rolledBackBy: Item.rolledBackBy };
  }

  async putEvent(event: StoredEvent): Promise<'created' | 'exists'> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...event,
            pk: deploymentPk(event.deploymentId),
            sk: EVENT_PREFIX + event.eventId,
            type: 'event',
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return 'created';
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return 'exists';
      throw error;
    }
  }

  async setEventDisposition(
    deploymentId: string,
    eventId: string,
    disposition: StoredEvent['disposition'],
    note?: string,
  ): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: deploymentPk(deploymentId), sk: EVENT_PREFIX + eventId },
        UpdateExpression: note ? 'SET disposition = :d, note = :n' : 'SET disposition = :d REMOVE note',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: note ? { ':d': disposition, ':n': note } : { ':d': disposition },
      }),
    );
  }

  async saveDeployment(next: Deployment, expectedRev: number | null): Promise<void> {
    const listKeys: Record<string, string> = {};
    const sortKey = `${next.createdAt}#${next.id}`;
    if (next.service) {
      listKeys.gsi2pk = `S#${key(next.service)}`;
      listKeys.gsi2sk = sortKey;
      if (next.environment) {
        listKeys.gsi1pk = `SE#${key(next.service)}#${key(next.environment)}`;
        listKeys.gsi1sk = sortKey;
      }
    }
    listKeys.gsi3pk = `${ALL_DEPLOYMENTS}#${shardOf(next.id, LIST_SHARDS)}`;
    listKeys.gsi3sk = sortKey;
    // Where the sweep looks for it: by the minute its newest transition was recorded in (in the same write, no
    // extra one); a transition recorded in the same minute as the one before moves no index entry.
    const recordedAt = next.transitions.at(-1)?.recordedAt;
    if (recordedAt) {
      listKeys.gsi4pk = transitionsPk(recordedAt, shardOf(next.id, TRANSITION_SHARDS));
      listKeys.gsi4sk = `${minuteOf(recordedAt)}#${next.id}`;
    }
    Object.assign(listKeys, finishKeys(next));
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...packDeployment(next),
            ...listKeys,
            pk: deploymentPk(next.id),
            sk: META,
            type: 'deployment',
          },
          ConditionExpression: expectedRev === null ? 'attribute_not_exists(pk)' : 'rev = :rev',
          ExpressionAttributeValues: expectedRev === null ? undefined : { ':rev': expectedRev },
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        throw new ConcurrentUpdateError(`deployment ${next.id} changed while it was being updated`, {
          cause: error,
        });
      }
      throw error;
    }
  }

  async linkRollback(originalId: string, rollbackId: string): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: deploymentPk(originalId), sk: META },
        UpdateExpression: 'SET rolledBackBy = :r, rev = if_not_exists(rev, :zero) + :one',
        ExpressionAttributeValues: { ':r': rollbackId, ':zero': 0, ':one': 1 },
      }),
    );
  }

  async listEvents(deploymentId: string): Promise<StoredEvent[]> {
    const items = await this.queryAll({
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': deploymentPk(deploymentId), ':prefix': EVENT_PREFIX },
      ConsistentRead: true,
    });
    return items
      .map((item) => strip(item) as unknown as StoredEvent)
      .sort((a, b) => a.receivedAt.localeCompare(b.receivedAt) || a.occurredAt.localeCompare(b.occurredAt));
  }

  async listDeployments(query: DeploymentQuery): Promise<{ items: Deployment[]; cursor?: string }> {
    const { index, partitions } = deploymentPartition(query.service, query.environment);
    const environment = !query.service ? query.environment : undefined;
    return this.listPage({
      index,
      partitions,
      order: query.order ?? 'desc',
      limit: query.limit,
      cursor: query.cursor,
      // Sort keys are `<createdAt>#<id>`: `from` alone sorts before every key of that instant, `to` after none.
      lower: query.from ? { value: query.from, inclusive: true } : undefined,
      upper: query.to ? { value: query.to, inclusive: false } : undefined,
      // `environment` is projected into byTime: the filter drops entries before their records are read.
      keep: environment ? (entry) => entry.environment === environment : undefined,
      // Status and source change or are not projected: they are filtered on the record.
      accept:
        query.status || query.source
          ? (d) =>
              (!query.status || d.status === query.status) && (!query.source || d.source === query.source)
          : undefined,
      convert: toDeployment,
    });
  }

  async previousTerminal(
    service: string,
    environment: string,
    before: Deployment,
  ): Promise<Deployment | undefined> {
    const reader = mergedIndexReader(this.doc, this.tableName, {
      index: indexNamed('byServiceEnv'),
      partitions: [`SE#${key(service)}#${key(environment)}`],
      order: 'desc',
      upper: { value: `${before.createdAt}#${before.id}`, inclusive: false },
      pageSize: 25,
    });
    // Usually the one just before is terminal: records are read a few at a time, newest first.
    for (let examined = 0; examined < PREVIOUS_LOOKBACK; ) {
      const entries: Item[] = [];
      for (let entry = await reader.next(); entry; entry = await reader.next()) {
        entries.push(entry);
        if (entries.length >= PREVIOUS_CHUNK) break;
      }
      if (entries.length === 0) return undefined;
      examined += entries.length;
      for (const item of await batchGetItems(this.doc, this.tableName, entries)) {
        if (!item) continue;
        const deployment = toDeployment(item);
        if (deployment.id !== before.id && isTerminal(deployment.status)) return deployment;
      }
    }
    return undefined;
  }

  async getDelivery(deploymentId: string, target: string): Promise<Delivery | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: deploymentPk(deploymentId), sk: DELIVERIES },
        ProjectionExpression: '#t',
        ExpressionAttributeNames: { '#t': deliveryAttribute(target) },
        ConsistentRead: true,
      }),
    );
    const stored = Item?.[deliveryAttribute(target)];
    return stored ? toDelivery(deploymentId, target, stored) : undefined;
  }

  async listDeliveries(deploymentId: string): Promise<Delivery[]> {
    const Item = await this.getItem(deploymentPk(deploymentId), DELIVERIES);
    return Object.entries(Item ?? {})
      .filter(([name]) => name.startsWith(DELIVERY_ATTRIBUTE_PREFIX))
      .map(([name, stored]) => toDelivery(deploymentId, name.slice(DELIVERY_ATTRIBUTE_PREFIX.length), stored))
      .sort((a, b) => a.target.localeCompare(b.target));
  }

  async saveDelivery(next: Delivery, expectedRev: number | null): Promise<boolean> {
    return this.saveDeliveries([{ next, expectedRev }]);
  }

  async saveDeliveries(writes: readonly { next: Delivery; expectedRev: number | null }[]): Promise<boolean> {
    const deploymentId = writes[0]?.next.deploymentId;
    if (deploymentId === undefined) return true;
    if (writes.some((w) => w.next.deploymentId !== deploymentId)) {
      throw new Error('saveDeliveries writes the deliveries of one deployment at a time');
    }
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    const sets: string[] = [];
    const conditions: string[] = [];
    writes.forEach(({ next, expectedRev }, i) => {
      const { deploymentId: _deployment, target, ...stored } = next;
      names[`#t${i}`] = deliveryAttribute(target);
      values[`:d${i}`] = stored;
      sets.push(`#t${i} = :d${i}`);
      if (expectedRev === null) conditions.push(`attribute_not_exists(#t${i})`);
      else {
        names[`#r${i}`] = 'rev';
        values[`:r${i}`] = expectedRev;
        conditions.push(`#t${i}.#r${i} = :r${i}`);
      }
    });
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: deploymentPk(deploymentId), sk: DELIVERIES },
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: conditions.join(' AND '),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async getIdempotent(scope: string, idempotencyKey: string): Promise<IdempotentResult | undefined> {
    const Item = await this.getItem(idempotencyPk(scope, idempotencyKey), 'IDEM');
    // TTL deletion is lazy (up to days late in DynamoDB; never on dynalite): honour the expiry ourselves.
    if (!Item || Number(Item.expiresAt) * 1000 < this.clock.now().getTime()) return undefined;
    return { requestHash: Item.requestHash, ...(Item.response ? { response: Item.response } : {}) };
  }

  async claimIdempotent(scope: string, idempotencyKey: string, requestHash: string, ttlSeconds: number) {
    const now = Math.floor(this.clock.now().getTime() / 1000);
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            pk: idempotencyPk(scope, idempotencyKey),
            sk: 'IDEM',
            type: 'idempotency',
            requestHash,
            [TABLE.ttlAttribute]: now + ttlSeconds,
          },
          // An expired claim (TTL deletes lazily) may be taken again.
          ConditionExpression: 'attribute_not_exists(pk) OR #expires < :now',
          ExpressionAttributeNames: { '#expires': TABLE.ttlAttribute },
          ExpressionAttributeValues: { ':now': now },
        }),
      );
      return undefined;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      return (await this.getIdempotent(scope, idempotencyKey)) ?? { requestHash: '' };
    }
  }

  async putIdempotent(scope: string, idempotencyKey: string, result: IdempotentResult, ttlSeconds: number) {
    await this.doc.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          pk: idempotencyPk(scope, idempotencyKey),
          sk: 'IDEM',
          type: 'idempotency',
          requestHash: result.requestHash,
          response: result.response,
          [TABLE.ttlAttribute]: Math.floor(this.clock.now().getTime() / 1000) + ttlSeconds,
        },
      }),
    );
  }

  async getGeneration(scope: string, identity: string): Promise<number> {
    const Item = await this.getItem(generationPk(scope, identity), GENERATION);
    return Item ? Number(Item.generation) : 1;
  }

  async advanceGeneration(scope: string, identity: string, from: number): Promise<boolean> {
    try {
      // One conditional write: of concurrent callers that saw `from`, exactly one moves it on.
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: generationPk(scope, identity), sk: GENERATION },
          UpdateExpression: 'SET generation = :next, #type = :type',
          ConditionExpression:
            from === 1 ? 'attribute_not_exists(generation) OR generation = :from' : 'generation = :from',
          ExpressionAttributeNames: { '#type': 'type' },
          ExpressionAttributeValues: { ':next': from + 1, ':from': from, ':type': 'generation' },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async saveCiEvent(next: CiEvent, expectedRev: number | null): Promise<void> {
    const keys: Record<string, string> = {
      pk: ciPk(next.eventId),
      sk: META,
      type: 'ci-event',
      // `type` is the item kind on every item of the table: the event's own type lives in `ciType`.
      ciType: next.type,
      // The app's event list, newest first (the same index deployments use for "all", another partition).
      gsi3pk: `APP#${key(next.username)}/${key(next.app)}`,
      gsi3sk: `${next.eventTime}#${next.eventId}`,
    };
    if (next.repository && next.commit) {
      keys.gsi1pk = commitPk(next.repository, next.commit);
      keys.gsi1sk = `${next.eventTime}#${next.eventId}`;
    }
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...next, ...keys },
          ConditionExpression: expectedRev === null ? 'attribute_not_exists(pk)' : 'rev = :rev',
          ExpressionAttributeValues: expectedRev === null ? undefined : { ':rev': expectedRev },
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        throw new ConcurrentUpdateError(`CI event ${next.eventId} changed while it was being written`, {
          cause: error,
        });
      }
      throw error;
    }
  }

  async getCiEvent(eventId: string): Promise<CiEvent | undefined> {
    const Item = await this.getItem(ciPk(eventId), META);
    return Item ? toCiEvent(Item) : undefined;
  }

  async listCiEvents(query: CiEventQuery): Promise<{ items: CiEvent[]; cursor?: string }> {
    const page = await this.queryFromCursor(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: 'byTime',
        KeyConditionExpression: 'gsi3pk = :pk',
        ExpressionAttributeValues: { ':pk': `APP#${key(query.username)}/${key(query.app)}` },
        ScanIndexForward: query.order === 'asc',
        Limit: query.limit,
        ExclusiveStartKey: query.cursor ? decodeCursor(query.cursor) : undefined,
      }),
      query.cursor,
    );
    return {
      items: await this.records(page.Items ?? [], toCiEvent),
      cursor: page.LastEvaluatedKey ? encodeCursor(page.LastEvaluatedKey) : undefined,
    };
  }

  async ciEventsForCommit(
    repository: string,
    commit: string,
    page: { limit: number; cursor?: string; order?: 'asc' | 'desc' },
  ): Promise<{ items: CiEvent[]; cursor?: string }> {
    const pk = commitPk(repository, commit);
    const startKey = page.cursor ? decodeCursor(page.cursor) : undefined;
    // A cursor of another commit's (or another listing's) events would page through those.
    if (startKey && startKey.gsi1pk !== pk) {
      throw new InvalidInputError('query', [
        { path: 'cursor', message: "not a cursor of this deployment's CI events" },
      ]);
    }
    const result = await this.queryFromCursor(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: 'byServiceEnv',
        KeyConditionExpression: 'gsi1pk = :pk',
        ExpressionAttributeValues: { ':pk': pk },
        ScanIndexForward: page.order === 'asc',
        Limit: page.limit,
        ExclusiveStartKey: startKey,
      }),
      page.cursor,
    );
    return {
      items: await this.records(result.Items ?? [], toCiEvent),
      cursor: result.LastEvaluatedKey ? encodeCursor(result.LastEvaluatedKey) : undefined,
    };
  }

  async countCiEventsForCommit(repository: string, commit: string, max: number): Promise<number> {
    let count = 0;
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: 'byServiceEnv',
          KeyConditionExpression: 'gsi1pk = :pk',
          ExpressionAttributeValues: { ':pk': commitPk(repository, commit) },
          Select: 'COUNT',
          Limit: max - count,
          ExclusiveStartKey: startKey,
        }),
      );
      count += page.Count ?? 0;
      startKey = page.LastEvaluatedKey;
    } while (startKey && count < max);
    return Math.min(count, max);
  }

  async getCiEvents(eventIds: readonly string[]): Promise<CiEvent[]> {
    const keys = [...new Set(eventIds)].map((id) => ({ pk: ciPk(id), sk: META }));
    return this.records(keys, toCiEvent);
  }

  async transitionsRecordedBetween(
    after: string,
    until: string,
    limit: number,
  ): Promise<RecordedTransition[]> {
    const found: RecordedTransition[] = [];
    const lastHour = Date.parse(until.slice(0, 13) + ':00:00.000Z');
    for (let hour = Date.parse(after.slice(0, 13) + ':00:00.000Z'); hour <= lastHour; hour += HOUR_MS) {
      const base = transitionsBase(new Date(hour).toISOString());
      const reader = mergedIndexReader(this.doc, this.tableName, {
        index: indexNamed('byRecordedTransition'),
        partitions: shardPartitions(base, TRANSITION_SHARDS),
        order: 'asc',
        lower: { value: after, inclusive: false },
        // Every entry of the minute `until` is in (`<minute>#<id>`, and `$` sorts after `#`), none of a later one.
        upper: { value: `${minuteOf(until)}$`, inclusive: false },
        pageSize: limit - found.length + 1,
      });
      for (let entry = await reader.next(); entry && found.length < limit; entry = await reader.next()) {
        found.push({ deploymentId: String(entry.pk).slice('DEP#'.length), position: String(entry.gsi4sk) });
        if (found.length >= limit) break;
      }
      if (found.length >= limit) break;
    }
    return found;
  }

  async getSweepPosition(): Promise<string | undefined> {
    const Item = await this.getItem(SWEEP_PK, SWEEP_SK);
    return typeof Item?.position === 'string' ? Item.position : undefined;
  }

  async saveSweepPosition(position: string): Promise<void> {
    try {
      // Only forward: a slower sweep running alongside never moves it back.
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: SWEEP_PK, sk: SWEEP_SK, type: 'sweep', position },
          ConditionExpression: 'attribute_not_exists(pk) OR #position < :position',
          ExpressionAttributeNames: { '#position': 'position' },
          ExpressionAttributeValues: { ':position': position },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  async getCircuit(target: string): Promise<CircuitState | undefined> {
    const Item = await this.getItem(circuitPk(target), CIRCUIT);
    return Item ? toCircuit(Item) : undefined;
  }

  async countCircuitFailure(target: string): Promise<CircuitState> {
    // One atomic ADD: concurrent dispatchers each count their failure; `rev` is left alone, so counting
    // never makes a state change (saveCircuit) of another dispatcher fail.
    const { Attributes } = await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: circuitPk(target), sk: CIRCUIT },
        UpdateExpression:
          'ADD failures :one SET #state = if_not_exists(#state, :closed), rev = if_not_exists(rev, :zero), ' +
          '#target = :target, #type = :type',
        ExpressionAttributeNames: { '#state': 'state', '#target': 'target', '#type': 'type' },
        ExpressionAttributeValues: {
          ':one': 1,
          ':closed': 'closed',
          ':zero': 0,
          ':target': target,
          ':type': 'circuit',
        },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return toCircuit(Attributes ?? {});
  }

  async saveCircuit(next: CircuitState, expectedRev: number | null): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...next, pk: circuitPk(next.target), sk: CIRCUIT, type: 'circuit' },
          ConditionExpression: expectedRev === null ? 'attribute_not_exists(pk)' : 'rev = :rev',
          ExpressionAttributeValues: expectedRev === null ? undefined : { ':rev': expectedRev },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async take(key: string, limit: number, windowSeconds: number): Promise<number> {
    const nowSeconds = this.clock.now().getTime() / 1000;
    const windowStart = Math.floor(nowSeconds / windowSeconds) * windowSeconds;
    try {
      // A fixed window per key: one conditional ADD, so concurrent dispatchers share the count.
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: `RATE#${key}`, sk: String(windowStart) },
          UpdateExpression: 'ADD taken :one SET #ttl = :ttl',
          ConditionExpression: 'attribute_not_exists(taken) OR taken < :limit',
          ExpressionAttributeNames: { '#ttl': TABLE.ttlAttribute },
          ExpressionAttributeValues: { ':one': 1, ':limit': limit, ':ttl': windowStart + windowSeconds * 2 },
        }),
      );
      return 0;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        return Math.max(1, Math.ceil(windowStart + windowSeconds - nowSeconds));
      }
      throw error;
    }
  }

  async getIncident(id: string): Promise<Incident | undefined> {
    const Item = await this.getItem(incidentPk(id), META);
    return Item ? toIncident(Item) : undefined;
  }

  async saveIncident(
    next: Incident,
    expectedRev: number | null,
    previousDeploymentId?: string,
  ): Promise<void> {
    const sortKey = `${next.openedAt}#${next.id}`;
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...next,
            pk: incidentPk(next.id),
            sk: META,
            type: 'incident',
            gsi1pk: `INCSE#${key(next.service)}#${key(next.environment)}`,
            gsi1sk: sortKey,
            gsi2pk: `INCS#${key(next.service)}`,
            gsi2sk: sortKey,
            gsi3pk: `${ALL_INCIDENTS}#${shardOf(next.id, LIST_SHARDS)}`,
            gsi3sk: sortKey,
          },
          ConditionExpression: expectedRev === null ? 'attribute_not_exists(pk)' : 'rev = :rev',
          ExpressionAttributeValues: expectedRev === null ? undefined : { ':rev': expectedRev },
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        throw new ConcurrentUpdateError(
          `incident ${next.id} changed while it was being written; send it again`,
          {
            cause: error,
          },
        );
      }
      throw error;
    }
    // The copy under the deployment: `GET /v1/deployments/{id}` reads it with the deployment's own items.
    if (previousDeploymentId && previousDeploymentId !== next.deploymentId) {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { pk: deploymentPk(previousDeploymentId), sk: INCIDENT_PREFIX + next.id },
        }),
      );
    }
    if (next.deploymentId) {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...next,
            pk: deploymentPk(next.deploymentId),
            sk: INCIDENT_PREFIX + next.id,
            type: 'incident-link',
          },
        }),
      );
    }
  }

  async listIncidents(query: IncidentQuery): Promise<{ items: Incident[]; cursor?: string }> {
    const { index, partitions } = incidentPartition(query.service, query.environment);
    const environment = !query.service ? query.environment : undefined;
    const status = query.status;
    return this.listPage({
      index,
      partitions,
      order: 'desc',
      limit: query.limit,
      cursor: query.cursor,
      keep: environment ? (entry) => entry.environment === environment : undefined,
      // An incident's status changes (open, resolved): it is not projected, so it is filtered on the record.
      accept: status ? (incident) => incident.status === status : undefined,
      convert: toIncident,
    });
  }

  async incidentsOfDeployment(deploymentId: string, limit: number): Promise<Incident[]> {
    const page = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': deploymentPk(deploymentId), ':prefix': INCIDENT_PREFIX },
        Limit: limit,
      }),
    );
    return (page.Items ?? []).map(toIncident).sort((a, b) => a.openedAt.localeCompare(b.openedAt));
  }

  async latestSucceededBefore(
    service: string,
    environment: string,
    at: string,
  ): Promise<Deployment | undefined> {
    // byFinish, newest finish first (then the greater id, as computeDora orders them): the first succeeded
    // entry of the environment that finished at or before `at` (times are ISO 8601 to the millisecond).
    let startKey: Item | undefined;
    for (let looked = 0; looked < LINK_LOOKBACK; ) {
      const page = await this.doc.send(
        finishQuery(this.tableName, {
          service,
          // Sort keys are `<finishedAt>#<id>`: below the next millisecond is at or before `at`.
          upper: new Date(Date.parse(at) + 1).toISOString(),
          filter: { environment, status: 'succeeded' },
          order: 'desc',
          limit: Math.min(LINK_PAGE, LINK_LOOKBACK - looked),
          startKey,
        }),
      );
      const first = page.Items?.[0];
      if (first) return fromFinishEntry(first, service);
      looked += page.ScannedCount ?? 0;
      startKey = page.LastEvaluatedKey;
      if (!startKey) break;
    }
    return undefined;
  }

  async deploymentsInRange(query: RangeQuery): Promise<RangeResult<Deployment>> {
    const { index, partitions } = deploymentPartition(query.service, query.environment);
    return this.readRange(index, partitions, query, toDeployment);
  }

  async incidentsInRange(query: RangeQuery): Promise<RangeResult<Incident>> {
    const { index, partitions } = incidentPartition(query.service, query.environment);
    return this.readRange(index, partitions, query, toIncident);
  }

  /**
   * `byFinish` over `[after, before)` (its entries hold what the metrics read: no record is read). A first
   * query asks for FINISH_FIRST_PAGE entries; when the window holds more, the rest is cut into
   * FINISH_SEGMENTS slices of time queried in parallel, each paged to its end (pages of up to 1 MB), and
   * the slices are joined in order. The reads are capped in rounds: the slices still open share what is
   * left of `maxReads` equally, so none reads past the cap and no budget is left unused while a slice has more.
   */
  async finishedDeploymentsInRange(query: FinishedRangeQuery): Promise<RangeResult<Deployment>> {
    const { after, before, order, environment } = query;
    if (query.maxReads <= 0) return { items: [], read: 0, more: true };
    if (after !== undefined && after >= before) return { items: [], read: 0, more: false };
    for (const path of query.attributes ?? []) {
      if (!FINISH_ATTRIBUTES.includes(path.split('.')[0] as string)) {
        throw new Error(
          `byFinish holds only ${FINISH_ATTRIBUTES.join(', ')}; ${path} cannot be read from it`,
        );
      }
    }
    let read = 0;
    /** One query of a slice, from where it stopped; answers how many entries it read. */
    const page = async (slice: FinishSlice, limit: number) => {
      const command = finishQuery(this.tableName, {
        service: query.service,
        lower: slice.lower,
        upper: slice.upper,
        filter: environment ? { environment } : {},
        order,
        limit,
        startKey: slice.startKey,
      });
      // The SDK's logger middleware copies every answer through its sensitive-data filter even when nothing
      // logs (the default): some 60 ms of CPU over 10,000 entries. These answers are never logged.
      command.middlewareStack.add(
        (next, context) => (args) => {
          context.dynamoDbDocumentClientOptions = { overrideOutputFilterSensitiveLog: () => undefined };
          return next(args);
        },
        // Unnamed: the document client's command shares its stack with the command it wraps (added twice).
        { step: 'initialize' },
      );
      const output = await this.doc.send(command);
      slice.items.push(...(output.Items ?? []));
      slice.startKey = output.LastEvaluatedKey;
      slice.done = !output.LastEvaluatedKey;
      read += output.ScannedCount ?? 0;
      return output.ScannedCount ?? 0;
    };
    const whole: FinishSlice = { lower: after, upper: before, items: [], done: false };
    await page(whole, Math.min(query.maxReads, this.finishFirstPage));
    const slices = whole.done || after === undefined ? [whole] : finishSlices(whole, order);
    for (let open = slices.filter((s) => !s.done); open.length > 0; open = open.filter((s) => !s.done)) {
      const budget = query.maxReads - read;
      if (budget <= 0) break;
      await Promise.all(
        open.map(async (slice, i) => {
          let share = Math.floor(budget / open.length) + (i < budget % open.length ? 1 : 0);
          while (share > 0 && !slice.done) share -= Math.max(1, await page(slice, share));
        }),
      );
    }
    // Capped: a slice whose last page was full hands back a start key even when nothing is left in it; a
    // look at one more entry tells (not counted: it is not answered).
    let more = false;
    for (const slice of slices.filter((s) => !s.done)) {
      const look: FinishSlice = { ...slice, items: [] };
      const seen = await page(look, 1);
      read -= seen;
      if (seen > 0 || !look.done) {
        more = true;
        break;
      }
      slice.done = true;
    }
    const items: Item[] = [];
    for (const slice of slices) {
      items.push(...slice.items);
      if (!slice.done) break;
    }
    return { items: items.map((entry) => fromFinishEntry(entry, query.service)), read, more };
  }

  /**
   * The records of index entries over a sort key range, reading at most `maxReads` entries (pages of up to
   * 1,000 per partition); the records are read with BatchGetItem.
   */
  private async readRange<T>(
    index: TableIndex,
    partitions: readonly string[],
    query: RangeQuery,
    convert: (item: Item) => T,
  ): Promise<RangeResult<T>> {
    if (query.maxReads <= 0) return { items: [], read: 0, more: true };
    const environment = !query.service ? query.environment : undefined;
    const reader = mergedIndexReader(this.doc, this.tableName, {
      index,
      partitions,
      order: query.order,
      lower: query.after ? { value: query.after, inclusive: true } : undefined,
      // `before` alone sorts before every `before#id`: that instant is excluded.
      upper: { value: query.before, inclusive: false },
      pageSize: Math.min(query.maxReads, RANGE_PAGE_SIZE),
    });
    // The records are read while the index is still being paged: a BatchGetItem per 100 entries kept, up to
    // RANGE_BATCH_GETS at once, answered in the entries' order.
    const batches: Promise<(Item | undefined)[]>[] = [];
    const inFlight = new Set<Promise<unknown>>();
    const attributes = recordProjection(query.attributes);
    let chunk: Item[] = [];
    const flush = async () => {
      const keys = chunk;
      chunk = [];
      while (inFlight.size >= RANGE_BATCH_GETS) await Promise.race(inFlight);
      const batch = batchGetItems(this.doc, this.tableName, keys, attributes);
      batches.push(batch);
      const settled: Promise<unknown> = batch.then(
        () => inFlight.delete(settled),
        () => inFlight.delete(settled),
      );
      inFlight.add(settled);
    };
    let read = 0;
    for (
      let entry = await reader.next();
      entry;
      entry = read < query.maxReads ? await reader.next() : undefined
    ) {
      read++;
      if (!environment || entry.environment === environment) chunk.push(entry);
      if (chunk.length >= BATCH_GET_SIZE) await flush();
    }
    if (chunk.length > 0) await flush();
    const more = (await reader.peek()) !== undefined;
    const records = (await Promise.all(batches)).flat();
    return { items: records.filter((item): item is Item => item !== undefined).map(convert), read, more };
  }

  /**
   * One page of a listing of index partitions merged by sort key: up to `limit` records, filtered on the
   * index entry (`keep`) and on the record (`accept`), with a cursor holding the position after which every
   * partition goes on. A filtered listing examines at most MAX_FILTERED_ENTRIES entries, then answers a
   * short page with its cursor.
   */
  private async listPage<T>(options: {
    index: TableIndex;
    partitions: readonly string[];
    order: 'asc' | 'desc';
    limit: number;
    cursor?: string;
    /** The sort key range listed (the cursor narrows it further). */
    lower?: SortKeyBound;
    upper?: SortKeyBound;
    keep?: (entry: Item) => boolean;
    accept?: (record: T) => boolean;
    convert: (item: Item) => T;
  }): Promise<{ items: T[]; cursor?: string }> {
    const { index, order, limit, keep, accept } = options;
    const from = options.cursor ? { value: decodePosition(options.cursor), inclusive: false } : undefined;
    const filtered = Boolean(keep || accept);
    const reader = mergedIndexReader(this.doc, this.tableName, {
      index,
      partitions: options.partitions,
      order,
      // A cursor narrows the range; one from another listing can never widen it.
      lower: order === 'asc' ? tighter(from, options.lower, 'lower') : options.lower,
      upper: order === 'desc' ? tighter(from, options.upper, 'upper') : options.upper,
      // One more than a page: whether another page follows is known without an empty last page.
      pageSize: filtered ? Math.max(limit + 1, FILTERED_PAGE_SIZE) : limit + 1,
    });
    const items: T[] = [];
    // The sort key of the last entry examined: answered, or dropped by a filter.
    let position: string | undefined;
    let examined = 0;
    while (items.length < limit && (!filtered || examined < MAX_FILTERED_ENTRIES)) {
      const chunk: Item[] = [];
      let examinedUpTo = position;
      const size = accept ? FILTERED_PAGE_SIZE : limit - items.length;
      while (chunk.length < size && (!filtered || examined < MAX_FILTERED_ENTRIES)) {
        const entry = await reader.next();
        if (!entry) break;
        examined++;
        examinedUpTo = String(entry[index.sortKey]);
        if (!keep || keep(entry)) chunk.push(entry);
      }
      const records = await batchGetItems(this.doc, this.tableName, chunk);
      for (const [i, entry] of chunk.entries()) {
        // Read but not answered: the next page starts with it.
        if (items.length >= limit) return { items, cursor: encodePosition(position as string) };
        position = String(entry[index.sortKey]);
        const item = records[i];
        if (!item) continue;
        const record = options.convert(item);
        if (!accept || accept(record)) items.push(record);
      }
      position = examinedUpTo;
      if (chunk.length < size) break;
    }
    const more = (await reader.peek()) !== undefined;
    return { items, cursor: more && position ? encodePosition(position) : undefined };
  }

  /** The records of index entries (or keys), read from the table in batches, in the entries' order. */
  private async records<T>(
    entries: readonly Item[],
    convert: (item: Item) => T,
    attributes?: readonly string[],
  ): Promise<T[]> {
    const found = await batchGetItems(this.doc, this.tableName, entries, recordProjection(attributes));
    return found.filter((item): item is Item => item !== undefined).map(convert);
  }

  /**
   * A query that may start from a caller's cursor: DynamoDB refuses a start key that is not a key of the
   * index (a forged cursor, or one from another listing) with a ValidationException, which is the caller's
   * mistake (400), not a failure of Shipcast.
   */
  private async queryFromCursor(command: QueryCommand, cursor: string | undefined) {
    try {
      return await this.doc.send(command);
    } catch (error) {
      if (cursor && (error as Error).name === 'ValidationException') {
        throw new InvalidInputError('query', [{ path: 'cursor', message: 'not a cursor this API returned' }]);
      }
      throw error;
    }
  }

  private async queryAll(input: QueryCommandInput): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(new QueryCommand({ ...input, ExclusiveStartKey: startKey }));
      items.push(...((page.Items ?? []) as Record<string, unknown>[]));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return items;
  }
}

// The key hash keeps caller-chosen keys (any bytes) out of the partition key.
const idempotencyPk = (scope: string, idempotencyKey: string) =>
  `IDEM#${scope}#${stableHash(idempotencyKey)}`;
// An identity can be long (BigPanda: up to 1000 host names): the item holds only its hash.
const generationPk = (scope: string, identity: string) => `GEN#${scope}#${stableHash(identity)}`;

const STORAGE_ATTRIBUTES = [
  'pk',
  'sk',
  'type',
  'gsi1pk',
  'gsi1sk',
  'gsi2pk',
  'gsi2sk',
  'gsi3pk',
  'gsi3sk',
  'gsi4pk',
  'gsi4sk',
  'gsi5pk',
  'gsi5sk',
];

/**
 * The partitions of the transitions recorded in one hour (`TRANSITIONS#2026-03-01T10#<shard>`): every
 * deployment write with a new transition in that hour lands in one of them (one small keys-only index entry
 * each), the shard by the deployment's id (TRANSITION_SHARDS says how many and why).
 */
const transitionsBase = (recordedAt: string) => `TRANSITIONS#${recordedAt.slice(0, 13)}`;
const transitionsPk = (recordedAt: string, shard: number) => `${transitionsBase(recordedAt)}#${shard}`;
/** `2026-03-01T10:05` of an ISO 8601 time: the sweep's entries are sorted by minute, then id. */
const minuteOf = (at: string) => at.slice(0, 16);
const HOUR_MS = 3_600_000;
const SWEEP_PK = 'SWEEP';
const SWEEP_SK = 'TRANSITIONS';

/**
 * A deployment record's `byFinish` keys: `F#<service>` and `<finishedAt>#<id>` once it reached a terminal
 * status (none before, and none without a service).
 */
function finishKeys(d: Pick<Deployment, 'id' | 'service' | 'status' | 'finishedAt'>): Record<string, string> {
  if (!d.service || !d.finishedAt || !isTerminal(d.status)) return {};
  return { gsi5pk: `F#${key(d.service)}`, gsi5sk: `${d.finishedAt}#${d.id}` };
}

/**
 * An item's list keys moved from schema version 1 (one partition for all deployments, all incidents and
 * each hour of transitions) to their shards, its sweep entry from its transition's time to its minute, and a
 * finished deployment record of version 3 or before gets its `byFinish` keys and its `finish` attribute
 * (version 4); an item already in today's layout is returned as it is.
 */
export function upgradeKeys(item: Record<string, AttributeValue>): Record<string, AttributeValue> {
  const pk = item.pk?.S ?? '';
  const id = pk.slice(pk.indexOf('#') + 1);
  const upgraded = { ...item };
  const all = item.gsi3pk?.S;
  if (all === ALL_DEPLOYMENTS || all === ALL_INCIDENTS) {
    upgraded.gsi3pk = { S: `${all}#${shardOf(id, LIST_SHARDS)}` };
  }
  const hour = item.gsi4pk?.S;
  if (hour && /^TRANSITIONS#[^#]+$/.test(hour)) {
    upgraded.gsi4pk = { S: `${hour}#${shardOf(id, TRANSITION_SHARDS)}` };
  }
  const recorded = /^(\d{4}-\d\d-\d\dT\d\d:\d\d):[^#]*#(.*)$/.exec(item.gsi4sk?.S ?? '');
  if (recorded) upgraded.gsi4sk = { S: `${recorded[1]}#${recorded[2]}` };
  // Version 4: a finished deployment record written before gets its `byFinish` keys.
  if (item.type?.S === 'deployment' && !item.gsi5pk) {
    const finish = finishKeys({
      id: item.id?.S ?? id,
      service: item.service?.S,
      status: item.status?.S as Deployment['status'],
      finishedAt: item.finishedAt?.S,
    });
    for (const [name, value] of Object.entries(finish)) upgraded[name] = { S: value };
  }
  // ...and holds its finish attributes in `finish` (what `byFinish` projects).
  if (item.type?.S === 'deployment' && upgraded.gsi5pk && !item.finish) {
    const moved: Record<string, unknown> = {};
    for (const name of FINISH_PACKED_ATTRIBUTES) {
      const value = upgraded[name];
      if (value !== undefined) moved[name] = convertToNative(value);
      delete upgraded[name];
    }
    upgraded.finish = { S: JSON.stringify(moved) };
  }
  return upgraded;
}

/**
 * A table's items in today's layout: each through upgradeKeys, and the per-target delivery items of version 3
 * and before (`DLV#<target>`) merged into their deployment's one deliveries item (`DLV`, version 4).
 */
export function upgradeItems(
  items: readonly Record<string, AttributeValue>[],
): Record<string, AttributeValue>[] {
  const merged = new Map<string, Record<string, AttributeValue>>();
  const rest: Record<string, AttributeValue>[] = [];
  for (const item of items) {
    const sk = item.sk?.S ?? '';
    if (!sk.startsWith(`${DELIVERIES}#`)) {
      rest.push(upgradeKeys(item));
      continue;
    }
    const pk = item.pk?.S ?? '';
    const target = sk.slice(DELIVERIES.length + 1);
    const { pk: _pk, sk: _sk, type: _type, deploymentId: _id, target: _target, ...state } = item;
    const into = merged.get(pk) ?? { pk: { S: pk }, sk: { S: DELIVERIES } };
    into[deliveryAttribute(target)] = { M: state };
    merged.set(pk, into);
  }
  return [...rest, ...merged.values()];
}

function strip(item: Record<string, unknown>): Record<string, unknown> {
  const copy = { ...item };
  for (const attribute of STORAGE_ATTRIBUTES) delete copy[attribute];
  return copy;
}

/**
 * A deployment record's attributes that nothing reads by name in DynamoDB (no key, condition, update or
 * projection names them) and that make it large: stored as one `packed` attribute, raw DEFLATE of their
 * JSON (PACKED_DICTIONARY), so that a record of three transitions stays under 1 KB: one write unit per update
 * instead of 2-3 (an update is billed on the larger of the item before and after it).
 * The metrics' projection (DORA_DEPLOYMENT_ATTRIBUTES), `rev` (conditions) and `rolledBackBy` (linkRollback)
 * stay plain attributes.
 */
const PACKED_ATTRIBUTES = [
  'transitions',
  'details',
  'enrichment',
  'hosts',
  'counts',
  'error',
  'description',
  'url',
  'actor',
  'sourceStatus',
  'sourceDeploymentId',
  'account',
  'region',
  'updatedAt',
] as const;

/**
 * DEFLATE's preset dictionary for `packed`: the JSON a record's bulky part repeats (its names, statuses,
 * a transition's shape), so that a small record compresses to half of what DEFLATE alone gives. Records
 * written with it can only be read with it: never change it; a new one goes under a new attribute name.
 */
const PACKED_DICTIONARY = Buffer.from(
  '{"transitions":[{"seq":1,"from":null,"to":"queued","at":"","recordedAt":"","eventId":"","targets":[""]},' +
    '{"seq":2,"from":"queued","to":"in_progress"},{"seq":3,"from":"in_progress","to":"succeeded","failed","stopped"}],' +
    '"messages":{"title":"text":},"details":{"application":"deploymentGroup":"creator":"user","region":"us-east-1"},' +
    '"enrichment":{"state":"done","at":"attempts":1},' +
    '"counts":{"pending":0,"inProgress":0,"succeeded":0,"failed":0,"skipped":0,"ready":0},' +
    '"hosts":["error":{"code":"message":},"description":"url":"https://","actor":"sourceStatus":"SUCCEEDED",' +
    '"sourceDeploymentId":"account":"region":"updatedAt":"2026-',
);

/**
 * The record as stored: PACKED_ATTRIBUTES moved into `packed`; once finished (it has `byFinish` keys), also
 * FINISH_PACKED_ATTRIBUTES into `finish` (finishEntry).
 */
export function packDeployment(deployment: Deployment): Record<string, unknown> {
  const plain: Record<string, unknown> = { ...deployment };
  const bulky = takeOut(plain, PACKED_ATTRIBUTES);
  const packed = deflateRawSync(JSON.stringify(bulky), { dictionary: PACKED_DICTIONARY });
  if (Object.keys(finishKeys(deployment)).length === 0) return { ...plain, packed };
  const finish = JSON.stringify(takeOut(plain, FINISH_PACKED_ATTRIBUTES));
  return { ...plain, finish, packed };
}

/** Moves the `names` that are set out of `plain` (which loses all of them) into the object it answers. */
function takeOut(plain: Record<string, unknown>, names: readonly string[]): Record<string, unknown> {
  const taken: Record<string, unknown> = {};
  for (const name of names) {
    if (plain[name] !== undefined) taken[name] = plain[name];
    delete plain[name];
  }
  return taken;
}

function toDeployment(item: Record<string, unknown>): Deployment {
  const { packed, finish, ...plain } = strip(item);
  const deployment = typeof finish === 'string' ? { ...JSON.parse(finish), ...plain } : plain;
  // Records written before packing (and projections without it) hold every attribute plainly.
  if (!(packed instanceof Uint8Array)) return deployment as unknown as Deployment;
  return {
    ...deployment,
    ...JSON.parse(inflateRawSync(packed, { dictionary: PACKED_DICTIONARY }).toString('utf8')),
  } as Deployment;
}

/**
 * A query of `service`'s `byFinish` entries with sort keys in `[lower, upper)` (none below `upper` without
 * `lower`), kept where each `filter` attribute (plain in the entry) equals its value; every entry is read
 * whole but its keys (its one `finish` string holds any of FINISH_ATTRIBUTES asked for).
 */
function finishQuery(
  tableName: string,
  read: {
    service: string;
    lower?: string;
    upper: string;
    filter: { environment?: string; status?: string };
    order: 'asc' | 'desc';
    limit: number;
    startKey?: Item;
  },
): QueryCommand {
  const index = indexNamed('byFinish');
  const { expression: projection, names } = projectionOf(FINISH_PROJECTION);
  const filters = Object.entries(read.filter).filter(([, value]) => value !== undefined);
  return new QueryCommand({
    TableName: tableName,
    IndexName: index.name,
    // Sort keys are `<finishedAt>#<id>`: `lower` alone sorts before every key of that instant, and `upper`
    // after none of its own (BETWEEN's inclusive end never matches a key).
    KeyConditionExpression:
      read.lower === undefined ? '#pk = :pk AND #sk < :upper' : '#pk = :pk AND #sk BETWEEN :lower AND :upper',
    ...(filters.length > 0
      ? { FilterExpression: filters.map(([name]) => `#${name} = :${name}`).join(' AND ') }
      : {}),
    ProjectionExpression: projection,
    ExpressionAttributeNames: {
      ...names,
      '#pk': index.partitionKey,
      '#sk': index.sortKey,
      ...Object.fromEntries(filters.map(([name]) => [`#${name}`, name])),
    },
    ExpressionAttributeValues: {
      ':pk': `F#${key(read.service)}`,
      ':upper': read.upper,
      ...(read.lower === undefined ? {} : { ':lower': read.lower }),
      ...Object.fromEntries(filters.map(([name, value]) => [`:${name}`, value])),
    },
    ScanIndexForward: read.order === 'asc',
    Limit: read.limit,
    ExclusiveStartKey: read.startKey,
  });
}

/** A `byFinish` entry of `service`'s partition as a deployment: its `finish` and plain attributes (no key). */
function fromFinishEntry(entry: Item, service: string): Deployment {
  if (typeof entry.finish !== 'string') {
    throw new Error(
      `the byFinish entry of deployment ${String(entry.id)} has no finish attribute: give the finished records of a ` +
        'table from before it theirs (docs/storage.md, "Version 3 to 4")',
    );
  }
  const deployment: Record<string, unknown> = JSON.parse(entry.finish);
  deployment.id = entry.id;
  deployment.service = service;
  deployment.status = entry.status;
  if (entry.environment !== undefined) deployment.environment = entry.environment;
  if (entry.rolledBackBy !== undefined) deployment.rolledBackBy = entry.rolledBackBy;
  return deployment as unknown as Deployment;
}

/**
 * A projection of deployment records: `finish` too when it names one of FINISH_PACKED_ATTRIBUTES, which a
 * finished record holds there.
 */
function recordProjection(attributes: readonly string[] | undefined): readonly string[] | undefined {
  if (!attributes) return undefined;
  const packed = FINISH_PACKED_ATTRIBUTES as readonly string[];
  return attributes.some((path) => packed.includes(path.split(/[.[]/)[0] as string))
    ? [...attributes, 'finish']
    : attributes;
}

function toIncident(item: Record<string, unknown>): Incident {
  return strip(item) as unknown as Incident;
}

/** A time slice `[lower, upper)` of a finished-deployments read (`lower` none: from the oldest), and what it read. */
interface FinishSlice {
  lower?: string;
  upper: string;
  startKey?: Item;
  items: Item[];
  done: boolean;
}

/**
 * The rest of a read whose first query stopped at `whole.startKey`, cut into up to FINISH_SEGMENTS slices of
 * equal time, in the read's order. The cuts are sort key values strictly between the last key read and the
 * window's other end, so the slices cover the rest without a gap or an overlap, and the slice holding the
 * start key goes on from it with what was read.
 */
function finishSlices(whole: FinishSlice, order: 'asc' | 'desc'): FinishSlice[] {
  const last = String(whole.startKey?.gsi5sk);
  const lower = whole.lower as string;
  const [low, high] = order === 'asc' ? [last, whole.upper] : [lower, last];
  const startMs = Date.parse(low.split('#')[0] as string);
  const spanMs = Date.parse(high.split('#')[0] as string) + (order === 'asc' ? 0 : 1) - startMs;
  const cuts = new Set<string>();
  for (let k = 1; k < FINISH_SEGMENTS && Number.isFinite(spanMs); k++) {
    const cut = new Date(startMs + Math.round((k * spanMs) / FINISH_SEGMENTS)).toISOString();
    if (cut > low && cut < high) cuts.add(cut);
  }
  const edges = [lower, ...[...cuts].sort(), whole.upper];
  const slices: FinishSlice[] = edges.slice(1).map((upper, i) => ({
    lower: edges[i],
    upper,
    items: [],
    done: false,
  }));
  const resumed = (order === 'asc' ? slices[0] : slices.at(-1)) as FinishSlice;
  Object.assign(resumed, { startKey: whole.startKey, items: whole.items });
  return order === 'asc' ? slices : slices.reverse();
}

/** The index and partitions holding the deployments of a service (and environment), or all of them (sharded). */
function deploymentPartition(service?: string, environment?: string) {
  if (service && environment)
    return { index: indexNamed('byServiceEnv'), partitions: [`SE#${key(service)}#${key(environment)}`] };
  if (service) return { index: indexNamed('byService'), partitions: [`S#${key(service)}`] };
  return { index: indexNamed('byTime'), partitions: shardPartitions(ALL_DEPLOYMENTS, LIST_SHARDS) };
}

/** The index and partitions holding the incidents of a service (and environment), or all of them (sharded). */
function incidentPartition(service?: string, environment?: string) {
  if (service && environment)
    return { index: indexNamed('byServiceEnv'), partitions: [`INCSE#${key(service)}#${key(environment)}`] };
  if (service) return { index: indexNamed('byService'), partitions: [`INCS#${key(service)}`] };
  return { index: indexNamed('byTime'), partitions: shardPartitions(ALL_INCIDENTS, LIST_SHARDS) };
}

function toCircuit(item: Record<string, unknown>): CircuitState {
  const circuit = strip(item) as unknown as CircuitState;
  return { ...circuit, failures: Number(circuit.failures ?? 0), rev: Number(circuit.rev ?? 0) };
}

function toCiEvent(item: Record<string, unknown>): CiEvent {
  const { ciType, ...rest } = strip(item);
  return { ...rest, type: ciType } as unknown as CiEvent;
}

function encodeCursor(lastKey: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(lastKey)).toString('base64url');
}

function decodeCursor(cursor: string): Record<string, unknown> {
  const invalid = () =>
    new InvalidInputError('query', [{ path: 'cursor', message: 'not a cursor this API returned' }]);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    Array.isArray(parsed) ||
    Object.keys(parsed).length > 6 ||
    !Object.entries(parsed).every(([k, v]) => /^(pk|sk|gsi[123](pk|sk))$/.test(k) && typeof v === 'string')
  ) {
    throw invalid();
  }
  return parsed as Record<string, unknown>;
}

/** Of a cursor's bound and a range's bound on the same side, the one that lets fewer sort keys through. */
function tighter(
  cursor: SortKeyBound | undefined,
  range: SortKeyBound | undefined,
  side: 'lower' | 'upper',
): SortKeyBound | undefined {
  if (!cursor || !range) return cursor ?? range;
  if (cursor.value === range.value) return cursor.inclusive ? range : cursor;
  return (side === 'lower') === cursor.value > range.value ? cursor : range;
}
