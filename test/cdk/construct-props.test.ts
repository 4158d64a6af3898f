/**
 * The `Shipcast` construct's props and its use in other people's accounts: several deployments in one
 * account and region, a customer-managed key, retention and removal choices. Bundling is skipped
 * (`aws:cdk:bundling-stacks: []`): these tests read the template only; test/cdk/shipcast.test.ts and
 * bundles.test.ts cover the bundles.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { ENV } from '../../functions/handlers/env.ts';
import {
  Shipcast,
  type ShipcastConfigInput,
  type ShipcastProps,
  ShipcastPropsError,
  ShipcastStack,
} from '../../lib/index.ts';

const CONFIG = {
  api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
  targets: {
    console: { type: 'log' },
    audit: { type: 'webhook', url: 'https://hooks.example.com/shipcast', secret: 'webhook-secret' },
  },
  routes: [{ targets: ['console', 'audit'] }],
} satisfies ShipcastConfigInput;

type Resource = {
  Type: string;
  // biome-ignore lint/suspicious/noExplicitAny: synthesized CloudFormation JSON, checked by the assertions
  Properties: Record<string, any>;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
};

/** An app with cdk.json's feature flags that synthesizes templates without bundling the functions. */
function newApp(): App {
  const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8'));
  return new App({
    context: {
      ...cdkJson.context,
      'aws:cdk:bundling-stacks': [],
      '@aws-cdk/core:failSynthOnValidationErrors': false,
    },
  });
}

/** The resources of a stack holding one `Shipcast` with `props` (and CONFIG). */
function synth(
  props: Omit<ShipcastProps, 'config'> = {},
  addToStack?: (stack: Stack) => Partial<ShipcastProps>,
) {
  const app = newApp();
  const stack = new Stack(app, 'Props');
  const more = addToStack?.(stack) ?? {};
  new Shipcast(stack, 'Shipcast', { config: CONFIG, ...props, ...more });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
  const assembly = app.synth();
  const template = Template.fromStack(stack);
  const resources = template.toJSON().Resources as Record<string, Resource>;
  const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
  return { template, resources, ofType, unacknowledged: () => unacknowledged(assembly.directory) };
}

/** cdk-nag findings (AwsSolutions and Serverless) not acknowledged with a reason, from validation-report.json. */
function unacknowledged(assemblyDir: string): string[] {
  const report = JSON.parse(readFileSync(join(assemblyDir, 'validation-report.json'), 'utf8')) as {
    pluginReports: { pluginName: string; violations: { ruleName: string }[] }[];
  };
  return report.pluginReports.flatMap((p) => p.violations.map((v) => `${p.pluginName} ${v.ruleName}`));
}

const errorOf = (props: Omit<ShipcastProps, 'config'>) => {
  try {
    new Shipcast(new Stack(new App(), 'Bad'), 'Shipcast', { config: CONFIG, ...props });
  } catch (error) {
    return error;
  }
  return undefined;
};

describe('Shipcast props', () => {
  it('gives the API function the reserved concurrency asked for, or none with false', () => {
    const api = (props: Omit<ShipcastProps, 'config'>) =>
      synth(props)
        .ofType('AWS::Lambda::Function')
        .find(([id]) => id.startsWith('ShipcastApiFunction'))![1].Properties;
    expect(api({ apiReservedConcurrency: 50 }).ReservedConcurrentExecutions).toBe(50);
    expect(api({ apiReservedConcurrency: false }).ReservedConcurrentExecutions).toBeUndefined();
  });

  it('refuses a reserved concurrency that would stop the API or is not a whole number', () => {
    for (const value of [0, -1, 2.5, Number.NaN]) {
      const error = errorOf({ apiReservedConcurrency: value });
      expect(error).toBeInstanceOf(ShipcastPropsError);
      expect((error as Error).message).toContain('props.apiReservedConcurrency');
    }
  });

  it('keeps the functions’ logs for the retention asked for', () => {
    const { ofType } = synth({ logRetention: logs.RetentionDays.ONE_WEEK });
    const groups = ofType('AWS::Logs::LogGroup');
    expect(groups).toHaveLength(3);
    for (const [, group] of groups) expect(group.Properties.RetentionInDays).toBe(7);
  });

  it('runs on Node.js 24 when asked, and refuses runtimes Shipcast does not support', () => {
    const { ofType } = synth({ runtime: lambda.Runtime.NODEJS_24_X });
    for (const [, fn] of ofType('AWS::Lambda::Function')) expect(fn.Properties.Runtime).toBe('nodejs24.x');
    for (const runtime of [lambda.Runtime.NODEJS_20_X, lambda.Runtime.PYTHON_3_13]) {
      const error = errorOf({ runtime });
      expect(error).toBeInstanceOf(ShipcastPropsError);
      expect((error as Error).message).toMatch(/props\.runtime: .* is not supported; use .*NODEJS_22_X/);
    }
  });

  it('deletes the table and the secrets with the stack when asked, without deletion protection', () => {
    const { ofType } = synth({
      tableRemovalPolicy: RemovalPolicy.DESTROY,
      secretsRemovalPolicy: RemovalPolicy.DESTROY,
    });
    const [[, table]] = ofType('AWS::DynamoDB::Table') as [[string, Resource]];
    expect(table.DeletionPolicy).toBe('Delete');
    expect(table.Properties.DeletionProtectionEnabled).toBe(false);
    const secrets = ofType('AWS::SecretsManager::Secret');
    expect(secrets).toHaveLength(2);
    for (const [, secret] of secrets) expect(secret.DeletionPolicy).toBe('Delete');
  });

  it('sets table deletion protection independently of the removal policy', () => {
    const table = (props: Omit<ShipcastProps, 'config'>) =>
      synth(props).ofType('AWS::DynamoDB::Table')[0]![1];
    expect(
      table({ tableRemovalPolicy: RemovalPolicy.DESTROY, tableDeletionProtection: true }).Properties
        .DeletionProtectionEnabled,
    ).toBe(true);
    const unprotected = table({ tableDeletionProtection: false });
    expect(unprotected.Properties.DeletionProtectionEnabled).toBe(false);
    expect(unprotected.DeletionPolicy).toBe('Retain');
  });

  it('refuses a removal policy the table or the secrets do not support (SNAPSHOT)', () => {
    for (const prop of ['tableRemovalPolicy', 'secretsRemovalPolicy'] as const) {
      const error = errorOf({ [prop]: RemovalPolicy.SNAPSHOT });
      expect(error).toBeInstanceOf(ShipcastPropsError);
      expect((error as Error).message).toContain(`props.${prop}: snapshot is not supported`);
    }
  });

  it('moves the queue-age alarms to the thresholds asked for', () => {
    const { ofType } = synth({
      queueAgeAlarms: { ingest: Duration.minutes(5), dispatch: Duration.hours(1) },
    });
    const ages = ofType('AWS::CloudWatch::Alarm')
      .map(([, a]) => a.Properties)
      .filter((a) => a.MetricName === 'ApproximateAgeOfOldestMessage')
      .map((a) => a.Threshold)
      .sort((a, b) => a - b);
    expect(ages).toEqual([300, 3600]);
  });
});

describe("CodeDeploy's EventBridge events", () => {
  /** The rules matching CodeDeploy's events (the sweep has a scheduled rule of its own). */
  const codeDeployRules = (rules: [string, Resource][]) =>
    rules.filter(([, rule]) => rule.Properties.EventPattern?.source?.includes('aws.codedeploy'));
  const ingestQueueOf = (resources: Record<string, Resource>) =>
    Object.keys(resources).find(
      (id) => id.startsWith('ShipcastIngestQueue') && resources[id]!.Type === 'AWS::SQS::Queue',
    );

  it('takes deployment state changes onto the ingest queue by default, with a dead-letter queue', () => {
    const { ofType, resources } = synth();
    const rules = codeDeployRules(ofType('AWS::Events::Rule'));
    expect(rules).toHaveLength(1);
    const rule = rules[0]![1].Properties;
    expect(rule.EventPattern).toEqual({
      source: ['aws.codedeploy'],
      'detail-type': ['CodeDeploy Deployment State-change Notification'],
    });
    expect(rule.Targets).toHaveLength(1);
    expect(rule.Targets[0].Arn).toEqual({ 'Fn::GetAtt': [ingestQueueOf(resources), 'Arn'] });
    expect(rule.Targets[0].DeadLetterConfig).toBeDefined();
  });

  it('adds instance state changes when asked, and has no rule when turned off', () => {
    const withInstances = codeDeployRules(
      synth({ codeDeployEvents: { instanceEvents: true } }).ofType('AWS::Events::Rule'),
    );
    expect(withInstances[0]![1].Properties.EventPattern['detail-type']).toEqual([
      'CodeDeploy Deployment State-change Notification',
      'CodeDeploy Instance State-change Notification',
    ]);
    expect(codeDeployRules(synth({ codeDeployEvents: false }).ofType('AWS::Events::Rule'))).toEqual([]);
  });
});

describe('Shipcast with a customer-managed KMS key', () => {
  const { template, ofType, unacknowledged } = synth({}, (stack) => ({
    encryptionKey: new kms.Key(stack, 'Key', { enableKeyRotation: true }),
  }));
  const keyArn = { 'Fn::GetAtt': [ofType('AWS::KMS::Key')[0]![0], 'Arn'] };

  it('encrypts the topic, every queue and the table with the key', () => {
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: keyArn });
    const queues = ofType('AWS::SQS::Queue');
    expect(queues).toHaveLength(5);
    for (const [, queue] of queues) {
      expect(queue.Properties.KmsMasterKeyId).toEqual(keyArn);
      expect(queue.Properties.SqsManagedSseEnabled).toBeUndefined();
    }
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: keyArn },
    });
  });

  it('lets CodeDeploy publish to the encrypted topic and SNS write to the encrypted queues', () => {
    const [[, key]] = ofType('AWS::KMS::Key') as [[string, Resource]];
    const statements = key.Properties.KeyPolicy.Statement as {
      Principal?: { Service?: string };
      Action: string | string[];
    }[];
    const actionsOf = (service: string) =>
      statements
        .filter((s) => s.Principal?.Service === service)
        .flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
    expect(actionsOf('codedeploy.amazonaws.com')).toEqual(
      expect.arrayContaining(['kms:GenerateDataKey*', 'kms:Decrypt']),
    );
    expect(actionsOf('sns.amazonaws.com')).toEqual(
      expect.arrayContaining(['kms:GenerateDataKey', 'kms:Decrypt']),
    );
    expect(actionsOf('events.amazonaws.com')).toEqual(
      expect.arrayContaining(['kms:GenerateDataKey', 'kms:Decrypt']),
    );
  });

  it('passes cdk-nag AwsSolutions and Serverless with the key as without it', () => {
    expect(unacknowledged()).toEqual([]);
  });

  it('lets every function use the key for the queues and the table it works with', () => {
    for (const [id, policy] of ofType('AWS::IAM::Policy')) {
      if (!/Shipcast(Api|Ingest|Dispatch)FunctionRole/.test(id)) continue;
      const onKey = (
        policy.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[]
      )
        .filter((s) => JSON.stringify(s.Resource) === JSON.stringify(keyArn))
        .flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
      expect(onKey, id).toEqual(expect.arrayContaining(['kms:Decrypt']));
    }
  });
});

/** Properties that name a resource in the account and region (a second stack with the same value would fail). */
const PHYSICAL_NAMES = [
  'QueueName',
  'TableName',
  'FunctionName',
  'TopicName',
  'DashboardName',
  'AlarmName',
  'RoleName',
  'LogGroupName',
  'ManagedPolicyName',
  'AliasName',
  'Name',
];

describe('Shipcast twice in one account and region', () => {
  const app = newApp();
  const blue = new ShipcastStack(app, 'ShipcastBlue', { config: CONFIG });
  const green = new ShipcastStack(app, 'ShipcastGreen', { config: CONFIG });
  const pair = new Stack(app, 'Pair');
  const production = new Shipcast(pair, 'Shipcast', { config: CONFIG });
  const staging = new Shipcast(pair, 'Staging', { config: CONFIG });
  const templates = [blue, green, pair].map((stack) => Template.fromStack(stack).toJSON());

  it('names nothing physically except the secrets, whose names differ per deployment', () => {
    const named: string[] = [];
    for (const template of templates) {
      for (const [id, resource] of Object.entries(template.Resources as Record<string, Resource>)) {
        for (const [key, value] of Object.entries(resource.Properties ?? {})) {
          if (!PHYSICAL_NAMES.includes(key) || typeof value !== 'string') continue;
          expect(resource.Type, `${id}.${key}`).toBe('AWS::SecretsManager::Secret');
          named.push(value);
        }
      }
    }
    expect(named.sort()).toEqual([
      'shipcast/Pair/Staging/api-token',
      'shipcast/Pair/Staging/webhook-secret',
      'shipcast/Pair/api-token',
      'shipcast/Pair/webhook-secret',
      'shipcast/ShipcastBlue/api-token',
      'shipcast/ShipcastBlue/webhook-secret',
      'shipcast/ShipcastGreen/api-token',
      'shipcast/ShipcastGreen/webhook-secret',
    ]);
    expect(new Set(named).size).toBe(named.length);
  });

  it('gives each deployment its own secret prefix and metrics service', () => {
    const deployments = [blue.shipcast, green.shipcast, production, staging];
    expect(deployments.map((d) => d.secretPrefix)).toEqual([
      'shipcast/ShipcastBlue/',
      'shipcast/ShipcastGreen/',
      'shipcast/Pair/',
      'shipcast/Pair/Staging/',
    ]);
    const services = templates.flatMap((template) =>
      Object.values(template.Resources as Record<string, Resource>)
        .filter((r) => r.Type === 'AWS::Lambda::Function')
        .map((r) => r.Properties.Environment.Variables[ENV.metricsService]),
    );
    expect([...new Set(services)].sort()).toEqual([
      'shipcast/Pair',
      'shipcast/Pair/Staging',
      'shipcast/ShipcastBlue',
      'shipcast/ShipcastGreen',
    ]);
    // Each deployment's CircuitOpened alarms watch its own metrics service only.
    const pairAlarms = Object.values(templates[2]!.Resources as Record<string, Resource>).filter(
      (r) => r.Type === 'AWS::CloudWatch::Alarm' && r.Properties.MetricName === 'CircuitOpened',
    );
    expect(pairAlarms.map((a) => a.Properties.Dimensions[0].Value).sort()).toEqual([
      'shipcast/Pair',
      'shipcast/Pair',
      'shipcast/Pair/Staging',
      'shipcast/Pair/Staging',
    ]);
  });
});
