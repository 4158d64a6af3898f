/** `shipcast notify`, `shipcast wait` and `shipcast deployments list|show`: the CI author's commands. */
import { createHash, randomUUID } from 'node:crypto';
import type { Deployment } from '../core/schema.ts';
import { flag, flagList, parseArgs, parseDuration, UsageError } from './args.ts';
import { detectCi } from './ci-env.ts';
import { apiOf, type CliContext, EXIT } from './context.ts';
import { duration, oneLine, table } from './output.ts';

type PublicDeployment = Omit<Deployment, 'rev'>;

interface DeploymentView {
  deployment: PublicDeployment;
  deliveries?: { target: string; state: string; lastError?: string; attempts?: number }[];
  events?: unknown[];
}

const NOTIFY_FIELDS = [
  'service',
  'environment',
  'version',
  'commit',
  'repository',
  'ref',
  'actor',
  'url',
  'description',
];

/** `shipcast notify --status S [--service …]`: records one deployment event, filled in from the CI's variables. */
export async function notify(args: string[], context: CliContext): Promise<number> {
  const parsed = parseArgs(args, {
    values: [
      'status',
      'deployment-id',
      'idempotency-key',
      'host',
      'timestamp',
      'commit-time',
      'commits',
      'commit-at',
      ...NOTIFY_FIELDS,
    ],
    booleans: ['no-ci', 'hotfix'],
  });
  if (parsed.positionals.length > 0) throw new UsageError(`unexpected argument "${parsed.positionals[0]}"`);
  const status = flag(parsed, 'status');
  if (!status)
    throw new UsageError('--status is required: queued, in_progress, succeeded, failed or stopped');
  const ci = parsed.booleans.has('no-ci') ? undefined : detectCi(context.env);
  const body: Record<string, unknown> = { status };
  for (const field of NOTIFY_FIELDS) {
    const value = flag(parsed, field) ?? ci?.[field as keyof typeof ci];
    if (value !== undefined) body[field] = value;
  }
  const deploymentId = flag(parsed, 'deployment-id');
  if (deploymentId) body.deploymentId = deploymentId;
  const hosts = parsed.flags.get('host');
  if (hosts) body.hosts = hosts;
  const timestamp = flag(parsed, 'timestamp');
  if (timestamp) body.timestamp = timestamp;
  const commitTime = flag(parsed, 'commit-time');
  if (commitTime) {
    if (!body.commit) throw new UsageError('--commit-time needs --commit (the commit it is the time of)');
    body.commitTime = commitTime;
  }
  const commits = [
    ...flagList(parsed, 'commits').map((pair) => commitAt(pair, 'commits')),
    ...(parsed.flags.get('commit-at') ?? []).map((pair) => commitAt(pair, 'commit-at')),
  ];
  if (commits.length > 0) body.commits = commits;
  if (parsed.booleans.has('hotfix')) body.hotfix = true;
  if (!body.service) throw new UsageError('--service is required (outside a CI Shipcast recognises)');
  if (!body.environment) throw new UsageError('--environment is required');
  // One key per CI run attempt and body: a step that runs again in the same attempt records nothing new, a
  // retried request inside this command neither; outside CI the key still covers this command's retries.
  const key =
    flag(parsed, 'idempotency-key') ??
    (ci
      ? `shipcast-cli:${createHash('sha256')
          .update(`${ci.provider}\n${ci.runKey}\n${JSON.stringify(body)}`)
          .digest('hex')
          .slice(0, 40)}`
      : `shipcast-cli:${randomUUID()}`);
  const answer = await apiOf(context).request<{ eventId: string; deploymentId: string; status: string }>(
    'POST',
    '/v1/events',
    { body, headers: { 'idempotency-key': key } },
  );
  const replayed = answer.headers.get('idempotent-replayed') === 'true';
  if (context.json) context.out.stdout(`${JSON.stringify({ ...answer.body, replayed })}\n`);
  else {
    context.out.stdout(
      `${replayed ? 'already recorded' : 'recorded'} ${status} of ${body.service} → ${body.environment}` +
        ` (deployment ${answer.body.deploymentId}, now ${answer.body.status})\n`,
    );
  }
  return EXIT.ok;
}

/** `sha=time` of --commits / --commit-at as the native event's `{ sha, time }` (the API checks the time). */
function commitAt(pair: string, name: string): { sha: string; time: string } {
  const at = pair.indexOf('=');
  const sha = pair.slice(0, at).trim();
  const time = pair.slice(at + 1).trim();
  if (at < 0 || !sha || !time) {
    throw new UsageError(
      `--${name} takes sha=time pairs, e.g. --${name} 9fceb02=2026-03-01T10:00:00Z (got "${pair}")`,
    );
  }
  return { sha, time };
}

/** `shipcast wait <deployment> | --service S --environment E [--version V]`: blocks until the deployment ends. */
export async function wait(args: string[], context: CliContext): Promise<number> {
  const parsed = parseArgs(args, {
    values: ['service', 'environment', 'version', 'timeout', 'interval'],
    booleans: [],
  });
  const [id, extra] = parsed.positionals;
  if (extra) throw new UsageError(`unexpected argument "${extra}"`);
  const service = flag(parsed, 'service');
  const environment = flag(parsed, 'environment');
  if (!id && !(service && environment)) {
    throw new UsageError(
      'say which deployment: shipcast wait <deployment-id>, or --service and --environment',
    );
  }
  const timeoutMs = parseDuration(flag(parsed, 'timeout') ?? '30m', 'timeout');
  const intervalMs = parseDuration(flag(parsed, 'interval') ?? '5s', 'interval');
  const api = apiOf(context);
  const deadline = context.now() + timeoutMs;
  const version = flag(parsed, 'version');
  let deploymentId = id;
  let printed = 0;
  for (;;) {
    if (!deploymentId) {
      const page = await api.request<{ deployments: PublicDeployment[] }>('GET', '/v1/deployments', {
        query: { service, environment, limit: '20' },
      });
      const found = page.body.deployments.find((d) => version === undefined || d.version === version);
      if (found) {
        deploymentId = found.id;
        context.out.stderr(`waiting for ${found.id} (${describe(found)})\n`);
      }
    }
    if (deploymentId) {
      const { body } = await api.request<DeploymentView>(
        'GET',
        `/v1/deployments/${encodeURIComponent(deploymentId)}`,
      );
      const deployment = body.deployment;
      for (const transition of deployment.transitions.slice(printed)) {
        context.out.stderr(`${transition.at}  ${transition.from ?? 'new'} → ${transition.to}\n`);
      }
      printed = deployment.transitions.length;
      if (['succeeded', 'failed', 'stopped'].includes(deployment.status)) {
        if (context.json) context.out.stdout(`${JSON.stringify(body)}\n`);
        else
          context.out.stdout(
            `${deployment.id} ${deployment.status}${deployment.error ? `: ${oneLine(errorText(deployment))}` : ''}\n`,
          );
        return deployment.status === 'succeeded'
          ? EXIT.ok
          : deployment.status === 'failed'
            ? EXIT.failed
            : EXIT.stopped;
      }
    }
    if (context.now() + intervalMs > deadline) {
      context.out.stderr(
        `shipcast: timed out after ${duration(timeoutMs)}: ${deploymentId ? `${deploymentId} has not ended` : `no deployment of ${service} → ${environment}${version ? ` version ${version}` : ''} yet`}\n`,
      );
      return EXIT.timeout;
    }
    await context.sleep(intervalMs);
  }
}

/** `shipcast deployments list|show`. */
export async function deployments(args: string[], context: CliContext): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'list') return list(rest, context);
  if (sub === 'show') return show(rest, context);
  throw new UsageError(
    'shipcast deployments list [--service S --environment E --limit N] | show <deployment-id>',
  );
}

async function list(args: string[], context: CliContext): Promise<number> {
  const parsed = parseArgs(args, { values: ['service', 'environment', 'limit', 'cursor'], booleans: [] });
  const { body } = await apiOf(context).request<{ deployments: PublicDeployment[]; cursor: string | null }>(
    'GET',
    '/v1/deployments',
    {
      query: {
        service: flag(parsed, 'service'),
        environment: flag(parsed, 'environment'),
        limit: flag(parsed, 'limit'),
        cursor: flag(parsed, 'cursor'),
      },
    },
  );
  if (context.json) {
    context.out.stdout(`${JSON.stringify(body)}\n`);
    return EXIT.ok;
  }
  context.out.stdout(
    table(
      ['ID', 'SERVICE', 'ENVIRONMENT', 'VERSION', 'STATUS', 'SOURCE', 'STARTED', 'DURATION'],
      body.deployments.map((d) => [
        d.id,
        d.service,
        d.environment,
        d.version ?? d.revision?.commit?.slice(0, 7),
        d.status,
        d.source,
        d.startedAt ?? d.createdAt,
        d.finishedAt
          ? duration(Date.parse(d.finishedAt) - Date.parse(d.startedAt ?? d.createdAt))
          : undefined,
      ]),
    ),
  );
  if (body.cursor) context.out.stderr(`more: shipcast deployments list … --cursor ${body.cursor}\n`);
  return EXIT.ok;
}

async function show(args: string[], context: CliContext): Promise<number> {
  const parsed = parseArgs(args, { values: [], booleans: [] });
  const [id] = parsed.positionals;
  if (!id) throw new UsageError('shipcast deployments show <deployment-id>');
  const { body } = await apiOf(context).request<DeploymentView>(
    'GET',
    `/v1/deployments/${encodeURIComponent(id)}`,
  );
  if (context.json) {
    context.out.stdout(`${JSON.stringify(body)}\n`);
    return EXIT.ok;
  }
  const d = body.deployment;
  const lines = [
    `${d.id}  ${describe(d)}`,
    `status:      ${d.status} (${oneLine(d.sourceStatus)})${d.error ? ` — ${oneLine(errorText(d))}` : ''}`,
    `source:      ${d.source} ${oneLine(d.sourceDeploymentId)}`,
    ...(d.revision?.repository || d.revision?.commit
      ? [
          `revision:    ${oneLine(d.revision?.repository ?? '')} ${d.revision?.commit ?? ''} ${d.revision?.ref ?? ''}`.trimEnd(),
        ]
      : []),
    ...(d.actor ? [`actor:       ${oneLine(d.actor)}`] : []),
    `started:     ${d.startedAt ?? d.createdAt}${d.finishedAt ? `, finished ${d.finishedAt}` : ''}`,
    ...(d.rollbackOf ? [`rolls back:  ${d.rollbackOf}`] : []),
    ...(d.rolledBackBy ? [`rolled back: by ${d.rolledBackBy}`] : []),
    ...(d.url ? [`url:         ${oneLine(d.url)}`] : []),
    '',
    table(
      ['SEQ', 'AT', 'FROM', 'TO'],
      d.transitions.map((t) => [String(t.seq), t.at, t.from ?? '-', t.to]),
    ).trimEnd(),
  ];
  if (body.deliveries?.length) {
    lines.push(
      '',
      table(
        ['TARGET', 'DELIVERY', 'ATTEMPTS', 'LAST ERROR'],
        body.deliveries.map((x) => [
          x.target,
          x.state,
          x.attempts === undefined ? undefined : String(x.attempts),
          x.lastError,
        ]),
      ).trimEnd(),
    );
  }
  context.out.stdout(`${lines.join('\n')}\n`);
  return EXIT.ok;
}

function describe(d: PublicDeployment): string {
  return oneLine(
    `${d.service ?? '?'} ${d.version ?? d.revision?.commit?.slice(0, 7) ?? ''} → ${d.environment ?? '?'}`.replace(
      / {2,}/g,
      ' ',
    ),
  );
}

function errorText(d: PublicDeployment): string {
  const error = d.error as { code?: string; message?: string } | undefined;
  return [error?.code, error?.message].filter(Boolean).join(': ');
}
