/**
 * Creates (or finds) the local resources the AWS stack would: the table, the CodeDeploy topic,
 * the ingest queue and DLQ, the dispatch queue and DLQ (FIFO, as in the stack), and the topic → ingest
 * queue subscription.
 */
import {
  type AttributeValue,
  BatchWriteItemCommand,
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  ResourceInUseException,
  ResourceNotFoundException,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { CreateTopicCommand, type SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  QueueNameExists,
  SetQueueAttributesCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { upgradeItems } from '../adapters/aws/dynamo-store.ts';
import { createTableInput } from '../adapters/aws/table.ts';

/** Names of the local resources. */
export interface ResourceNames {
  table: string;
  topic: string;
  ingestQueue: string;
  ingestDlq: string;
  dispatchQueue: string;
  dispatchDlq: string;
}

/** Resource names `npm start` uses. */
export const DEFAULT_NAMES: ResourceNames = {
  table: 'shipcast-deployments',
  topic: 'shipcast-codedeploy',
  ingestQueue: 'shipcast-ingest',
  ingestDlq: 'shipcast-ingest-dlq',
  dispatchQueue: 'shipcast-dispatch.fifo',
  dispatchDlq: 'shipcast-dispatch-dlq.fifo',
};

/** The dispatch queues are FIFO, whose names end in `.fifo`: a name without it gets it appended. */
export const fifoName = (name: string) => (name.endsWith('.fifo') ? name : `${name}.fifo`);

/**
 * FIFO with high throughput (deduplication and throughput per message group, as in the stack): one
 * message group per (deployment, target), explicit deduplication ids.
 */
const FIFO_ATTRIBUTES = {
  FifoQueue: 'true',
  DeduplicationScope: 'messageGroup',
  FifoThroughputLimit: 'perMessageGroupId',
};

/** What provision() needs: clients pointed at the emulators, names and queue settings. */
export interface ProvisionOptions {
  dynamodb: DynamoDBClient;
  sqs: SQSClient;
  sns: SNSClient;
  names: ResourceNames;
  maxReceives: { ingest: number; dispatch: number };
  visibilityTimeoutSeconds: { ingest: number; dispatch: number };
}

/** Identifiers of the provisioned resources. */
export interface ProvisionedResources {
  tableName: string;
  topicArn: string;
  ingestQueueUrl: string;
  ingestDlqUrl: string;
  dispatchQueueUrl: string;
  dispatchDlqUrl: string;
}

/** DLQs keep messages for the SQS maximum, 14 days (fauxqs stores the attribute but never expires messages). */
const DLQ_RETENTION_SECONDS = '1209600';

/** Idempotently creates (or finds) the table, topic, queues with redrive policies and the ingest subscription. */
export async function provision(options: ProvisionOptions): Promise<ProvisionedResources> {
  const { sqs, names } = options;
  const tableName = await ensureTable(options.dynamodb, names.table);

  const { TopicArn: topicArn } = await options.sns.send(new CreateTopicCommand({ Name: names.topic }));
  if (!topicArn) throw new Error(`CreateTopic ${names.topic} returned no TopicArn`);

  const ingestDlqUrl = await ensureQueue(sqs, names.ingestDlq, {
    MessageRetentionPeriod: DLQ_RETENTION_SECONDS,
  });
  const dispatchDlqUrl = await ensureQueue(sqs, fifoName(names.dispatchDlq), {
    ...FIFO_ATTRIBUTES,
    MessageRetentionPeriod: DLQ_RETENTION_SECONDS,
  });
  const ingestQueueUrl = await ensureQueue(sqs, names.ingestQueue, {
    VisibilityTimeout: String(options.visibilityTimeoutSeconds.ingest),
    RedrivePolicy: redrivePolicy(await queueArn(sqs, ingestDlqUrl), options.maxReceives.ingest),
  });
  const dispatchQueueUrl = await ensureQueue(sqs, fifoName(names.dispatchQueue), {
    ...FIFO_ATTRIBUTES,
    VisibilityTimeout: String(options.visibilityTimeoutSeconds.dispatch),
    RedrivePolicy: redrivePolicy(await queueArn(sqs, dispatchDlqUrl), options.maxReceives.dispatch),
  });

  // Not raw delivery: like in AWS, the queue body is the SNS envelope JSON. Subscribe is idempotent for the
  // same (topic, protocol, endpoint, attributes). In AWS a queue policy must allow sns:SendMessage; the
  // emulator does not check policies, so none is set here.
  await options.sns.send(
    new SubscribeCommand({
      TopicArn: topicArn,
      Protocol: 'sqs',
      Endpoint: await queueArn(sqs, ingestQueueUrl),
      ReturnSubscriptionArn: true,
    }),
  );

  return { tableName, topicArn, ingestQueueUrl, ingestDlqUrl, dispatchQueueUrl, dispatchDlqUrl };
}

/** Creates the table with `createTableInput` unless it exists, then waits until it and its GSIs are ACTIVE. */
export async function ensureTable(
  dynamodb: DynamoDBClient,
  tableName: string,
  timeoutMs = 30_000,
): Promise<string> {
  const existing = await describeTable(dynamodb, tableName);
  if (!existing) {
    try {
      await dynamodb.send(new CreateTableCommand(createTableInput(tableName)));
    } catch (err) {
      // Someone else created it between our DescribeTable and CreateTable: fine, wait for it below.
      if (!(err instanceof ResourceInUseException)) throw err;
    }
  } else {
    await upgradeTable(dynamodb, tableName, existing.GlobalSecondaryIndexes ?? []);
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const table = await describeTable(dynamodb, tableName);
    const indexesActive = (table?.GlobalSecondaryIndexes ?? []).every(
      (index) => index.IndexStatus === 'ACTIVE',
    );
    if (table?.TableStatus === 'ACTIVE' && indexesActive) return tableName;
    if (Date.now() > deadline) {
      throw new Error(`table ${tableName} not ACTIVE after ${timeoutMs} ms (status ${table?.TableStatus})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * A table kept from an earlier start gets the indexes added or changed since (docs/storage.md, "Schema
 * version"). DynamoDB adds an index with UpdateTable; dynalite (npm start's database) cannot, so there the
 * table is rebuilt: its items are read, the table created again, and the items written back with their
 * keys and deliveries in today's layout (`upgradeItems`).
 */
async function upgradeTable(
  dynamodb: DynamoDBClient,
  tableName: string,
  present: { IndexName?: string; Projection?: { ProjectionType?: string; NonKeyAttributes?: string[] } }[],
): Promise<void> {
  const wanted = createTableInput(tableName);
  const attributes = (projection?: { NonKeyAttributes?: readonly string[] }) =>
    [...(projection?.NonKeyAttributes ?? [])].sort().join(',');
  const changed = wanted.GlobalSecondaryIndexes.filter(
    (index) =>
      !present.some(
        (p) =>
          p.IndexName === index.IndexName &&
          p.Projection?.ProjectionType === index.Projection.ProjectionType &&
          attributes(p.Projection) === attributes(index.Projection),
      ),
  );
  if (changed.length === 0) return;
  const items: Record<string, AttributeValue>[] = [];
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    const page = await dynamodb.send(new ScanCommand({ TableName: tableName, ExclusiveStartKey: startKey }));
    items.push(...(page.Items ?? []));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  await dynamodb.send(new DeleteTableCommand({ TableName: tableName }));
  while (await describeTable(dynamodb, tableName)) await new Promise((resolve) => setTimeout(resolve, 50));
  await dynamodb.send(new CreateTableCommand(wanted));
  await ensureTable(dynamodb, tableName);
  const upgraded = upgradeItems(items);
  for (let start = 0; start < upgraded.length; start += 25) {
    let requests = upgraded.slice(start, start + 25).map((item) => ({ PutRequest: { Item: item } }));
    while (requests.length > 0) {
      const { UnprocessedItems } = await dynamodb.send(
        new BatchWriteItemCommand({ RequestItems: { [tableName]: requests } }),
      );
      requests = (UnprocessedItems?.[tableName] ?? []) as typeof requests;
    }
  }
}

async function describeTable(dynamodb: DynamoDBClient, tableName: string) {
  try {
    return (await dynamodb.send(new DescribeTableCommand({ TableName: tableName }))).Table;
  } catch (err) {
    if (err instanceof ResourceNotFoundException) return undefined;
    throw err;
  }
}

/**
 * CreateQueue is idempotent only for identical attributes; when an existing queue differs (for example
 * `maxReceives` changed in the config), look it up and update its attributes instead.
 */
async function ensureQueue(
  sqs: SQSClient,
  name: string,
  attributes: Record<string, string>,
): Promise<string> {
  try {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
    if (!QueueUrl) throw new Error(`CreateQueue ${name} returned no QueueUrl`);
    return QueueUrl;
  } catch (err) {
    if (!isQueueNameExists(err)) throw err;
    const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: name }));
    if (!QueueUrl) throw new Error(`GetQueueUrl ${name} returned no QueueUrl`);
    // A queue's type is fixed when it is created (SQS refuses FifoQueue here), and the FIFO settings never
    // change (fauxqs refuses them here).
    const {
      FifoQueue: _type,
      DeduplicationScope: _scope,
      FifoThroughputLimit: _limit,
      ...changeable
    } = attributes;
    await sqs.send(new SetQueueAttributesCommand({ QueueUrl, Attributes: changeable }));
    return QueueUrl;
  }
}

/**
 * SQS's JSON protocol is "awsQueryCompatible": the SDK names errors after the `x-amzn-query-error` header.
 * fauxqs sends `AWS.SimpleQueueService.QueueNameExists` there (AWS: `QueueAlreadyExists`), so the SDK
 * throws a generic SQSServiceException with that name instead of a QueueNameExists instance.
 */
function isQueueNameExists(err: unknown): boolean {
  if (err instanceof QueueNameExists) return true;
  const name = (err as { name?: unknown } | null)?.name;
  return typeof name === 'string' && /QueueNameExists|QueueAlreadyExists/.test(name);
}

async function queueArn(sqs: SQSClient, queueUrl: string): Promise<string> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
  );
  const arn = Attributes?.QueueArn;
  if (!arn) throw new Error(`no QueueArn for ${queueUrl}`);
  return arn;
}

function redrivePolicy(deadLetterTargetArn: string, maxReceiveCount: number): string {
  return JSON.stringify({ deadLetterTargetArn, maxReceiveCount });
}
