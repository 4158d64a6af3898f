/**
 * Many accounts into one Shipcast (docs/organizations.md): the central construct's `organizationId` and the
 * member account's stack. Bundling is skipped (`aws:cdk:bundling-stacks: []`): these tests read templates.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENV } from '../../functions/handlers/env.ts';
import {
  type ShipcastConfigInput,
  ShipcastMemberPropsError,
  ShipcastMemberStack,
  ShipcastPropsError,
  ShipcastStack,
} from '../../lib/index.ts';

const ORG = 'o-a1b2c3d4e5';
const BUS_ARN = 'arn:aws:events:eu-west-1:999999999999:event-bus/CentralShipcastOrganizationEventBus';
const INGEST_ROLE_ARN = 'arn:aws:iam::999999999999:role/Central-ShipcastIngestFunctionRole-ABC123';
const CONFIG = {
  api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
  targets: { console: { type: 'log' } },
  routes: [{ targets: ['console'] }],
} satisfies ShipcastConfigInput;

type Resource = {
  Type: string;
  // biome-ignore lint/suspicious/noExplicitAny: synthesized CloudFormation JSON, checked by the assertions
  Properties: Record<string, any>;
};
type Statement = {
  Sid?: string;
  Effect: string;
  Principal?: unknown;
  Action: string | string[];
  Resource?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
};
type Violation = { ruleName: string; violatingConstructs?: { constructPath: string }[] };
type Report = {
  pluginReports: { pluginName: string; violations: Violation[]; suppressedViolations?: Violation[] }[];
};

function newApp(outdir?: string): App {
  const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8'));
  return new App({
    ...(outdir ? { outdir } : {}),
    context: {
      ...cdkJson.context,
      'aws:cdk:bundling-stacks': [],
      '@aws-cdk/core:failSynthOnValidationErrors': false,
    },
  });
}

const resourcesOf = (template: Template) => template.toJSON().Resources as Record<string, Resource>;
const ofType = (resources: Record<string, Resource>, type: string) =>
  Object.entries(resources).filter(([, r]) => r.Type === type);
const actions = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);

const outdir = mkdtempSync(join(tmpdir(), 'shipcast-org-test-'));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

let central: Record<string, Resource>;
let centralOutputs: Record<string, { Value: unknown }>;
let member: Record<string, Resource>;
let memberTemplate: Record<string, unknown>;
let report: Report;

beforeAll(() => {
  const app = newApp(outdir);
  const centralStack = new ShipcastStack(app, 'Central', { config: CONFIG, organizationId: ORG });
  const memberStack = new ShipcastMemberStack(app, 'Member', {
    eventBusArn: BUS_ARN,
    ingestRoleArn: INGEST_ROLE_ARN,
    organizationId: ORG,
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
  const assembly = app.synth();
  report = JSON.parse(readFileSync(join(assembly.directory, 'validation-report.json'), 'utf8'));
  const centralTemplate = Template.fromStack(centralStack);
  central = resourcesOf(centralTemplate);
  centralOutputs = centralTemplate.toJSON().Outputs;
  memberTemplate = Template.fromStack(memberStack).toJSON();
  member = memberTemplate.Resources as Record<string, Resource>;
}, 120_000);

describe('central Shipcast with organizationId', () => {
  it('gives the organization a bus whose policy allows PutEvents to its principals only', () => {
    const [[busId]] = ofType(central, 'AWS::Events::EventBus') as [[string, Resource]];
    const policies = ofType(central, 'AWS::Events::EventBusPolicy');
    expect(policies).toHaveLength(1);
    const [, policy] = policies[0]!;
    expect(policy.Properties.EventBusName).toEqual({ Ref: busId });
    expect(policy.Properties.Statement).toEqual({
      Sid: 'cdk-AllowOrganizationPutEvents',
      Effect: 'Allow',
      Principal: { AWS: '*' },
      Action: 'events:PutEvents',
      Resource: { 'Fn::GetAtt': [busId, 'Arn'] },
      Condition: { StringEquals: { 'aws:PrincipalOrgID': ORG } },
    });
    expect(centralOutputs.OrganizationEventBusArn?.Value).toEqual({ 'Fn::GetAtt': [busId, 'Arn'] });
  });

  it('puts the CodeDeploy events of every account on that bus onto the ingest queue', () => {
    const [[busId]] = ofType(central, 'AWS::Events::EventBus') as [[string, Resource]];
    const rules = ofType(central, 'AWS::Events::Rule').filter(
      ([, r]) => JSON.stringify(r.Properties.EventBusName) === JSON.stringify({ Ref: busId }),
    );
    expect(rules).toHaveLength(1);
    const [, rule] = rules[0]!;
    expect(rule.Properties.EventPattern).toEqual({
      source: ['aws.codedeploy'],
      'detail-type': [
        'CodeDeploy Deployment State-change Notification',
        'CodeDeploy Instance State-change Notification',
      ],
    });
    expect(rule.Properties.EventPattern).not.toHaveProperty('account');
    const [ingestQueue] = ofType(central, 'AWS::SQS::Queue').find(([id]) => id.includes('IngestQueue'))!;
    expect(rule.Properties.Targets).toEqual([
      expect.objectContaining({
        Arn: { 'Fn::GetAtt': [ingestQueue, 'Arn'] },
        DeadLetterConfig: {
          Arn: { 'Fn::GetAtt': [expect.stringContaining('SubscriptionDeadLetterQueue'), 'Arn'] },
        },
      }),
    ]);
  });

  it("lets the organization's principals publish to the topic, on condition aws:PrincipalOrgID", () => {
    const [[, topicPolicy]] = ofType(central, 'AWS::SNS::TopicPolicy') as [[string, Resource]];
    const statements = topicPolicy.Properties.PolicyDocument.Statement as Statement[];
    const organization = statements.find((s) => s.Sid === 'AllowOrganizationPublish');
    expect(organization).toMatchObject({
      Effect: 'Allow',
      Principal: { AWS: '*' },
      Action: 'sns:Publish',
      Condition: { StringEquals: { 'aws:PrincipalOrgID': ORG } },
    });
  });

  it('allows nothing to any principal without the organization condition', () => {
    const policies = [
      ...ofType(central, 'AWS::SNS::TopicPolicy').map(([, r]) => r.Properties.PolicyDocument.Statement),
      ...ofType(central, 'AWS::SQS::QueuePolicy').map(([, r]) => r.Properties.PolicyDocument.Statement),
      ...ofType(central, 'AWS::Events::EventBusPolicy').map(([, r]) => [r.Properties.Statement]),
    ].flat() as Statement[];
    const open = policies.filter(
      (s) =>
        s.Effect === 'Allow' &&
        (s.Principal === '*' || JSON.stringify(s.Principal) === JSON.stringify({ AWS: '*' })) &&
        s.Condition?.StringEquals?.['aws:PrincipalOrgID'] !== ORG,
    );
    expect(open).toEqual([]);
  });

  it("lets the ingest function assume the member roles of the organization's accounts only, tells it its account, and outputs its role", () => {
    const [[ingestPolicyId, ingestPolicy]] = ofType(central, 'AWS::IAM::Policy').filter(([id]) =>
      id.includes('IngestFunctionRoleDefaultPolicy'),
    ) as [[string, Resource]];
    expect(ingestPolicyId).toBeDefined();
    const assume = (ingestPolicy.Properties.PolicyDocument.Statement as Statement[]).filter((s) =>
      actions(s).includes('sts:AssumeRole'),
    );
    expect(assume).toEqual([
      {
        Effect: 'Allow',
        Action: 'sts:AssumeRole',
        Resource: {
          'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::*:role/shipcast-codedeploy-read']],
        },
        Condition: { StringEquals: { 'aws:ResourceOrgID': ORG } },
      },
    ]);
    const [[, ingest]] = ofType(central, 'AWS::Lambda::Function').filter(([id]) =>
      id.includes('IngestFunction'),
    ) as [[string, Resource]];
    expect(ingest.Properties.Environment.Variables[ENV.account]).toEqual({ Ref: 'AWS::AccountId' });
    expect(ingest.Properties.Environment.Variables[ENV.partition]).toEqual({ Ref: 'AWS::Partition' });
    const [roleId] = ofType(central, 'AWS::IAM::Role').find(([id]) => id.includes('IngestFunctionRole'))!;
    expect(centralOutputs.IngestRoleArn?.Value).toEqual({ 'Fn::GetAtt': [roleId, 'Arn'] });
  });

  it('refuses an organizationId that is not one, naming the prop', () => {
    const app = newApp();
    expect(() => new ShipcastStack(app, 'Bad', { config: CONFIG, organizationId: '123456789012' })).toThrow(
      ShipcastPropsError,
    );
    expect(() => new ShipcastStack(newApp(), 'Bad', { config: CONFIG, organizationId: 'o-x' })).toThrow(
      /props\.organizationId: "o-x" is not an AWS Organizations id/,
    );
  });

  it('has no organization bus, topic statement or AssumeRole without organizationId', () => {
    const app = newApp();
    const stack = new ShipcastStack(app, 'Single', { config: CONFIG });
    const resources = resourcesOf(Template.fromStack(stack));
    expect(ofType(resources, 'AWS::Events::EventBus')).toEqual([]);
    expect(JSON.stringify(resources)).not.toContain('PrincipalOrgID');
    const policies = ofType(resources, 'AWS::IAM::Policy').map(([, p]) => JSON.stringify(p.Properties));
    expect(policies.filter((p) => p.includes('sts:AssumeRole'))).toEqual([]);
  });
});

describe('member account stack', () => {
  it('forwards deployment state changes to the central bus with a role allowed PutEvents on that bus only', () => {
    const [[, rule]] = ofType(member, 'AWS::Events::Rule') as [[string, Resource]];
    expect(rule.Properties.EventBusName).toBeUndefined();
    expect(rule.Properties.EventPattern).toEqual({
      source: ['aws.codedeploy'],
      'detail-type': ['CodeDeploy Deployment State-change Notification'],
    });
    const [target] = rule.Properties.Targets;
    expect(target.Arn).toBe(BUS_ARN);
    expect(target.DeadLetterConfig.Arn['Fn::GetAtt'][0]).toContain('DeadLetterQueue');
    const roleId = target.RoleArn['Fn::GetAtt'][0] as string;
    expect(member[roleId]?.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'events.amazonaws.com' } },
    ]);
    const [[, putPolicy]] = ofType(member, 'AWS::IAM::Policy').filter(([, p]) =>
      JSON.stringify(p.Properties.Roles).includes(roleId),
    ) as [[string, Resource]];
    expect(putPolicy.Properties.PolicyDocument.Statement).toEqual([
      { Action: 'events:PutEvents', Effect: 'Allow', Resource: BUS_ARN },
    ]);
  });

  it("creates a read-only enrichment role trusted only by the central ingest function's role in the organization", () => {
    const [[roleId, role]] = ofType(member, 'AWS::IAM::Role').filter(
      ([, r]) => r.Properties.RoleName === 'shipcast-codedeploy-read',
    ) as [[string, Resource]];
    expect(role.Properties.MaxSessionDuration).toBe(3600);
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      {
        Action: 'sts:AssumeRole',
        Effect: 'Allow',
        Principal: {
          AWS: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::999999999999:root']] },
        },
        Condition: {
          ArnEquals: { 'aws:PrincipalArn': INGEST_ROLE_ARN },
          StringEquals: { 'aws:PrincipalOrgID': ORG },
        },
      },
    ]);
    const [[, policy]] = ofType(member, 'AWS::IAM::Policy').filter(([, p]) =>
      JSON.stringify(p.Properties.Roles).includes(roleId),
    ) as [[string, Resource]];
    const statements = policy.Properties.PolicyDocument.Statement as Statement[];
    expect(statements.flatMap(actions).sort()).toEqual([
      'codedeploy:BatchGetDeployments',
      'codedeploy:GetDeployment',
    ]);
  });

  it('needs no bootstrapping: no bootstrap version parameter or rule, no assets (usable as a StackSet template)', () => {
    expect(memberTemplate.Parameters ?? {}).not.toHaveProperty('BootstrapVersion');
    expect(memberTemplate.Rules ?? {}).not.toHaveProperty('CheckBootstrapVersion');
  });

  it('leaves the role out with enrichmentRole false (IAM roles are global: one region per account has it)', () => {
    const stack = new ShipcastMemberStack(newApp(), 'Second', {
      eventBusArn: BUS_ARN,
      enrichmentRole: false,
    });
    const resources = resourcesOf(Template.fromStack(stack));
    expect(
      ofType(resources, 'AWS::IAM::Role').filter(
        ([, r]) => r.Properties.RoleName === 'shipcast-codedeploy-read',
      ),
    ).toEqual([]);
    expect(ofType(resources, 'AWS::Events::Rule')).toHaveLength(1);
  });

  it('names the prop that is missing or wrong', () => {
    expect(() => new ShipcastMemberStack(newApp(), 'NoRole', { eventBusArn: BUS_ARN })).toThrow(
      /props\.ingestRoleArn: is required/,
    );
    expect(
      () =>
        new ShipcastMemberStack(newApp(), 'BadBus', {
          eventBusArn: 'shipcast',
          ingestRoleArn: INGEST_ROLE_ARN,
        }),
    ).toThrow(ShipcastMemberPropsError);
    expect(
      () => new ShipcastMemberStack(newApp(), 'BadRole', { eventBusArn: BUS_ARN, ingestRoleArn: 'role/x' }),
    ).toThrow(/props\.ingestRoleArn: "role\/x" is not an IAM role ARN/);
  });
});

describe('cdk-nag on both stacks', () => {
  it('reports no unacknowledged finding', () => {
    const unacknowledged = report.pluginReports.flatMap((plugin) =>
      plugin.violations.map(
        (v) =>
          `${plugin.pluginName} ${v.ruleName}: ${v.violatingConstructs?.map((c) => c.constructPath).join(', ')}`,
      ),
    );
    expect(unacknowledged).toEqual([]);
  });

  it('acknowledges the member role wildcard and the AssumeRole of member roles, with reasons', () => {
    const suppressed = report.pluginReports
      .flatMap((p) => p.suppressedViolations ?? [])
      .map((v) => v.ruleName);
    expect(suppressed).toEqual(
      expect.arrayContaining([
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::*:role/shipcast-codedeploy-read]',
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:codedeploy:*:<AWS::AccountId>:deploymentgroup:*]',
      ]),
    );
  });
});
