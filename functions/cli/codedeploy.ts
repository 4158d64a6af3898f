/**
 * `shipcast codedeploy connect|disconnect|stop`: wires deployment groups' triggers to Shipcast's topic without
 * touching anyone else's triggers, and stops (and rolls back) a deployment from a terminal.
 * CodeDeploy API: GetDeploymentGroup, UpdateDeploymentGroup (`triggerConfigurations` replaces the whole list),
 * ListDeploymentGroups, StopDeployment, GetDeployment.
 */
import { type CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  type CodeDeployClient,
  GetDeploymentCommand,
  GetDeploymentGroupCommand,
  ListDeploymentGroupsCommand,
  StopDeploymentCommand,
  type TriggerConfig,
  type TriggerEventType,
  UpdateDeploymentGroupCommand,
} from '@aws-sdk/client-codedeploy';
import { deploymentIdFor } from '../core/ids.ts';
import { flag, flagList, parseArgs, parseDuration, UsageError } from './args.ts';
import { apiOf, type CliContext, EXIT } from './context.ts';
import { table } from './output.ts';

/** The AWS clients the CodeDeploy commands use (built from --region/--endpoint, or injected by tests). */
export interface AwsClients {
  codeDeploy(options: { region?: string; endpoint?: string }): CodeDeployClient;
  cloudFormation(options: { region?: string }): CloudFormationClient;
}

/** Shipcast's trigger on every group it connects. */
export const TRIGGER_NAME = 'shipcast';

/** The deployment events Shipcast records (instance events are opt-in: a fleet sends two per instance). */
export const DEFAULT_EVENTS: TriggerEventType[] = [
  'DeploymentStart',
  'DeploymentSuccess',
  'DeploymentFailure',
  'DeploymentStop',
  'DeploymentRollback',
  'DeploymentReady',
];

const ALL_EVENTS = new Set<string>([
  ...DEFAULT_EVENTS,
  'InstanceStart',
  'InstanceSuccess',
  'InstanceFailure',
  'InstanceReady',
]);

/** CodeDeploy allows at most 10 triggers per deployment group. */
const MAX_TRIGGERS = 10;

/** `shipcast codedeploy connect|disconnect|stop`. */
export async function codedeploy(args: string[], context: CliContext, aws: AwsClients): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'connect' || sub === 'disconnect') return wire(sub, rest, context, aws);
  if (sub === 'stop') return stop(rest, context, aws);
  throw new UsageError(
    'shipcast codedeploy connect|disconnect --application A (--group G | --all-groups) | stop <deployment> [--rollback]',
  );
}

async function wire(
  action: 'connect' | 'disconnect',
  args: string[],
  context: CliContext,
  aws: AwsClients,
): Promise<number> {
  const parsed = parseArgs(args, {
    values: ['application', 'group', 'events', 'topic-arn', 'stack', 'region', 'endpoint'],
    booleans: ['all-groups', 'dry-run'],
  });
  if (parsed.positionals.length > 0) throw new UsageError(`unexpected argument "${parsed.positionals[0]}"`);
  const application = flag(parsed, 'application');
  if (!application) throw new UsageError('--application is required');
  const groups = parsed.flags.get('group') ?? [];
  const allGroups = parsed.booleans.has('all-groups');
  if ((groups.length === 0) === !allGroups)
    throw new UsageError('give --group G (repeatable) or --all-groups');
  const events = flagList(parsed, 'events');
  for (const event of events) {
    if (!ALL_EVENTS.has(event))
      throw new UsageError(`--events: unknown event ${event}; known: ${[...ALL_EVENTS].join(', ')}`);
  }
  const wanted = (events.length > 0 ? events : DEFAULT_EVENTS) as TriggerEventType[];
  const region = flag(parsed, 'region') ?? context.env.AWS_REGION ?? context.env.AWS_DEFAULT_REGION;
  const topicArn =
    flag(parsed, 'topic-arn') ??
    context.env.SHIPCAST_TOPIC_ARN ??
    (await topicFromStack(flag(parsed, 'stack') ?? 'Shipcast', region, aws));
  const client = aws.codeDeploy({ region, endpoint: flag(parsed, 'endpoint') });
  const dryRun = parsed.booleans.has('dry-run');
  const names = allGroups ? await listGroups(client, application) : groups;
  const results: { group: string; change: string }[] = [];
  for (const group of names) {
    const info = (
      await client.send(
        new GetDeploymentGroupCommand({ applicationName: application, deploymentGroupName: group }),
      )
    ).deploymentGroupInfo;
    const before = info?.triggerConfigurations ?? [];
    const after =
      action === 'connect'
        ? connected(before, topicArn, wanted)
        : before.filter((t) => t.triggerTargetArn !== topicArn);
    const change = describeChange(before, after, topicArn);
    if (action === 'connect' && after.length > MAX_TRIGGERS) {
      throw new UsageError(
        `${application}/${group} already has ${before.length} triggers; CodeDeploy allows ${MAX_TRIGGERS}`,
      );
    }
    if (change !== 'unchanged' && !dryRun) {
      await client.send(
        new UpdateDeploymentGroupCommand({
          applicationName: application,
          currentDeploymentGroupName: group,
          triggerConfigurations: after,
        }),
      );
    }
    results.push({ group, change });
    if (dryRun && !context.json) {
      context.out.stdout(
        `${application}/${group}: ${change}\n  before: ${summary(before)}\n  after:  ${summary(after)}\n`,
      );
    }
  }
  if (context.json)
    context.out.stdout(`${JSON.stringify({ application, topicArn, dryRun, groups: results })}\n`);
  else if (!dryRun) {
    context.out.stdout(
      table(
        ['GROUP', action === 'connect' ? 'CONNECT' : 'DISCONNECT'],
        results.map((r) => [`${application}/${r.group}`, r.change]),
      ),
    );
  }
  return EXIT.ok;
}

/** The trigger list with Shipcast's trigger added (or its events corrected); every other trigger as it was. */
function connected(before: TriggerConfig[], topicArn: string, events: TriggerEventType[]): TriggerConfig[] {
  const ours = before.find((t) => t.triggerTargetArn === topicArn);
  const trigger: TriggerConfig = {
    triggerName: ours?.triggerName ?? uniqueName(before),
    triggerTargetArn: topicArn,
    triggerEvents: events,
  };
  return ours ? before.map((t) => (t === ours ? trigger : t)) : [...before, trigger];
}

function uniqueName(before: TriggerConfig[]): string {
  const names = new Set(before.map((t) => t.triggerName));
  if (!names.has(TRIGGER_NAME)) return TRIGGER_NAME;
  for (let i = 2; ; i++) if (!names.has(`${TRIGGER_NAME}-${i}`)) return `${TRIGGER_NAME}-${i}`;
}

function describeChange(before: TriggerConfig[], after: TriggerConfig[], topicArn: string): string {
  const was = before.find((t) => t.triggerTargetArn === topicArn);
  const is = after.find((t) => t.triggerTargetArn === topicArn);
  if (!was && !is) return 'unchanged (not connected)';
  if (!was) return 'added the Shipcast trigger';
  if (!is) return 'removed the Shipcast trigger';
  const same = [...(was.triggerEvents ?? [])].sort().join() === [...(is.triggerEvents ?? [])].sort().join();
  return same ? 'unchanged' : `updated the Shipcast trigger's events`;
}

function summary(triggers: TriggerConfig[]): string {
  if (triggers.length === 0) return '(no triggers)';
  return triggers
    .map((t) => `${t.triggerName} → ${t.triggerTargetArn} [${(t.triggerEvents ?? []).join(',')}]`)
    .join('; ');
}

async function listGroups(client: CodeDeployClient, application: string): Promise<string[]> {
  const names: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await client.send(
      new ListDeploymentGroupsCommand({ applicationName: application, nextToken }),
    );
    names.push(...(page.deploymentGroups ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  if (names.length === 0) throw new UsageError(`application ${application} has no deployment groups`);
  return names;
}

/** The stack's `CodeDeployTopicArn` output. */
async function topicFromStack(stack: string, region: string | undefined, aws: AwsClients): Promise<string> {
  let outputs: { OutputKey?: string; OutputValue?: string }[] = [];
  try {
    const answer = await aws.cloudFormation({ region }).send(new DescribeStacksCommand({ StackName: stack }));
    outputs = answer.Stacks?.[0]?.Outputs ?? [];
  } catch (error) {
    throw new UsageError(
      `cannot read the outputs of stack ${stack} (${(error as Error).message}): give --topic-arn <CodeDeployTopicArn> or --stack <name>`,
    );
  }
  const found = outputs.filter((o) => o.OutputKey?.includes('CodeDeployTopicArn') && o.OutputValue);
  if (found.length !== 1) {
    throw new UsageError(`stack ${stack} has ${found.length} CodeDeployTopicArn outputs: give --topic-arn`);
  }
  return found[0]!.OutputValue!;
}

/** `shipcast codedeploy stop <deployment> [--rollback]`: StopDeployment, then follow it until CodeDeploy says it ended. */
async function stop(args: string[], context: CliContext, aws: AwsClients): Promise<number> {
  const parsed = parseArgs(args, {
    values: ['region', 'endpoint', 'timeout', 'interval', 'actor', 'account'],
    booleans: ['rollback'],
  });
  const [target] = parsed.positionals;
  if (!target)
    throw new UsageError('shipcast codedeploy stop <CodeDeploy id d-… | Shipcast id dep_…> [--rollback]');
  let codeDeployId = target;
  let region = flag(parsed, 'region') ?? context.env.AWS_REGION ?? context.env.AWS_DEFAULT_REGION;
  let shipcastId: string | undefined;
  if (target.startsWith('dep_')) {
    shipcastId = target;
    const { body } = await apiOf(context).request<{
      deployment: { source: string; sourceDeploymentId: string };
    }>('GET', `/v1/deployments/${encodeURIComponent(target)}`);
    if (body.deployment.source !== 'codedeploy') {
      throw new UsageError(`${target} is a ${body.deployment.source} deployment, not a CodeDeploy one`);
    }
    // sourceDeploymentId is `<account>:<region>:<d-…>`.
    const [, sourceRegion, id] = body.deployment.sourceDeploymentId.split(':');
    codeDeployId = id ?? target;
    region = flag(parsed, 'region') ?? sourceRegion ?? region;
  }
  if (!/^d-[A-Z0-9]{9}$/.test(codeDeployId))
    throw new UsageError(`"${codeDeployId}" is not a CodeDeploy deployment id (d-XXXXXXXXX)`);
  const account = flag(parsed, 'account');
  if (account !== undefined && !/^\d{12}$/.test(account))
    throw new UsageError(`--account: "${account}" is not an AWS account id (12 digits)`);
  if (!shipcastId && account && region)
    shipcastId = deploymentIdFor('codedeploy', `${account}:${region}:${codeDeployId}`);
  const client = aws.codeDeploy({ region, endpoint: flag(parsed, 'endpoint') });
  const rollback = parsed.booleans.has('rollback');
  const record = (outcome: 'recorded' | 'failed', detail: string) =>
    recordStop(context, shipcastId, {
      action: rollback ? 'stop-and-rollback' : 'stop',
      actor:
        flag(parsed, 'actor') ??
        context.env.SHIPCAST_ACTOR ??
        context.env.USER ??
        context.env.USERNAME ??
        'unknown',
      outcome,
      detail,
    });
  let answer: { status?: string; statusMessage?: string };
  try {
    answer = await client.send(
      new StopDeploymentCommand({ deploymentId: codeDeployId, autoRollbackEnabled: rollback }),
    );
  } catch (error) {
    await record('failed', `${(error as Error).name}: ${(error as Error).message}`);
    throw error;
  }
  await record('recorded', `${answer.status}${answer.statusMessage ? ` (${answer.statusMessage})` : ''}`);
  context.out.stderr(
    `stop ${codeDeployId}${rollback ? ' and roll back' : ''}: ${answer.status}${answer.statusMessage ? ` (${answer.statusMessage})` : ''}\n`,
  );
  const timeoutMs = parseDuration(flag(parsed, 'timeout') ?? '10m', 'timeout');
  const intervalMs = parseDuration(flag(parsed, 'interval') ?? '5s', 'interval');
  const deadline = context.now() + timeoutMs;
  let last = '';
  for (;;) {
    const info = (await client.send(new GetDeploymentCommand({ deploymentId: codeDeployId }))).deploymentInfo;
    const status = info?.status ?? 'unknown';
    if (status !== last) context.out.stderr(`${codeDeployId}: ${status}\n`);
    last = status;
    if (['Stopped', 'Failed', 'Succeeded'].includes(status)) {
      const rolledBackBy = info?.rollbackInfo?.rollbackDeploymentId;
      if (context.json)
        context.out.stdout(
          `${JSON.stringify({ deploymentId: codeDeployId, status, rollbackDeploymentId: rolledBackBy ?? null })}\n`,
        );
      else
        context.out.stdout(
          `${codeDeployId} ${status}${rolledBackBy ? `; rollback deployment ${rolledBackBy}` : ''}\n`,
        );
      return status === 'Stopped' ? EXIT.ok : EXIT.failed;
    }
    if (context.now() + intervalMs > deadline) {
      context.out.stderr(`shipcast: timed out: ${codeDeployId} is still ${status}\n`);
      return EXIT.timeout;
    }
    await context.sleep(intervalMs);
  }
}

/**
 * Records the stop in the deployment's history (`POST /v1/deployments/{id}/actions`) with who asked. The stop
 * itself was made with the caller's AWS credentials; a recording that fails is reported, never fatal.
 */
async function recordStop(
  context: CliContext,
  shipcastId: string | undefined,
  body: {
    action: 'stop' | 'stop-and-rollback';
    actor: string;
    outcome: 'recorded' | 'failed';
    detail: string;
  },
): Promise<void> {
  if (!shipcastId) {
    context.out.stderr(
      "shipcast: not recorded in Shipcast's history: give the Shipcast id (dep_…), or --account with the d- id\n",
    );
    return;
  }
  try {
    await apiOf(context).request('POST', `/v1/deployments/${encodeURIComponent(shipcastId)}/actions`, {
      body: { ...body, detail: body.detail.slice(0, 500) },
    });
    context.out.stderr(`recorded in the history of ${shipcastId} (by ${body.actor})\n`);
  } catch (error) {
    context.out.stderr(`shipcast: the stop is not recorded in Shipcast: ${(error as Error).message}\n`);
  }
}
