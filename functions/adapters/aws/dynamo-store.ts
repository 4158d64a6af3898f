import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  type GetCommandOutput,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { ConcurrentUpdateError, InvalidInputError } from '../../core/errors.ts';
import { stableHash } from '../../core/ids.ts';
import type { Incident } from '../../core/incidents.ts';
import {
  type CiEventQuery,
  type CircuitState,
  type Clock,
  type DeploymentQuery,
  type DeploymentStore,
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
import { TABLE } from './table.ts';

const META = 'META';
/** BatchGetItem's limit of keys per call. */
const BATCH_GET_KEYS = 100;
/** BatchGetItem calls for one chunk of keys before giving up on what DynamoDB keeps leaving unprocessed. */
const MAX_BATCH_GET_ATTEMPTS = 5;
const EVENT_PREFIX = 'EVT#';
const DELIVERY_PREFIX = 'DLV#';
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

/** Deployments an incident's link looks back over (newest first) for the one that was running. */
const LINK_LOOKBACK = 100;
/** Items one query of a bounded range read asks for. */
const RANGE_PAGE_SIZE = 1000;

/** Deployments read per query when a filter is applied after reading (`environment` without `service`). */
const FILTERED_PAGE_SIZE = 100;
/** Queries one listing request makes at most with such a filter, before answering a short page. */
const MAX_FILTERED_PAGES = 10;

/** Deployment store on one DynamoDB table; only single-item conditional writes (works on DynamoDB Local and dynalite). */
export class DynamoStore implements DeploymentStore, RateLimiter {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
    /** The time of the rate limiter's windows and of idempotency expiry; the system clock but in tests. */
    private readonly clock: Clock = systemClock,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, {
      marshallOptions: { removeUndefinedValues: true },
    });
  }

  /** One item by its key, read consistently (every read of a single item here wants the latest write). */
  private async getItem(pk: string, sk: string): Promise<GetCommandOutput['Item']> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { pk, sk }, ConsistentRead: true }),
    );
    return Item;
  }

  async getDeployment(id: string): Promise<Deployment | undefined> {
    const { current } = await this.loadForUpdate(id);
    return current;
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
    listKeys.gsi3pk = ALL_DEPLOYMENTS;
    listKeys.gsi3sk = sortKey;
    // Where the sweep looks for it: by when its newest transition was recorded (in the same write, no extra one).
    const recordedAt = next.transitions.at(-1)?.recordedAt;
    if (recordedAt) {
      listKeys.gsi4pk = transitionsPk(recordedAt);
      listKeys.gsi4sk = `${recordedAt}#${next.id}`;
    }
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...next, ...listKeys, pk: deploymentPk(next.id), sk: META, type: 'deployment' },
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
    const { index, partition } = deploymentPartition(query.service, query.environment);
    const sortKey = TABLE.indexes.find((i) => i.name === index)?.sortKey as string;
    const partitionKey = TABLE.indexes.find((i) => i.name === index)?.partitionKey as string;
    const values: Record<string, string> = { ':pk': partition };
    const names: Record<string, string> = {};
    // Sort keys are `<createdAt>#<id>`: `from` alone sorts before every key of that instant, `to` after none of its own.
    let condition = `${partitionKey} = :pk`;
    if (query.from) values[':from'] = query.from;
    if (query.to) values[':to'] = query.to;
    if (query.from && query.to) condition += ` AND ${sortKey} BETWEEN :from AND :to`;
    else if (query.from) condition += ` AND ${sortKey} >= :from`;
    else if (query.to) condition += ` AND ${sortKey} < :to`;
    const filters: string[] = [];
    if (!query.service && query.environment) {
      filters.push('environment = :env');
      values[':env'] = query.environment;
    }
    if (query.status) {
      filters.push('#status = :status');
      names['#status'] = 'status';
      values[':status'] = query.status;
    }
    if (query.source) {
      filters.push('#source = :source');
      names['#source'] = 'source';
      values[':source'] = query.source;
    }
    const filtered = filters.length > 0;
    const items: Deployment[] = [];
    let startKey = query.cursor ? decodeCursor(query.cursor) : undefined;
    const indexKeys = TABLE.indexes.find((i) => i.name === index) as (typeof TABLE.indexes)[number];
    // Filters (environment without service, status, source) are applied after reading: read in large pages
    // (not one query per deployment when matches are rare), stop after a bounded number of them (a short page
    // with a cursor: the caller goes on from there), and when a page holds more matches than wanted, continue
    // after the last one returned.
    let pages = 0;
    do {
      const want = query.limit - items.length;
      const page = await this.queryFromCursor(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: index,
          KeyConditionExpression: condition,
          FilterExpression: filtered ? filters.join(' AND ') : undefined,
          ExpressionAttributeNames: Object.keys(names).length > 0 ? names : undefined,
          ExpressionAttributeValues: values,
          ScanIndexForward: query.order === 'asc',
          Limit: filtered ? Math.max(want, FILTERED_PAGE_SIZE) : want,
          ExclusiveStartKey: startKey,
        }),
        query.cursor,
      );
      pages++;
      const found = page.Items ?? [];
      startKey = page.LastEvaluatedKey;
      for (const [i, item] of found.entries()) {
        items.push(toDeployment(item));
        if (items.length < query.limit) continue;
        if (i < found.length - 1 || startKey) {
          startKey = {
            [TABLE.partitionKey]: item[TABLE.partitionKey],
            [TABLE.sortKey]: item[TABLE.sortKey],
            [indexKeys.partitionKey]: item[indexKeys.partitionKey],
            [indexKeys.sortKey]: item[indexKeys.sortKey],
          };
        }
        break;
      }
    } while (startKey && items.length < query.limit && pages < MAX_FILTERED_PAGES);
    return { items, cursor: startKey ? encodeCursor(startKey) : undefined };
  }

  async previousTerminal(
    service: string,
    environment: string,
    before: Deployment,
  ): Promise<Deployment | undefined> {
    let startKey: Record<string, unknown> | undefined;
    for (let page = 0; page < 5; page++) {
      const result = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: 'byServiceEnv',
          KeyConditionExpression: 'gsi1pk = :pk AND gsi1sk < :sk',
          ExpressionAttributeValues: {
            ':pk': `SE#${key(service)}#${key(environment)}`,
            ':sk': `${before.createdAt}#${before.id}`,
          },
          ScanIndexForward: false,
          Limit: 25,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of result.Items ?? []) {
        const deployment = toDeployment(item);
        if (deployment.id !== before.id && isTerminal(deployment.status)) return deployment;
      }
      startKey = result.LastEvaluatedKey;
      if (!startKey) return undefined;
    }
    return undefined;
  }

  async getDelivery(deploymentId: string, target: string): Promise<Delivery | undefined> {
    const Item = await this.getItem(deploymentPk(deploymentId), DELIVERY_PREFIX + target);
    return Item ? (strip(Item) as unknown as Delivery) : undefined;
  }

  async listDeliveries(deploymentId: string): Promise<Delivery[]> {
    const items = await this.queryAll({
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': deploymentPk(deploymentId), ':prefix': DELIVERY_PREFIX },
      ConsistentRead: true,
    });
    return items.map((item) => strip(item) as unknown as Delivery);
  }

  async saveDelivery(next: Delivery, expectedRev: number | null): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...next,
            pk: deploymentPk(next.deploymentId),
            sk: DELIVERY_PREFIX + next.target,
            type: 'delivery',
          },
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
      items: (page.Items ?? []).map(toCiEvent),
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
      items: (result.Items ?? []).map(toCiEvent),
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
    const found: CiEvent[] = [];
    const ids = [...new Set(eventIds)];
    // BatchGetItem takes at most 100 keys; keys it could not read (throttling) come back in UnprocessedKeys.
    for (let i = 0; i < ids.length; i += BATCH_GET_KEYS) {
      let keys: Record<string, unknown>[] | undefined = ids
        .slice(i, i + BATCH_GET_KEYS)
        .map((id) => ({ pk: ciPk(id), sk: META }));
      for (let attempt = 0; keys && keys.length > 0; attempt++) {
        if (attempt >= MAX_BATCH_GET_ATTEMPTS) {
          throw new Error(
            `DynamoDB left ${keys.length} CI events unread after ${attempt} BatchGetItem calls (throttled); retry the request`,
          );
        }
        if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt));
        const output: BatchGetCommandOutput = await this.doc.send(
          new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: keys } } }),
        );
        found.push(...(output.Responses?.[this.tableName] ?? []).map(toCiEvent));
        keys = output.UnprocessedKeys?.[this.tableName]?.Keys;
      }
    }
    return found;
  }

  async transitionsRecordedBetween(
    after: string,
    until: string,
    limit: number,
  ): Promise<RecordedTransition[]> {
    const found: RecordedTransition[] = [];
    const lastHour = Date.parse(until.slice(0, 13) + ':00:00.000Z');
    for (let hour = Date.parse(after.slice(0, 13) + ':00:00.000Z'); hour <= lastHour; hour += HOUR_MS) {
      let startKey: Record<string, unknown> | undefined;
      do {
        const page = await this.doc.send(
          new QueryCommand({
            TableName: this.tableName,
            IndexName: 'byRecordedTransition',
            KeyConditionExpression: 'gsi4pk = :pk AND gsi4sk BETWEEN :after AND :until',
            ExpressionAttributeValues: {
              ':pk': transitionsPk(new Date(hour).toISOString()),
              ':after': after,
              ':until': until,
            },
            Limit: limit - found.length + 1,
            ExclusiveStartKey: startKey,
          }),
        );
        for (const item of page.Items ?? []) {
          if (item.gsi4sk === after || found.length >= limit) continue;
          found.push({ deploymentId: String(item.pk).slice('DEP#'.length), position: String(item.gsi4sk) });
        }
        startKey = page.LastEvaluatedKey;
      } while (startKey && found.length < limit);
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
            gsi3pk: ALL_INCIDENTS,
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
    const { index, partition } = incidentPartition(query.service, query.environment);
    const filters: string[] = [];
    const values: Record<string, string> = { ':pk': partition };
    const names: Record<string, string> = {};
    if (!query.service && query.environment) {
      filters.push('environment = :env');
      values[':env'] = query.environment;
    }
    if (query.status) {
      filters.push('#status = :status');
      names['#status'] = 'status';
      values[':status'] = query.status;
    }
    const indexKeys = TABLE.indexes.find((i) => i.name === index) as (typeof TABLE.indexes)[number];
    const items: Incident[] = [];
    let startKey = query.cursor ? decodeCursor(query.cursor) : undefined;
    let pages = 0;
    do {
      const want = query.limit - items.length;
      const page = await this.queryFromCursor(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: index,
          KeyConditionExpression: `${indexKeys.partitionKey} = :pk`,
          FilterExpression: filters.length > 0 ? filters.join(' AND ') : undefined,
          ExpressionAttributeNames: filters.length > 0 && query.status ? names : undefined,
          ExpressionAttributeValues: values,
          ScanIndexForward: false,
          Limit: filters.length > 0 ? Math.max(want, FILTERED_PAGE_SIZE) : want,
          ExclusiveStartKey: startKey,
        }),
        query.cursor,
      );
      pages++;
      const found = page.Items ?? [];
      startKey = page.LastEvaluatedKey;
      for (const [i, item] of found.entries()) {
        items.push(toIncident(item));
        if (items.length < query.limit) continue;
        if (i < found.length - 1 || startKey) {
          startKey = {
            [TABLE.partitionKey]: item[TABLE.partitionKey],
            [TABLE.sortKey]: item[TABLE.sortKey],
            [indexKeys.partitionKey]: item[indexKeys.partitionKey],
            [indexKeys.sortKey]: item[indexKeys.sortKey],
          };
        }
        break;
      }
    } while (startKey && items.length < query.limit && pages < MAX_FILTERED_PAGES);
    return { items, cursor: startKey ? encodeCursor(startKey) : undefined };
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
    // Created before it finished: only deployments created before `at` can have finished by then.
    const found = await this.deploymentsInRange({
      service,
      environment,
      before: at,
      order: 'desc',
      maxReads: LINK_LOOKBACK,
    });
    // The latest to finish (a deployment created earlier can finish later), then the greater id, as computeDora orders them.
    return found.items
      .filter((d) => d.status === 'succeeded' && d.finishedAt !== undefined && d.finishedAt <= at)
      .reduce<Deployment | undefined>((latest, d) => {
        if (!latest) return d;
        const order =
          (d.finishedAt as string).localeCompare(latest.finishedAt as string) ||
          d.id.localeCompare(latest.id);
        return order > 0 ? d : latest;
      }, undefined);
  }

  async deploymentsInRange(query: RangeQuery): Promise<RangeResult<Deployment>> {
    const { index, partition } = deploymentPartition(query.service, query.environment);
    return this.readRange(index, partition, query, toDeployment);
  }

  async incidentsInRange(query: RangeQuery): Promise<RangeResult<Incident>> {
    const { index, partition } = incidentPartition(query.service, query.environment);
    return this.readRange(index, partition, query, toIncident);
  }

  /**
   * Reads one index partition over a sort key range, at most `maxReads` items, in pages of up to 1,000: in
   * parallel time segments when asked, each page reserving its Limit from the shared budget before it is sent
   * (so all segments together never read more than `maxReads`), and only the attributes asked for.
   */
  private async readRange<T>(
    index: string,
    partition: string,
    query: RangeQuery,
    convert: (item: Record<string, unknown>) => T,
  ): Promise<RangeResult<T>> {
    if (query.maxReads <= 0) return { items: [], read: 0, more: true };
    const indexKeys = TABLE.indexes.find((i) => i.name === index) as (typeof TABLE.indexes)[number];
    const filter = !query.service && query.environment;
    const names: Record<string, string> = {};
    const projection = query.attributes
      ?.map((path) =>
        path
          .split('.')
          .map((part) => {
            const name = `#p${Object.keys(names).length}`;
            names[name] = part;
            return name;
          })
          .join('.'),
      )
      .join(', ');
    const budget = { left: query.maxReads };
    const segments = rangeSegments(query).map(([after, before]) => ({
      after,
      before,
      items: [] as T[],
      read: 0,
      startKey: undefined as Record<string, unknown> | undefined,
      more: true,
    }));
    let reading = segments.length;
    /** Reads a segment on while the budget lasts; each page reserves its Limit first (a fair share in parallel). */
    const readOn = async (segment: (typeof segments)[number]) => {
      while (segment.more) {
        const limit = Math.min(RANGE_PAGE_SIZE, Math.ceil(budget.left / Math.max(reading, 1)));
        if (limit <= 0) return;
        budget.left -= limit;
        const values: Record<string, string> = { ':pk': partition, ':before': segment.before };
        if (segment.after) values[':after'] = segment.after;
        if (filter) values[':env'] = query.environment as string;
        const page = await this.doc.send(
          new QueryCommand({
            TableName: this.tableName,
            IndexName: index,
            // `before` alone sorts before every `before#id`: BETWEEN's inclusive end excludes that instant.
            KeyConditionExpression: segment.after
              ? `${indexKeys.partitionKey} = :pk AND ${indexKeys.sortKey} BETWEEN :after AND :before`
              : `${indexKeys.partitionKey} = :pk AND ${indexKeys.sortKey} < :before`,
            FilterExpression: filter ? 'environment = :env' : undefined,
            ProjectionExpression: projection,
            ExpressionAttributeNames: projection ? names : undefined,
            ExpressionAttributeValues: values,
            ScanIndexForward: query.order === 'asc',
            Limit: limit,
            ExclusiveStartKey: segment.startKey,
          }),
        );
        const scanned = page.ScannedCount ?? page.Count ?? 0;
        budget.left += limit - scanned;
        segment.read += scanned;
        for (const item of page.Items ?? []) segment.items.push(convert(item));
        segment.startKey = page.LastEvaluatedKey;
        segment.more = segment.startKey !== undefined;
        if (!segment.more) reading--;
      }
    };
    await Promise.all(segments.map(readOn));
    // A segment that stopped for want of budget while others still held theirs goes on with what they left.
    reading = 1;
    for (const segment of segments) await readOn(segment);
    if (query.order === 'desc') segments.reverse();
    return {
      items: segments.flatMap((r) => r.items),
      read: segments.reduce((sum, r) => sum + r.read, 0),
      more: segments.some((r) => r.more),
    };
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
];

/**
 * The partition of the transitions recorded in one hour (`TRANSITIONS#2026-03-01T10`): every deployment
 * write with a new transition in that hour lands in it (one small keys-only index entry each). A single
 * partition per hour; issue #14 shards keys like this one when one partition's write rate is not enough.
 */
const transitionsPk = (recordedAt: string) => `TRANSITIONS#${recordedAt.slice(0, 13)}`;
const HOUR_MS = 3_600_000;
const SWEEP_PK = 'SWEEP';
const SWEEP_SK = 'TRANSITIONS';

function strip(item: Record<string, unknown>): Record<string, unknown> {
  const copy = { ...item };
  for (const attribute of STORAGE_ATTRIBUTES) delete copy[attribute];
  return copy;
}

function toDeployment(item: Record<string, unknown>): Deployment {
  return strip(item) as unknown as Deployment;
}

function toIncident(item: Record<string, unknown>): Incident {
  return strip(item) as unknown as Incident;
}

/** `[after, before)` of a range query, cut into `segments` equal time segments (one without `after`). */
function rangeSegments(query: RangeQuery): [string | undefined, string][] {
  const count = Math.max(1, Math.floor(query.segments ?? 1));
  if (!query.after || count === 1) return [[query.after, query.before]];
  const from = Date.parse(query.after);
  const to = Date.parse(query.before);
  if (!(from < to)) return [[query.after, query.before]];
  const cut = (i: number) => new Date(from + Math.floor(((to - from) * i) / count)).toISOString();
  return Array.from({ length: count }, (_, i) => [
    i === 0 ? query.after : cut(i),
    i === count - 1 ? query.before : cut(i + 1),
  ]);
}

/** The index and partition holding the deployments of a service (and environment), or all of them. */
function deploymentPartition(service?: string, environment?: string) {
  if (service && environment)
    return { index: 'byServiceEnv', partition: `SE#${key(service)}#${key(environment)}` };
  if (service) return { index: 'byService', partition: `S#${key(service)}` };
  return { index: 'byTime', partition: ALL_DEPLOYMENTS };
}

/** The index and partition holding the incidents of a service (and environment), or all of them. */
function incidentPartition(service?: string, environment?: string) {
  if (service && environment)
    return { index: 'byServiceEnv', partition: `INCSE#${key(service)}#${key(environment)}` };
  if (service) return { index: 'byService', partition: `INCS#${key(service)}` };
  return { index: 'byTime', partition: ALL_INCIDENTS };
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
