import { App } from 'aws-cdk-lib';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/core/config.ts';
import { type ShipcastConfigInput, ShipcastStack } from '../../lib/index.ts';
import { unusedLazyModules } from '../../lib/shipcast.ts';

const BASE = {
  api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
  routes: [],
} satisfies Partial<ShipcastConfigInput>;

const sesTarget = (transport: Record<string, unknown>) => ({
  type: 'email',
  from: 'Shipcast <deploys@example.com>',
  to: ['team@example.com'],
  transport: { type: 'ses', ...transport },
});
const smtpTarget = {
  type: 'email',
  from: 'deploys@example.com',
  to: ['team@example.com'],
  transport: { type: 'smtp', host: 'smtp.example.com', username: 'shipcast', password: 'smtp-password' },
};

/** The dispatcher's and the other functions' policy statements, synthesized without bundling. */
function policies(targets: Record<string, unknown>) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new ShipcastStack(app, 'Shipcast', { config: { ...BASE, targets } as ShipcastConfigInput });
  const resources = app.synth().getStackByName(stack.stackName).template.Resources as Record<
    string,
    {
      Type: string;
      Properties: { PolicyDocument: { Statement: Array<{ Action: unknown; Resource: unknown }> } };
    }
  >;
  const statements = (fn: string) =>
    Object.entries(resources)
      .filter(([id, r]) => r.Type === 'AWS::IAM::Policy' && id.startsWith(`Shipcast${fn}FunctionRole`))
      .flatMap(([, r]) => r.Properties.PolicyDocument.Statement);
  return { dispatch: statements('Dispatch'), api: statements('Api'), ingest: statements('Ingest') };
}

const sesStatements = (statements: Array<{ Action: unknown; Resource: unknown }>) =>
  statements.filter((s) => JSON.stringify(s.Action).includes('ses:'));

describe('email target grants', () => {
  let named: ReturnType<typeof policies>;
  let byFrom: ReturnType<typeof policies>;
  let smtpOnly: ReturnType<typeof policies>;
  beforeAll(() => {
    named = policies({
      alerts: sesTarget({ region: 'eu-west-1', identity: 'mail.example.com', configurationSet: 'deploys' }),
    });
    byFrom = policies({ alerts: sesTarget({}) });
    smtpOnly = policies({ mail: smtpTarget });
  }, 120_000);

  it('grants the dispatcher ses:SendEmail on the configured identity and configuration set only', () => {
    const { dispatch, api, ingest } = named;

    const [statement, ...more] = sesStatements(dispatch);
    expect(more).toHaveLength(0);
    expect(statement?.Action).toBe('ses:SendEmail');
    const resources = JSON.stringify(statement?.Resource);
    expect(resources).toContain(':ses:eu-west-1:');
    expect(resources).toContain(':identity/mail.example.com');
    expect(resources).toContain(':configuration-set/deploys');
    expect(resources).not.toContain('*');
    expect(sesStatements(api)).toEqual([]);
    expect(sesStatements(ingest)).toEqual([]);
  });

  it("grants the domain of From when no identity is named, in the stack's region", () => {
    const [statement] = sesStatements(byFrom.dispatch);

    const resource = JSON.stringify(statement?.Resource);
    expect(resource).toContain(':identity/example.com');
    expect(resource).toContain('AWS::Region');
    expect(resource).not.toContain('configuration-set');
  });

  it('grants nothing of SES to an SMTP-only config', () => {
    expect(sesStatements(smtpOnly.dispatch)).toEqual([]);
  });

  it('bundles nodemailer and the SESv2 client into the dispatcher only when a configured transport needs it', () => {
    const config = (targets: Record<string, unknown>) => parseConfig({ ...BASE, targets }, 'test');
    const left = (targets: Record<string, unknown>, fn = 'dispatch') =>
      unusedLazyModules(config(targets), fn).sort();
    const ALL = ['@aws-sdk/client-eventbridge', '@aws-sdk/client-sesv2', 'nodemailer'];
    expect(left({ log: { type: 'log' } })).toEqual(ALL);
    expect(left({ mail: smtpTarget })).toEqual(['@aws-sdk/client-eventbridge', '@aws-sdk/client-sesv2']);
    expect(left({ mail: sesTarget({}) })).toEqual(['@aws-sdk/client-eventbridge', 'nodemailer']);
    expect(
      left({ mail: smtpTarget, ses: sesTarget({}), bus: { type: 'eventbridge', bus: 'default' } }),
    ).toEqual([]);
    expect(left({ mail: smtpTarget }, 'api')).toEqual(ALL);
  });
});
