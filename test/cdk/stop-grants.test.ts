import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ShipcastConfigInput, ShipcastStack } from '../../lib/index.ts';

const BASE = {
  api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
  routes: [],
} satisfies Partial<ShipcastConfigInput>;

const slack = (actions?: Record<string, unknown>) => ({
  deploys: {
    type: 'slack',
    token: 'slack-bot-token',
    channel: 'C0123456789',
    ...(actions ? { actions } : {}),
  },
});
const ACTIONS = { signingSecret: 'slack-signing-secret', stop: { allowedUsers: ['U0123ABCD'] } };

type Statement = { Action: unknown; Resource: unknown };
type Violation = { ruleName: string; violatingConstructs?: { constructPath: string }[] };

const outdirs: string[] = [];
afterAll(() => {
  for (const dir of outdirs) rmSync(dir, { recursive: true, force: true });
});

/** The functions' policy statements and environments, and cdk-nag's unacknowledged findings (no bundling). */
function synth(targets: Record<string, unknown>, props: { stopDeployments?: boolean } = {}) {
  const outdir = mkdtempSync(join(tmpdir(), 'shipcast-stop-grants-'));
  outdirs.push(outdir);
  const app = new App({
    outdir,
    context: { 'aws:cdk:bundling-stacks': [], '@aws-cdk/core:failSynthOnValidationErrors': false },
  });
  const stack = new ShipcastStack(app, 'Shipcast', {
    config: { ...BASE, targets } as ShipcastConfigInput,
    ...props,
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
  const assembly = app.synth();
  const resources = assembly.getStackByName(stack.stackName).template.Resources as Record<
    string,
    {
      Type: string;
      Properties: {
        PolicyDocument: { Statement: Statement[] };
        Environment: { Variables: Record<string, unknown> };
      };
    }
  >;
  const statements = (fn: string): Statement[] =>
    Object.entries(resources)
      .filter(([id, r]) => r.Type === 'AWS::IAM::Policy' && id.startsWith(`Shipcast${fn}FunctionRole`))
      .flatMap(([, r]) => r.Properties.PolicyDocument.Statement);
  const environment = (fn: string) =>
    Object.entries(resources).find(
      ([id, r]) => r.Type === 'AWS::Lambda::Function' && id.startsWith(`Shipcast${fn}Function`),
    )?.[1].Properties.Environment.Variables as Record<string, unknown>;
  const report = JSON.parse(readFileSync(join(assembly.directory, 'validation-report.json'), 'utf8')) as {
    pluginReports: { violations: Violation[] }[];
  };
  return {
    api: statements('Api'),
    ingest: statements('Ingest'),
    dispatch: statements('Dispatch'),
    apiEnvironment: environment('Api'),
    findings: report.pluginReports.flatMap((p) => p.violations.map((v) => v.ruleName)),
  };
}

const codeDeployWrites = (statements: Statement[]) =>
  statements.filter((s) => JSON.stringify(s.Action).includes('codedeploy:StopDeployment'));

describe('StopDeployment grant for stops from Slack', () => {
  let withActions: ReturnType<typeof synth>;
  let without: ReturnType<typeof synth>;
  let byProp: ReturnType<typeof synth>;
  beforeAll(() => {
    withActions = synth(slack(ACTIONS));
    without = synth(slack());
    byProp = synth(slack(), { stopDeployments: true });
  }, 180_000);

  it("grants the API function codedeploy:StopDeployment on this account's deployment groups, and nothing else of CodeDeploy", () => {
    const [statement, ...more] = codeDeployWrites(withActions.api);

    expect(more).toEqual([]);
    expect(statement?.Action).toBe('codedeploy:StopDeployment');
    const resource = JSON.stringify(statement?.Resource);
    expect(resource).toContain(':codedeploy:');
    expect(resource).toContain('AWS::Region');
    expect(resource).toContain('AWS::AccountId');
    expect(resource).toContain(':deploymentgroup:*');
    expect(codeDeployWrites(withActions.dispatch)).toEqual([]);
    expect(codeDeployWrites(withActions.ingest)).toEqual([]);
    expect(withActions.apiEnvironment.SHIPCAST_STOP_ACCOUNT).toEqual({ Ref: 'AWS::AccountId' });
  });

  it('grants nothing without a Slack target with actions, unless the stopDeployments prop asks for it', () => {
    expect(codeDeployWrites(without.api)).toEqual([]);
    expect(without.apiEnvironment.SHIPCAST_STOP_ACCOUNT).toBeUndefined();
    expect(codeDeployWrites(byProp.api).map((s) => s.Action)).toEqual(['codedeploy:StopDeployment']);
  });

  it("lets the API function read the Slack app's signing secret and bot token, and keeps the signing secret from the dispatcher", () => {
    const reads = (statements: Statement[], secret: string) =>
      statements.some(
        (s) =>
          JSON.stringify(s.Action).includes('secretsmanager:GetSecretValue') &&
          JSON.stringify(s.Resource).includes(secret),
      );
    expect(reads(withActions.api, 'slacksigningsecret')).toBe(true);
    expect(reads(withActions.api, 'slackbottoken')).toBe(true);
    expect(reads(withActions.dispatch, 'slacksigningsecret')).toBe(false);
  });

  it('leaves no unacknowledged cdk-nag finding', () => {
    expect(withActions.findings).toEqual([]);
  });
});
