import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ArnFormat, type CfnElement, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventsTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type * as z from 'zod';
import { TABLE } from '../functions/adapters/aws/table.ts';
import { openApiDocument } from '../functions/core/api/openapi.ts';
import {
  type configSchema,
  DISPATCH_MAX_CONCURRENCY,
  DISPATCH_QUEUE_MAX_RECEIVES,
  FUNCTION_TIMEOUT_SECONDS,
  parseConfig,
  QUEUE_VISIBILITY_FACTOR,
  referencedSecrets,
  type ShipcastConfig,
} from '../functions/core/config.ts';
import { SWEEP_EVENT, SWEEP_INTERVAL_MINUTES } from '../functions/core/sweep.ts';
import { targetDefinition } from '../functions/core/targets/index.ts';
import { ENV } from '../functions/handlers/env.ts';
import { embedOpenApi } from '../functions/handlers/openapi-embedded.ts';

/** A Shipcast config as written in `shipcast.config.json` (defaults optional) or as returned by `parseConfig`. */
export type ShipcastConfigInput = z.input<typeof configSchema>;

/** The three Lambda functions of Shipcast. */
export type ShipcastFunctionName = 'api' | 'ingest' | 'dispatch';

/** Props of the `Shipcast` construct. */
export interface ShipcastProps {
  /** The Shipcast config; validated in the constructor (a bad field throws `ConfigError` naming its path). */
  readonly config: ShipcastConfigInput;
  /** Memory (MB) per function; defaults: api 512, ingest 256, dispatch 256. */
  readonly memorySize?: Partial<Record<ShipcastFunctionName, number>>;
  /** Topic the alarms (DLQ depth, function errors) notify; without it the alarms have no actions. */
  readonly alarmTopic?: sns.ITopic;
  /** Maximum concurrent dispatcher invocations from the dispatch queue (2-1000); default 5. */
  readonly dispatchMaxConcurrency?: number;
  /** Prefix of the Secrets Manager secret names; default `shipcast/<stack name>/`. */
  readonly secretPrefix?: string;
  /** Enable X-Ray active tracing on the functions; default false. */
  readonly tracing?: boolean;
}

const HANDLERS_DIR = new URL('../functions/handlers/', import.meta.url);
const PACKAGE_ROOT = fileURLToPath(new URL('..', import.meta.url));
const LOCK_FILE = fileURLToPath(new URL('../package-lock.json', import.meta.url));

const TIMEOUTS: Record<ShipcastFunctionName, Duration> = {
  api: Duration.seconds(FUNCTION_TIMEOUT_SECONDS.api),
  ingest: Duration.seconds(FUNCTION_TIMEOUT_SECONDS.ingest),
  dispatch: Duration.seconds(FUNCTION_TIMEOUT_SECONDS.dispatch),
};
const DEFAULT_MEMORY: Record<ShipcastFunctionName, number> = { api: 512, ingest: 256, dispatch: 256 };
/** Receives of one ingest message (SNS envelope) before it goes to the ingest DLQ. */
const INGEST_MAX_RECEIVES = 5;
const DLQ_RETENTION = Duration.days(14);

/**
 * Shipcast on AWS: CodeDeploy trigger topic → ingest queue → ingest function, HTTP API function (function URL),
 * one DynamoDB table, dispatch queue → dispatcher function, secrets, DLQs and alarms.
 */
export class Shipcast extends Construct {
  /** The validated config baked into the function bundles. */
  readonly config: ShipcastConfig;
  /** The deployment-event table (same shape as local mode, from `TABLE`). */
  readonly table: dynamodb.Table;
  /** Topic to select as the target of CodeDeploy deployment-group triggers. */
  readonly codeDeployTopic: sns.Topic;
  /** Queue subscribed to `codeDeployTopic` (SNS envelope JSON bodies). */
  readonly ingestQueue: sqs.Queue;
  /** Dead-letter queue of `ingestQueue`. */
  readonly ingestDeadLetterQueue: sqs.Queue;
  /**
   * Queue of pending deliveries to targets: FIFO, one message group per (deployment, target), so no two
   * dispatchers ever work on the same delivery at once and its transitions go in order.
   */
  readonly dispatchQueue: sqs.Queue;
  /** Dead-letter queue of `dispatchQueue` (FIFO too; also written directly by the dispatcher for permanent failures). */
  readonly dispatchDeadLetterQueue: sqs.Queue;
  /** The HTTP API function. */
  readonly apiFunction: NodejsFunction;
  /** The CodeDeploy ingest function. */
  readonly ingestFunction: NodejsFunction;
  /** The dispatcher function. */
  readonly dispatchFunction: NodejsFunction;
  /** Public URL of the API function (auth NONE: the API checks bearer tokens itself). */
  readonly apiUrl: lambda.FunctionUrl;
  /** Prefix of every secret name; secret `<name>` of the config is `<secretPrefix><name>`. */
  readonly secretPrefix: string;
  /** One secret per name the config references, keyed by that name. */
  readonly secrets: ReadonlyMap<string, secretsmanager.Secret>;
  /** Every alarm the construct creates. */
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: ShipcastProps) {
    // Validated before super() so a bad config leaves nothing behind in the construct tree.
    const config = parseConfig(props.config, 'Shipcast construct props.config');
    super(scope, id);
    this.config = config;
    const stack = Stack.of(this);
    this.secretPrefix = props.secretPrefix ?? `shipcast/${stack.stackName}/`;

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: TABLE.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: TABLE.sortKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: TABLE.ttlAttribute,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    for (const index of TABLE.indexes) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: { name: index.partitionKey, type: dynamodb.AttributeType.STRING },
        sortKey: { name: index.sortKey, type: dynamodb.AttributeType.STRING },
        projectionType: dynamodb.ProjectionType[index.projection],
      });
    }

    // Queues: SSE-SQS (not KMS) so SNS can deliver to the ingest queue without a key policy.
    const queue = (queueId: string, queueProps: sqs.QueueProps) =>
      new sqs.Queue(this, queueId, {
        encryption: sqs.QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        ...queueProps,
      });
    this.ingestDeadLetterQueue = queue('IngestDeadLetterQueue', { retentionPeriod: DLQ_RETENTION });
    this.ingestQueue = queue('IngestQueue', {
      visibilityTimeout: Duration.seconds(TIMEOUTS.ingest.toSeconds() * QUEUE_VISIBILITY_FACTOR),
      deadLetterQueue: { queue: this.ingestDeadLetterQueue, maxReceiveCount: INGEST_MAX_RECEIVES },
    });
    // FIFO in high-throughput mode (deduplication and throughput per message group): the dispatcher sends
    // its own group and deduplication ids. A FIFO queue's DLQ must be FIFO too.
    const fifo = {
      fifo: true,
      deduplicationScope: sqs.DeduplicationScope.MESSAGE_GROUP,
      fifoThroughputLimit: sqs.FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
    };
    this.dispatchDeadLetterQueue = queue('DispatchDeadLetterQueue', {
      ...fifo,
      retentionPeriod: DLQ_RETENTION,
    });
    this.dispatchQueue = queue('DispatchQueue', {
      ...fifo,
      visibilityTimeout: Duration.seconds(TIMEOUTS.dispatch.toSeconds() * QUEUE_VISIBILITY_FACTOR),
      // Messages held back by an open circuit wait here: keep them as long as SQS allows.
      retentionPeriod: DLQ_RETENTION,
      // A backstop only: the dispatcher gives up after `dispatch.maxReceives` failed attempts, counted in the
      // delivery record (an open circuit makes messages come back without being attempted).
      deadLetterQueue: { queue: this.dispatchDeadLetterQueue, maxReceiveCount: DISPATCH_QUEUE_MAX_RECEIVES },
    });

    this.codeDeployTopic = new sns.Topic(this, 'CodeDeployTopic', { enforceSSL: true });
    this.codeDeployTopic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCodeDeployPublish',
        principals: [new iam.ServicePrincipal('codedeploy.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.codeDeployTopic.topicArn],
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
    );
    // rawMessageDelivery stays off: the ingest function parses the SNS envelope (Subject, Message, MessageId).
    this.codeDeployTopic.addSubscription(new subscriptions.SqsSubscription(this.ingestQueue));

    // Secrets: created with generated values so the stack works after deploy; overwrite with put-secret-value.
    const secretsScope = new Construct(this, 'Secrets');
    const secrets = new Map<string, secretsmanager.Secret>();
    for (const name of referencedSecrets(config)) {
      const secret = new secretsmanager.Secret(secretsScope, name.replaceAll('/', ':'), {
        secretName: `${this.secretPrefix}${name}`,
        description: `Shipcast secret "${name}" (replace the generated value with put-secret-value if needed)`,
        generateSecretString: { passwordLength: 48, excludePunctuation: true },
      });
      acknowledgeNag(
        secret,
        'SMG4',
        'Holds an API bearer token or a webhook signing key shared with a third party; rotating it needs the ' +
          'other side to change in step, so it is rotated by the operator (put-secret-value), not by a Lambda.',
      );
      secrets.set(name, secret);
    }
    this.secrets = secrets;

    const bundledConfig = JSON.stringify(config);
    const tableLogicalId = stack.getLogicalId(this.table.node.defaultChild as CfnElement);
    const fn = (name: ShipcastFunctionName) => {
      const functionId = `${name[0]!.toUpperCase()}${name.slice(1)}Function`;
      const logGroup = new logs.LogGroup(this, `${functionId}Logs`, {
        retention: logs.RetentionDays.ONE_MONTH,
      });
      // An own role instead of the default AWSLambdaBasicExecutionRole: log writes only to this log group.
      const role = new iam.Role(this, `${functionId}Role`, {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      });
      role.addToPolicy(
        new iam.PolicyStatement({
          actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          resources: [logGroup.logGroupArn],
        }),
      );
      const f = new NodejsFunction(this, functionId, {
        entry: fileURLToPath(new URL(`${name}.ts`, HANDLERS_DIR)),
        handler: 'handler',
        runtime: lambda.Runtime.NODEJS_22_X,
        architecture: lambda.Architecture.ARM_64,
        memorySize: props.memorySize?.[name] ?? DEFAULT_MEMORY[name],
        timeout: TIMEOUTS[name],
        role,
        logGroup,
        tracing: props.tracing ? lambda.Tracing.ACTIVE : lambda.Tracing.DISABLED,
        ...(existsSync(LOCK_FILE) ? { projectRoot: PACKAGE_ROOT, depsLockFilePath: LOCK_FILE } : {}),
        environment: {
          [ENV.table]: this.table.tableName,
          [ENV.dispatchQueueUrl]: this.dispatchQueue.queueUrl,
          [ENV.dispatchDlqUrl]: this.dispatchDeadLetterQueue.queueUrl,
          [ENV.secretPrefix]: this.secretPrefix,
          NODE_OPTIONS: '--enable-source-maps',
        },
        bundling: {
          minify: true,
          sourceMap: true,
          // Mappings only: the sources themselves would triple the asset and the cold-start parse.
          sourcesContent: false,
          format: OutputFormat.ESM,
          target: 'node22',
          mainFields: ['module', 'main'],
          banner: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
          define: {
            [`process.env.${ENV.configJson}`]: JSON.stringify(bundledConfig),
            // Generated here so the API bundle carries the document, not the generator (~30 KB minified).
            ...(name === 'api'
              ? { [`process.env.${ENV.openApi}`]: JSON.stringify(embedOpenApi(openApiDocument())) }
              : {}),
          },
          // Bundle the pinned AWS SDK versions instead of relying on the runtime's copy.
          externalModules: [],
        },
      });
      this.table.grantReadWriteData(f);
      acknowledgeNag(
        role,
        `IAM5[Resource::<${tableLogicalId}.Arn>/index/*]`,
        "grantReadWriteData also covers the table's GSIs (byServiceEnv, byService, byTime), which the functions query.",
      );
      if (props.tracing) {
        acknowledgeNag(
          role,
          'IAM5[Resource::*]',
          'X-Ray PutTraceSegments/PutTelemetryRecords do not support resource-level permissions.',
        );
      }
      acknowledgeNag(
        f,
        'L1',
        'Node.js 22 is the runtime Shipcast specifies and the esbuild target (node22) matches it; moving to a ' +
          'newer runtime is a deliberate change of runtime and target together, not an automatic one.',
      );
      this.alarms.push(
        new cloudwatch.Alarm(this, `${functionId}ErrorsAlarm`, {
          alarmDescription: `Shipcast ${name} function reported errors`,
          metric: f.metricErrors({ period: Duration.minutes(5), statistic: cloudwatch.Stats.SUM }),
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
      return f;
    };

    this.apiFunction = fn('api');
    this.ingestFunction = fn('ingest');
    this.dispatchFunction = fn('dispatch');

    this.apiUrl = this.apiFunction.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE });
    this.dispatchQueue.grantSendMessages(this.apiFunction);
    // Verified SNS HTTP(S) notifications are forwarded to the ingest queue (functions/core/sources/sns-http.ts).
    this.ingestQueue.grantSendMessages(this.apiFunction);
    this.apiFunction.addEnvironment(ENV.ingestQueueUrl, this.ingestQueue.queueUrl);

    this.ingestFunction.addEventSource(
      new SqsEventSource(this.ingestQueue, { batchSize: 10, reportBatchItemFailures: true }),
    );
    this.dispatchQueue.grantSendMessages(this.ingestFunction);
    this.ingestFunction.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['codedeploy:BatchGetDeployments', 'codedeploy:GetDeployment'],
        // Deployment IDs are not ARNs: these actions authorize against the deployment group ARN.
        resources: [
          stack.formatArn({
            service: 'codedeploy',
            resource: 'deploymentgroup',
            resourceName: '*',
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        ],
      }),
    );
    acknowledgeNag(
      this.ingestFunction.role!,
      'IAM5[Resource::arn:<AWS::Partition>:codedeploy:<AWS::Region>:<AWS::AccountId>:deploymentgroup:*]',
      'The ingest function enriches triggers from any deployment group of this account and region that ' +
        'publishes to the topic (codedeploy:BatchGetDeployments/GetDeployment authorize on the deployment group); ' +
        'the groups are configured outside this stack.',
    );

    this.dispatchFunction.addEventSource(
      new SqsEventSource(this.dispatchQueue, {
        batchSize: 10,
        reportBatchItemFailures: true,
        maxConcurrency: props.dispatchMaxConcurrency ?? DISPATCH_MAX_CONCURRENCY,
      }),
    );
    // The event source grants receive/delete/ChangeMessageVisibility on the dispatch queue.
    this.dispatchDeadLetterQueue.grantSendMessages(this.dispatchFunction);
    // The sweep of transitions whose enqueue was lost runs in the dispatcher on a schedule, and enqueues.
    new events.Rule(this, 'SweepSchedule', {
      description: 'Shipcast: enqueue deliveries of recorded transitions whose enqueue was lost',
      schedule: events.Schedule.rate(Duration.minutes(SWEEP_INTERVAL_MINUTES)),
      targets: [
        new eventsTargets.LambdaFunction(this.dispatchFunction, {
          event: events.RuleTargetInput.fromObject(SWEEP_EVENT),
        }),
      ],
    });
    this.dispatchQueue.grantSendMessages(this.dispatchFunction);

    // The API function checks API tokens and vendor webhook secrets.
    const tokenSecrets = new Set(config.api.tokens.map((token) => token.secret));
    if (config.sources.github) tokenSecrets.add(config.sources.github.secret);
    if (config.sources.gitlab) tokenSecrets.add(config.sources.gitlab.token);
    const targetSecrets = new Set(
      Object.values(config.targets).flatMap(
        (target) => targetDefinition(String(target.type))?.secretNames(target as never) ?? [],
      ),
    );
    for (const [name, secret] of secrets) {
      if (tokenSecrets.has(name)) secret.grantRead(this.apiFunction);
      if (targetSecrets.has(name)) secret.grantRead(this.dispatchFunction);
    }

    for (const [dlqId, dlq] of [
      ['IngestDeadLetterQueue', this.ingestDeadLetterQueue],
      ['DispatchDeadLetterQueue', this.dispatchDeadLetterQueue],
    ] as const) {
      this.alarms.push(
        new cloudwatch.Alarm(this, `${dlqId}DepthAlarm`, {
          alarmDescription: `Messages in the Shipcast ${dlqId} need attention`,
          metric: dlq.metricApproximateNumberOfMessagesVisible({
            period: Duration.minutes(5),
            statistic: cloudwatch.Stats.MAXIMUM,
          }),
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
    }
    if (props.alarmTopic) {
      const action = new cloudwatchActions.SnsAction(props.alarmTopic);
      for (const alarm of this.alarms) alarm.addAlarmAction(action);
    }
  }
}

/**
 * Acknowledges an AwsSolutions (cdk-nag) finding on `scope` and its children. The `AwsSolutions::` namespace makes
 * CDK record it as a suppressed violation with its reason in `validation-report.json`, an audit trail.
 */
function acknowledgeNag(scope: Construct, rule: string, reason: string): void {
  Validations.of(scope).acknowledge({ id: `AwsSolutions::AwsSolutions-${rule}`, reason });
}
