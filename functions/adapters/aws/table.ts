/**
 * The one DynamoDB table's shape, shared by the CDK stack, local provisioning and the tests,
 * so all three create exactly the same table.
 */
export const TABLE = {
  partitionKey: 'pk',
  sortKey: 'sk',
  /** Epoch-seconds attribute DynamoDB's TTL deletes by (idempotency items only). */
  ttlAttribute: 'expiresAt',
  indexes: [
    /** Deployments of one service in one environment, newest first; also CI events of one commit (`COMMIT#…`). */
    { name: 'byServiceEnv', partitionKey: 'gsi1pk', sortKey: 'gsi1sk', projection: 'ALL' },
    /** Deployments of one service, newest first. */
    { name: 'byService', partitionKey: 'gsi2pk', sortKey: 'gsi2sk', projection: 'ALL' },
    /** All deployments, newest first; also the CI events of one Pipelines app (`APP#…`). */
    { name: 'byTime', partitionKey: 'gsi3pk', sortKey: 'gsi3sk', projection: 'ALL' },
    /**
     * Deployments by when their newest transition was recorded, one partition per hour (`TRANSITIONS#<hour>`):
     * the sweep's bounded read of transitions whose enqueue may have been lost. Keys only: cheap to write.
     */
    { name: 'byRecordedTransition', partitionKey: 'gsi4pk', sortKey: 'gsi4sk', projection: 'KEYS_ONLY' },
  ],
} as const;

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
      Projection: { ProjectionType: index.projection },
    })),
  };
}
