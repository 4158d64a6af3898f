import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  GetItemCommand,
  type GlobalSecondaryIndex,
  PutItemCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { PublishCommand } from '@aws-sdk/client-sns';
import {
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { DynamoStore } from '../../functions/adapters/aws/dynamo-store.ts';
import { createTableInput, TABLE } from '../../functions/adapters/aws/table.ts';
import { startDynalite } from '../../functions/local/emulators.ts';
import { DEFAULT_NAMES, type ProvisionOptions, provision } from '../../functions/local/provision.ts';
import {
  createTestTable,
  dynamoClient,
  startTestSqsSns,
  type TestSqsSns,
  waitFor,
} from '../support/emulators.ts';

/** Unique ids per run without chance collisions. */
let uniqueCounter = 0;

const settings = {
  maxReceives: { ingest: 3, dispatch: 2 },
  visibilityTimeoutSeconds: { ingest: 30, dispatch: 30 },
} satisfies Partial<ProvisionOptions>;

let fauxqs: TestSqsSns;
beforeAll(async () => {
  fauxqs = await startTestSqsSns();
});
afterAll(async () => {
  await fauxqs?.stop();
});

async function attributes(sqs: SQSClient, queueUrl: string) {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['All'] }),
  );
  return Attributes;
}

/** Today's GSIs of the table, as createTableInput gives them. */
type EarlierIndexes = ReturnType<typeof createTableInput>['GlobalSecondaryIndexes'];

/**
 * Runs `body` on a persisted dynalite holding the table as an earlier version created it (today's, with the
 * indexes `indexes` makes of today's), ACTIVE; stops and removes it all after.
 */
async function withEarlierTable(
  name: string,
  indexes: (today: EarlierIndexes) => GlobalSecondaryIndex[],
  body: (dynamodb: DynamoDBClient) => Promise<void>,
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), `shipcast-dynalite-${name}-`));
  const dynalite = await startDynalite({ path: dir, port: 0 });
  const dynamodb = dynamoClient(dynalite.endpoint);
  try {
    const today = createTableInput(DEFAULT_NAMES.table);
    await dynamodb.send(
      new CreateTableCommand({ ...today, GlobalSecondaryIndexes: indexes(today.GlobalSecondaryIndexes) }),
    );
    await waitFor(async () => {
      const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: DEFAULT_NAMES.table }));
      return Table?.TableStatus === 'ACTIVE';
    });
    await body(dynamodb);
  } finally {
    dynamodb.destroy();
    await dynalite.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

describe('provision against dynalite (persisted) and fauxqs', () => {
  let dir: string;
  const clients: DynamoDBClient[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shipcast-dynalite-'));
  });
  afterEach(() => {
    for (const client of clients.splice(0)) client.destroy();
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates everything, and a second run on the same data directory finds the table and its data', async () => {
    const first = await startDynalite({ path: dir, port: 0 });
    expect(first.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const dynamodb = dynamoClient(first.endpoint);
    clients.push(dynamodb);
    const resources = await provision({
      dynamodb,
      sqs: fauxqs.sqs,
      sns: fauxqs.sns,
      names: DEFAULT_NAMES,
      ...settings,
    });

    expect(resources.tableName).toBe(DEFAULT_NAMES.table);
    expect(resources.topicArn).toBe(`arn:aws:sns:us-east-1:000000000000:${DEFAULT_NAMES.topic}`);
    for (const url of [
      resources.ingestQueueUrl,
      resources.ingestDlqUrl,
      resources.dispatchQueueUrl,
      resources.dispatchDlqUrl,
    ]) {
      expect(url.startsWith(`${fauxqs.endpoint}/`)).toBe(true);
    }
    const table = (await dynamodb.send(new DescribeTableCommand({ TableName: resources.tableName }))).Table;
    expect(table?.TableStatus).toBe('ACTIVE');
    expect(table?.GlobalSecondaryIndexes?.map((index) => index.IndexName).sort()).toEqual(
      TABLE.indexes.map((index) => index.name).sort(),
    );

    const ingest = await attributes(fauxqs.sqs, resources.ingestQueueUrl);
    const ingestDlq = await attributes(fauxqs.sqs, resources.ingestDlqUrl);
    expect(ingest.VisibilityTimeout).toBe('30');
    expect(JSON.parse(ingest.RedrivePolicy ?? '{}')).toEqual({
      deadLetterTargetArn: ingestDlq.QueueArn,
      maxReceiveCount: 3,
    });
    const dispatch = await attributes(fauxqs.sqs, resources.dispatchQueueUrl);
    const dispatchDlq = await attributes(fauxqs.sqs, resources.dispatchDlqUrl);
    expect(JSON.parse(dispatch.RedrivePolicy ?? '{}')).toEqual({
      deadLetterTargetArn: dispatchDlq.QueueArn,
      maxReceiveCount: 2,
    });

    await dynamodb.send(
      new PutItemCommand({ TableName: resources.tableName, Item: { pk: { S: 'DEP#1' }, sk: { S: 'META' } } }),
    );
    await first.stop();

    const second = await startDynalite({ path: dir });
    const dynamodb2 = dynamoClient(second.endpoint);
    clients.push(dynamodb2);
    try {
      const again = await provision({
        dynamodb: dynamodb2,
        sqs: fauxqs.sqs,
        sns: fauxqs.sns,
        names: DEFAULT_NAMES,
        ...settings,
      });
      expect(again).toEqual(resources);
      const { Item } = await dynamodb2.send(
        new GetItemCommand({ TableName: again.tableName, Key: { pk: { S: 'DEP#1' }, sk: { S: 'META' } } }),
      );
      expect(Item).toEqual({ pk: { S: 'DEP#1' }, sk: { S: 'META' } });
    } finally {
      await second.stop();
    }
  });
});

describe('provision of a table kept from an earlier version', () => {
  it('adds the indexes added since to a dynalite table from an earlier start, keeping its data', async () => {
    // The table as an earlier version created it: without the sweep's index.
    await withEarlierTable(
      'old',
      (indexes) => indexes.filter((i) => i.IndexName !== 'byRecordedTransition'),
      async (dynamodb) => {
        await dynamodb.send(
          new PutItemCommand({
            TableName: DEFAULT_NAMES.table,
            Item: { pk: { S: 'DEP#kept' }, sk: { S: 'META' } },
          }),
        );

        await provision({ dynamodb, sqs: fauxqs.sqs, sns: fauxqs.sns, names: DEFAULT_NAMES, ...settings });

        const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: DEFAULT_NAMES.table }));
        expect(
          Table?.GlobalSecondaryIndexes?.map((index) => [index.IndexName, index.IndexStatus]).sort(),
        ).toEqual(TABLE.indexes.map((index) => [index.name, 'ACTIVE']).sort());
        const kept = await dynamodb.send(
          new GetItemCommand({
            TableName: DEFAULT_NAMES.table,
            Key: { pk: { S: 'DEP#kept' }, sk: { S: 'META' } },
          }),
        );
        expect(kept.Item).toBeDefined();
      },
    );
  });
});

describe('provision of a schema version 1 table', () => {
  it('rebuilds a dynalite table with keys-only indexes and moves its records into their shards', async () => {
    // Version 1: every index projected ALL, one partition for all deployments and each hour of transitions.
    await withEarlierTable(
      'v1',
      (indexes) => indexes.map((i) => ({ ...i, Projection: { ProjectionType: 'ALL' } })),
      async (dynamodb) => {
        const recordedAt = '2026-03-01T10:15:00.000Z';
        await dynamodb.send(
          new PutItemCommand({
            TableName: DEFAULT_NAMES.table,
            Item: {
              pk: { S: 'DEP#dep_v1' },
              sk: { S: 'META' },
              type: { S: 'deployment' },
              id: { S: 'dep_v1' },
              status: { S: 'succeeded' },
              createdAt: { S: recordedAt },
              gsi3pk: { S: 'DEPLOYMENTS' },
              gsi3sk: { S: `${recordedAt}#dep_v1` },
              gsi4pk: { S: 'TRANSITIONS#2026-03-01T10' },
              gsi4sk: { S: `${recordedAt}#dep_v1` },
            },
          }),
        );

        await provision({ dynamodb, sqs: fauxqs.sqs, sns: fauxqs.sns, names: DEFAULT_NAMES, ...settings });

        const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: DEFAULT_NAMES.table }));
        expect(
          Table?.GlobalSecondaryIndexes?.map((index) => [
            index.IndexName,
            index.Projection?.ProjectionType,
          ]).sort(),
        ).toEqual(TABLE.indexes.map((index) => [index.name, index.projection]).sort());
        const store = new DynamoStore(dynamodb, DEFAULT_NAMES.table);
        expect((await store.listDeployments({ limit: 10 })).items.map((d) => d.id)).toEqual(['dep_v1']);
        expect(
          (
            await store.transitionsRecordedBetween('2026-03-01T10:00:00.000Z', '2026-03-01T10:30:00.000Z', 10)
          ).map((t) => t.deploymentId),
        ).toEqual(['dep_v1']);
      },
    );
  });
});

describe('provision of a schema version 3 table', () => {
  it('rebuilds a dynalite table without byFinish, gives its finished deployments their finish keys and merges their delivery items', async () => {
    await withEarlierTable(
      'v3',
      (indexes) => indexes.filter((i) => i.IndexName !== 'byFinish'),
      async (dynamodb) => {
        const record = (id: string, status: string, finishedAt?: string) =>
          dynamodb.send(
            new PutItemCommand({
              TableName: DEFAULT_NAMES.table,
              Item: {
                pk: { S: `DEP#${id}` },
                sk: { S: 'META' },
                type: { S: 'deployment' },
                id: { S: id },
                service: { S: 'ledger' },
                environment: { S: 'production' },
                status: { S: status },
                createdAt: { S: '2026-03-01T10:00:00.000Z' },
                ...(finishedAt ? { finishedAt: { S: finishedAt } } : {}),
                gsi2pk: { S: 'S#ledger' },
                gsi2sk: { S: `2026-03-01T10:00:00.000Z#${id}` },
              },
            }),
          );
        await record('dep_v3_finished', 'failed', '2026-03-01T10:20:00.000Z');
        await record('dep_v3_running', 'in_progress');
        // Version 3 kept one item per target's delivery.
        for (const [target, seq] of [
          ['slack', 3],
          ['hook', 2],
        ] as const) {
          await dynamodb.send(
            new PutItemCommand({
              TableName: DEFAULT_NAMES.table,
              Item: {
                pk: { S: 'DEP#dep_v3_finished' },
                sk: { S: `DLV#${target}` },
                type: { S: 'delivery' },
                deploymentId: { S: 'dep_v3_finished' },
                target: { S: target },
                deliveredSeq: { N: String(seq) },
                state: { S: 'delivered' },
                attempts: { N: '1' },
                updatedAt: { S: '2026-03-01T10:20:01.000Z' },
                rev: { N: '1' },
                ...(target === 'slack' ? { refs: { M: { ts: { S: '1772359300.000100' } } } } : {}),
              },
            }),
          );
        }

        await provision({ dynamodb, sqs: fauxqs.sqs, sns: fauxqs.sns, names: DEFAULT_NAMES, ...settings });

        const store = new DynamoStore(dynamodb, DEFAULT_NAMES.table);
        const finished = await store.finishedDeploymentsInRange({
          service: 'ledger',
          before: '2026-03-02T00:00:00.000Z',
          order: 'desc',
          maxReads: 10,
        });
        expect(finished.items.map((d) => [d.id, d.status, d.finishedAt])).toEqual([
          ['dep_v3_finished', 'failed', '2026-03-01T10:20:00.000Z'],
        ]);
        expect((await store.listDeployments({ limit: 10, service: 'ledger' })).items).toHaveLength(2);
        expect(await store.listDeliveries('dep_v3_finished')).toEqual([
          {
            deploymentId: 'dep_v3_finished',
            target: 'hook',
            deliveredSeq: 2,
            state: 'delivered',
            attempts: 1,
            updatedAt: '2026-03-01T10:20:01.000Z',
            rev: 1,
          },
          {
            deploymentId: 'dep_v3_finished',
            target: 'slack',
            deliveredSeq: 3,
            state: 'delivered',
            attempts: 1,
            updatedAt: '2026-03-01T10:20:01.000Z',
            rev: 1,
            refs: { ts: '1772359300.000100' },
          },
        ]);
        const { Items = [] } = await dynamodb.send(new ScanCommand({ TableName: DEFAULT_NAMES.table }));
        expect(Items.filter((item) => item.sk?.S?.startsWith('DLV#'))).toEqual([]);
      },
    );
  });
});

describe('provision of a table whose byFinish projected the attributes plainly', () => {
  it('rebuilds a dynalite table when an index projects other attributes, moving finished records into finish', async () => {
    // The first layout of byFinish: the thirteen attributes the metrics read, each plainly.
    const plainly = ['id', 'service', 'environment', 'status', 'version', 'revision', 'createdAt'];
    plainly.push('startedAt', 'finishedAt', 'rollbackOf', 'rolledBackBy', 'commits', 'hotfix');
    const byFinishPlainly = (indexes: EarlierIndexes): GlobalSecondaryIndex[] =>
      indexes.map((i) =>
        i.IndexName === 'byFinish'
          ? { ...i, Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: plainly } }
          : i,
      );
    await withEarlierTable('finish', byFinishPlainly, async (dynamodb) => {
      const commits = [{ sha: 'b'.repeat(40), time: '2026-03-01T09:00:00.000Z' }];
      await dynamodb.send(
        new PutItemCommand({
          TableName: DEFAULT_NAMES.table,
          Item: {
            pk: { S: 'DEP#dep_plain' },
            sk: { S: 'META' },
            type: { S: 'deployment' },
            id: { S: 'dep_plain' },
            service: { S: 'ledger' },
            environment: { S: 'production' },
            status: { S: 'succeeded' },
            version: { S: '2.4.0' },
            revision: { M: { commit: { S: 'b'.repeat(40) } } },
            createdAt: { S: '2026-03-01T10:00:00.000Z' },
            finishedAt: { S: '2026-03-01T10:20:00.000Z' },
            commits: { L: commits.map((c) => ({ M: { sha: { S: c.sha }, time: { S: c.time } } })) },
            hotfix: { BOOL: true },
            transitions: { L: [] },
            rev: { N: '3' },
            gsi2pk: { S: 'S#ledger' },
            gsi2sk: { S: '2026-03-01T10:00:00.000Z#dep_plain' },
            gsi5pk: { S: 'F#ledger' },
            gsi5sk: { S: '2026-03-01T10:20:00.000Z#dep_plain' },
          },
        }),
      );

      await provision({ dynamodb, sqs: fauxqs.sqs, sns: fauxqs.sns, names: DEFAULT_NAMES, ...settings });

      const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: DEFAULT_NAMES.table }));
      const byFinish = Table?.GlobalSecondaryIndexes?.find((i) => i.IndexName === 'byFinish');
      expect(byFinish?.Projection?.NonKeyAttributes).toEqual([
        'finish',
        'id',
        'environment',
        'status',
        'rolledBackBy',
      ]);
      const store = new DynamoStore(dynamodb, DEFAULT_NAMES.table);
      const finished = await store.finishedDeploymentsInRange({
        service: 'ledger',
        before: '2026-03-02T00:00:00.000Z',
        order: 'desc',
        maxReads: 10,
      });
      expect(finished.items).toEqual([
        {
          id: 'dep_plain',
          service: 'ledger',
          environment: 'production',
          status: 'succeeded',
          version: '2.4.0',
          revision: { commit: 'b'.repeat(40) },
          createdAt: '2026-03-01T10:00:00.000Z',
          finishedAt: '2026-03-01T10:20:00.000Z',
          commits,
          hotfix: true,
        },
      ]);
      expect(await store.getDeployment('dep_plain')).toMatchObject({ version: '2.4.0', commits, rev: 3 });
    });
  });
});

describe('provisioned topic and queues on fauxqs', () => {
  let dynamodb: DynamoDBClient;
  let names: typeof DEFAULT_NAMES;
  beforeAll(async () => {
    // The table half runs against the run's DynamoDB Local (globalSetup) this time.
    dynamodb = dynamoClient(inject('dynamodbEndpoint'));
    const suffix = `${process.pid.toString(36)}${++uniqueCounter}`;
    names = {
      table: await createTestTable(dynamodb),
      topic: `topic-${suffix}`,
      ingestQueue: `ingest-${suffix}`,
      ingestDlq: `ingest-dlq-${suffix}`,
      dispatchQueue: `dispatch-${suffix}`,
      dispatchDlq: `dispatch-dlq-${suffix}`,
    };
  });
  afterAll(() => dynamodb?.destroy());

  it('delivers a topic message to the ingest queue as an SNS envelope (not raw)', async () => {
    const resources = await provision({ dynamodb, sqs: fauxqs.sqs, sns: fauxqs.sns, names, ...settings });
    // Idempotent on the same emulator too.
    expect(await provision({ dynamodb, sqs: fauxqs.sqs, sns: fauxqs.sns, names, ...settings })).toEqual(
      resources,
    );

    const message = JSON.stringify({ deploymentId: 'd-TEST123', status: 'SUCCEEDED' });
    await fauxqs.sns.send(
      new PublishCommand({ TopicArn: resources.topicArn, Subject: 'SUCCEEDED', Message: message }),
    );

    const { Messages = [] } = await fauxqs.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: resources.ingestQueueUrl, WaitTimeSeconds: 2 }),
    );
    expect(Messages).toHaveLength(1);
    const envelope = JSON.parse(Messages[0]?.Body ?? '{}');
    expect(envelope).toMatchObject({
      Type: 'Notification',
      TopicArn: resources.topicArn,
      Subject: 'SUCCEEDED',
      Message: message,
    });
    expect(typeof envelope.MessageId).toBe('string');
    expect(typeof envelope.Timestamp).toBe('string');
  });

  it('updates existing queues when the settings change', async () => {
    const first = await provision({ dynamodb, sqs: fauxqs.sqs, sns: fauxqs.sns, names, ...settings });
    const changed = await provision({
      dynamodb,
      sqs: fauxqs.sqs,
      sns: fauxqs.sns,
      names,
      maxReceives: { ingest: 3, dispatch: 7 },
      visibilityTimeoutSeconds: { ingest: 30, dispatch: 45 },
    });
    expect(changed).toEqual(first);
    const dispatch = await attributes(fauxqs.sqs, changed.dispatchQueueUrl);
    expect(dispatch.VisibilityTimeout).toBe('45');
    expect(JSON.parse(dispatch.RedrivePolicy ?? '{}').maxReceiveCount).toBe(7);
    // Back to the suite's settings for the next test.
    await provision({ dynamodb, sqs: fauxqs.sqs, sns: fauxqs.sns, names, ...settings });
  });

  it('moves a message to the DLQ after maxReceives receives', async () => {
    const resources = await provision({ dynamodb, sqs: fauxqs.sqs, sns: fauxqs.sns, names, ...settings });
    await fauxqs.sqs.send(
      new SendMessageCommand({
        QueueUrl: resources.dispatchQueueUrl,
        MessageBody: 'poison',
        MessageGroupId: 'poison',
        MessageDeduplicationId: 'poison',
      }),
    );

    // VisibilityTimeout 0 on receive makes the message visible again at once: each receive counts toward
    // maxReceiveCount (2) without waiting for the queue's 30 s timeout.
    const receive = () =>
      fauxqs.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: resources.dispatchQueueUrl,
          VisibilityTimeout: 0,
          MessageSystemAttributeNames: ['ApproximateReceiveCount'],
        }),
      );
    const counts: string[] = [];
    for (let i = 0; i < settings.maxReceives.dispatch; i++) {
      const { Messages = [] } = await receive();
      counts.push(Messages[0]?.Attributes?.ApproximateReceiveCount ?? 'none');
    }
    expect(counts).toEqual(['1', '2']);
    // The next receive finds the count exhausted and moves the message to the DLQ instead of returning it.
    expect((await receive()).Messages ?? []).toHaveLength(0);

    const dlq = await waitFor(
      async () => {
        const { Messages = [] } = await fauxqs.sqs.send(
          new ReceiveMessageCommand({ QueueUrl: resources.dispatchDlqUrl, WaitTimeSeconds: 1 }),
        );
        return Messages.length > 0 && Messages;
      },
      { message: 'the message in the dispatch DLQ' },
    );
    expect(dlq.map((m) => m.Body)).toEqual(['poison']);
  });
});
