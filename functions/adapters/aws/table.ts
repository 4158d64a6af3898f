/**
 * The one DynamoDB table's shape, shared by the CDK stack, local provisioning and the tests,
 * so all three create exactly the same table. docs/storage.md describes every key, index and item.
 */

/**
 * The version of the table's layout (keys, indexes, projections, shards). Raise it with any change that a
 * deployed table must be migrated for, and write the migration down in docs/storage.md ("Schema version").
 */
export const SCHEMA_VERSION = 4;

/**
 * Shards of a partition that every deployment (`DEPLOYMENTS#<n>`) or every incident (`INCIDENTS#<n>`) would
 * otherwise share in `byTime`. Keys-only entries are written once per record (their keys never change), one
 * write unit each; one partition takes 1,000 a second, so 8 shards take 8,000 new records a second, above
 * the 10,000 events a second of issue #14 at three or more events per deployment. A listing reads every shard.
 */
export const LIST_SHARDS = 8;

/**
 * Shards of the sweep's hourly partition of recorded transitions (`TRANSITIONS#<hour>#<n>`). A transition
 * recorded in a later minute than the one before moves the record's entry (a delete and a put: two write
 * units), so 16 shards take 8,000 such transitions a second, and every hour starts new partitions. The sweep reads every shard of an hour.
 */
export const TRANSITION_SHARDS = 16;

/**
 * The attributes a finished deployment record holds in one JSON string, `finish`, instead of plainly: its
 * FINISH_ATTRIBUTES but the small ones other reads and writes name (`id`, `service`, `environment`,
 * `status`, `rolledBackBy`). `byFinish` projects `finish`: one string per entry instead of eight attributes
 * with nested maps, which DynamoDB Local answers and the SDK parses in about half the time (docs/storage.md).
 */
export const FINISH_PACKED_ATTRIBUTES = [
  'version',
  'revision',
  'createdAt',
  'startedAt',
  'finishedAt',
  'rollbackOf',
  'commits',
  'hotfix',
] as const;

/** What `byFinish` projects: the packed attributes and the small plain ones (`service` is its partition's). */
export const FINISH_PROJECTION = ['finish', 'id', 'environment', 'status', 'rolledBackBy'] as const;

/**
 * What a `byFinish` entry answers: the top-level attributes of DORA_DEPLOYMENT_ATTRIBUTES
 * (functions/core/dora-query.ts; `revision` whole): its partition's `service`, its plain and its packed ones.
 */
export const FINISH_ATTRIBUTES: readonly string[] = [
  'service',
  ...FINISH_PROJECTION.filter((name) => name !== 'finish'),
  ...FINISH_PACKED_ATTRIBUTES,
];

export const TABLE = {
  partitionKey: 'pk',
  sortKey: 'sk',
  /** Epoch-seconds attribute DynamoDB's TTL deletes by (idempotency items only). */
  ttlAttribute: 'expiresAt',
  /**
   * Keys only (the list pages read the records from the table with BatchGetItem): an update of a record
   * whose index keys did not change writes no index. `byTime` also holds `environment` (set when a record
   * is created), so the environment-only listing filters without reading records it drops. `byFinish`
   * holds what the DORA metrics read, so that they read no record.
   */
  indexes: [
    /** Deployments of one service in one environment, newest first; also CI events of one commit (`COMMIT#…`). */
    { name: 'byServiceEnv', partitionKey: 'gsi1pk', sortKey: 'gsi1sk', projection: 'KEYS_ONLY' },
    /** Deployments of one service, newest first. */
    { name: 'byService', partitionKey: 'gsi2pk', sortKey: 'gsi2sk', projection: 'KEYS_ONLY' },
    /** All deployments (`DEPLOYMENTS#<shard>`), newest first; also the CI events of one Pipelines app (`APP#…`). */
    {
      name: 'byTime',
      partitionKey: 'gsi3pk',
      sortKey: 'gsi3sk',
      projection: 'INCLUDE',
      nonKeyAttributes: ['environment'],
    },
    /**
     * Deployments by when their newest transition was recorded, one partition per hour and shard
     * (`TRANSITIONS#<hour>#<shard>`): the sweep's bounded read of transitions whose enqueue may have been lost.
     */
    { name: 'byRecordedTransition', partitionKey: 'gsi4pk', sortKey: 'gsi4sk', projection: 'KEYS_ONLY' },
    /**
     * Finished deployments of one service (`F#<service>`, every environment) by finish (`<finishedAt>#<id>`):
     * the DORA metrics' read. Sparse: a record gets the keys when it reaches a terminal status (one write
     * unit then); it holds only FINISH_PROJECTION, none of which changes on the record's later updates
     * (`rolledBackBy` once), so those write no index.
     */
    {
      name: 'byFinish',
      partitionKey: 'gsi5pk',
      sortKey: 'gsi5sk',
      projection: 'INCLUDE',
      nonKeyAttributes: FINISH_PROJECTION,
    },
  ],
} as const;

/** One index of TABLE. */
export type TableIndex = (typeof TABLE.indexes)[number];

/** The attributes an index projects beyond the keys (INCLUDE only). */
export const nonKeyAttributes = (index: TableIndex): readonly string[] | undefined =>
  'nonKeyAttributes' in index ? index.nonKeyAttributes : undefined;

/** CreateTable input for the local emulators and tests (on-demand, same keys and indexes as the stack). */
export function createTableInput(tableName: string) {
  const attributes = new Set<string>([TABLE.partitionKey, TABLE.sortKey]);
  for (const index of TABLE.indexes) {
    attributes.add(index.partitionKey);
    attributes.add(index.sortKey);
  }
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST' as const,
    AttributeDefinitions: [...attributes].map((AttributeName) => ({
      AttributeName,
      AttributeType: 'S' as const,
    })),
    KeySchema: [
      { AttributeName: TABLE.partitionKey, KeyType: 'HASH' as const },
      { AttributeName: TABLE.sortKey, KeyType: 'RANGE' as const },
    ],
    GlobalSecondaryIndexes: TABLE.indexes.map((index) => ({
      IndexName: index.name,
      KeySchema: [
        { AttributeName: index.partitionKey, KeyType: 'HASH' as const },
        { AttributeName: index.sortKey, KeyType: 'RANGE' as const },
      ],
      Projection: {
        ProjectionType: index.projection,
        ...(nonKeyAttributes(index) ? { NonKeyAttributes: [...(nonKeyAttributes(index) ?? [])] } : {}),
      },
    })),
  };
}
