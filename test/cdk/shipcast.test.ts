import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nonKeyAttributes, TABLE } from '../../functions/adapters/aws/table.ts';
import { DISPATCH_QUEUE_MAX_RECEIVES } from '../../functions/core/config.ts';
import { ConfigError } from '../../functions/core/errors.ts';
import { SWEEP_EVENT, SWEEP_INTERVAL_MINUTES } from '../../functions/core/sweep.ts';
import { ENV } from '../../functions/handlers/env.ts';
import { Shipcast, type ShipcastConfigInput, ShipcastStack } from '../../lib/index.ts';

const CONFIG = {
  api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
  targets: {
    console: { type: 'log' },
    audit: { type: 'webhook', url: 'https://hooks.example.com/shipcast', secret: 'webhook-secret' },
  },
  routes: [{ targets: ['console', 'audit'] }],
  dispatch: { maxReceives: 7 },
} satisfies ShipcastConfigInput;
const ALARM_TOPIC_ARN = 'arn:aws:sns:eu-west-1:123456789012:ops-alarms';
const SECRET_PREFIX = 'shipcast/Shipcast/';

type Resource = {
  Type: string;
  // biome-ignore lint/suspicious/noExplicitAny: synthesized CloudFormation JSON, checked by the assertions
  Properties: Record<string, any>;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
};
type Violation = {
  ruleName: string;
  severity: string;
  reason?: string;
  violatingConstructs?: { constructPath: string }[];
};
type Report = {
  pluginReports: { pluginName: string; violations: Violation[]; suppressedViolations?: Violation[] }[];
};

/** The app's context from cdk.json, so the tests synthesize with the same feature flags as `cdk synth`. */
function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8'));
  // Report nag errors in validation-report.json (asserted below) instead of throwing from synth.
  return { ...cdkJson.context, '@aws-cdk/core:failSynthOnValidationErrors': false };
}

let template: Template;
let resources: Record<string, Resource>;
let report: Report;
let assemblyDir: string;

const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const logicalIdOf = (type: string, pathPart: string) => {
  const matches = ofType(type).filter(([id]) => id.includes(pathPart));
  expect(matches, `${type} with "${pathPart}" in its logical ID`).toHaveLength(1);
  return matches[0]![0];
};
const fnId = (name: 'Api' | 'Ingest' | 'Dispatch') =>
  logicalIdOf('AWS::Lambda::Function', `Shipcast${name}Function`);
const queueId = (name: string) => logicalIdOf('AWS::SQS::Queue', `Shipcast${name}`);
const policyOf = (name: 'Api' | 'Ingest' | 'Dispatch') =>
  resources[logicalIdOf('AWS::IAM::Policy', `Shipcast${name}FunctionRoleDefaultPolicy`)]!.Properties
    .PolicyDocument.Statement as { Action: string | string[]; Resource: unknown; Effect: string }[];
/** The actions a function's policy allows on `resource` (CDK merges statements: Resource may be a list). */
const actionsOn = (name: 'Api' | 'Ingest' | 'Dispatch', resource: unknown) =>
  policyOf(name)
    .filter((s) =>
      (Array.isArray(s.Resource) ? s.Resource : [s.Resource]).some(
        (r) => JSON.stringify(r) === JSON.stringify(resource),
      ),
    )
    .flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));

const outdir = mkdtempSync(join(tmpdir(), 'shipcast-cdk-test-'));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

beforeAll(() => {
  const app = new App({ context: cdkJsonContext(), outdir });
  const stack = new ShipcastStack(app, 'Shipcast', { config: CONFIG, alarmTopicArn: ALARM_TOPIC_ARN });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
  const assembly = app.synth();
  assemblyDir = assembly.directory;
  report = JSON.parse(readFileSync(join(assemblyDir, 'validation-report.json'), 'utf8'));
  template = Template.fromStack(stack);
  resources = template.toJSON().Resources;
}, 120_000);

describe('Shipcast stack', () => {
  it('has three Node.js 22 arm64 functions with the specified timeouts and log groups', () => {
    expect(ofType('AWS::Lambda::Function')).toHaveLength(3);
    for (const [name, timeout] of [
      ['Api', 10],
      ['Ingest', 30],
      ['Dispatch', 60],
    ] as const) {
      const props = resources[fnId(name)]!.Properties;
      expect(props.Runtime).toBe('nodejs22.x');
      expect(props.Architectures).toEqual(['arm64']);
      expect(props.Timeout).toBe(timeout);
      const logGroup = resources[props.LoggingConfig.LogGroup.Ref]!;
      expect(logGroup.Type).toBe('AWS::Logs::LogGroup');
      expect(logGroup.Properties.RetentionInDays).toBe(30);
    }
  });

  it('sets the environment the functions read, with no secret values', () => {
    const secretIds = ofType('AWS::SecretsManager::Secret').map(([id]) => id);
    expect(secretIds).toHaveLength(2);
    for (const [, fn] of ofType('AWS::Lambda::Function')) {
      const env = fn.Properties.Environment.Variables as Record<string, unknown>;
      expect(env).toMatchObject({
        [ENV.table]: { Ref: logicalIdOf('AWS::DynamoDB::Table', 'ShipcastTable') },
        [ENV.dispatchQueueUrl]: { Ref: queueId('DispatchQueue') },
        [ENV.dispatchDlqUrl]: { Ref: queueId('DispatchDeadLetterQueue') },
        [ENV.secretPrefix]: SECRET_PREFIX,
        NODE_OPTIONS: '--enable-source-maps',
      });
      // The service name and metric namespace are set in functions/core/telemetry.ts, not read from here.
      expect(Object.keys(env).filter((name) => name.startsWith('POWERTOOLS_'))).toEqual([]);
      // The config travels in the bundle (esbuild define), not in the environment.
      expect(env).not.toHaveProperty(ENV.configJson);
      const text = JSON.stringify(env);
      for (const id of secretIds) expect(text).not.toContain(id);
      expect(text).not.toMatch(/resolve:secretsmanager|SecretString|api-token|webhook-secret/);
    }
    // Secret values are generated by Secrets Manager: none is in the template at all.
    for (const [, secret] of ofType('AWS::SecretsManager::Secret')) {
      expect(secret.Properties.SecretString).toBeUndefined();
      expect(secret.Properties.GenerateSecretString).toBeDefined();
    }
    expect(JSON.stringify(template.toJSON()).includes('resolve:secretsmanager')).toBe(false);
  });

  it('bundles the validated config into every function and keeps it out of the template', () => {
    for (const name of ['Api', 'Ingest', 'Dispatch'] as const) {
      const key: string = resources[fnId(name)]!.Properties.Code.S3Key;
      const bundle = readFileSync(
        join(assemblyDir, `asset.${key.replace(/\.zip$/, '')}`, 'index.mjs'),
        'utf8',
      );
      // Plain booleans: a failing toContain would print the whole minified bundle.
      expect(
        bundle.includes('"url":"https://hooks.example.com/shipcast"'),
        `${name} bundle has the config`,
      ).toBe(true);
      expect(bundle.includes('"maxReceives":7'), `${name} bundle has the parsed defaults`).toBe(true);
      expect(bundle.includes('process.env.SHIPCAST_CONFIG_JSON'), `${name} bundle reads no config env`).toBe(
        false,
      );
    }
    expect(JSON.stringify(template.toJSON()).includes('hooks.example.com')).toBe(false);
  });

  it('creates one generated secret per referenced name under the prefix, readable only where needed', () => {
    const byName = new Map(
      ofType('AWS::SecretsManager::Secret').map(([id, r]) => [
        r.Properties.Name as string,
        { id, props: r.Properties },
      ]),
    );
    expect([...byName.keys()].sort()).toEqual([
      `${SECRET_PREFIX}api-token`,
      `${SECRET_PREFIX}webhook-secret`,
    ]);
    for (const { props } of byName.values()) expect(props.GenerateSecretString).toBeDefined();
    const apiToken = { Ref: byName.get(`${SECRET_PREFIX}api-token`)!.id };
    const webhook = { Ref: byName.get(`${SECRET_PREFIX}webhook-secret`)!.id };
    expect(actionsOn('Api', apiToken)).toContain('secretsmanager:GetSecretValue');
    expect(actionsOn('Api', webhook)).toEqual([]);
    expect(actionsOn('Dispatch', webhook)).toContain('secretsmanager:GetSecretValue');
    expect(actionsOn('Dispatch', apiToken)).toEqual([]);
    expect(JSON.stringify(policyOf('Ingest'))).not.toContain('secretsmanager');
  });

  it('builds the table from TABLE: on demand, PITR, TTL, GSIs, retained', () => {
    const tableId = logicalIdOf('AWS::DynamoDB::Table', 'ShipcastTable');
    const table = resources[tableId]!;
    expect(table.DeletionPolicy).toBe('Retain');
    expect(table.UpdateReplacePolicy).toBe('Retain');
    expect(table.Properties.BillingMode).toBe('PAY_PER_REQUEST');
    expect(table.Properties.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    expect(table.Properties.TimeToLiveSpecification).toEqual({
      AttributeName: TABLE.ttlAttribute,
      Enabled: true,
    });
    expect(table.Properties.KeySchema).toEqual([
      { AttributeName: TABLE.partitionKey, KeyType: 'HASH' },
      { AttributeName: TABLE.sortKey, KeyType: 'RANGE' },
    ]);
    expect(table.Properties.GlobalSecondaryIndexes).toEqual(
      TABLE.indexes.map((index) => ({
        IndexName: index.name,
        KeySchema: [
          { AttributeName: index.partitionKey, KeyType: 'HASH' },
          { AttributeName: index.sortKey, KeyType: 'RANGE' },
        ],
        Projection: {
          ProjectionType: index.projection,
          ...(nonKeyAttributes(index) ? { NonKeyAttributes: nonKeyAttributes(index) } : {}),
        },
      })),
    );
  });

  it('maps the queues to their consumers with batch item failures, and caps dispatch concurrency', () => {
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 2);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: fnId('Ingest') },
      EventSourceArn: { 'Fn::GetAtt': [queueId('IngestQueue'), 'Arn'] },
      BatchSize: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: fnId('Dispatch') },
      EventSourceArn: { 'Fn::GetAtt': [queueId('DispatchQueue'), 'Arn'] },
      BatchSize: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 5 },
    });
  });

  it("gives every queue a visibility timeout of at least 6x its consumer's timeout", () => {
    const mappings = ofType('AWS::Lambda::EventSourceMapping');
    expect(mappings.length).toBeGreaterThan(0);
    for (const [, mapping] of mappings) {
      const queue = resources[mapping.Properties.EventSourceArn['Fn::GetAtt'][0]]!;
      const fn = resources[mapping.Properties.FunctionName.Ref]!;
      expect(queue.Type).toBe('AWS::SQS::Queue');
      expect(queue.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(6 * fn.Properties.Timeout);
    }
  });

  it('encrypts every queue, enforces SSL on it, and dead-letters with 14-day retention', () => {
    const queues = ofType('AWS::SQS::Queue');
    expect(queues).toHaveLength(5);
    const policies = ofType('AWS::SQS::QueuePolicy');
    for (const [id, queue] of queues) {
      expect(queue.Properties.SqsManagedSseEnabled).toBe(true);
      const policy = policies.find(
        ([, p]) => JSON.stringify(p.Properties.Queues) === JSON.stringify([{ Ref: id }]),
      );
      expect(policy, `queue policy of ${id}`).toBeDefined();
      expect(policy![1].Properties.PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
    for (const [source, dlq, maxReceiveCount] of [
      // The dispatcher gives up after dispatch.maxReceives failed attempts itself; SQS's count is a backstop.
      ['DispatchQueue', 'DispatchDeadLetterQueue', DISPATCH_QUEUE_MAX_RECEIVES],
      ['IngestQueue', 'IngestDeadLetterQueue', 5],
    ] as const) {
      expect(resources[queueId(source)]!.Properties.RedrivePolicy).toEqual({
        deadLetterTargetArn: { 'Fn::GetAtt': [queueId(dlq), 'Arn'] },
        maxReceiveCount,
      });
      expect(resources[queueId(dlq)]!.Properties.MessageRetentionPeriod).toBe(14 * 24 * 3600);
    }
  });

  it('makes the dispatch queue and its DLQ FIFO in high-throughput mode, and keeps the ingest queue standard', () => {
    const highThroughputFifo = {
      FifoQueue: true,
      DeduplicationScope: 'messageGroup',
      FifoThroughputLimit: 'perMessageGroupId',
    };
    const dispatch = resources[queueId('DispatchQueue')]!.Properties;
    expect(dispatch).toMatchObject(highThroughputFifo);
    expect(resources[queueId('DispatchDeadLetterQueue')]!.Properties).toMatchObject(highThroughputFifo);
    // Names are generated (CloudFormation adds .fifo); content-based deduplication stays off: the dispatcher
    // sends an id per transition, the redrive tool one per dead-lettered message.
    expect(dispatch.QueueName).toBeUndefined();
    expect(dispatch.ContentBasedDeduplication).toBeUndefined();
    // Messages held back by an open circuit wait in the queue: kept as long as SQS allows.
    expect(dispatch.MessageRetentionPeriod).toBe(14 * 24 * 3600);
    for (const standard of ['IngestQueue', 'IngestDeadLetterQueue', 'SubscriptionDeadLetterQueue']) {
      expect(resources[queueId(standard)]!.Properties.FifoQueue).toBeUndefined();
    }
    // Lambda's event source takes FIFO batches without a batching window (CloudFormation refuses one).
    const mapping = ofType('AWS::Lambda::EventSourceMapping').find(
      ([, m]) => m.Properties.EventSourceArn['Fn::GetAtt'][0] === queueId('DispatchQueue'),
    );
    expect(mapping?.[1].Properties.MaximumBatchingWindowInSeconds).toBeUndefined();
  });

  it('lets CodeDeploy of this account publish to the SSL-only topic, delivered as SNS envelopes', () => {
    const topicId = logicalIdOf('AWS::SNS::Topic', 'ShipcastCodeDeployTopic');
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: topicId }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 'sns:Publish',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'codedeploy.amazonaws.com' },
            Action: 'sns:Publish',
            Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
          }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'sqs',
      TopicArn: { Ref: topicId },
      Endpoint: { 'Fn::GetAtt': [queueId('IngestQueue'), 'Arn'] },
      RawMessageDelivery: Match.absent(),
    });
    template.hasOutput('CodeDeployTopicArn', { Value: { Ref: topicId } });
  });

  it('dead-letters what SNS cannot deliver to the ingest queue into a standard queue SNS may write to', () => {
    const dlq = queueId('SubscriptionDeadLetterQueue');
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'sqs',
      Endpoint: { 'Fn::GetAtt': [queueId('IngestQueue'), 'Arn'] },
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [dlq, 'Arn'] } },
    });
    expect(resources[dlq]!.Properties.FifoQueue).toBeUndefined();
    expect(resources[dlq]!.Properties.MessageRetentionPeriod).toBe(14 * 24 * 3600);
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: dlq }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'sns.amazonaws.com' },
            Action: 'sqs:SendMessage',
            Condition: {
              ArnEquals: {
                'aws:SourceArn': { Ref: logicalIdOf('AWS::SNS::Topic', 'ShipcastCodeDeployTopic') },
              },
            },
          }),
        ]),
      },
    });
  });

  it('caps the public API function at 20 reserved concurrent executions by default, the others not at all', () => {
    expect(resources[fnId('Api')]!.Properties.ReservedConcurrentExecutions).toBe(20);
    expect(resources[fnId('Ingest')]!.Properties.ReservedConcurrentExecutions).toBeUndefined();
    expect(resources[fnId('Dispatch')]!.Properties.ReservedConcurrentExecutions).toBeUndefined();
  });

  it('keeps the table and the secrets on stack deletion, and protects the table from deletion', () => {
    const table = resources[logicalIdOf('AWS::DynamoDB::Table', 'ShipcastTable')]!;
    expect(table.Properties.DeletionProtectionEnabled).toBe(true);
    for (const [, secret] of ofType('AWS::SecretsManager::Secret')) {
      expect(secret.DeletionPolicy).toBe('Retain');
      expect(secret.UpdateReplacePolicy).toBe('Retain');
    }
  });

  it('names its metrics service after the stack, so two deployments in one account never mix', () => {
    for (const [, fn] of ofType('AWS::Lambda::Function')) {
      expect(fn.Properties.Environment.Variables[ENV.metricsService]).toBe('shipcast/Shipcast');
    }
  });

  it('exposes the API function through a function URL with auth NONE', () => {
    const urlId = logicalIdOf('AWS::Lambda::Url', 'ShipcastApiFunction');
    expect(resources[urlId]!.Properties).toMatchObject({
      AuthType: 'NONE',
      TargetFunctionArn: { 'Fn::GetAtt': [fnId('Api'), 'Arn'] },
    });
    template.hasOutput('ApiUrl', { Value: { 'Fn::GetAtt': [urlId, 'FunctionUrl'] } });
  });

  it('grants each function only the queue, table and CodeDeploy access it needs', () => {
    const dispatchQueue = { 'Fn::GetAtt': [queueId('DispatchQueue'), 'Arn'] };
    const dispatchDlq = { 'Fn::GetAtt': [queueId('DispatchDeadLetterQueue'), 'Arn'] };
    const ingestQueue = { 'Fn::GetAtt': [queueId('IngestQueue'), 'Arn'] };
    expect(actionsOn('Api', dispatchQueue)).toContain('sqs:SendMessage');
    expect(actionsOn('Ingest', dispatchQueue)).toContain('sqs:SendMessage');
    expect(actionsOn('Ingest', ingestQueue)).toEqual(
      expect.arrayContaining(['sqs:ReceiveMessage', 'sqs:DeleteMessage']),
    );
    // The API forwards verified SNS HTTP(S) notifications to the ingest queue; it never consumes it.
    expect(actionsOn('Api', ingestQueue)).toContain('sqs:SendMessage');
    expect(actionsOn('Api', ingestQueue)).not.toContain('sqs:ReceiveMessage');
    expect(actionsOn('Dispatch', dispatchQueue)).toEqual(
      expect.arrayContaining(['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility']),
    );
    // The scheduled sweep (in the dispatcher) enqueues deliveries whose enqueue was lost.
    expect(actionsOn('Dispatch', dispatchQueue)).toContain('sqs:SendMessage');
    expect(actionsOn('Dispatch', dispatchDlq)).toContain('sqs:SendMessage');
    expect(actionsOn('Api', dispatchDlq)).toEqual([]);
    for (const name of ['Api', 'Ingest', 'Dispatch'] as const) {
      const table = { 'Fn::GetAtt': [logicalIdOf('AWS::DynamoDB::Table', 'ShipcastTable'), 'Arn'] };
      expect(JSON.stringify(policyOf(name))).toContain(JSON.stringify(table));
      expect(policyOf(name).flatMap((s) => s.Action)).toContain('dynamodb:PutItem');
    }
    const codedeploy = policyOf('Ingest').find((s) => JSON.stringify(s.Action).includes('codedeploy'));
    expect(codedeploy?.Action).toEqual(['codedeploy:BatchGetDeployments', 'codedeploy:GetDeployment']);
    expect(JSON.stringify(codedeploy?.Resource)).toContain(':deploymentgroup:*');
    for (const name of ['Api', 'Dispatch'] as const) {
      expect(JSON.stringify(policyOf(name))).not.toContain('codedeploy');
    }
    // No AWS managed policies (AWSLambdaBasicExecutionRole): each role writes only to its own log group.
    for (const [, role] of ofType('AWS::IAM::Role'))
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
  });

  it('runs the sweep of transitions whose enqueue was lost in the dispatcher, every few minutes', () => {
    const rules = ofType('AWS::Events::Rule')
      .map(([, rule]) => rule.Properties)
      .filter((rule) => rule.ScheduleExpression !== undefined);
    expect(rules).toEqual([
      expect.objectContaining({
        ScheduleExpression: `rate(${SWEEP_INTERVAL_MINUTES} minutes)`,
        State: 'ENABLED',
        Targets: [
          expect.objectContaining({
            Arn: { 'Fn::GetAtt': [fnId('Dispatch'), 'Arn'] },
            Input: JSON.stringify(SWEEP_EVENT),
          }),
        ],
      }),
    ]);
    const permissions = ofType('AWS::Lambda::Permission').map(([, p]) => p.Properties);
    expect(permissions).toContainEqual(
      expect.objectContaining({
        Action: 'lambda:InvokeFunction',
        Principal: 'events.amazonaws.com',
        FunctionName: { 'Fn::GetAtt': [fnId('Dispatch'), 'Arn'] },
      }),
    );
  });

  it('alarms on function errors and throttles, URL 5xx, DLQ depths, queue ages, dead letters and circuits', () => {
    const alarms = ofType('AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
    const functions = ofType('AWS::Lambda::Function').map(([id]) => id);
    const dlqs = ofType('AWS::SQS::Queue')
      .filter(([id]) => id.includes('DeadLetterQueue'))
      .map(([id]) => id);
    expect(dlqs).toHaveLength(3);
    const expected = [
      ...functions.flatMap((id) =>
        ['Errors', 'Throttles'].map((metricName) => ({
          Namespace: 'AWS/Lambda',
          MetricName: metricName,
          Dimensions: [{ Name: 'FunctionName', Value: { Ref: id } }],
          Statistic: 'Sum',
          Threshold: 1,
        })),
      ),
      {
        Namespace: 'AWS/Lambda',
        MetricName: 'Url5xxCount',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: fnId('Api') } }],
        Statistic: 'Sum',
        Threshold: 1,
      },
      ...dlqs.map((id) => ({
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [id, 'QueueName'] } }],
        Statistic: 'Maximum',
        Threshold: 1,
      })),
      ...(
        [
          ['IngestQueue', 15 * 60],
          ['DispatchQueue', 6 * 3600],
        ] as const
      ).map(([queue, seconds]) => ({
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateAgeOfOldestMessage',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId(queue), 'QueueName'] } }],
        Statistic: 'Maximum',
        Threshold: seconds,
      })),
      // The EMF names and dimensions functions/core/dispatch.ts and circuit.ts write (telemetry.ts `count`).
      {
        Namespace: 'Shipcast',
        MetricName: 'DeadLettered',
        Dimensions: [
          { Name: 'queue', Value: 'dispatch' },
          { Name: 'service', Value: 'shipcast/Shipcast' },
        ],
        Statistic: 'Sum',
        Threshold: 1,
      },
      ...Object.keys(CONFIG.targets).map((target) => ({
        Namespace: 'Shipcast',
        MetricName: 'CircuitOpened',
        Dimensions: [
          { Name: 'service', Value: 'shipcast/Shipcast' },
          { Name: 'target', Value: target },
        ],
        Statistic: 'Sum',
        Threshold: 1,
      })),
    ];
    expect(alarms).toHaveLength(expected.length);
    for (const alarm of expected) expect(alarms).toContainEqual(expect.objectContaining(alarm));
    for (const alarm of alarms) {
      expect(alarm.AlarmActions).toEqual([ALARM_TOPIC_ARN]);
      expect(alarm.OKActions).toEqual([ALARM_TOPIC_ARN]);
      expect(alarm.ComparisonOperator).toBe('GreaterThanOrEqualToThreshold');
      expect(alarm.TreatMissingData).toBe('notBreaching');
      expect(alarm.Period).toBe(300);
    }
  });

  it('builds a dashboard of the functions, URL, queues, DLQs, circuits, deliveries by target and deployments', () => {
    const [[dashboardId, dashboard]] = ofType('AWS::CloudWatch::Dashboard') as [[string, Resource]];
    expect(ofType('AWS::CloudWatch::Dashboard')).toHaveLength(1);
    expect(dashboard.Properties.DashboardName).toBeUndefined();
    // The body is a Fn::Join of JSON text and tokens: tokens become quoted-free strings so it parses.
    const joined = (dashboard.Properties.DashboardBody['Fn::Join'][1] as unknown[])
      .map((part) => (typeof part === 'string' ? part : JSON.stringify(part).replaceAll('"', "'")))
      .join('');
    const widgets = JSON.parse(joined).widgets as {
      properties: { title: string; metrics?: unknown[][] };
    }[];
    expect(widgets.map((w) => w.properties.title)).toEqual([
      'Function invocations',
      'Function errors',
      'Function throttles',
      'Function duration (p99)',
      'Concurrent executions (max)',
      'API function URL requests',
      'Queue messages visible',
      'Queue age of oldest message (s)',
      'Dead-letter queues: messages visible',
      'Deliveries by target: delivered',
      'Deliveries by target: failed',
      'Retries by target',
      'Circuits opened by target',
      'Circuits closed by target',
      'Dead-lettered deliveries and events ingested',
      'Deployments finished by service, environment and outcome (per hour)',
      'Failed or stopped deployments by service and environment (per hour)',
      'Change lead time by service and environment (p50, s)',
      'Alarms',
    ]);
    // The EMF metrics of functions/core/deployment-metrics.ts, found by SEARCH (services and environments are open-ended).
    const expressionOf = (title: string) =>
      (
        widgets.find((w) => w.properties.title === title)!.properties.metrics as [{ expression: string }][]
      ).map(([m]) => m.expression);
    expect(expressionOf('Deployments finished by service, environment and outcome (per hour)')).toEqual([
      `SEARCH('{Shipcast,environment,outcome,service} MetricName="DeploymentFinished"', 'Sum', 3600)`,
    ]);
    expect(expressionOf('Failed or stopped deployments by service and environment (per hour)')).toEqual([
      `SEARCH('{Shipcast,environment,outcome,service} MetricName="DeploymentFinished" (outcome="failed" OR outcome="stopped")', 'Sum', 3600)`,
    ]);
    expect(expressionOf('Change lead time by service and environment (p50, s)')).toEqual([
      `SEARCH('{Shipcast,environment,service} MetricName="LeadTimeSeconds"', 'p50', 3600)`,
    ]);
    const metricsOf = (title: string) =>
      widgets.find((w) => w.properties.title === title)!.properties.metrics!.map((m) => JSON.stringify(m));
    const shipcastMetric = (name: string, dimensions: string[]) =>
      expect.stringContaining(`["Shipcast","${name}",${dimensions.map((d) => `"${d}"`).join(',')},`);
    const targets = Object.keys(CONFIG.targets);
    for (const [title, name, extra] of [
      ['Deliveries by target: delivered', 'Deliveries', ['outcome', 'delivered']],
      ['Deliveries by target: failed', 'Deliveries', ['outcome', 'failed']],
      ['Retries by target', 'Retries', []],
      ['Circuits opened by target', 'CircuitOpened', []],
      ['Circuits closed by target', 'CircuitClosed', []],
    ] as const) {
      expect(metricsOf(title)).toEqual(
        targets.map((t) => shipcastMetric(name, [...extra, 'service', 'shipcast/Shipcast', 'target', t])),
      );
    }
    const functionIds = ofType('AWS::Lambda::Function').map(([id]) => id);
    for (const title of ['Function invocations', 'Function errors', 'Function throttles']) {
      expect(metricsOf(title)).toEqual(functionIds.map((id) => expect.stringContaining(`{'Ref':'${id}'}`)));
    }
    expect(metricsOf('Dead-letter queues: messages visible')).toEqual(
      ['IngestDeadLetterQueue', 'DispatchDeadLetterQueue', 'SubscriptionDeadLetterQueue'].map((q) =>
        expect.stringContaining(`'${queueId(q)}','QueueName'`),
      ),
    );
    expect(metricsOf('Queue age of oldest message (s)')).toEqual(
      ['IngestQueue', 'DispatchQueue'].map((q) => expect.stringContaining(`'${queueId(q)}','QueueName'`)),
    );
    expect(metricsOf('API function URL requests')).toEqual(
      ['UrlRequestCount', 'Url4xxCount', 'Url5xxCount'].map((m) => expect.stringContaining(`"${m}"`)),
    );
    template.hasOutput('CloudWatchDashboardUrl', {
      Value: {
        'Fn::Join': [
          '',
          [
            'https://console.aws.amazon.com/cloudwatch/home?region=',
            { Ref: 'AWS::Region' },
            '#dashboards:name=',
            { Ref: dashboardId },
          ],
        ],
      },
    });
  });

  it('outputs everything an operator needs: queues and DLQs for redrive, table, secrets, URLs', () => {
    const url = { 'Fn::GetAtt': [logicalIdOf('AWS::Lambda::Url', 'ShipcastApiFunction'), 'FunctionUrl'] };
    template.hasOutput('ApiUrl', { Value: url });
    template.hasOutput('DashboardUrl', { Value: url });
    template.hasOutput('TableName', { Value: { Ref: logicalIdOf('AWS::DynamoDB::Table', 'ShipcastTable') } });
    for (const queue of [
      'IngestQueue',
      'IngestDeadLetterQueue',
      'DispatchQueue',
      'DispatchDeadLetterQueue',
      'SubscriptionDeadLetterQueue',
    ]) {
      template.hasOutput(`${queue}Url`, { Value: { Ref: queueId(queue) } });
    }
    template.hasOutput('SecretPrefix', { Value: SECRET_PREFIX });
    const secrets = new Map(ofType('AWS::SecretsManager::Secret').map(([id, r]) => [r.Properties.Name, id]));
    template.hasOutput('SecretApiTokenArn', { Value: { Ref: secrets.get(`${SECRET_PREFIX}api-token`) } });
    template.hasOutput('SecretWebhookSecretArn', {
      Value: { Ref: secrets.get(`${SECRET_PREFIX}webhook-secret`) },
    });
  });

  it('is environment-agnostic (no account or region baked in)', () => {
    const whole = JSON.stringify(template.toJSON());
    expect(whole).not.toMatch(/"\d{12}"|:\d{12}:(?!ops-alarms)/);
  });
});

describe('cdk-nag AwsSolutions and Serverless', () => {
  it('reports no unacknowledged finding (errors or warnings) in any validation plugin', () => {
    const unacknowledged = report.pluginReports.flatMap((plugin) =>
      plugin.violations.map(
        (v) =>
          `${plugin.pluginName} ${v.severity} ${v.ruleName}: ${v.violatingConstructs?.map((c) => c.constructPath).join(', ')}`,
      ),
    );
    expect(unacknowledged).toEqual([]);
    expect(report.pluginReports.map((p) => p.pluginName)).toEqual(
      expect.arrayContaining(['AwsSolutions', 'Serverless']),
    );
  });

  it('acknowledges only the expected findings, each with a specific reason', () => {
    const suppressed = report.pluginReports.flatMap((p) => p.suppressedViolations ?? []);
    for (const v of suppressed) expect(v.reason?.length, v.ruleName).toBeGreaterThan(40);
    const rules = [
      ...new Set(suppressed.map((v) => v.ruleName.replace(/<Shipcast\w+\.Arn>/, '<Table.Arn>'))),
    ].sort();
    expect(rules).toEqual([
      'AwsSolutions-IAM5[Resource::<Table.Arn>/index/*]',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:codedeploy:<AWS::Region>:<AWS::AccountId>:deploymentgroup:*]',
      'AwsSolutions-L1',
      'AwsSolutions-SMG4',
      'AwsSolutions-SQS3',
      'Serverless-EventBusDLQ',
      'Serverless-LambdaDLQ',
      'Serverless-LambdaEventSourceMappingDestination',
      'Serverless-LambdaLatestVersion',
      'Serverless-LambdaTracing',
      'Serverless-SQSRedrivePolicy',
    ]);
  });
});

describe('Shipcast construct config', () => {
  it('throws ConfigError naming the bad field before creating anything', () => {
    const stack = new Stack(new App(), 'Bad');
    const bad = { ...CONFIG, routes: [{ targets: ['console', 'nowhere'] }] };
    let error: unknown;
    try {
      new Shipcast(stack, 'Shipcast', { config: bad });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain('routes[0].targets[1]');
    expect((error as ConfigError).message).toContain('no target named "nowhere"');
    expect(stack.node.findAll().length).toBe(1);
  });

  it('reports a wrongly typed field by its path', () => {
    const stack = new Stack(new App(), 'Bad');
    const bad = { ...CONFIG, dispatch: { maxReceives: 0 } };
    expect(() => new Shipcast(stack, 'Shipcast', { config: bad })).toThrow(/dispatch\.maxReceives/);
  });
});
