import { existsSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Annotations,
  ArnFormat,
  AssetStaging,
  type CfnElement,
  Duration,
  Names,
  RemovalPolicy,
  Stack,
  Validations,
} from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventsTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { type ICommandHooks, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type * as z from 'zod';
import { nonKeyAttributes, TABLE } from '../functions/adapters/aws/table.ts';
import { openApiDocument } from '../functions/core/api/openapi.ts';
import { OPTIONAL_ROUTES } from '../functions/core/api/optional-routes.ts';
import {
  type configSchema,
  DISPATCH_MAX_CONCURRENCY,
  DISPATCH_QUEUE_MAX_RECEIVES,
  FUNCTION_TIMEOUT_SECONDS,
  parseConfig,
  QUEUE_VISIBILITY_FACTOR,
  type ShipcastConfig,
} from '../functions/core/config.ts';
import { referencedSecrets } from '../functions/core/config-secrets.ts';
import { SWEEP_EVENT, SWEEP_INTERVAL_MINUTES } from '../functions/core/sweep.ts';
import type { EventBridgeConfig } from '../functions/core/targets/eventbridge.schema.ts';
import { eventBusArn } from '../functions/core/targets/eventbridge.ts';
import { TARGETS, targetDefinition } from '../functions/core/targets/index.ts';
import { targetModuleSpecifier } from '../functions/core/targets/loaders.ts';
import { DASHBOARD_FILE_NAMES } from '../functions/dashboard/files.ts';
import { ENV } from '../functions/handlers/env.ts';
import { embedOpenApi, OPENAPI_FILE_NAME } from '../functions/handlers/openapi-embedded.ts';
import { RARE_ROUTES_ENTRY, RARE_ROUTES_FILE_NAME } from '../functions/handlers/rare-routes-file.ts';
import { createAlarms, createDashboard, notifyTopic, type QueueAgeAlarmThresholds } from './monitoring.ts';
import {
  BUNDLE_BANNER,
  esbuildExecutable,
  rareRoutesEsbuildArgs,
  shellCommand,
} from './rare-routes-bundle.ts';

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
  /** Topic every alarm notifies (in alarm and back to OK); without it the alarms have no actions. */
  readonly alarmTopic?: sns.ITopic;
  /** Maximum concurrent dispatcher invocations from the dispatch queue (2-1000); default 5. */
  readonly dispatchMaxConcurrency?: number;
  /** Prefix of the Secrets Manager secret names; default `shipcast/<instanceName>/` (`shipcast/<stack name>/`). */
  readonly secretPrefix?: string;
  /** Enable X-Ray active tracing on the functions; default false. */
  readonly tracing?: boolean;
  /**
   * Reserved concurrency of the API function (its function URL is public, auth NONE): a flood of requests is
   * throttled (429) at this many concurrent invocations instead of starving the account's other functions,
   * Shipcast's ingest and dispatch included. Default 20; `false` reserves none (for accounts whose
   * concurrency quota cannot spare it: Lambda keeps 100 unreserved).
   */
  readonly apiReservedConcurrency?: number | false;
  /** Retention of the functions' log groups; default one month. */
  readonly logRetention?: logs.RetentionDays;
  /** What a stack deletion (or a replacement) does to the table: RETAIN (default) or DESTROY. */
  readonly tableRemovalPolicy?: RemovalPolicy;
  /** DynamoDB deletion protection on the table; default true unless `tableRemovalPolicy` is DESTROY. */
  readonly tableDeletionProtection?: boolean;
  /**
   * What a stack deletion does to the secrets: RETAIN (default: their values survive; delete them yourself
   * before re-creating a stack of the same name, their names are fixed) or DESTROY.
   */
  readonly secretsRemovalPolicy?: RemovalPolicy;
  /** Lambda runtime of the functions: Node.js 22 (default) or Node.js 24; the bundles target the same version. */
  readonly runtime?: lambda.Runtime;
  /**
   * Customer-managed KMS key for the CodeDeploy topic, every queue and the table; default AWS-owned/managed
   * encryption (SSE-SQS, SNS without SSE, DynamoDB owned key). The construct adds the key-policy statements
   * SNS and CodeDeploy need to a key of this app; an imported key needs them added by hand (see
   * docs/deploy-aws.md).
   */
  readonly encryptionKey?: kms.IKey;
  /** Age of the oldest queued message that fires a queue's age alarm; defaults: ingest 15 min, dispatch 6 h. */
  readonly queueAgeAlarms?: QueueAgeAlarmThresholds;
  /**
   * CodeDeploy's EventBridge events of this account and region onto the ingest queue: every deployment group
   * is reported without a trigger. Default: on, deployment state changes only; `{ instanceEvents: true }`
   * adds instance state changes (two per instance per deployment); `false` turns the rule off.
   */
  readonly codeDeployEvents?: false | { readonly instanceEvents?: boolean };
  /**
   * Lets every account of this AWS organization (`o-…`) deliver CodeDeploy events: an event bus whose policy
   * allows `events:PutEvents` to the organization's principals (condition `aws:PrincipalOrgID`), a rule on it
   * onto the ingest queue, and the same condition on the topic's `sns:Publish`. Member accounts deploy
   * `ShipcastMemberStack` (docs/organizations.md). Default: none, this account only.
   */
  readonly organizationId?: string;
  /**
   * Let the API function stop CodeDeploy deployments of this account (`codedeploy:StopDeployment` on its
   * deployment groups) for Slack's Stop buttons. Default: on exactly when a Slack target has `actions`;
   * `false` leaves the buttons' clicks refused (recorded, nothing called).
   */
  readonly stopDeployments?: boolean;
}

/** A prop of the `Shipcast` construct has a value it cannot work with; the message names the prop. */
export class ShipcastPropsError extends Error {
  constructor(prop: string, problem: string) {
    super(`Shipcast construct props.${prop}: ${problem}`);
    this.name = 'ShipcastPropsError';
  }
}

/**
 * The package root: this file runs from `lib/` in the repository (through tsx) and from `dist/lib/` when
 * installed as a package. The handlers are bundled from the TypeScript sources under `functions/`, which the
 * package ships.
 */
const PACKAGE_ROOT_URL = new URL(
  existsSync(new URL('../package.json', import.meta.url)) ? '../' : '../../',
  import.meta.url,
);
const HANDLERS_DIR = new URL('functions/handlers/', PACKAGE_ROOT_URL);
const DASHBOARD_DIR = new URL('functions/dashboard/', PACKAGE_ROOT_URL);
const PACKAGE_ROOT = fileURLToPath(PACKAGE_ROOT_URL);
/** Only in the repository: an installed package bundles with the lock file of the app that installed it. */
const LOCK_FILE = fileURLToPath(new URL('package-lock.json', PACKAGE_ROOT_URL));

const TIMEOUTS: Record<ShipcastFunctionName, Duration> = {
  api: Duration.seconds(FUNCTION_TIMEOUT_SECONDS.api),
  ingest: Duration.seconds(FUNCTION_TIMEOUT_SECONDS.ingest),
  dispatch: Duration.seconds(FUNCTION_TIMEOUT_SECONDS.dispatch),
};
const DEFAULT_MEMORY: Record<ShipcastFunctionName, number> = { api: 512, ingest: 256, dispatch: 256 };
/** Default reserved concurrency of the public API function. */
const DEFAULT_API_RESERVED_CONCURRENCY = 20;
/** The runtimes Shipcast supports, with the esbuild target of each. */
const RUNTIME_TARGETS: Record<string, string> = { 'nodejs22.x': 'node22', 'nodejs24.x': 'node24' };
const REMOVAL_POLICIES = [
  RemovalPolicy.RETAIN,
  RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
  RemovalPolicy.DESTROY,
];
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
  /** The rule that brings CodeDeploy's EventBridge events to `ingestQueue` (absent with `codeDeployEvents: false`). */
  readonly codeDeployEventsRule?: events.Rule;
  /** With `organizationId`: the bus member accounts forward their CodeDeploy events to. */
  readonly organizationEventBus?: events.EventBus;
  /** With `organizationId`: the rule that brings the organization bus's CodeDeploy events to `ingestQueue`. */
  readonly organizationEventsRule?: events.Rule;
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
  /** Dead-letter queue of the topic's subscription: what SNS could not deliver to `ingestQueue`. */
  readonly subscriptionDeadLetterQueue: sqs.Queue;
  /**
   * Names this deployment among others in the account: `<stack name>` for a construct with id `Shipcast`
   * directly in its stack, else `<stack name>/<construct path in the stack>`. It is in the secret prefix
   * and the `service` dimension of the metrics, so two deployments never share either.
   */
  readonly instanceName: string;
  /** Every alarm the construct creates. */
  readonly alarms: cloudwatch.Alarm[] = [];
  /** The CloudWatch dashboard: functions, queues, DLQs, deliveries, retries and circuits by target. */
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: ShipcastProps) {
    // Validated before super() so a bad config leaves nothing behind in the construct tree.
    const config = parseConfig(props.config, 'Shipcast construct props.config');
    const runtime = props.runtime ?? lambda.Runtime.NODEJS_22_X;
    validateProps(props, runtime);
    super(scope, id);
    this.config = config;
    const stack = Stack.of(this);
    const interactiveSlack = Object.values(config.targets).filter(
      (t) => t.type === 'slack' && (t as { actions?: unknown }).actions,
    ) as { token?: string; actions: { signingSecret: string } }[];
    const stopDeployments = props.stopDeployments ?? interactiveSlack.length > 0;
    this.instanceName = instanceName(this);
    this.secretPrefix = props.secretPrefix ?? `shipcast/${this.instanceName}/`;
    const encryptionKey = props.encryptionKey;
    const tableRemovalPolicy = props.tableRemovalPolicy ?? RemovalPolicy.RETAIN;

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: TABLE.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: TABLE.sortKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: TABLE.ttlAttribute,
      removalPolicy: tableRemovalPolicy,
      deletionProtection: props.tableDeletionProtection ?? tableRemovalPolicy !== RemovalPolicy.DESTROY,
      ...(encryptionKey ? { encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED, encryptionKey } : {}),
    });
    for (const index of TABLE.indexes) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: { name: index.partitionKey, type: dynamodb.AttributeType.STRING },
        sortKey: { name: index.sortKey, type: dynamodb.AttributeType.STRING },
        projectionType: dynamodb.ProjectionType[index.projection],
        nonKeyAttributes: nonKeyAttributes(index) ? [...(nonKeyAttributes(index) ?? [])] : undefined,
      });
    }

    // Queues: SSE-SQS unless a customer-managed key is given (SNS then needs the key: see the key policy below).
    const queue = (queueId: string, queueProps: sqs.QueueProps) =>
      new sqs.Queue(this, queueId, {
        ...(encryptionKey
          ? { encryption: sqs.QueueEncryption.KMS, encryptionMasterKey: encryptionKey }
          : { encryption: sqs.QueueEncryption.SQS_MANAGED }),
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

    // What SNS cannot deliver to the ingest queue (a key or queue policy gone wrong) is kept here, not dropped.
    // SNS subscription DLQs must be standard queues (docs.aws.amazon.com/sns/latest/dg/sns-dead-letter-queues.html).
    this.subscriptionDeadLetterQueue = queue('SubscriptionDeadLetterQueue', {
      retentionPeriod: DLQ_RETENTION,
    });
    acknowledgeNag(
      this.subscriptionDeadLetterQueue,
      'SQS3',
      "This queue is the dead-letter queue of the CodeDeploy topic's SQS subscription (the subscription's " +
        'RedrivePolicy, which cdk-nag does not follow); its depth is alarmed.',
    );
    this.codeDeployTopic = new sns.Topic(this, 'CodeDeployTopic', {
      enforceSSL: true,
      masterKey: encryptionKey,
    });
    this.codeDeployTopic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCodeDeployPublish',
        principals: [new iam.ServicePrincipal('codedeploy.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.codeDeployTopic.topicArn],
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
    );
    if (encryptionKey) {
      // CodeDeploy publishes to an encrypted topic only with the key (docs.aws.amazon.com/sns/latest/dg/sns-key-management.html).
      const { statementAdded } = encryptionKey.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'AllowCodeDeployToUseTheKeyOfShipcastTopic',
          principals: [new iam.ServicePrincipal('codedeploy.amazonaws.com')],
          actions: ['kms:GenerateDataKey*', 'kms:Decrypt'],
          resources: ['*'],
          conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
        }),
      );
      // SNS writes to the encrypted queues with the key. Conditioned on this account's topics, not on the
      // topic's ARN: the topic is encrypted with the same key, so naming it here would be a dependency cycle.
      const snsStatement = encryptionKey.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'AllowSnsToWriteToShipcastQueues',
          principals: [new iam.ServicePrincipal('sns.amazonaws.com')],
          actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
          resources: ['*'],
          conditions: {
            ArnLike: {
              'aws:SourceArn': stack.formatArn({
                service: 'sns',
                resource: '*',
                arnFormat: ArnFormat.NO_RESOURCE_NAME,
              }),
            },
          },
        }),
      );
      if (!statementAdded || !snsStatement.statementAdded) {
        Annotations.of(this).addWarningV2(
          'shipcast:importedKeyPolicy',
          'props.encryptionKey is imported: add to its key policy kms:GenerateDataKey* and kms:Decrypt for ' +
            'codedeploy.amazonaws.com and sns.amazonaws.com (see docs/deploy-aws.md), or CodeDeploy triggers are lost.',
        );
      }
    }
    // rawMessageDelivery stays off: the ingest function parses the SNS envelope (Subject, Message, MessageId).
    this.codeDeployTopic.addSubscription(
      new QueueSubscription(this.ingestQueue, this.subscriptionDeadLetterQueue),
    );
    if (props.codeDeployEvents !== false) {
      // The event itself becomes the message body; ingest reads it as the trigger message it corresponds to.
      this.codeDeployEventsRule = new events.Rule(this, 'CodeDeployEvents', {
        description: "CodeDeploy's deployment state changes to Shipcast's ingest queue",
        eventPattern: {
          source: ['aws.codedeploy'],
          detailType: [
            'CodeDeploy Deployment State-change Notification',
            ...(props.codeDeployEvents?.instanceEvents
              ? ['CodeDeploy Instance State-change Notification']
              : []),
          ],
        },
        targets: [
          new eventsTargets.SqsQueue(this.ingestQueue, { deadLetterQueue: this.subscriptionDeadLetterQueue }),
        ],
      });
      if (encryptionKey) {
        encryptionKey.addToResourcePolicy(
          new iam.PolicyStatement({
            sid: 'AllowEventBridgeToWriteToShipcastQueues',
            principals: [new iam.ServicePrincipal('events.amazonaws.com')],
            actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
            resources: ['*'],
            conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
          }),
        );
      }
    }

    if (props.organizationId) {
      const organization = { StringEquals: { 'aws:PrincipalOrgID': props.organizationId } };
      // Member accounts' CodeDeploy triggers publish with their service role: principals of the organization only.
      this.codeDeployTopic.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'AllowOrganizationPublish',
          principals: [new iam.AnyPrincipal()],
          actions: ['sns:Publish'],
          resources: [this.codeDeployTopic.topicArn],
          conditions: organization,
        }),
      );
      // A bus of its own (not the default bus, whose policy the account shares with everything else). Member
      // accounts' rules forward CodeDeploy's events here unchanged (source aws.codedeploy, their own account
      // and region); PutEvents itself refuses `aws.*` sources, so nothing else matches the rule below.
      this.organizationEventBus = new events.EventBus(this, 'OrganizationEventBus', {
        description: "Shipcast: CodeDeploy events forwarded by the organization's accounts",
      });
      this.organizationEventBus.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'AllowOrganizationPutEvents',
          principals: [new iam.AnyPrincipal()],
          actions: ['events:PutEvents'],
          resources: [this.organizationEventBus.eventBusArn],
          conditions: organization,
        }),
      );
      this.organizationEventsRule = new events.Rule(this, 'OrganizationCodeDeployEvents', {
        description: "CodeDeploy state changes of the organization's accounts to Shipcast's ingest queue",
        eventBus: this.organizationEventBus,
        eventPattern: {
          source: ['aws.codedeploy'],
          detailType: [
            'CodeDeploy Deployment State-change Notification',
            'CodeDeploy Instance State-change Notification',
          ],
        },
        targets: [
          new eventsTargets.SqsQueue(this.ingestQueue, { deadLetterQueue: this.subscriptionDeadLetterQueue }),
        ],
      });
      if (encryptionKey) {
        // Member accounts' triggers publish to the encrypted topic with the key, through SNS only.
        encryptionKey.addToResourcePolicy(
          new iam.PolicyStatement({
            sid: 'AllowOrganizationToPublishToShipcastTopic',
            principals: [new iam.AnyPrincipal()],
            actions: ['kms:GenerateDataKey*', 'kms:Decrypt'],
            resources: ['*'],
            conditions: {
              ...organization,
              StringLike: { 'kms:ViaService': `sns.${stack.region}.${stack.urlSuffix}` },
            },
          }),
        );
        // The organization rule writes to the encrypted queue with the key too (the statement the
        // account's own rule adds, unless that rule is off).
        if (props.codeDeployEvents === false)
          encryptionKey.addToResourcePolicy(
            new iam.PolicyStatement({
              sid: 'AllowEventBridgeToWriteToShipcastQueues',
              principals: [new iam.ServicePrincipal('events.amazonaws.com')],
              actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
              resources: ['*'],
              conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
            }),
          );
      }
    }

    // Secrets: created with generated values so the stack works after deploy; overwrite with put-secret-value.
    const secretsScope = new Construct(this, 'Secrets');
    const secrets = new Map<string, secretsmanager.Secret>();
    for (const name of referencedSecrets(config)) {
      const secret = new secretsmanager.Secret(secretsScope, name.replaceAll('/', ':'), {
        secretName: `${this.secretPrefix}${name}`,
        description: `Shipcast secret "${name}" (replace the generated value with put-secret-value if needed)`,
        generateSecretString: { passwordLength: 48, excludePunctuation: true },
        removalPolicy: props.secretsRemovalPolicy ?? RemovalPolicy.RETAIN,
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

    const apiReservedConcurrency =
      props.apiReservedConcurrency === false
        ? undefined
        : (props.apiReservedConcurrency ?? DEFAULT_API_RESERVED_CONCURRENCY);
    const metricsService = `shipcast/${this.instanceName}`;
    const bundledConfig = JSON.stringify(config);
    const tableLogicalId = stack.getLogicalId(this.table.node.defaultChild as CfnElement);
    const fn = (name: ShipcastFunctionName) => {
      const functionId = `${name[0]!.toUpperCase()}${name.slice(1)}Function`;
      const logGroup = new logs.LogGroup(this, `${functionId}Logs`, {
        retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
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
        runtime,
        architecture: lambda.Architecture.ARM_64,
        memorySize: props.memorySize?.[name] ?? DEFAULT_MEMORY[name],
        timeout: TIMEOUTS[name],
        role,
        logGroup,
        tracing: props.tracing ? lambda.Tracing.ACTIVE : lambda.Tracing.DISABLED,
        reservedConcurrentExecutions: name === 'api' ? apiReservedConcurrency : undefined,
        ...(existsSync(LOCK_FILE) ? { projectRoot: PACKAGE_ROOT, depsLockFilePath: LOCK_FILE } : {}),
        environment: {
          [ENV.table]: this.table.tableName,
          [ENV.dispatchQueueUrl]: this.dispatchQueue.queueUrl,
          [ENV.dispatchDlqUrl]: this.dispatchDeadLetterQueue.queueUrl,
          [ENV.secretPrefix]: this.secretPrefix,
          [ENV.metricsService]: metricsService,
          NODE_OPTIONS: '--enable-source-maps',
        },
        bundling: {
          minify: true,
          sourceMap: true,
          // Mappings only: the sources themselves would triple the asset and the cold-start parse.
          sourcesContent: false,
          format: OutputFormat.ESM,
          target: RUNTIME_TARGETS[runtime.name],
          mainFields: ['module', 'main'],
          banner: BUNDLE_BANNER,
          define: { [`process.env.${ENV.configJson}`]: JSON.stringify(bundledConfig) },
          // Bundle the pinned AWS SDK versions instead of relying on the runtime's copy. Libraries targets load on
          // first use are bundled only into the dispatcher, and only when a configured target needs them.
          externalModules: [
            ...unusedLazyModules(config, name),
            ...unusedOptionalModules(config, name),
            // The API loads CodeDeploy's client only to stop deployments (codedeploy-operations.ts).
            ...(name === 'api' && !stopDeployments ? ['@aws-sdk/client-codedeploy'] : []),
          ],
          // The web dashboard's files and the OpenAPI document (generated here, so the API carries neither it nor
          // its generator) go next to the API bundle, not into it: read on the first request for them, they add
          // nothing to the bundle or its cold start (docs/performance.md). So do the API's rare routes, built into a
          // file of their own there and loaded on the first request to one of them.
          ...(name === 'api' ? { commandHooks: apiAssetFiles(RUNTIME_TARGETS[runtime.name]!) } : {}),
        },
      });
      this.table.grantReadWriteData(f);
      acknowledgeNag(
        role,
        `IAM5[Resource::<${tableLogicalId}.Arn>/index/*]`,
        "grantReadWriteData also covers the table's GSIs (byServiceEnv, byService, byTime), which the functions query.",
      );
      if (encryptionKey) {
        for (const action of ['kms:GenerateDataKey*', 'kms:ReEncrypt*']) {
          acknowledgeNag(
            role,
            `IAM5[Action::${action}]`,
            "CDK's grants for the queues and table encrypted with props.encryptionKey: on that one key only, " +
              'the wildcard covering the variants of the action KMS checks for SQS and DynamoDB encryption.',
          );
        }
      }
      if (props.tracing) {
        acknowledgeNag(
          role,
          'IAM5[Resource::*]',
          'X-Ray PutTraceSegments/PutTelemetryRecords do not support resource-level permissions.',
        );
      }
      const runtimeReason =
        'The runtime is the `runtime` prop (Node.js 22 by default, 24 allowed) and the esbuild target matches ' +
        'it; moving to a newer runtime is a deliberate change of runtime and target together, not an automatic one.';
      acknowledgeNag(f, 'L1', runtimeReason);
      acknowledgeServerlessNag(f, 'LambdaLatestVersion', runtimeReason);
      acknowledgeServerlessNag(
        f,
        'LambdaDLQ',
        name === 'api'
          ? 'The API function is invoked synchronously through its function URL only: the caller gets the error.'
          : `The ${name} function is invoked only by its SQS event source; a failed message returns to its queue ` +
              "and ends in that queue's dead-letter queue (redrive policy), which is alarmed.",
      );
      if (!props.tracing) {
        acknowledgeServerlessNag(
          f,
          'LambdaTracing',
          'X-Ray tracing is opt-in (`tracing` prop) because it adds cost per request; every log line already ' +
            'carries the deployment, event and queue message ids that tie a request to its deliveries.',
        );
      }
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
    // Enrichment of other accounts' deployments reads them with the role their member stack made
    // (functions/handlers/enrichers.ts); that role's trust policy names this function's role.
    this.ingestFunction.addEnvironment(ENV.account, stack.account);
    this.ingestFunction.addEnvironment(ENV.partition, stack.partition);
    const memberRoles = Object.values(config.sources.codedeploy.memberRoles ?? {});
    if (memberRoles.length > 0) {
      // Named one by one in the config: any account's, in the organization or not.
      this.ingestFunction.addToRolePolicy(
        new iam.PolicyStatement({ actions: ['sts:AssumeRole'], resources: memberRoles }),
      );
    }
    if (props.organizationId) {
      const conventional = `arn:${stack.partition}:iam::*:role/${config.sources.codedeploy.memberRoleName}`;
      // The role of that name in any account, but only an account of the organization: a role of the same
      // name that someone outside made to trust this function cannot be assumed.
      this.ingestFunction.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['sts:AssumeRole'],
          resources: [conventional],
          conditions: { StringEquals: { 'aws:ResourceOrgID': props.organizationId } },
        }),
      );
      acknowledgeNag(
        this.ingestFunction.role!,
        `IAM5[Resource::arn:<AWS::Partition>:iam::*:role/${config.sources.codedeploy.memberRoleName}]`,
        "Enrichment assumes the read-only role of the same name that each member account's Shipcast stack " +
          'creates; the accounts join the organization over time, and each role trusts only this function.',
      );
    }
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
    const sweepSchedule = new events.Rule(this, 'SweepSchedule', {
      description: 'Shipcast: enqueue deliveries of recorded transitions whose enqueue was lost',
      schedule: events.Schedule.rate(Duration.minutes(SWEEP_INTERVAL_MINUTES)),
      targets: [
        new eventsTargets.LambdaFunction(this.dispatchFunction, {
          event: events.RuleTargetInput.fromObject(SWEEP_EVENT),
        }),
      ],
    });
    acknowledgeServerlessNag(
      sweepSchedule,
      'EventBusDLQ',
      'The schedule only starts the sweep, which resumes from its stored position: an invocation EventBridge ' +
        'could not deliver is made up by the next one five minutes later, so there is nothing to dead-letter.',
    );
    this.dispatchQueue.grantSendMessages(this.dispatchFunction);
    // Each eventbridge target: PutEvents on its own bus only (a bus of another account needs its policy too).
    for (const target of Object.values(config.targets)) {
      if (target.type !== 'eventbridge') continue;
      const own = { partition: stack.partition, region: stack.region, account: stack.account };
      this.dispatchFunction.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['events:PutEvents'],
          resources: [eventBusArn((target as EventBridgeConfig).bus, own)],
        }),
      );
    }

    // The API function checks API tokens and vendor webhook secrets.
    const tokenSecrets = new Set(config.api.tokens.map((token) => token.secret));
    if (config.sources.github) tokenSecrets.add(config.sources.github.secret);
    if (config.sources.gitlab) tokenSecrets.add(config.sources.gitlab.token);
    if (config.sources.pagerduty) tokenSecrets.add(config.sources.pagerduty.secret);
    const targetSecrets = new Set(
      Object.values(config.targets).flatMap(
        (target) => targetDefinition(String(target.type))?.secretNames(target as never) ?? [],
      ),
    );
    // Slack's interaction requests: the signing secret verifies them, the bot token reads user groups.
    const signingSecrets = new Set(interactiveSlack.map((t) => t.actions.signingSecret));
    for (const t of interactiveSlack) if (t.token) tokenSecrets.add(t.token);
    for (const [name, secret] of secrets) {
      if (tokenSecrets.has(name) || signingSecrets.has(name)) secret.grantRead(this.apiFunction);
      if (targetSecrets.has(name)) secret.grantRead(this.dispatchFunction);
    }
    if (stopDeployments) {
      // Stops from Slack and the API: StopDeployment on this account's deployment groups, nothing more
      // (CodeDeploy authorizes StopDeployment on the deployment group of the deployment).
      this.apiFunction.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['codedeploy:StopDeployment'],
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
      this.apiFunction.addEnvironment(ENV.stopAccount, stack.account);
      acknowledgeNag(
        this.apiFunction.role as iam.Role,
        'IAM5[Resource::arn:<AWS::Partition>:codedeploy:<AWS::Region>:<AWS::AccountId>:deploymentgroup:*]',
        'StopDeployment is authorized on the deployment group of the deployment; an operator may stop a deployment of any group of this account (docs/security.md).',
      );
    }
    // AWS APIs a target calls (the email target's SES identity), on exactly the resources its config names.
    for (const target of Object.values(config.targets)) {
      for (const grant of targetDefinition(String(target.type))?.awsPermissions?.(target as never) ?? []) {
        this.dispatchFunction.addToRolePolicy(
          new iam.PolicyStatement({
            actions: grant.actions,
            resources: grant.resources.map((r) =>
              stack.formatArn({ ...r, arnFormat: ArnFormat.SLASH_RESOURCE_NAME }),
            ),
          }),
        );
      }
    }

    for (const [dlq, reason] of [
      [this.ingestDeadLetterQueue, 'the ingest queue'],
      [this.dispatchDeadLetterQueue, 'the dispatch queue'],
      [this.subscriptionDeadLetterQueue, "the CodeDeploy topic's SQS subscription"],
    ] as const) {
      acknowledgeServerlessNag(
        dlq,
        'SQSRedrivePolicy',
        `This queue is the dead-letter queue of ${reason}: its messages are redriven by an operator ` +
          '(docs/deploy-aws.md), never dead-lettered again; its depth is alarmed.',
      );
    }
    for (const mapping of [this.ingestFunction, this.dispatchFunction]) {
      acknowledgeServerlessNag(
        mapping,
        'LambdaEventSourceMappingDestination',
        'SQS event sources take no on-failure destination (only stream and Kafka sources do): a failed ' +
          "message returns to its queue and ends in that queue's dead-letter queue, which is alarmed.",
      );
    }

    const monitored = {
      functions: { api: this.apiFunction, ingest: this.ingestFunction, dispatch: this.dispatchFunction },
      queues: { ingest: this.ingestQueue, dispatch: this.dispatchQueue },
      deadLetterQueues: {
        ingest: this.ingestDeadLetterQueue,
        dispatch: this.dispatchDeadLetterQueue,
        subscription: this.subscriptionDeadLetterQueue,
      },
      metricsService,
      targets: Object.keys(config.targets),
      queueAgeThresholds: props.queueAgeAlarms,
    };
    this.alarms.push(...createAlarms(this, monitored));
    // Last: every alarm made so far notifies the topic and shows on the dashboard.
    notifyTopic(this.alarms, props.alarmTopic);
    this.dashboard = createDashboard(this, monitored, this.alarms);
  }
}

/** The libraries targets load on first use that `name`'s bundle can leave out: all but the dispatcher's needed ones. */
export function unusedLazyModules(config: ShipcastConfig, name: string): string[] {
  const needed = new Set(
    name === 'dispatch'
      ? Object.values(config.targets).flatMap(
          (target) => targetDefinition(String(target.type))?.lazyModules?.needed(target as never) ?? [],
        )
      : [],
  );
  return [...new Set(TARGETS.flatMap((t) => t.lazyModules?.all ?? []))].filter((m) => !needed.has(m));
}

/**
 * Shipcast's own modules that `name`'s bundle can leave out because the config does not use them, as their
 * lazy `import()` specifiers: the API's routes the config turns off (api/optional-routes.ts), the dispatcher's
 * unconfigured target types (targets/loaders.ts).
 */
export function unusedOptionalModules(config: ShipcastConfig, name: string): string[] {
  if (name === 'api')
    return OPTIONAL_ROUTES.filter((route) => !route.enabled(config)).map((route) => route.module);
  if (name !== 'dispatch') return [];
  const configured = new Set(Object.values(config.targets).map((target) => String(target.type)));
  return TARGETS.filter((target) => !configured.has(target.type)).map((target) =>
    targetModuleSpecifier(target.type),
  );
}

/**
 * `SqsSubscription` (same queue policy, same construct path) without its key-policy statement, which names
 * the topic's ARN: with a topic encrypted by the queue's key that is a dependency cycle. The construct adds
 * the key statement itself.
 */
class QueueSubscription implements sns.ITopicSubscription {
  constructor(
    private readonly queue: sqs.Queue,
    private readonly deadLetterQueue: sqs.Queue,
  ) {}

  bind(topic: sns.ITopic): sns.TopicSubscriptionConfig {
    const { policyDependable } = this.queue.addToResourcePolicy(
      new iam.PolicyStatement({
        resources: [this.queue.queueArn],
        actions: ['sqs:SendMessage'],
        principals: [new iam.ServicePrincipal('sns.amazonaws.com')],
        conditions: { ArnEquals: { 'aws:SourceArn': topic.topicArn } },
      }),
    );
    return {
      subscriberScope: this.queue,
      subscriberId: Names.nodeUniqueId(topic.node),
      endpoint: this.queue.queueArn,
      protocol: sns.SubscriptionProtocol.SQS,
      deadLetterQueue: this.deadLetterQueue,
      subscriptionDependency: policyDependable,
    };
  }
}

/** Fails fast, naming the prop, on values the construct cannot deploy. */
/**
 * Bundling hooks that copy the web dashboard's files into the API function's asset, as `dashboard/`, write
 * its OpenAPI document there (`embedOpenApi`: base64, safe in a single-quoted shell word), and build its rare
 * routes into `rare-routes.mjs` there with esbuild (`target`: the runtime's).
 */
function apiAssetFiles(target: string): ICommandHooks {
  const source = fileURLToPath(DASHBOARD_DIR);
  const openApi = embedOpenApi(openApiDocument());
  return {
    beforeBundling: () => [],
    beforeInstall: () => [],
    afterBundling: (inputDir, outputDir) => {
      // inputDir is the project root (mounted at /asset-input when bundling in Docker); it holds the
      // dashboard when this package is the project, and local bundling can read the files where they are.
      const from = existsSync(LOCK_FILE) ? `${inputDir}/${relative(PACKAGE_ROOT, source)}` : source;
      const files = DASHBOARD_FILE_NAMES.map((name) => `"${from}/${name}"`).join(' ');
      const rareRoutes = existsSync(LOCK_FILE)
        ? `${inputDir}/${RARE_ROUTES_ENTRY}`
        : fileURLToPath(new URL(RARE_ROUTES_ENTRY, PACKAGE_ROOT_URL));
      // The Docker image has esbuild on its PATH; local bundling runs the one installed with this package.
      const esbuild = inputDir === AssetStaging.BUNDLING_INPUT_DIR ? 'esbuild' : esbuildExecutable();
      return [
        shellCommand([
          esbuild,
          ...rareRoutesEsbuildArgs(rareRoutes, `${outputDir}/${RARE_ROUTES_FILE_NAME}`, target),
        ]),
        `mkdir -p "${outputDir}/dashboard"`,
        `cp ${files} "${outputDir}/dashboard/"`,
        `printf '%s' '${openApi}' > "${outputDir}/${OPENAPI_FILE_NAME}"`,
      ];
    },
  };
}

function validateProps(props: ShipcastProps, runtime: lambda.Runtime): void {
  if (props.organizationId !== undefined && !/^o-[a-z0-9]{10,32}$/.test(props.organizationId)) {
    throw new ShipcastPropsError(
      'organizationId',
      `"${props.organizationId}" is not an AWS Organizations id; expected o- and 10-32 lower-case letters or ` +
        'digits (aws organizations describe-organization --query Organization.Id)',
    );
  }
  const concurrency = props.apiReservedConcurrency;
  if (
    concurrency !== undefined &&
    concurrency !== false &&
    !(Number.isInteger(concurrency) && concurrency >= 1)
  ) {
    throw new ShipcastPropsError(
      'apiReservedConcurrency',
      `must be a whole number of at least 1, or false to reserve none (got ${String(concurrency)}); ` +
        '0 would make Lambda refuse every request',
    );
  }
  if (!Object.hasOwn(RUNTIME_TARGETS, runtime.name)) {
    throw new ShipcastPropsError(
      'runtime',
      `${runtime.name} is not supported; use lambda.Runtime.NODEJS_22_X (default) or lambda.Runtime.NODEJS_24_X`,
    );
  }
  for (const prop of ['tableRemovalPolicy', 'secretsRemovalPolicy'] as const) {
    const policy = props[prop];
    if (policy !== undefined && !REMOVAL_POLICIES.includes(policy)) {
      throw new ShipcastPropsError(
        prop,
        `${policy} is not supported; use RemovalPolicy.RETAIN (default), RETAIN_ON_UPDATE_OR_DELETE or DESTROY`,
      );
    }
  }
}

/** `<stack name>` for the construct `Shipcast` directly in its stack, else `<stack name>/<path in the stack>`. */
function instanceName(construct: Construct): string {
  const stack = Stack.of(construct);
  const path = construct.node.scopes
    .slice(construct.node.scopes.indexOf(stack) + 1)
    .map((scope) => scope.node.id)
    .join('/');
  return path === 'Shipcast' ? stack.stackName : `${stack.stackName}/${path}`;
}

/**
 * Acknowledges an AwsSolutions (cdk-nag) finding on `scope` and its children. The `AwsSolutions::` namespace makes
 * CDK record it as a suppressed violation with its reason in `validation-report.json`, an audit trail.
 */
function acknowledgeNag(scope: Construct, rule: string, reason: string): void {
  Validations.of(scope).acknowledge({ id: `AwsSolutions::AwsSolutions-${rule}`, reason });
}

/** Acknowledges a cdk-nag Serverless finding on `scope` and its children, like `acknowledgeNag`. */
function acknowledgeServerlessNag(scope: Construct, rule: string, reason: string): void {
  Validations.of(scope).acknowledge({ id: `Serverless::Serverless-${rule}`, reason });
}
