import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  type DynamoDBDocumentClient,
  QueryCommand,
} from '@aws-sdk/lib-dynamodb';
import { InvalidInputError } from '../../core/errors.ts';
import { stableHash } from '../../core/ids.ts';
import { TABLE, type TableIndex } from './table.ts';

/** An item as DynamoDB returns it. */
export type Item = Record<string, unknown>;

/** BatchGetItem's limit of keys per call. */
const BATCH_GET_KEYS = 100;
/** BatchGetItem calls for one chunk of keys before giving up on what DynamoDB keeps leaving unprocessed. */
const MAX_BATCH_GET_ATTEMPTS = 5;
/** BatchGetItem calls in flight at once for one read. */
const BATCH_GET_PARALLEL = 4;
/** Longest position a listing cursor may carry (a sort key: a timestamp, `#` and a bounded id). */
const MAX_POSITION_LENGTH = 1200;

/** The shard (0..shards-1) a record's id falls in: the same id always in the same shard, ids spread evenly. */
export function shardOf(id: string, shards: number): number {
  return Number.parseInt(stableHash(id).slice(0, 8), 16) % shards;
}

/** The partitions `<base>#0` … `<base>#<shards-1>` of a sharded key. */
export function shardPartitions(base: string, shards: number): string[] {
  return Array.from({ length: shards }, (_, shard) => `${base}#${shard}`);
}

/** One end of a sort key range. */
export interface SortKeyBound {
  value: string;
  inclusive: boolean;
}

/** A read of one or more partitions of an index, merged into one sequence by sort key. */
export interface MergedRead {
  index: TableIndex;
  partitions: readonly string[];
  order: 'asc' | 'desc';
  lower?: SortKeyBound;
  upper?: SortKeyBound;
  /** Index entries one query of one partition asks for. */
  pageSize: number;
}

/** Index entries in sort key order across partitions; pages of each partition are queried as the merge needs them. */
export interface MergedReader {
  next(): Promise<Item | undefined>;
  peek(): Promise<Item | undefined>;
}

/**
 * A k-way merge of the partitions' queries: every partition is read in sort key order, and the entry with
 * the smallest (asc) or greatest (desc) sort key of all partitions comes next. Sort keys end with the
 * record's id, so no two entries tie and the order is the same as one partition holding them all.
 */
export function mergedIndexReader(
  doc: DynamoDBDocumentClient,
  tableName: string,
  read: MergedRead,
): MergedReader {
  const sortKey = read.index.sortKey;
  const { lower, upper } = read;
  const empty =
    lower &&
    upper &&
    (lower.value > upper.value || (lower.value === upper.value && !(lower.inclusive && upper.inclusive)));
  const shards = read.partitions.map((partition) => ({
    partition,
    buffer: [] as Item[],
    startKey: undefined as Item | undefined,
    exhausted: Boolean(empty),
  }));
  const values: Record<string, string> = {};
  let range = '';
  if (lower && upper) {
    range = ` AND ${sortKey} BETWEEN :lower AND :upper`;
    values[':lower'] = lower.value;
    values[':upper'] = upper.value;
  } else if (lower) {
    range = ` AND ${sortKey} ${lower.inclusive ? '>=' : '>'} :lower`;
    values[':lower'] = lower.value;
  } else if (upper) {
    range = ` AND ${sortKey} ${upper.inclusive ? '<=' : '<'} :upper`;
    values[':upper'] = upper.value;
  }
  // BETWEEN is inclusive at both ends: an exclusive end's own entry is dropped here.
  const outside = (entry: Item) =>
    (lower && !lower.inclusive && entry[sortKey] === lower.value) ||
    (upper && !upper.inclusive && entry[sortKey] === upper.value);
  const fill = async (shard: (typeof shards)[number]) => {
    while (shard.buffer.length === 0 && !shard.exhausted) {
      const page = await doc.send(
        new QueryCommand({
          TableName: tableName,
          IndexName: read.index.name,
          KeyConditionExpression: `${read.index.partitionKey} = :pk${range}`,
          ExpressionAttributeValues: { ...values, ':pk': shard.partition },
          ScanIndexForward: read.order === 'asc',
          Limit: read.pageSize,
          ExclusiveStartKey: shard.startKey,
        }),
      );
      shard.buffer = (page.Items ?? []).filter((entry) => !outside(entry));
      shard.startKey = page.LastEvaluatedKey;
      shard.exhausted = !page.LastEvaluatedKey;
    }
  };
  const direction = read.order === 'asc' ? 1 : -1;
  const head = async () => {
    await Promise.all(shards.map(fill));
    let best: (typeof shards)[number] | undefined;
    for (const shard of shards) {
      const entry = shard.buffer[0];
      if (!entry) continue;
      if (!best || direction * compare(entry, best.buffer[0] as Item, sortKey) < 0) best = shard;
    }
    return best;
  };
  return {
    async next() {
      return (await head())?.buffer.shift();
    },
    async peek() {
      return (await head())?.buffer[0];
    },
  };
}

function compare(a: Item, b: Item, sortKey: string): number {
  const x = String(a[sortKey]);
  const y = String(b[sortKey]);
  if (x !== y) return x < y ? -1 : 1;
  const p = String(a[TABLE.partitionKey]);
  const q = String(b[TABLE.partitionKey]);
  return p < q ? -1 : p > q ? 1 : 0;
}

/** A ProjectionExpression of attribute paths (`revision.commit`), every name a placeholder (reserved words). */
export function projectionOf(paths: readonly string[]): {
  expression: string;
  names: Record<string, string>;
} {
  const names: Record<string, string> = {};
  const expression = paths
    .map((path) =>
      path
        .split('.')
        .map((part) => {
          const name = `#a${Object.keys(names).length}`;
          names[name] = part;
          return name;
        })
        .join('.'),
    )
    .join(', ');
  return { expression, names };
}

/**
 * The table's items of these keys (eventually consistent, as the index they were found in), in the order of
 * the keys; undefined for a key with no item. BatchGetItem reads at most 100 keys a call and hands back what
 * it could not read (throttling) in UnprocessedKeys, which are asked again after a pause.
 */
export async function batchGetItems(
  doc: DynamoDBDocumentClient,
  tableName: string,
  keys: readonly Item[],
  attributes?: readonly string[],
): Promise<(Item | undefined)[]> {
  // Only these attributes (dotted paths), and the keys the answer is matched by.
  const { expression: projection, names } = attributes
    ? projectionOf([TABLE.partitionKey, TABLE.sortKey, ...attributes])
    : { expression: undefined, names: {} };
  const id = (k: Item) => `${k[TABLE.partitionKey]}\u0000${k[TABLE.sortKey]}`;
  const unique = new Map<string, Item>();
  for (const k of keys) {
    unique.set(id(k), { [TABLE.partitionKey]: k[TABLE.partitionKey], [TABLE.sortKey]: k[TABLE.sortKey] });
  }
  const chunks: Item[][] = [];
  const all = [...unique.values()];
  for (let i = 0; i < all.length; i += BATCH_GET_KEYS) chunks.push(all.slice(i, i + BATCH_GET_KEYS));
  const found = new Map<string, Item>();
  const readChunk = async (chunk: Item[]) => {
    let pending: Item[] | undefined = chunk;
    for (let attempt = 0; pending && pending.length > 0; attempt++) {
      if (attempt >= MAX_BATCH_GET_ATTEMPTS) {
        throw new Error(
          `DynamoDB left ${pending.length} items unread after ${attempt} BatchGetItem calls (throttled); retry the request`,
        );
      }
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt));
      const output: BatchGetCommandOutput = await doc.send(
        new BatchGetCommand({
          RequestItems: {
            [tableName]: projection
              ? { Keys: pending, ProjectionExpression: projection, ExpressionAttributeNames: names }
              : { Keys: pending },
          },
        }),
      );
      for (const item of output.Responses?.[tableName] ?? []) found.set(id(item), item);
      pending = output.UnprocessedKeys?.[tableName]?.Keys;
    }
  };
  for (let i = 0; i < chunks.length; i += BATCH_GET_PARALLEL) {
    await Promise.all(chunks.slice(i, i + BATCH_GET_PARALLEL).map(readChunk));
  }
  return keys.map((k) => found.get(id(k)));
}

/** The opaque cursor of a merged listing: the sort key of the last entry it answered (every shard goes on after it). */
export function encodePosition(position: string): string {
  return Buffer.from(JSON.stringify({ after: position })).toString('base64url');
}

/** The position in a cursor of encodePosition; an InvalidInputError naming `cursor` for anything else. */
export function decodePosition(cursor: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const after = (parsed as { after?: unknown } | undefined)?.after;
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    Array.isArray(parsed) ||
    Object.keys(parsed).length !== 1 ||
    typeof after !== 'string' ||
    after.length === 0 ||
    after.length > MAX_POSITION_LENGTH
  ) {
    throw new InvalidInputError('query', [{ path: 'cursor', message: 'not a cursor this API returned' }]);
  }
  return after;
}
