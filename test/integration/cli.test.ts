import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CodeDeployClient } from '@aws-sdk/client-codedeploy';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AwsClients } from '../../functions/cli/codedeploy.ts';
import type { CliContext } from '../../functions/cli/context.ts';
import { run } from '../../functions/cli/main.ts';
import { parseConfig } from '../../functions/core/config.ts';
import { deploymentIdFor } from '../../functions/core/ids.ts';
import { type LocalShipcast, startLocal } from '../../functions/local/local-shipcast.ts';
import { captureLogs } from '../support/capture-logger.ts';
import { type CloudFormationServer, startCloudFormationServer } from '../support/cloudformation-server.ts';
import { type CodeDeployServer, startCodeDeployServer } from '../support/codedeploy-server.ts';
import { waitFor } from '../support/emulators.ts';

const TOKEN = 'cli-test-token-0123456789abcdef';
const TOPIC = 'arn:aws:sns:eu-west-2:123456789012:Shipcast-CodeDeployTopic-ABC';
const CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };

/** A CLI invocation's context with captured output; `sleep` runs `onSleep` (what happens while it waits). */
function cli(
  env: Record<string, string | undefined> = {},
  onSleep?: (count: number) => Promise<void> | void,
) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  let clock = Date.parse('2026-12-01T10:00:00Z');
  let sleeps = 0;
  const context: CliContext = {
    env,
    out: { stdout: (text) => stdout.push(text), stderr: (text) => stderr.push(text) },
    json: false,
    sleep: async (ms) => {
      clock += ms;
      await onSleep?.(++sleeps);
    },
    now: () => clock,
    apiOptions: { backoffMs: 1 },
  };
  return { context, stdout: () => stdout.join(''), stderr: () => stderr.join('') };
}

describe('the shipcast CLI', () => {
  let local: LocalShipcast;
  let codeDeploy: CodeDeployServer;
  let cloudFormation: CloudFormationServer;
  let aws: AwsClients;
  let api: Record<string, string>;
  const logs = captureLogs();
  let counter = 0;
  const unique = (prefix: string) => `${prefix}-${++counter}`;

  beforeAll(async () => {
    codeDeploy = await startCodeDeployServer();
    cloudFormation = await startCloudFormationServer();
    local = await startLocal({
      config: parseConfig({
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: { console: { type: 'log' } },
        routes: [{ targets: ['console'] }],
      }),
      dataDir: mkdtempSync(join(tmpdir(), 'shipcast-cli-')),
      port: 0,
      queuePort: 0,
      env: { SHIPCAST_SECRET_API_TOKEN: TOKEN },
      logger: logs.logger,
      codeDeployEndpoint: codeDeploy.endpoint,
    });
    api = { SHIPCAST_URL: local.apiUrl, SHIPCAST_TOKEN: TOKEN };
    aws = {
      codeDeploy: () =>
        new CodeDeployClient({
          region: 'eu-west-2',
          endpoint: codeDeploy.endpoint,
          credentials: CREDENTIALS,
        }),
      cloudFormation: () =>
        new CloudFormationClient({
          region: 'eu-west-2',
          endpoint: cloudFormation.endpoint,
          credentials: CREDENTIALS,
        }),
    };
  });
  afterAll(async () => {
    await local?.stop();
    await codeDeploy?.close();
    await cloudFormation?.close();
    logs.restore();
  });

  const events = async (deploymentId: string) => {
    const response = await fetch(`${local.apiUrl}/v1/deployments/${deploymentId}`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    return (await response.json()) as { deployment: { status: string; service: string }; events: unknown[] };
  };

  describe('notify', () => {
    const githubActions = (service: string) => ({
      ...api,
      GITHUB_ACTIONS: 'true',
      GITHUB_SERVER_URL: 'https://github.com',
      GITHUB_REPOSITORY: `acme/${service}`,
      GITHUB_RUN_ID: '9001',
      GITHUB_RUN_ATTEMPT: '1',
      GITHUB_JOB: 'deploy',
      GITHUB_SHA: '9fceb02d0ae598e95dc970b74767f19372d61af8',
      GITHUB_REF: 'refs/heads/main',
      GITHUB_ACTOR: 'octocat',
    });

    it('fills the event from GitHub Actions variables and records a re-run step only once', async () => {
      const service = unique('payments');
      const first = cli(githubActions(service));
      expect(
        await run(
          ['notify', '--status', 'in_progress', '--environment', 'production', '--json'],
          first.context,
        ),
      ).toBe(0);
      const answer = JSON.parse(first.stdout()) as { deploymentId: string; replayed: boolean };
      expect(answer.replayed).toBe(false);

      const again = cli(githubActions(service));
      expect(
        await run(['notify', '--status', 'in_progress', '--environment', 'production'], again.context),
      ).toBe(0);

      expect(again.stdout()).toContain(
        `already recorded in_progress of ${service} → production (deployment ${answer.deploymentId}`,
      );
      const detail = await events(answer.deploymentId);
      expect(detail.events).toHaveLength(1);
      expect(detail.deployment).toMatchObject({
        service,
        environment: 'production',
        status: 'in_progress',
        actor: 'octocat',
        url: 'https://github.com/acme/' + service + '/actions/runs/9001/attempts/1',
        revision: {
          repository: `https://github.com/acme/${service}`,
          commit: '9fceb02d0ae598e95dc970b74767f19372d61af8',
          ref: 'refs/heads/main',
        },
      });
    });

    it('records the next attempt of a re-run job as a new event', async () => {
      const service = unique('search');
      const env = githubActions(service);
      await run(
        ['notify', '--status', 'failed', '--environment', 'staging', '--version', '2.0.0'],
        cli(env).context,
      );
      const rerun = cli({ ...env, GITHUB_RUN_ATTEMPT: '2' });

      await run(
        ['notify', '--status', 'succeeded', '--environment', 'staging', '--version', '2.0.0', '--json'],
        rerun.context,
      );

      expect(JSON.parse(rerun.stdout()).replayed).toBe(false);
    });

    it('says what is missing outside CI, and records nothing', async () => {
      const outside = cli(api);
      expect(
        await run(['notify', '--status', 'succeeded', '--environment', 'production'], outside.context),
      ).toBe(64);
      expect(outside.stderr()).toMatch(/--service is required/);

      const noUrl = cli({});
      expect(
        await run(['notify', '--status', 'succeeded', '--service', 'x', '--environment', 'y'], noUrl.context),
      ).toBe(64);
      expect(noUrl.stderr()).toMatch(/set SHIPCAST_URL/);
    });

    it("passes the API's validation errors on with the field", async () => {
      const bad = cli(api);
      const code = await run(
        ['notify', '--status', 'exploded', '--service', 'x', '--environment', 'y'],
        bad.context,
      );
      expect(code).toBe(1);
      expect(bad.stderr()).toMatch(/answered 400: status/);
    });

    it('tells the user to fix the token on a 401', async () => {
      const wrong = cli({ ...api, SHIPCAST_TOKEN: 'not-a-token' });
      expect(await run(['deployments', 'list'], wrong.context)).toBe(1);
      expect(wrong.stderr()).toMatch(/rejected the token \(401\): set SHIPCAST_TOKEN/);
    });
  });

  describe('DORA inputs and shipcast dora', () => {
    const day = 86_400_000;
    const window = () => [
      '--from',
      new Date(Date.now() - day).toISOString(),
      '--to',
      new Date(Date.now() + day).toISOString(),
    ];

    it('sends --commit-time, --commits, --commit-at and --hotfix as the native event fields DORA reads', async () => {
      const service = unique('ledger');
      const notified = cli(api);
      const code = await run(
        [
          'notify',
          '--status',
          'succeeded',
          '--service',
          service,
          '--environment',
          'production',
          '--commit',
          'aaa111',
          '--commit-time',
          '2026-03-01T08:00:00Z',
          '--commits',
          'bbb222=2026-03-01T07:00:00Z,ccc333=2026-03-01T06:00:00+01:00',
          '--commit-at',
          'ddd444=2026-03-01T04:00:00Z',
          '--hotfix',
          '--json',
        ],
        notified.context,
      );

      expect(code).toBe(0);
      const { deploymentId } = JSON.parse(notified.stdout()) as { deploymentId: string };
      const detail = (await events(deploymentId)) as unknown as { deployment: Record<string, unknown> };
      expect(detail.deployment.hotfix).toBe(true);
      expect(detail.deployment.commits).toEqual(
        expect.arrayContaining([
          { sha: 'aaa111', time: '2026-03-01T08:00:00.000Z' },
          { sha: 'bbb222', time: '2026-03-01T07:00:00.000Z' },
          { sha: 'ccc333', time: '2026-03-01T05:00:00.000Z' },
          { sha: 'ddd444', time: '2026-03-01T04:00:00.000Z' },
        ]),
      );
    });

    it('refuses a --commits pair without a time, and --commit-time without --commit, recording nothing', async () => {
      const service = unique('refused');
      const pair = cli(api);
      expect(
        await run(
          [
            'notify',
            '--status',
            'succeeded',
            '--service',
            service,
            '--environment',
            'production',
            '--commits',
            'abc',
          ],
          pair.context,
        ),
      ).toBe(64);
      expect(pair.stderr()).toMatch(/--commits takes sha=time pairs/);
      const lone = cli(api);
      expect(
        await run(
          [
            'notify',
            '--status',
            'succeeded',
            '--service',
            service,
            '--environment',
            'production',
            '--commit-time',
            '2026-03-01T08:00:00Z',
          ],
          lone.context,
        ),
      ).toBe(64);
      expect(lone.stderr()).toMatch(/--commit-time needs --commit/);
      const listed = cli(api);
      await run(['deployments', 'list', '--service', service, '--json'], listed.context);
      expect(JSON.parse(listed.stdout()).deployments).toEqual([]);
    });

    it('prints the five metrics with bands and counts, and --json equal to the API', async () => {
      const service = unique('dora');
      for (const [version, status] of [
        ['1.0.0', 'succeeded'],
        ['1.1.0', 'failed'],
        ['1.2.0', 'succeeded'],
      ]) {
        expect(
          await run(
            [
              'notify',
              '--status',
              status as string,
              '--service',
              service,
              '--environment',
              'production',
              '--version',
              version as string,
              '--deployment-id',
              `${service}-${version}`,
            ],
            cli(api).context,
          ),
        ).toBe(0);
      }
      const flags = ['--service', service, '--environment', 'production', ...window()];

      const human = cli(api);
      expect(await run(['dora', ...flags], human.context)).toBe(0);
      const json = cli(api);
      expect(await run(['dora', ...flags, '--json'], json.context)).toBe(0);

      const answer = JSON.parse(json.stdout()) as Record<string, Record<string, unknown>>;
      const query = new URLSearchParams({
        service,
        environment: 'production',
        from: flags[5]!,
        to: flags[7]!,
      });
      const fromApi = (await (
        await fetch(`${local.apiUrl}/v1/metrics/dora?${query}`, {
          headers: { authorization: `Bearer ${TOKEN}` },
        })
      ).json()) as Record<string, Record<string, unknown>>;
      expect(answer.changeFailRate).toEqual(fromApi.changeFailRate);
      expect(answer.changeFailRate).toMatchObject({ failed: 1, basedOn: 3, band: 'low' });
      const lines = human.stdout().split('\n');
      expect(lines.find((l) => l.startsWith('change fail rate'))).toMatch(
        /33\.3%\s+low\s+1 failed of 3 deployments/,
      );
      expect(lines.find((l) => l.startsWith('deployment frequency'))).toMatch(/^deployment frequency\s+2 \(/);
      for (const metric of ['change lead time', 'recovery time', 'rework rate']) {
        expect(lines.some((l) => l.startsWith(metric))).toBe(true);
      }
      expect(human.stdout()).toMatch(/per week:\nSTART\s+DEPLOYMENTS/);
    });

    it('says what to do about a bad interval, a bad time and a window the API refuses', async () => {
      const interval = cli(api);
      expect(await run(['dora', '--interval', 'day'], interval.context)).toBe(64);
      expect(interval.stderr()).toMatch(/--interval must be week or month/);
      const from = cli(api);
      expect(await run(['dora', '--from', 'last tuesday'], from.context)).toBe(64);
      expect(from.stderr()).toMatch(/--from must be a date \(2026-03-01\)/);
      const backwards = cli(api);
      expect(await run(['dora', '--from', '2026-03-02', '--to', '2026-03-01'], backwards.context)).toBe(1);
      expect(backwards.stderr()).toMatch(/answered 400: from: must be before to/);
    });
  });

  describe('retries', () => {
    let flaky: Server;
    let url: string;
    const seen: { key: string | undefined }[] = [];
    beforeAll(async () => {
      let calls = 0;
      flaky = createServer((req, res) => {
        req.resume();
        req.on('end', () => {
          seen.push({ key: req.headers['idempotency-key'] as string | undefined });
          if (++calls <= 2) {
            res.writeHead(503, { 'retry-after': '0', 'content-type': 'application/json' });
            res.end('{"message":"Service Unavailable"}');
            return;
          }
          res.writeHead(202, { 'content-type': 'application/json' });
          res.end('{"eventId":"evt_1","deploymentId":"dep_1","status":"succeeded"}');
        });
      });
      await new Promise<void>((resolve) => flaky.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(flaky.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise<void>((resolve) => flaky.close(() => resolve())));

    it('retries a 503 with the same Idempotency-Key until the API accepts the event', async () => {
      const flakyCli = cli({ SHIPCAST_URL: url, SHIPCAST_TOKEN: TOKEN });
      const code = await run(
        ['notify', '--status', 'succeeded', '--service', 'a', '--environment', 'b'],
        flakyCli.context,
      );

      expect(code).toBe(0);
      expect(seen).toHaveLength(3);
      expect(new Set(seen.map((s) => s.key)).size).toBe(1);
      expect(flakyCli.stderr()).toMatch(/answered 503; retrying/);
    });

    it('gives up with exit 69 when Shipcast cannot be reached', async () => {
      const closed = cli({ SHIPCAST_URL: 'http://127.0.0.1:9', SHIPCAST_TOKEN: TOKEN });
      expect(await run(['deployments', 'list'], closed.context)).toBe(69);
      expect(closed.stderr()).toMatch(/cannot reach http:\/\/127\.0\.0\.1:9.*gave up after 5 attempts/);
    });
  });

  describe('wait', () => {
    const post = (body: Record<string, unknown>) =>
      fetch(`${local.apiUrl}/v1/events`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${TOKEN}`,
          'content-type': 'application/json',
          'idempotency-key': unique('k'),
        },
        body: JSON.stringify(body),
      }).then((r) => r.json() as Promise<{ deploymentId: string }>);

    it.each([
      ['succeeded', 0],
      ['failed', 1],
      ['stopped', 2],
    ] as const)('follows a deployment until it is %s and exits %i', async (end, exitCode) => {
      const service = unique('orders');
      const { deploymentId } = await post({ service, environment: 'prod', status: 'queued', version: '7' });
      const waiting = cli(api, async (sleeps) => {
        if (sleeps === 1) await post({ service, environment: 'prod', status: 'in_progress', version: '7' });
        if (sleeps === 2) await post({ service, environment: 'prod', status: end, version: '7' });
      });

      const code = await run(['wait', deploymentId, '--interval', '1s'], waiting.context);

      expect(code).toBe(exitCode);
      expect(waiting.stderr()).toMatch(
        new RegExp(`new → queued\\n.*queued → in_progress\\n.*in_progress → ${end}\\n`),
      );
      expect(waiting.stdout()).toContain(`${deploymentId} ${end}`);
    });

    it('finds the deployment of a service, environment and version once it appears', async () => {
      const service = unique('cart');
      const waiting = cli(api, async (sleeps) => {
        if (sleeps === 1) await post({ service, environment: 'prod', status: 'in_progress', version: '1.0' });
        if (sleeps === 2) await post({ service, environment: 'prod', status: 'in_progress', version: '2.0' });
        if (sleeps === 3) await post({ service, environment: 'prod', status: 'succeeded', version: '2.0' });
      });

      const code = await run(
        ['wait', '--service', service, '--environment', 'prod', '--version', '2.0', '--interval', '1s'],
        waiting.context,
      );

      expect(code).toBe(0);
      expect(waiting.stderr()).toMatch(new RegExp(`waiting for dep_\\w+ \\(${service} 2\\.0 → prod\\)`));
    });

    it('exits 124 when the deployment has not ended by --timeout', async () => {
      const { deploymentId } = await post({
        service: unique('slow'),
        environment: 'prod',
        status: 'in_progress',
        version: '1',
      });
      const waiting = cli(api);

      const code = await run(['wait', deploymentId, '--timeout', '30s', '--interval', '5s'], waiting.context);

      expect(code).toBe(124);
      expect(waiting.stderr()).toMatch(/timed out after 30s: dep_\w+ has not ended/);
    });
  });

  describe('deployments', () => {
    it('lists deployments as a table and shows one with its transitions and deliveries', async () => {
      const service = unique('ledger');
      const posted = cli(api);
      await run(
        [
          'notify',
          '--status',
          'succeeded',
          '--service',
          service,
          '--environment',
          'prod',
          '--version',
          '3.1',
          '--json',
        ],
        posted.context,
      );
      const { deploymentId } = JSON.parse(posted.stdout()) as { deploymentId: string };
      await waitFor(async () => {
        const shown = cli(api);
        await run(['deployments', 'show', deploymentId, '--json'], shown.context);
        return (JSON.parse(shown.stdout()).deliveries as { state: string }[]).every(
          (d) => d.state === 'delivered',
        );
      });

      const listed = cli(api);
      expect(await run(['deployments', 'list', '--service', service], listed.context)).toBe(0);
      const shown = cli(api);
      expect(await run(['deployments', 'show', deploymentId], shown.context)).toBe(0);

      expect(listed.stdout()).toMatch(/^ID\s+SERVICE\s+ENVIRONMENT\s+VERSION\s+STATUS/);
      expect(listed.stdout()).toMatch(
        new RegExp(`${deploymentId}\\s+${service}\\s+prod\\s+3\\.1\\s+succeeded\\s+native`),
      );
      expect(shown.stdout()).toContain(`${deploymentId}  ${service} 3.1 → prod`);
      expect(shown.stdout()).toMatch(/TARGET\s+DELIVERY[\s\S]*console\s+delivered/);
    });

    it('answers not found for an unknown deployment', async () => {
      const shown = cli(api);
      expect(await run(['deployments', 'show', 'dep_000000000000000000000000'], shown.context)).toBe(1);
      expect(shown.stderr()).toMatch(/not found \(404\)/);
    });
  });

  describe('codedeploy connect and disconnect', () => {
    const pager = {
      triggerName: 'pager',
      triggerTargetArn: 'arn:aws:sns:eu-west-2:123456789012:pager',
      triggerEvents: ['DeploymentFailure'],
    };
    const updates = () =>
      codeDeploy.requests.filter((r) => r.target?.endsWith('.UpdateDeploymentGroup')).length;

    beforeEach(() => {
      codeDeploy.groups.clear();
      for (const name of ['checkout-production', 'checkout-staging']) {
        codeDeploy.groups.set(`checkout/${name}`, {
          applicationName: 'checkout',
          deploymentGroupName: name,
          triggerConfigurations: [{ ...pager }],
        });
      }
      cloudFormation.stacks.set('Shipcast', {
        ApiUrl: 'https://x.lambda-url.eu-west-2.on.aws/',
        CodeDeployTopicArn: TOPIC,
      });
    });

    it("adds Shipcast's trigger next to the group's own, finds the topic in the stack outputs, and changes nothing the second time", async () => {
      const first = cli(api);
      expect(
        await run(
          ['codedeploy', 'connect', '--application', 'checkout', '--group', 'checkout-production'],
          first.context,
          aws,
        ),
      ).toBe(0);

      const group = codeDeploy.groups.get('checkout/checkout-production')!;
      expect(group.triggerConfigurations).toEqual([
        pager,
        {
          triggerName: 'shipcast',
          triggerTargetArn: TOPIC,
          triggerEvents: [
            'DeploymentStart',
            'DeploymentSuccess',
            'DeploymentFailure',
            'DeploymentStop',
            'DeploymentRollback',
            'DeploymentReady',
          ],
        },
      ]);
      expect(first.stdout()).toMatch(/checkout\/checkout-production\s+added the Shipcast trigger/);
      const updatesAfterFirst = updates();

      const second = cli(api);
      await run(
        ['codedeploy', 'connect', '--application', 'checkout', '--group', 'checkout-production'],
        second.context,
        aws,
      );

      expect(second.stdout()).toMatch(/checkout\/checkout-production\s+unchanged/);
      expect(updates()).toBe(updatesAfterFirst);
      expect(codeDeploy.groups.get('checkout/checkout-production')!.triggerConfigurations).toHaveLength(2);
    });

    it('shows the before and after with --dry-run and changes nothing', async () => {
      const before = updates();
      const dry = cli(api);

      await run(
        [
          'codedeploy',
          'connect',
          '--application',
          'checkout',
          '--all-groups',
          '--topic-arn',
          TOPIC,
          '--dry-run',
        ],
        dry.context,
        aws,
      );

      expect(updates()).toBe(before);
      expect(dry.stdout()).toContain('checkout/checkout-production: added the Shipcast trigger');
      expect(dry.stdout()).toContain('checkout/checkout-staging: added the Shipcast trigger');
      expect(dry.stdout()).toContain(
        `after:  pager → ${pager.triggerTargetArn} [DeploymentFailure]; shipcast → ${TOPIC}`,
      );
      expect(codeDeploy.groups.get('checkout/checkout-staging')!.triggerConfigurations).toEqual([pager]);
    });

    it('connects every group of an application (across pages) with chosen events, and disconnect removes only its own', async () => {
      const connect = cli(api);
      await run(
        [
          'codedeploy',
          'connect',
          '--application',
          'checkout',
          '--all-groups',
          '--topic-arn',
          TOPIC,
          '--events',
          'DeploymentStart,DeploymentSuccess,InstanceFailure',
        ],
        connect.context,
        aws,
      );
      for (const name of ['checkout-production', 'checkout-staging']) {
        expect(codeDeploy.groups.get(`checkout/${name}`)!.triggerConfigurations.at(-1)).toEqual({
          triggerName: 'shipcast',
          triggerTargetArn: TOPIC,
          triggerEvents: ['DeploymentStart', 'DeploymentSuccess', 'InstanceFailure'],
        });
      }

      const disconnect = cli(api);
      await run(
        ['codedeploy', 'disconnect', '--application', 'checkout', '--all-groups', '--topic-arn', TOPIC],
        disconnect.context,
        aws,
      );

      for (const name of ['checkout-production', 'checkout-staging']) {
        expect(codeDeploy.groups.get(`checkout/${name}`)!.triggerConfigurations).toEqual([pager]);
      }
    });

    it('names the fix when the stack or the group does not exist, and refuses an unknown event', async () => {
      const noStack = cli(api);
      expect(
        await run(
          ['codedeploy', 'connect', '--application', 'checkout', '--all-groups', '--stack', 'Nope'],
          noStack.context,
          aws,
        ),
      ).toBe(64);
      expect(noStack.stderr()).toMatch(
        /cannot read the outputs of stack Nope \(Stack with id Nope does not exist\): give --topic-arn/,
      );

      const noGroup = cli(api);
      expect(
        await run(
          ['codedeploy', 'connect', '--application', 'checkout', '--group', 'nope', '--topic-arn', TOPIC],
          noGroup.context,
          aws,
        ),
      ).toBe(1);
      expect(noGroup.stderr()).toMatch(/No Deployment Group found for name: nope/);

      const badEvent = cli(api);
      expect(
        await run(
          ['codedeploy', 'connect', '--application', 'checkout', '--all-groups', '--events', 'Everything'],
          badEvent.context,
          aws,
        ),
      ).toBe(64);
      expect(badEvent.stderr()).toMatch(/unknown event Everything/);
    });
  });

  describe('codedeploy stop', () => {
    it('stops a CodeDeploy deployment known by its Shipcast id, with rollback, and follows it until it stopped', async () => {
      codeDeploy.deployments.set('d-4F2KQ8ZX1', {
        deploymentId: 'd-4F2KQ8ZX1',
        applicationName: 'checkout',
        deploymentGroupName: 'checkout-production',
        status: 'InProgress',
        createTime: 1_665_676_245,
      });
      const sns = new SNSClient({
        region: 'us-east-1',
        endpoint: local.sqsSnsEndpoint,
        credentials: CREDENTIALS,
      });
      await sns.send(
        new PublishCommand({
          TopicArn: local.resources.topicArn,
          Message: readFileSync('test/fixtures/codedeploy/deployment-created.real.message.json', 'utf8'),
        }),
      );
      sns.destroy();
      const list = await waitFor(async () => {
        const listed = cli(api);
        await run(['deployments', 'list', '--service', 'checkout', '--json'], listed.context);
        return (JSON.parse(listed.stdout()).deployments as { id: string; source: string }[]).find(
          (d) => d.source === 'codedeploy',
        );
      });
      codeDeploy.failures.push({
        operation: 'GetDeployment',
        type: 'ThrottlingException',
        message: 'Rate exceeded',
        times: 1,
      });

      const stopping = cli(api);
      const code = await run(
        ['codedeploy', 'stop', list.id, '--rollback', '--interval', '1s', '--actor', 'alice@ops-laptop'],
        stopping.context,
        aws,
      );

      expect(code).toBe(0);
      const stop = codeDeploy.requests.find((r) => r.target?.endsWith('.StopDeployment'));
      expect(stop?.body).toEqual({ deploymentId: 'd-4F2KQ8ZX1', autoRollbackEnabled: true });
      expect(stopping.stderr()).toContain('stop d-4F2KQ8ZX1 and roll back: Pending');
      expect(stopping.stdout()).toMatch(/d-4F2KQ8ZX1 Stopped; rollback deployment d-ROLLBACK\d/);
      // The stop is in the deployment's history, with who asked and the token that told Shipcast.
      const history = (await events(list.id)).events as {
        kind: string;
        operator?: Record<string, unknown>;
      }[];
      expect(history.filter((e) => e.kind === 'operator').map((e) => e.operator)).toEqual([
        {
          action: 'stop-and-rollback',
          via: 'api',
          actor: 'alice@ops-laptop',
          actorId: 'token:ci',
          outcome: 'recorded',
          detail: 'StopDeployment with rollback called by the caller: Pending (Stopping the deployment.)',
        },
      ]);
    });

    it('records a stop CodeDeploy refused as a failed attempt, and says when a CodeDeploy id alone cannot be recorded', async () => {
      codeDeploy.deployments.set('d-DONE00002', {
        deploymentId: 'd-DONE00002',
        status: 'Succeeded',
        createTime: 1,
      });
      const sns = new SNSClient({
        region: 'us-east-1',
        endpoint: local.sqsSnsEndpoint,
        credentials: CREDENTIALS,
      });
      const message = JSON.parse(
        readFileSync('test/fixtures/codedeploy/deployment-created.real.message.json', 'utf8'),
      ) as { region: string; accountId: string; deploymentId: string };
      await sns.send(
        new PublishCommand({
          TopicArn: local.resources.topicArn,
          Message: JSON.stringify({ ...message, deploymentId: 'd-DONE00002' }),
        }),
      );
      sns.destroy();
      const shipcastId = deploymentIdFor('codedeploy', `${message.accountId}:${message.region}:d-DONE00002`);
      await waitFor(
        async () =>
          (
            await fetch(`${local.apiUrl}/v1/deployments/${shipcastId}`, {
              headers: { authorization: `Bearer ${TOKEN}` },
            })
          ).status === 200,
      );

      const byAccount = cli(api);
      const code = await run(
        [
          'codedeploy',
          'stop',
          'd-DONE00002',
          '--account',
          message.accountId,
          '--region',
          message.region,
          '--actor',
          'bob',
        ],
        byAccount.context,
        aws,
      );
      const alone = cli(api);
      await run(['codedeploy', 'stop', 'd-DONE00002'], alone.context, aws);

      expect(code).toBe(1);
      const history = (await events(shipcastId)).events as {
        kind: string;
        operator?: Record<string, unknown>;
      }[];
      expect(history.filter((e) => e.kind === 'operator').map((e) => e.operator)).toMatchObject([
        { action: 'stop', actor: 'bob', outcome: 'failed' },
      ]);
      expect(alone.stderr()).toContain("not recorded in Shipcast's history");
    });

    it('reports a deployment that already ended without stopping anything', async () => {
      codeDeploy.deployments.set('d-DONE00001', {
        deploymentId: 'd-DONE00001',
        status: 'Succeeded',
        createTime: 1,
      });
      const stopping = cli(api);

      expect(await run(['codedeploy', 'stop', 'd-DONE00001'], stopping.context, aws)).toBe(1);
      expect(stopping.stderr()).toMatch(/The deployment d-DONE00001 has already completed/);
    });

    it('refuses a Shipcast deployment that is not a CodeDeploy one', async () => {
      const posted = cli(api);
      await run(
        ['notify', '--status', 'in_progress', '--service', unique('native'), '--environment', 'p', '--json'],
        posted.context,
      );
      const { deploymentId } = JSON.parse(posted.stdout());
      const stopping = cli(api);

      expect(await run(['codedeploy', 'stop', deploymentId], stopping.context, aws)).toBe(64);
      expect(stopping.stderr()).toMatch(/is a native deployment, not a CodeDeploy one/);
    });
  });

  it('prints help for every command and exits 64 on an unknown one', async () => {
    for (const command of [
      'notify',
      'wait',
      'deployments',
      'dora',
      'codedeploy',
      'publish-trigger',
      'redrive',
    ]) {
      const help = cli();
      expect(await run([command, '--help'], help.context)).toBe(0);
      expect(help.stdout()).toMatch(new RegExp(`shipcast ${command}`));
      expect(help.stdout()).toMatch(/Exit codes/);
    }
    const unknown = cli();
    expect(await run(['deploy-everything'], unknown.context)).toBe(64);
    expect(unknown.stderr()).toMatch(/unknown command "deploy-everything"/);
  });
});
