/**
 * Counts the AWS calls Shipcast makes, on the real AWS SDK clients: a middleware on each client's stack
 * records every command by name, by the handler it ran in (an AsyncLocalStorage scope the handler
 * wrappers set; the pollers' own receives and deletes are `ingest-esm` / `dispatch-esm`, Lambda's event
 * source mapping in AWS) and, for DynamoDB, the request units it consumed, as DynamoDB Local reports them
 * (ReturnConsumedCapacity INDEXES, table and GSIs) or, where it reports none (a failed condition), as
 * estimated from the item's size. SQS requests are counted in 64 KB billing chunks.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';

/** Which part of Shipcast made a call. */
export type Scope = 'api' | 'ingest' | 'dispatch' | 'ingest-esm' | 'dispatch-esm' | 'other';

/** Counts of one command in one scope. */
export interface CallStats {
  calls: number;
  /** DynamoDB: items written or read (a BatchWriteItem or TransactWriteItems counts each of its items); else = calls. */
  items: number;
  /** SQS: billed requests (64 KB chunks of the payload); otherwise = calls. */
  billed: number;
  /** SQS: of `billed`, those to FIFO queues (the dispatch queues), which SQS prices higher. */
  fifoBilled: number;
  /** DynamoDB: request units (RRU for reads, WRU for writes), table plus indexes. */
  units: number;
  /** DynamoDB: of `units`, those consumed by global secondary indexes. */
  indexUnits: number;
  /** DynamoDB: `indexUnits` by index name. */
  byIndex: Record<string, number>;
  /** DynamoDB: `units` (table and indexes) by the kind of item written or read (`itemKind`). */
  byKind: Record<string, number>;
  /** SQS SendMessageBatch: messages sent. */
  messages: number;
  /** DynamoDB: largest item written or read (bytes, estimated). */
  maxItemBytes: number;
  errors: number;
}

/** scope → "Service.Command" → stats. */
export type CallCounts = Record<string, Record<string, CallStats>>;

export const scope = new AsyncLocalStorage<Scope>();

const DYNAMODB_WRITES = new Set([
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'BatchWriteItem',
  'TransactWriteItems',
]);
const DYNAMODB_READS = new Set(['GetItem', 'Query', 'Scan', 'BatchGetItem', 'TransactGetItems']);
const SQS_CHUNK = 64 * 1024;

/** The counting middleware's state. */
export class AwsCallCounter {
  counts: CallCounts = {};
  /** Queue URL → scope for the pollers' receives and deletes. */
  constructor(private readonly queueScopes: Map<string, Scope> = new Map()) {}

  setQueueScope(queueUrl: string, name: Scope) {
    this.queueScopes.set(queueUrl, name);
  }

  reset() {
    this.counts = {};
  }

  /** Adds the counting middleware to an AWS SDK v3 client. */
  attach(client: {
    config: { serviceId?: string };
    middlewareStack: { add: (mw: never, options: never) => void };
  }) {
    const service = client.config.serviceId ?? 'unknown';
    type Next = (args: { input: Record<string, unknown> }) => Promise<{ output: Record<string, unknown> }>;
    type Context = { commandName?: string };
    const commandOf = (context: Context) => (context.commandName ?? 'Unknown').replace(/Command$/, '');
    // Before the document client marshals: ask DynamoDB for the units each request consumed.
    const askForCapacity =
      (next: Next, context: Context) => async (args: { input: Record<string, unknown> }) => {
        const command = commandOf(context);
        if (service === 'DynamoDB' && (DYNAMODB_WRITES.has(command) || DYNAMODB_READS.has(command))) {
          args.input.ReturnConsumedCapacity = 'INDEXES';
        }
        return next(args);
      };
    // After marshalling, above the retry middleware: one count per call, on the wire form of items.
    const count = (next: Next, context: Context) => async (args: { input: Record<string, unknown> }) => {
      const command = commandOf(context);
      const input = args.input;
      const stats = this.stats(this.scopeOf(service, command, input), `${service}.${command}`);
      stats.calls++;
      stats.items += service === 'DynamoDB' ? itemsOf(command, input) : 1;
      try {
        const result = await next(args);
        this.account(service, command, input, result.output, stats);
        return result;
      } catch (error) {
        stats.errors++;
        // A failed conditional write still consumes write units (at least one, by the item's size).
        if (service === 'DynamoDB' && command === 'PutItem') {
          const bytes = itemBytes(input.Item as Record<string, AttributeValue>);
          addUnits(stats, kindOf(input), Math.max(1, Math.ceil(bytes / 1024)));
          stats.billed++;
        }
        throw error;
      }
    };
    client.middlewareStack.add(
      askForCapacity as never,
      { step: 'initialize', name: 'benchCapacity' } as never,
    );
    client.middlewareStack.add(count as never, { step: 'build', name: 'benchCallCounter' } as never);
  }

  private scopeOf(service: string, command: string, input: Record<string, unknown>): Scope {
    const current = scope.getStore();
    if (current) return current;
    if (service === 'SQS' && typeof input.QueueUrl === 'string') {
      const byQueue = this.queueScopes.get(input.QueueUrl);
      if (byQueue && (command === 'ReceiveMessage' || command.startsWith('DeleteMessage'))) return byQueue;
    }
    return 'other';
  }

  private stats(where: string, name: string): CallStats {
    this.counts[where] ??= {};
    const byScope = this.counts[where];
    byScope[name] ??= {
      calls: 0,
      items: 0,
      billed: 0,
      fifoBilled: 0,
      units: 0,
      indexUnits: 0,
      byIndex: {},
      byKind: {},
      messages: 0,
      maxItemBytes: 0,
      errors: 0,
    };
    return byScope[name];
  }

  private account(
    service: string,
    command: string,
    input: Record<string, unknown>,
    output: Record<string, unknown>,
    stats: CallStats,
  ) {
    if (service === 'SQS') {
      let bytes = 0;
      if (command === 'SendMessageBatch') {
        const entries = (input.Entries as { MessageBody?: string }[] | undefined) ?? [];
        stats.messages += entries.length;
        for (const e of entries) bytes += Buffer.byteLength(e.MessageBody ?? '');
      } else if (command === 'SendMessage') {
        stats.messages++;
        bytes = Buffer.byteLength(String(input.MessageBody ?? ''));
      } else if (command === 'ReceiveMessage') {
        const received = (output.Messages as { Body?: string }[] | undefined) ?? [];
        stats.messages += received.length;
        for (const m of received) bytes += Buffer.byteLength(m.Body ?? '');
      }
      const billed = Math.max(1, Math.ceil(bytes / SQS_CHUNK));
      stats.billed += billed;
      if (String(input.QueueUrl ?? '').endsWith('.fifo')) stats.fifoBilled += billed;
      return;
    }
    stats.billed++;
    if (service !== 'DynamoDB') return;
    const item = (command === 'GetItem' ? output.Item : input.Item) as
      | Record<string, AttributeValue>
      | undefined;
    const size = item ? itemBytes(item) : 0;
    stats.maxItemBytes = Math.max(stats.maxItemBytes, size);
    type Consumed = {
      CapacityUnits?: number;
      GlobalSecondaryIndexes?: Record<string, { CapacityUnits?: number }>;
    };
    // Single-item commands and Query report one object; batch and transaction commands one per table.
    const reported = output.ConsumedCapacity as Consumed | Consumed[] | undefined;
    const consumed = Array.isArray(reported) ? reported : reported ? [reported] : [];
    if (consumed.length > 0 && consumed.every((c) => c.CapacityUnits !== undefined)) {
      // DynamoDB Local reports 0 for a Query or Scan that finds nothing; DynamoDB bills such a read at least
      // one read unit, half of one when eventually consistent (every index query).
      if ((command === 'Query' || command === 'Scan') && consumed.every((c) => c.CapacityUnits === 0)) {
        addUnits(stats, kindOf(input), input.ConsistentRead === true ? 1 : 0.5);
        return;
      }
      for (const c of consumed) {
        addUnits(stats, kindOf(input), c.CapacityUnits ?? 0);
        for (const [name, index] of Object.entries(c.GlobalSecondaryIndexes ?? {})) {
          stats.indexUnits += index.CapacityUnits ?? 0;
          stats.byIndex[name] = (stats.byIndex[name] ?? 0) + (index.CapacityUnits ?? 0);
        }
      }
      return;
    }
    // No report: estimate (reads here are strongly consistent: 1 RRU per 4 KB; writes 1 WRU per KB).
    if (DYNAMODB_WRITES.has(command)) addUnits(stats, kindOf(input), Math.max(1, Math.ceil(size / 1024)));
    else addUnits(stats, kindOf(input), Math.max(1, Math.ceil(size / 4096)));
  }
}

function addUnits(stats: CallStats, kind: string, units: number) {
  stats.units += units;
  stats.byKind[kind] = (stats.byKind[kind] ?? 0) + units;
}

const KINDS: [RegExp, string][] = [
  [/^DEP#.*\|META$/, 'deployment record'],
  [/^DEP#.*\|EVT#/, 'event'],
  [/^DEP#.*\|DLV/, 'delivery'],
  [/^DEP#.*\|INC#/, 'incident link'],
  [/^INC#/, 'incident'],
  [/^CI#/, 'CI event'],
  [/^IDEM#/, 'idempotency key'],
  [/^GEN#/, 'generation'],
  [/^CIRCUIT#/, 'circuit'],
  [/^RATE#/, 'rate limit'],
  [/^SWEEP\|/, 'sweep position'],
];

/** The kind of item a DynamoDB request names by its key (a batch or transaction: its first item's; a query: `query`). */
export function itemKind(pk: string, sk: string): string {
  const key = `${pk}|${sk}`;
  return KINDS.find(([pattern]) => pattern.test(key))?.[1] ?? 'other';
}

function kindOf(input: Record<string, unknown>): string {
  type Key = Record<string, AttributeValue> | undefined;
  const first = (requests: unknown): Key => {
    for (const r of Object.values((requests as Record<string, unknown>) ?? {})) {
      const entry = Array.isArray(r) ? r[0] : (r as { Keys?: Key[] }).Keys?.[0];
      if (!entry) continue;
      const e = entry as { PutRequest?: { Item: Key }; DeleteRequest?: { Key: Key } } & Record<string, unknown>;
      return e.PutRequest?.Item ?? e.DeleteRequest?.Key ?? (entry as Key);
    }
    return undefined;
  };
  const transact = (input.TransactItems as Record<string, { Item?: Key; Key?: Key }>[] | undefined)?.[0];
  const op = transact && Object.values(transact)[0];
  const key =
    (input.Item as Key) ?? (input.Key as Key) ?? op?.Item ?? op?.Key ?? first(input.RequestItems);
  if (!key) return input.KeyConditionExpression ? 'query' : 'other';
  return itemKind(key.pk?.S ?? '', key.sk?.S ?? '');
}

/** Items a DynamoDB command writes or reads by key (batch and transaction commands: each entry). */
function itemsOf(command: string, input: Record<string, unknown>): number {
  const perTable = (requests: unknown) =>
    Object.values((requests as Record<string, unknown[] | { Keys?: unknown[] }>) ?? {}).reduce<number>(
      (n, r) => n + (Array.isArray(r) ? r.length : (r.Keys?.length ?? 0)),
      0,
    );
  if (command === 'BatchWriteItem' || command === 'BatchGetItem') return perTable(input.RequestItems);
  if (command === 'TransactWriteItems' || command === 'TransactGetItems')
    return (input.TransactItems as unknown[] | undefined)?.length ?? 0;
  return 1;
}

/** DynamoDB's item size: attribute names plus values (numbers approximated as digits/2 + 1). */
export function itemBytes(item: Record<string, AttributeValue> | undefined): number {
  if (!item) return 0;
  let total = 0;
  for (const [name, value] of Object.entries(item)) total += Buffer.byteLength(name) + valueBytes(value);
  return total;
}

function valueBytes(value: AttributeValue): number {
  if (value.S !== undefined) return Buffer.byteLength(value.S);
  if (value.N !== undefined) return Math.ceil(value.N.replace(/[-.]/g, '').length / 2) + 1;
  if (value.B !== undefined) return value.B.byteLength;
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.L !== undefined) return 3 + value.L.reduce((n, v) => n + 1 + valueBytes(v), 0);
  if (value.M !== undefined)
    return 3 + Object.entries(value.M).reduce((n, [k, v]) => n + 1 + Buffer.byteLength(k) + valueBytes(v), 0);
  if (value.SS !== undefined) return value.SS.reduce((n, v) => n + Buffer.byteLength(v), 0);
  if (value.NS !== undefined) return value.NS.reduce((n, v) => n + Math.ceil(v.length / 2) + 1, 0);
  return 0;
}

/** Sums stats over scopes and commands matching a predicate. */
export function sum(
  counts: CallCounts,
  scopes: readonly string[],
  match: (command: string) => boolean,
  field: Exclude<keyof CallStats, 'byIndex' | 'byKind'> = 'calls',
): number {
  let total = 0;
  for (const where of scopes) {
    for (const [command, stats] of Object.entries(counts[where] ?? {}))
      if (match(command)) total += stats[field];
  }
  return total;
}

/** Units by item kind (`itemKind`), summed over scopes and commands matching a predicate. */
export const sumByKind = (
  counts: CallCounts,
  scopes: readonly string[],
  match: (command: string) => boolean,
): Record<string, number> => sumBreakdown(counts, scopes, match, (stats) => stats.byKind);

/** Index units by index name, summed over scopes and commands matching a predicate. */
export const sumByIndex = (
  counts: CallCounts,
  scopes: readonly string[],
  match: (command: string) => boolean,
): Record<string, number> => sumBreakdown(counts, scopes, match, (stats) => stats.byIndex);

function sumBreakdown(
  counts: CallCounts,
  scopes: readonly string[],
  match: (command: string) => boolean,
  breakdown: (stats: CallStats) => Record<string, number> | undefined,
): Record<string, number> {
  const total: Record<string, number> = {};
  for (const where of scopes) {
    for (const [command, stats] of Object.entries(counts[where] ?? {})) {
      if (!match(command)) continue;
      for (const [key, units] of Object.entries(breakdown(stats) ?? {})) total[key] = (total[key] ?? 0) + units;
    }
  }
  return total;
}

export const isDynamoWrite = (command: string) =>
  command.startsWith('DynamoDB.') && DYNAMODB_WRITES.has(command.slice('DynamoDB.'.length));
export const isDynamoRead = (command: string) =>
  command.startsWith('DynamoDB.') && DYNAMODB_READS.has(command.slice('DynamoDB.'.length));
export const isSqsSend = (command: string) =>
  command === 'SQS.SendMessageBatch' || command === 'SQS.SendMessage';
