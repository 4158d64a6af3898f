import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Runs the CDK app the way `cdk synth` does (cdk.json "app"), with SHIPCAST_CONFIG pointing at `config`. */
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function runApp(config: string, context: Record<string, unknown> = {}, app = 'bin/shipcast.ts') {
  const dir = mkdtempSync(join(tmpdir(), 'shipcast-bin-'));
  dirs.push(dir);
  const file = join(dir, 'shipcast.config.json');
  writeFileSync(file, config);
  const result = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, app)], {
    cwd: ROOT,
    env: {
      ...process.env,
      SHIPCAST_CONFIG: file,
      CDK_OUTDIR: join(dir, 'cdk.out'),
      // What `cdk synth -c key=value` hands the app.
      CDK_CONTEXT_JSON: JSON.stringify(context),
    },
    encoding: 'utf8',
    timeout: 110_000,
  });
  return { ...result, file, outdir: join(dir, 'cdk.out') };
}

describe('bin/shipcast.ts', () => {
  it('fails a bad config with the ConfigError message only, naming the field path', () => {
    const bad = {
      api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
      targets: { console: { type: 'log' } },
      routes: [{ targets: ['console', 'missing'] }],
    };
    const { status, stderr, stdout, file } = runApp(JSON.stringify(bad));
    expect(status).toBe(1);
    expect(stderr.trim()).toBe(
      `Invalid Shipcast config ${file}:\n  - routes[0].targets[1]: no target named "missing" (targets: console)`,
    );
    expect(stdout).toBe('');
  });

  it('fails unparsable JSON the same way', () => {
    const { status, stderr, file } = runApp('{ not json');
    expect(status).toBe(1);
    expect(stderr).toContain(`Invalid Shipcast config ${file}:`);
    expect(stderr).toContain('not valid JSON');
    expect(stderr).not.toMatch(/^\s+at /m);
  });

  it('sends every alarm to the topic named by the shipcast:alarmTopicArn context value', () => {
    const topicArn = 'arn:aws:sns:eu-west-1:123456789012:ops-alarms';
    const config = {
      api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
      targets: { console: { type: 'log' } },
      routes: [{ targets: ['console'] }],
    };
    const { status, stderr, outdir } = runApp(JSON.stringify(config), {
      'shipcast:alarmTopicArn': topicArn,
      // The template is what this test reads: skip bundling the functions.
      'aws:cdk:bundling-stacks': [],
    });
    expect(stderr).not.toMatch(/Error/);
    expect(status).toBe(0);
    const template = JSON.parse(readFileSync(join(outdir, 'Shipcast.template.json'), 'utf8'));
    const alarms = Object.values(
      template.Resources as Record<string, { Type: string; Properties: Record<string, unknown> }>,
    )
      .filter((r) => r.Type === 'AWS::CloudWatch::Alarm')
      .map((r) => r.Properties);
    expect(alarms.length).toBeGreaterThan(10);
    for (const alarm of alarms) {
      expect(alarm.AlarmActions).toEqual([topicArn]);
      expect(alarm.OKActions).toEqual([topicArn]);
    }
  }, 120_000);
});

describe('bin/shipcast-member.ts', () => {
  const config = '{}';
  const member = (context: Record<string, unknown>) => runApp(config, context, 'bin/shipcast-member.ts');

  it('names the missing context value and how to pass it', () => {
    const { status, stderr } = member({});
    expect(status).toBe(1);
    expect(stderr.trim()).toBe(
      'ShipcastMemberAccount props.eventBusArn: "" is not an event bus ARN; use the central stack\'s output ' +
        'OrganizationEventBusArn\n(pass it with -c shipcast:<prop>=<value>; see docs/organizations.md)',
    );
  }, 120_000);

  it('synthesizes the member stack from the central stack outputs given as context values', () => {
    const { status, stderr, outdir } = member({
      'shipcast:eventBusArn': 'arn:aws:events:eu-west-1:999999999999:event-bus/shipcast',
      'shipcast:ingestRoleArn': 'arn:aws:iam::999999999999:role/Shipcast-IngestRole',
      'shipcast:organizationId': 'o-a1b2c3d4e5',
    });
    expect(stderr).not.toMatch(/Error/);
    expect(status).toBe(0);
    const template = JSON.parse(readFileSync(join(outdir, 'ShipcastMember.template.json'), 'utf8'));
    const types = Object.values(template.Resources as Record<string, { Type: string }>).map((r) => r.Type);
    expect(types).toEqual(expect.arrayContaining(['AWS::Events::Rule', 'AWS::IAM::Role', 'AWS::SQS::Queue']));
    expect(template.Parameters ?? {}).not.toHaveProperty('BootstrapVersion');
  }, 120_000);
});
