/**
 * `npm run bench`: Shipcast's throughput, end-to-end latency, AWS calls per event, projected AWS cost and
 * cold start, checked against its budgets (PASS/FAIL per line; exit 1 on a FAIL). See README, "Performance".
 *
 * Processes: this one (load generator, three webhook target servers, a fake CodeDeploy API, reporting),
 * bench/shipcast-process.ts (local mode under test, counted and timed; `--expose-gc`), and DynamoDB Local
 * (Java). Environment: BENCH_DURATION (s, default 60), BENCH_WARMUP (s, 10), BENCH_CONCURRENCY (deployments
 * in flight, 16), BENCH_COLD_RUNS (imports per bundle, 11), BENCH_COLD=0 (skip the cold-start part),
 * BENCH_CPU_PROF=<dir> (write a CPU profile of the process under test). BENCH_SCENARIO=faults runs the
 * faults scenario instead (bench/faults.ts: how long a backlog takes to drain when every target misbehaves).
 * After the run, `GET /v1/metrics/dora` is timed over a window of 10,000 deployments (bench/dora.ts);
 * BENCH_SCENARIO=dora runs only that; BENCH_SCENARIO=cold only the bundles and their init times.
 */
import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import * as table from '../functions/adapters/aws/table.ts';
import { deploymentIdFor } from '../functions/core/ids.ts';
import { codeDeploySourceId } from '../functions/core/sources/codedeploy.ts';
import { RARE_ROUTES_FILE_NAME } from '../functions/handlers/rare-routes-file.ts';
import { startCodeDeployServer } from '../test/support/codedeploy-server.ts';
import { startDynamoDbLocal } from '../test/support/dynamodb-local.ts';
import { isDynamoRead, isDynamoWrite, isSqsSend, sum, sumByIndex, sumByKind } from './aws-calls.ts';
import { buildBaseline, type ColdStart, measureColdStarts, sdkClientsIn, synthesize } from './cold-start.ts';
import { FLOOR_ASSUMPTIONS, floorCost, PRICES_US_EAST_1, projectCost, SHIPCAST_SCOPES } from './cost.ts';
import { runFleetScenario } from './fleet.ts';
import { DORA_BUDGET_MS, DORA_RUNS, type DoraMeasurement, measureDoraRoute, seedDoraWindow } from './dora.ts';
import { runFaultsScenario } from './faults.ts';
import { latencySvg } from './plot.ts';
import type { Report } from './shipcast-process.ts';
import { webhookTargetsConfig } from './webhook-targets.ts';

const num = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number`);
  return value;
};
const DURATION_S = num('BENCH_DURATION', 60);
const WARMUP_S = num('BENCH_WARMUP', 10);
const CONCURRENCY = num('BENCH_CONCURRENCY', 16);
const COLD_RUNS = num('BENCH_COLD_RUNS', 11);
const COLD = process.env.BENCH_COLD !== '0';
const DORA = process.env.BENCH_DORA !== '0';
const TARGETS = 3;
const API_TOKEN = 'bench-api-token-0123456789abcdef';
const GITHUB_SECRET = 'bench-github-webhook-secret-0123456789';
const HOOK_KEY = 'bench-hook-key-0123456789abcdef';
const ACCOUNT = '123456789012';
const REGION = 'us-east-1';
const HERE = new URL('.', import.meta.url);

const BUDGET = {
  dynamoWritesPerEvent: 2,
  dynamoWritesPerDelivery: 1,
  sqsSendsPerEvent: 1,
  bundleAddsKb: 150,
  initRatio: 1.25,
  heapGrowth: 0.2,
  /** Projected USD per million deployment events (this workload, three targets). */
  costPerMillionEvents: 5,
};

/** The table layout the run measured: its indexes, and the shards of the keys every record would share. */
function tableLayout() {
  const exported = table as Record<string, unknown>;
  const count = (name: string) => (typeof exported[name] === 'number' ? (exported[name] as number) : 1);
  return {
    schemaVersion: typeof exported.SCHEMA_VERSION === 'number' ? exported.SCHEMA_VERSION : 1,
    indexes: table.TABLE.indexes.map((index) => ({ name: index.name, projection: index.projection })),
    shards: { byTime: count('LIST_SHARDS'), byRecordedTransition: count('TRANSITION_SHARDS') },
  };
}

/** The commit under test (with `+dirty` when the work tree has changes), for results.json. */
export function commitUnderTest(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      encoding: 'utf8',
    }).trim();
    return dirty ? `${head}+dirty` : head;
  } catch {
    return 'unknown';
  }
}

// ---------------------------------------------------------------------------------------------------
// Target servers: timestamp each arrival; correlate by `shipcast-delivery: <deploymentId>:<seq>`.

interface Expected {
  t0: number;
  to: string;
  arrived: number;
  inWindow: boolean;
  done: () => void;
}
const expected = new Map<string, Expected>();
/** Bytes the process under test wrote to stdout (its logs and EMF metrics, as a Lambda function writes them). */
let logBytes = 0;
const latencies: number[] = [];
const stats = { deliveries: 0, unexpected: 0, wrongStatus: 0, timeouts: 0 };

function startTarget(): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const now = performance.now();
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      stats.deliveries++;
      const key = String(req.headers['shipcast-delivery'] ?? '');
      const entry = expected.get(key);
      if (!entry) {
        stats.unexpected++;
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { transition: { to: string } };
      if (body.transition.to !== entry.to) stats.wrongStatus++;
      if (entry.inWindow) latencies.push(now - entry.t0);
      if (++entry.arrived === TARGETS) {
        expected.delete(key);
        entry.done();
      }
    });
  });
  server.keepAliveTimeout = 30_000;
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }),
    ),
  );
}

// ---------------------------------------------------------------------------------------------------
// The process under test.

function startShipcast(env: NodeJS.ProcessEnv) {
  const execArgv = ['--expose-gc', '--import', 'tsx'];
  if (process.env.BENCH_CPU_PROF) execArgv.push('--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`);
  const child: ChildProcess = fork(new URL('shipcast-process.ts', HERE).pathname, [], {
    execArgv,
    env,
    // stdout (its JSON logs and EMF metrics, written as in Lambda) is counted (CloudWatch Logs bills the bytes)
    // and dropped; stderr is kept.
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  child.stdout?.on('data', (c: Buffer) => {
    logBytes += c.length;
  });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-8000);
  });
  const waiters: {
    type: string;
    resolve: (m: Record<string, unknown>) => void;
    reject: (e: Error) => void;
  }[] = [];
  child.on('message', (m: Record<string, unknown>) => {
    if (m.type === 'error') {
      for (const w of waiters.splice(0)) w.reject(new Error(String(m.message)));
      return;
    }
    const i = waiters.findIndex((w) => w.type === m.type);
    if (i >= 0) waiters.splice(i, 1)[0]!.resolve(m);
  });
  child.on('exit', (code) => {
    for (const w of waiters.splice(0)) w.reject(new Error(`process under test exited ${code}:\n${stderr}`));
  });
  const next = (type: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => waiters.push({ type, resolve, reject }));
  return {
    child,
    next,
    async ask(command: Record<string, unknown>, reply: string) {
      const answer = next(reply);
      child.send(command);
      return answer;
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// The workload: deployments in flight, half CodeDeploy (SNS), a quarter native (HTTP; half of those with
// an Idempotency-Key), a quarter GitHub deployment webhooks (signed, each with its X-GitHub-Delivery).
// 3–5 events per deployment: three transitions (queued → in_progress → end) plus 0–2 events that change no
// status (CodeDeploy instance events; a native repeated "running"; a repeated GitHub in_progress status).

interface Plan {
  deploymentId: string;
  events: { transition?: string; send: () => Promise<void> }[];
}

let deploymentCounter = 0;
let stopping = false;
let windowStart = Number.POSITIVE_INFINITY;
let windowEnd = Number.POSITIVE_INFINITY;
const sent = { codedeploy: 0, native: 0, keyed: 0, github: 0 };

function codeDeployPlan(n: number, sns: SNSClient, topicArn: string, codedeploy: CodeDeployFake): Plan {
  const id = `d-BENCH${n.toString(36).toUpperCase()}`;
  const app = `app-${n % 20}`;
  const group = `${app}-production`;
  const createTime = (Date.now() / 1000).toFixed(3);
  codedeploy.deployments.set(id, {
    deploymentId: id,
    applicationName: app,
    deploymentGroupName: group,
    status: 'Succeeded',
    creator: 'user',
    description: `bench deployment ${n}`,
    createTime: Math.floor(Date.now() / 1000),
    computePlatform: 'Server',
    revision: {
      revisionType: 'GitHub',
      gitHubLocation: { repository: 'acme/checkout', commitId: '9fceb02d0ae598e95dc970b74767f19372d61af8' },
    },
  });
  const failed = n % 10 === 0;
  const publish = (message: Record<string, unknown>) => async () => {
    sent.codedeploy++;
    await sns.send(
      new PublishCommand({
        TopicArn: topicArn,
        Subject: `${String(message.status ?? message.instanceStatus)}: AWS CodeDeploy ${id} in ${REGION} to ${app}`,
        Message: JSON.stringify(message),
      }),
    );
  };
  const deployment = (status: string, completeTime: string | null, overview: Record<string, number>) =>
    publish({
      region: REGION,
      accountId: ACCOUNT,
      eventTriggerName: 'shipcast',
      applicationName: app,
      deploymentId: id,
      deploymentGroupName: group,
      createTime,
      completeTime,
      deploymentOverview: JSON.stringify({
        Succeeded: 0,
        Failed: 0,
        Skipped: 0,
        InProgress: 0,
        Pending: 2,
        ...overview,
      }),
      status,
      rollbackInformation: '{}',
    });
  const events: Plan['events'] = [
    { transition: 'queued', send: deployment('CREATED', null, {}) },
    { transition: 'in_progress', send: deployment('IN_PROGRESS', null, { InProgress: 2, Pending: 0 }) },
  ];
  for (let k = 0; k < n % 3; k++) {
    events.push({
      send: publish({
        region: REGION,
        accountId: ACCOUNT,
        eventTriggerName: 'shipcast',
        deploymentId: id,
        instanceId: `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/i-${n.toString(16)}${k}`,
        lastUpdatedAt: (Date.now() / 1000).toFixed(3),
        instanceStatus: 'Succeeded',
        lifecycleEvents: [
          {
            LifecycleEvent: 'ApplicationStop',
            LifecycleEventStatus: 'Succeeded',
            StartTime: createTime,
            EndTime: createTime,
          },
        ],
      }),
    });
  }
  events.push({
    transition: failed ? 'failed' : 'succeeded',
    send: deployment(
      failed ? 'FAILED' : 'SUCCEEDED',
      (Date.now() / 1000 + 60).toFixed(3),
      failed ? { Failed: 2, Pending: 0 } : { Succeeded: 2, Pending: 0 },
    ),
  });
  return { deploymentId: deploymentIdFor('codedeploy', codeDeploySourceId(ACCOUNT, REGION, id)), events };
}

function nativePlan(n: number, apiUrl: string): Plan {
  const service = `svc-${n % 20}`;
  const runId = `run-${n}`;
  const keyed = n % 8 === 1;
  const base = {
    service,
    environment: 'production',
    deploymentId: runId,
    version: `1.${n}.0`,
    commit: '9fceb02d0ae598e95dc970b74767f19372d61af8',
    repository: 'acme/checkout',
    actor: 'ci-bot',
  };
  const post = (status: string, step: number) => async () => {
    sent.native++;
    if (keyed) sent.keyed++;
    const response = await fetch(`${apiUrl}/v1/events`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${API_TOKEN}`,
        'content-type': 'application/json',
        ...(keyed ? { 'idempotency-key': `${runId}-${step}` } : {}),
      },
      body: JSON.stringify({ ...base, status, description: `step ${step}` }),
    });
    if (response.status !== 202)
      throw new Error(`POST /v1/events answered ${response.status}: ${await response.text()}`);
    await response.arrayBuffer();
  };
  const failed = n % 10 === 1;
  const events: Plan['events'] = [
    { transition: 'queued', send: post('queued', 1) },
    { transition: 'in_progress', send: post('running', 2) },
  ];
  for (let k = 0; k < n % 3; k++) events.push({ send: post('running', 3 + k) });
  events.push({ transition: failed ? 'failed' : 'succeeded', send: post(failed ? 'failure' : 'success', 9) });
  return { deploymentId: deploymentIdFor('native', `${service}/${runId}`), events };
}

const GITHUB_DEPLOYMENT = JSON.parse(
  readFileSync(new URL('../test/fixtures/github/deployment/created.json', import.meta.url), 'utf8'),
) as { deployment: Record<string, unknown>; repository: { full_name: string } } & Record<string, unknown>;
const GITHUB_STATUS = JSON.parse(
  readFileSync(new URL('../test/fixtures/github/deployment_status/created.json', import.meta.url), 'utf8'),
) as { deployment_status: Record<string, unknown> } & Record<string, unknown>;

/** A GitHub deployment as its webhooks report it: `deployment` created, then `deployment_status` events. */
function githubPlan(n: number, apiUrl: string): Plan {
  const githubId = 7_000_000 + n;
  const deployment = {
    ...GITHUB_DEPLOYMENT.deployment,
    id: githubId,
    environment: 'production',
    payload: { service: `gh-svc-${n % 20}` },
    created_at: new Date().toISOString(),
  };
  const deliver = (event: string, body: Record<string, unknown>) => async () => {
    sent.github++;
    const text = JSON.stringify(body);
    const signature = createHmac('sha256', GITHUB_SECRET).update(text).digest('hex');
    const response = await fetch(`${apiUrl}/v1/hooks/github`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': event,
        'x-github-delivery': randomUUID(),
        'x-hub-signature-256': `sha256=${signature}`,
      },
      body: text,
    });
    if (response.status !== 202)
      throw new Error(`POST /v1/hooks/github answered ${response.status}: ${await response.text()}`);
    await response.arrayBuffer();
  };
  let statusId = 0;
  const status = (state: string) =>
    deliver('deployment_status', {
      ...GITHUB_STATUS,
      deployment,
      deployment_status: {
        ...GITHUB_STATUS.deployment_status,
        id: githubId * 10 + ++statusId,
        state,
        created_at: new Date().toISOString(),
      },
    });
  const failed = n % 10 === 3;
  const events: Plan['events'] = [
    { transition: 'queued', send: deliver('deployment', { ...GITHUB_DEPLOYMENT, deployment }) },
    { transition: 'in_progress', send: status('in_progress') },
  ];
  for (let k = 0; k < n % 3; k++) events.push({ send: status('in_progress') });
  events.push({ transition: failed ? 'failed' : 'succeeded', send: status(failed ? 'failure' : 'success') });
  return {
    deploymentId: deploymentIdFor('github', `${GITHUB_DEPLOYMENT.repository.full_name}#${githubId}`),
    events,
  };
}

type CodeDeployFake = Awaited<ReturnType<typeof startCodeDeployServer>>;

async function runDeployment(plan: Plan) {
  let seq = 0;
  for (const event of plan.events) {
    let delivered: Promise<void> | undefined;
    if (event.transition) {
      seq++;
      const key = `${plan.deploymentId}:${seq}`;
      const t0 = performance.now();
      delivered = new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          stats.timeouts++;
          expected.delete(key);
          resolve();
        }, 120_000);
        expected.set(key, {
          t0,
          to: event.transition as string,
          arrived: 0,
          inWindow: t0 >= windowStart && t0 < windowEnd,
          done: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    }
    await event.send();
    // A transition waits until all three targets have it: a closed loop of CONCURRENCY deployments.
    if (delivered) await delivered;
  }
}

// ---------------------------------------------------------------------------------------------------

const pct = (sorted: number[], q: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]! : Number.NaN;
const r2 = (v: number) => Math.round(v * 100) / 100;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Seeds the DORA window into the table of the process under test and times the route over it. */
async function measureDora(dynamodbEndpoint: string, tableName: string, apiUrl: string) {
  const dynamodb = new DynamoDBClient({
    region: REGION,
    endpoint: dynamodbEndpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    console.log('seeding 10,000 finished deployments for the DORA route…');
    await seedDoraWindow(dynamodb, tableName);
    return await measureDoraRoute(apiUrl, API_TOKEN);
  } finally {
    dynamodb.destroy();
  }
}

/** The DORA figure and its budget line, as the main scenario prints them. */
function doraLines(dora: DoraMeasurement) {
  return {
    row: [
      `DORA route over ${dora.deployments} deployments: p50 / max of ${DORA_RUNS} (ms)`,
      `${r2(dora.p50Ms)} / ${r2(dora.maxMs)} (read ${dora.reads.deployments} deployments, ${dora.reads.incidents} incidents)`,
    ] as [string, string],
    budget: {
      line: `DORA route p50, ${dora.deployments} deployments`,
      value: `${dora.p50Ms.toFixed(0)} ms`,
      limit: `< ${DORA_BUDGET_MS} ms`,
      pass: dora.p50Ms < DORA_BUDGET_MS,
    },
  };
}

/**
 * Each function next to its own baseline: a bundle of only the AWS SDK clients that function imports; and the API's
 * rare routes file, its import time after the API bundle's (what the first request to a rare route adds).
 */
type Cold = {
  baselines: ColdStart[];
  functions: (ColdStart & { baseline: string })[];
  rareRoutes?: ColdStart;
};

/** Measures the synthesized bundles and their baselines, interleaved (bench/cold-start.ts). */
async function measureCold(work: string, functions: ReturnType<typeof synthesize>): Promise<Cold> {
  const names = ['api', 'ingest', 'dispatch'] as const;
  const baselineOf = Object.fromEntries(
    names.map((name) => [name, `baseline[${sdkClientsIn(functions[name].bundle).join('+')}]`]),
  ) as Record<(typeof names)[number], string>;
  const baselines = [...new Set(Object.values(baselineOf))];
  const { rareRoutes } = functions.api;
  const baselineBundles = await Promise.all(
    baselines.map((label, i) =>
      buildBaseline(join(work, `baseline-${i}`), label.slice('baseline['.length, -1).split('+') as never),
    ),
  );
  const measured = await measureColdStarts(
    work,
    [
      ...baselines.map((label, i) => ({
        name: label,
        bundle: baselineBundles[i]!,
        nodeOptions: functions.api.nodeOptions,
      })),
      ...names.map((name) => ({
        name,
        bundle: functions[name].bundle,
        nodeOptions: functions[name].nodeOptions,
      })),
      ...(rareRoutes
        ? [
            {
              name: RARE_ROUTES_FILE_NAME,
              bundle: rareRoutes,
              nodeOptions: functions.api.nodeOptions,
              importedFirst: functions.api.bundle,
            },
          ]
        : []),
    ],
    COLD_RUNS,
  );
  return {
    baselines: measured.slice(0, baselines.length),
    functions: measured
      .slice(baselines.length, baselines.length + names.length)
      .map((f) => ({ ...f, baseline: baselineOf[f.name as 'api'] })),
    rareRoutes: measured[baselines.length + names.length],
  };
}

/** The cold-start rows of the table and their budget lines. */
function coldLines(cold: Cold, functions: ReturnType<typeof synthesize>) {
  const rows: [string, string][] = [];
  const budgets: { line: string; value: string; limit: string; pass: boolean }[] = [];
  for (const b of cold.baselines) {
    rows.push([`bundle / init (median of ${COLD_RUNS}) ${b.name}`, `${r2(b.bytes / 1024)} KB / ${r2(b.initMs)} ms`]);
  }
  for (const f of cold.functions) {
    const baseline = cold.baselines.find((b) => b.name === f.baseline)!;
    const addsKb = (f.bytes - baseline.bytes) / 1024;
    const ratio = f.initMs / baseline.initMs;
    rows.push([
      `bundle / init ${f.name} (${functions[f.name as 'api'].memoryMb} MB) vs ${f.baseline}`,
      `${r2(f.bytes / 1024)} KB (+${r2(addsKb)}) / ${r2(f.initMs)} ms (${r2(ratio)}×)`,
    ]);
    budgets.push({
      line: `${f.name} bundle adds to baseline`,
      value: `${addsKb.toFixed(1)} KB`,
      limit: `≤ ${BUDGET.bundleAddsKb} KB`,
      pass: addsKb <= BUDGET.bundleAddsKb,
    });
    budgets.push({
      line: `${f.name} init vs baseline`,
      value: `${ratio.toFixed(2)}×`,
      limit: `≤ ${BUDGET.initRatio}×`,
      pass: ratio <= BUDGET.initRatio,
    });
  }
  if (cold.rareRoutes) {
    rows.push([
      `${cold.rareRoutes.name} next to the api bundle / its import after it (first rare request)`,
      `${r2(cold.rareRoutes.bytes / 1024)} KB / ${r2(cold.rareRoutes.initMs)} ms`,
    ]);
  }
  return { rows, budgets };
}

/** `BENCH_SCENARIO=cold`: only the bundles and their init times (a minute, no load run). */
async function runColdScenario() {
  const work = mkdtempSync(join(tmpdir(), 'shipcast-bench-cold-'));
  try {
    console.log(`load ${loadavg()[0]?.toFixed(1)} at start; synthesizing the stack…`);
    const functions = synthesize(join(work, 'cdk.out'));
    const { rows, budgets } = coldLines(await measureCold(work, functions), functions);
    const width = Math.max(...rows.map(([k]) => k.length));
    console.log('');
    for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
    console.log(`load ${loadavg()[0]?.toFixed(1)} at end\n`);
    const bw = Math.max(...budgets.map((b) => b.line.length));
    for (const b of budgets)
      console.log(`${b.pass ? 'PASS' : 'FAIL'}  ${b.line.padEnd(bw)}  ${b.value.padStart(10)}  (${b.limit})`);
    process.exitCode = budgets.every((b) => b.pass) ? 0 : 1;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** `BENCH_SCENARIO=dora`: only the DORA route's latency. */
async function runDoraScenario() {
  const dynamodb = await startDynamoDbLocal();
  const shipcast = startShipcast({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    BENCH_CONFIG: JSON.stringify({
      api: { tokens: [{ name: 'bench', secret: 'api-token' }] },
      targets: { console: { type: 'log' } },
      routes: [{ targets: ['console'] }],
    }),
    BENCH_DYNAMODB_ENDPOINT: dynamodb.endpoint,
    SHIPCAST_SECRET_API_TOKEN: API_TOKEN,
  });
  try {
    const ready = (await shipcast.next('ready')) as { apiUrl: string };
    const dora = await measureDora(dynamodb.endpoint, `bench-${shipcast.child.pid}`, ready.apiUrl);
    const { row, budget } = doraLines(dora);
    console.log(`\n${row[0]}  ${row[1]}\n`);
    console.log(`${budget.pass ? 'PASS' : 'FAIL'}  ${budget.line}  ${budget.value}  (${budget.limit})`);
    process.exitCode = budget.pass ? 0 : 1;
  } finally {
    await shipcast.ask({ type: 'stop' }, 'stopped');
    await dynamodb.stop();
  }
}

async function main() {
  const commit = commitUnderTest();
  if (process.env.BENCH_SCENARIO === 'faults') return runFaultsScenario(startShipcast);
  if (process.env.BENCH_SCENARIO === 'fleet') return runFleetScenario(startShipcast);
  if (process.env.BENCH_SCENARIO === 'dora') return runDoraScenario();
  if (process.env.BENCH_SCENARIO === 'cold') return runColdScenario();
  const machine = {
    cpu:
      /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ??
      cpus()[0]?.model ??
      'unknown',
    cores: cpus().length,
    node: process.version,
    loadAverageAtStart: loadavg()[0],
    memoryGiB:
      Math.round(
        (Number(readFileSync('/proc/meminfo', 'utf8').match(/MemTotal:\s+(\d+)/)?.[1]) / 1024 / 1024) * 10,
      ) / 10,
  };
  console.log(
    `Shipcast bench: ${DURATION_S} s measured after ${WARMUP_S} s warm-up, ${CONCURRENCY} deployments in flight`,
  );
  console.log(
    `machine: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, load ${loadavg()[0]?.toFixed(1)}`,
  );

  const dynamodb = await startDynamoDbLocal();
  const codedeploy = await startCodeDeployServer();
  const targets = await Promise.all([startTarget(), startTarget(), startTarget()]);
  const config = webhookTargetsConfig(targets, { codedeploy: { enrich: true }, github: { secret: 'github-webhook' } });
  const shipcast = startShipcast({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    BENCH_CONFIG: JSON.stringify(config),
    BENCH_DYNAMODB_ENDPOINT: dynamodb.endpoint,
    BENCH_CODEDEPLOY_ENDPOINT: codedeploy.endpoint,
    SHIPCAST_SECRET_API_TOKEN: API_TOKEN,
    SHIPCAST_SECRET_GITHUB_WEBHOOK: GITHUB_SECRET,
    SHIPCAST_SECRET_HOOK_KEY: HOOK_KEY,
  });
  const ready = (await shipcast.next('ready')) as {
    apiUrl: string;
    sqsSnsEndpoint: string;
    topicArn: string;
  };
  const sns = new SNSClient({
    region: REGION,
    endpoint: ready.sqsSnsEndpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });

  let failure: unknown;
  const sessions = Array.from({ length: CONCURRENCY }, async () => {
    while (!stopping && !failure) {
      const n = ++deploymentCounter;
      const plan =
        n % 2 === 0
          ? codeDeployPlan(n, sns, ready.topicArn, codedeploy)
          : n % 4 === 1
            ? nativePlan(n, ready.apiUrl)
            : githubPlan(n, ready.apiUrl);
      try {
        await runDeployment(plan);
      } catch (error) {
        failure = error;
      }
    }
  });

  await sleep(WARMUP_S * 1000);
  const warm = (await shipcast.ask({ type: 'reset' }, 'reset')) as { heapUsed: number };
  const logBytesAtStart = logBytes;
  const codeDeployCallsAtStart = codedeploy.requests.length;
  windowStart = performance.now();
  const sentAtStart = { ...sent };
  console.log(`warm-up done (${deploymentCounter} deployments started); measuring…`);
  await sleep(DURATION_S * 1000);
  windowEnd = performance.now();
  const atEnd = ((await shipcast.ask({ type: 'report' }, 'report')) as { report: Report }).report;
  stopping = true;
  await Promise.all(sessions);
  if (failure) throw failure;
  const drained = ((await shipcast.ask({ type: 'report', drain: true }, 'report')) as { report: Report })
    .report;
  const logBytesInWindow = logBytes - logBytesAtStart;
  // The enricher's CodeDeploy client is not one the counter wraps: the fake CodeDeploy API counts its calls.
  const codeDeployCalls = codedeploy.requests.length - codeDeployCallsAtStart;
  const dora = DORA
    ? await measureDora(dynamodb.endpoint, `bench-${shipcast.child.pid}`, ready.apiUrl)
    : undefined;
  await shipcast.ask({ type: 'stop' }, 'stopped');
  sns.destroy();
  for (const t of targets) t.server.close();
  await codedeploy.close();
  await dynamodb.stop();

  // -------------------------------------------------------------------------------------------------
  // Cold start (the machine is quiet now) and the memory sizes of the functions.
  const work = mkdtempSync(join(tmpdir(), 'shipcast-bench-cold-'));
  console.log('synthesizing the stack for bundles and memory sizes…');
  const functions = synthesize(join(work, 'cdk.out'));
  const cold = COLD ? await measureCold(work, functions) : undefined;
  rmSync(work, { recursive: true, force: true });

  // -------------------------------------------------------------------------------------------------
  // Figures.
  const seconds = atEnd.elapsedMs / 1000;
  const eventsAtEnd = Object.values(atEnd.events).reduce((a, b) => a + b, 0);
  const c = drained.counts;
  const ev = drained.events;
  const normalEvents = (ev.api ?? 0) + (ev.ingest ?? 0);
  const keyedEvents = ev['api-keyed'] ?? 0;
  const hookEvents = ev['api-hook'] ?? 0;
  const allEvents = normalEvents + keyedEvents + hookEvents;
  const deliveries = drained.dispatched;
  const per = (n: number, d: number) => (d > 0 ? n / d : Number.NaN);
  const ingestScopes = ['api', 'api-keyed', 'api-hook', 'ingest'];
  const sorted = [...latencies].sort((a, b) => a - b);
  const latency = {
    p50: pct(sorted, 0.5),
    p95: pct(sorted, 0.95),
    p99: pct(sorted, 0.99),
    max: sorted.at(-1) ?? Number.NaN,
  };
  const durationStats = Object.fromEntries(
    Object.entries(drained.durations).map(([k, list]) => {
      const s = [...list].sort((a, b) => a - b);
      return [
        k,
        {
          invocations: s.length,
          p50: pct(s, 0.5),
          p95: pct(s, 0.95),
          mean: s.reduce((a, b) => a + b, 0) / s.length,
        },
      ];
    }),
  );
  const cost = projectCost({
    counts: c,
    durations: drained.durations,
    memoryMb: {
      api: functions.api.memoryMb,
      ingest: functions.ingest.memoryMb,
      dispatch: functions.dispatch.memoryMb,
    },
    events: allEvents,
    snsPublishes: ev.ingest ?? 0,
  });
  const floor = floorCost({
    events: allEvents,
    snsEvents: ev.ingest ?? 0,
    httpEvents: normalEvents - (ev.ingest ?? 0) + keyedEvents + hookEvents,
    deliveries,
    targetsPerTransition: TARGETS,
    memoryMb: {
      api: functions.api.memoryMb,
      ingest: functions.ingest.memoryMb,
      dispatch: functions.dispatch.memoryMb,
    },
  });
  const calls = {
    normalPath: {
      events: normalEvents,
      dynamoWritesPerEvent: per(sum(c, ['api', 'ingest'], isDynamoWrite, 'items'), normalEvents),
      dynamoReadsPerEvent: per(sum(c, ['api', 'ingest'], isDynamoRead), normalEvents),
      http: {
        events: ev.api ?? 0,
        dynamoWrites: per(sum(c, ['api'], isDynamoWrite, 'items'), ev.api ?? 0),
        dynamoReads: per(sum(c, ['api'], isDynamoRead), ev.api ?? 0),
      },
      codedeploy: {
        events: ev.ingest ?? 0,
        dynamoWrites: per(sum(c, ['ingest'], isDynamoWrite, 'items'), ev.ingest ?? 0),
        dynamoReads: per(sum(c, ['ingest'], isDynamoRead), ev.ingest ?? 0),
      },
    },
    keyedPath: {
      events: keyedEvents,
      dynamoWritesPerEvent: per(sum(c, ['api-keyed'], isDynamoWrite, 'items'), keyedEvents),
      dynamoReadsPerEvent: per(sum(c, ['api-keyed'], isDynamoRead), keyedEvents),
    },
    /** GitHub webhooks: like a keyed call, each delivery id is kept so a redelivery changes nothing. */
    webhookPath: {
      events: hookEvents,
      dynamoWritesPerEvent: per(sum(c, ['api-hook'], isDynamoWrite, 'items'), hookEvents),
      dynamoReadsPerEvent: per(sum(c, ['api-hook'], isDynamoRead), hookEvents),
    },
    sqsSendRequestsPerEvent: per(sum(c, ingestScopes, isSqsSend), allEvents),
    sqsMessagesPerEvent: per(sum(c, ingestScopes, isSqsSend, 'messages'), allEvents),
    ingestQueue: {
      receivesPerEvent: per(
        sum(c, ['ingest-esm'], (x) => x === 'SQS.ReceiveMessage'),
        ev.ingest ?? 0,
      ),
      deletesPerEvent: per(
        sum(c, ['ingest-esm'], (x) => x.startsWith('SQS.DeleteMessage')),
        ev.ingest ?? 0,
      ),
    },
    dispatch: {
      deliveries,
      dynamoWritesPerDelivery: per(sum(c, ['dispatch'], isDynamoWrite, 'items'), deliveries),
      dynamoReadsPerDelivery: per(sum(c, ['dispatch'], isDynamoRead), deliveries),
      sqsReceivesPerDelivery: per(
        sum(c, ['dispatch-esm'], (x) => x === 'SQS.ReceiveMessage'),
        deliveries,
      ),
      sqsDeletesPerDelivery: per(
        sum(c, ['dispatch-esm'], (x) => x.startsWith('SQS.DeleteMessage')),
        deliveries,
      ),
      sqsOtherPerDelivery: per(
        sum(c, ['dispatch'], (x) => x.startsWith('SQS.')),
        deliveries,
      ),
    },
    wruPerEvent: per(sum(c, ingestScopes, isDynamoWrite, 'units'), allEvents),
    wruOfGsisPerEvent: per(sum(c, ingestScopes, isDynamoWrite, 'indexUnits'), allEvents),
    wruPerDelivery: per(sum(c, ['dispatch'], isDynamoWrite, 'units'), deliveries),
    maxItemBytes: Object.fromEntries(
      Object.entries(c).flatMap(([where, byCommand]) =>
        Object.entries(byCommand)
          .filter(([, s]) => s.maxItemBytes > 0)
          .map(([command, s]) => [`${where} ${command}`, s.maxItemBytes]),
      ),
    ),
  };
  const heapGrowth = (drained.heapUsed - warm.heapUsed) / warm.heapUsed;

  const budgets: { line: string; value: string; limit: string; pass: boolean }[] = [];
  const check = (line: string, value: number, limit: number, unit = '', digits = 2) =>
    budgets.push({
      line,
      value: `${value.toFixed(digits)}${unit}`,
      limit: `≤ ${limit}${unit}`,
      pass: value <= limit,
    });
  check(
    'DynamoDB writes per ingested event (normal path)',
    calls.normalPath.dynamoWritesPerEvent,
    BUDGET.dynamoWritesPerEvent,
  );
  check(
    'DynamoDB writes per delivery',
    calls.dispatch.dynamoWritesPerDelivery,
    BUDGET.dynamoWritesPerDelivery,
  );
  check('SQS send requests per ingested event', calls.sqsSendRequestsPerEvent, BUDGET.sqsSendsPerEvent);
  if (cold) budgets.push(...coldLines(cold, functions).budgets);
  check('heap growth after the run vs after warm-up', heapGrowth * 100, BUDGET.heapGrowth * 100, ' %', 1);
  check('projected USD per million deployment events', cost.perMillionEvents, BUDGET.costPerMillionEvents);
  if (dora) budgets.push(doraLines(dora).budget);

  // -------------------------------------------------------------------------------------------------
  const rows: [string, string][] = [
    ['events ingested / s (sustained)', `${r2(eventsAtEnd / seconds)} (${eventsAtEnd} in ${r2(seconds)} s)`],
    [
      '  of which CodeDeploy via SNS / HTTP / HTTP keyed / GitHub webhooks',
      `${atEnd.events.ingest ?? 0} / ${atEnd.events.api ?? 0} / ${atEnd.events['api-keyed'] ?? 0} / ${atEnd.events['api-hook'] ?? 0}`,
    ],
    ['CPU ms per event, process under test (incl. fauxqs)', `${r2(drained.cpuMs / allEvents)}`],
    ['deliveries / s', `${r2(atEnd.dispatched / seconds)}`],
    [
      'latency ingest → target p50 / p95 / p99 / max (ms)',
      `${r2(latency.p50)} / ${r2(latency.p95)} / ${r2(latency.p99)} / ${r2(latency.max)} (n=${sorted.length})`,
    ],
    [
      'DynamoDB writes / reads per event, normal path',
      `${r2(calls.normalPath.dynamoWritesPerEvent)} / ${r2(calls.normalPath.dynamoReadsPerEvent)}`,
    ],
    [
      '  HTTP unkeyed / CodeDeploy (writes)',
      `${r2(calls.normalPath.http.dynamoWrites)} / ${r2(calls.normalPath.codedeploy.dynamoWrites)}`,
    ],
    [
      'DynamoDB writes / reads per event, Idempotency-Key',
      `${r2(calls.keyedPath.dynamoWritesPerEvent)} / ${r2(calls.keyedPath.dynamoReadsPerEvent)}`,
    ],
    [
      'DynamoDB writes / reads per event, GitHub webhook (delivery id kept)',
      `${r2(calls.webhookPath.dynamoWritesPerEvent)} / ${r2(calls.webhookPath.dynamoReadsPerEvent)}`,
    ],
    [
      'DynamoDB writes / reads per delivery',
      `${r2(calls.dispatch.dynamoWritesPerDelivery)} / ${r2(calls.dispatch.dynamoReadsPerDelivery)}`,
    ],
    [
      'WRU per event (of which GSIs) / per delivery',
      `${r2(calls.wruPerEvent)} (${r2(calls.wruOfGsisPerEvent)}) / ${r2(calls.wruPerDelivery)}`,
    ],
    [
      'WRU per event by item (table + its index entries), all handlers',
      byKindLine(sumByKind(c, SHIPCAST_SCOPES, isDynamoWrite), allEvents),
    ],
    [
      'of which index WRU per event, by index',
      byKindLine(sumByIndex(c, SHIPCAST_SCOPES, isDynamoWrite), allEvents),
    ],
    [
      'RRU per event by item, all handlers',
      byKindLine(sumByKind(c, SHIPCAST_SCOPES, isDynamoRead), allEvents),
    ],
    [
      'SQS send requests / messages per event',
      `${r2(calls.sqsSendRequestsPerEvent)} / ${r2(calls.sqsMessagesPerEvent)}`,
    ],
    [
      'SQS receives / deletes per event (ingest queue)',
      `${r2(calls.ingestQueue.receivesPerEvent)} / ${r2(calls.ingestQueue.deletesPerEvent)}`,
    ],
    [
      'SQS receives / deletes per delivery (dispatch queue)',
      `${r2(calls.dispatch.sqsReceivesPerDelivery)} / ${r2(calls.dispatch.sqsDeletesPerDelivery)}`,
    ],
    ...Object.entries(durationStats).map(([k, d]): [string, string] => [
      `handler ${k}: invocations, p50 / p95 ms`,
      `${d.invocations}, ${r2(d.p50)} / ${r2(d.p95)}`,
    ]),
    ...cost.lines.map((l): [string, string] => [
      `cost: ${l.item}`,
      `$${l.usd.toFixed(6)} (${r2(l.quantity)} ${l.unit})`,
    ]),
    ['projected USD per million deployment events', `$${cost.perMillionEvents.toFixed(2)}`],
    [
      'log bytes per event (CloudWatch Logs, not in the projection)',
      `${r2(logBytesInWindow / allEvents)} (≈ $${((logBytesInWindow / allEvents / 2 ** 30) * PRICES_US_EAST_1.cloudWatchLogsIngestedGb * 1e6).toFixed(2)} per million events)`,
    ],
    ...cost.lines.map((l, i): [string, string] => {
      const f = floor.lines[i]!;
      const perM = (usd: number) => (allEvents > 0 ? (usd / allEvents) * 1e6 : 0);
      return [
        `per million events, today / floor / gap: ${l.item}`,
        `$${perM(l.usd).toFixed(2)} / $${perM(f.usd).toFixed(2)} / $${perM(l.usd - f.usd).toFixed(2)}`,
      ];
    }),
    [
      'floor USD per million events (minimum calls, bench/cost.ts FLOOR_ASSUMPTIONS)',
      `$${floor.perMillionEvents.toFixed(2)}`,
    ],
    [
      'gap to the floor',
      `$${(cost.perMillionEvents - floor.perMillionEvents).toFixed(2)} (${r2((cost.perMillionEvents / floor.perMillionEvents - 1) * 100)} % above)`,
    ],
    [
      'heap after GC: warm-up → end',
      `${r2(warm.heapUsed / 2 ** 20)} MiB → ${r2(drained.heapUsed / 2 ** 20)} MiB`,
    ],
  ];
  if (dora) rows.push(doraLines(dora).row);
  rows.push([
    'load average (1 min) at start / end',
    `${machine.loadAverageAtStart?.toFixed(1)} / ${loadavg()[0]?.toFixed(1)}`,
  ]);
  if (cold) rows.push(...coldLines(cold, functions).rows);
  rows.push([
    'correlation: deliveries / unexpected / wrong status / timeouts',
    `${stats.deliveries} / ${stats.unexpected} / ${stats.wrongStatus} / ${stats.timeouts}`,
  ]);
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log('');
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
  console.log('');
  const bw = Math.max(...budgets.map((b) => b.line.length));
  for (const b of budgets)
    console.log(`${b.pass ? 'PASS' : 'FAIL'}  ${b.line.padEnd(bw)}  ${b.value.padStart(10)}  (${b.limit})`);

  const perEvent = (n: number) => per(n, allEvents);
  const fnGbSeconds = (fn: 'api' | 'ingest' | 'dispatch') =>
    Object.entries(drained.durations)
      .filter(([where]) => (where.startsWith('api') ? 'api' : where) === fn)
      .reduce((n, [, list]) => n + list.reduce((m, ms) => m + Math.ceil(ms) / 1000, 0), 0) *
    (functions[fn].memoryMb / 1024);
  const invocationsOf = (fn: 'api' | 'ingest' | 'dispatch') =>
    Object.entries(drained.durations)
      .filter(([where]) => (where.startsWith('api') ? 'api' : where) === fn)
      .reduce((n, [, list]) => n + list.length, 0);
  /** What docs/scaling.md's model (scripts/scale-model.ts) computes from: per ingested event of this mix. */
  const model = {
    commit,
    at: new Date().toISOString(),
    machine: { ...machine, loadAverageAtEnd: loadavg()[0] },
    workload: {
      eventsPerSecond: eventsAtEnd / seconds,
      concurrency: CONCURRENCY,
      targetsPerRoute: TARGETS,
      shareThroughSns: per(ev.ingest ?? 0, allEvents),
    },
    perEvent: {
      deliveries: perEvent(deliveries),
      dynamoWriteUnits: perEvent(sum(c, SHIPCAST_SCOPES, isDynamoWrite, 'units')),
      dynamoReadUnits: perEvent(sum(c, SHIPCAST_SCOPES, isDynamoRead, 'units')),
      dynamoIndexWriteUnits: Object.fromEntries(
        Object.entries(sumByIndex(c, SHIPCAST_SCOPES, isDynamoWrite)).map(([k, v]) => [k, perEvent(v)]),
      ),
      dynamoWriteUnitsByKind: Object.fromEntries(
        Object.entries(sumByKind(c, SHIPCAST_SCOPES, isDynamoWrite)).map(([k, v]) => [k, perEvent(v)]),
      ),
      dynamoIndexReadUnits: Object.fromEntries(
        Object.entries(sumByIndex(c, SHIPCAST_SCOPES, isDynamoRead)).map(([k, v]) => [k, perEvent(v)]),
      ),
      dynamoWrites: perEvent(sum(c, SHIPCAST_SCOPES, isDynamoWrite, 'items')),
      dynamoReads: perEvent(sum(c, SHIPCAST_SCOPES, isDynamoRead)),
      dispatchSendRequests: perEvent(sum(c, ingestScopes, isSqsSend)),
      dispatchMessages: perEvent(sum(c, ingestScopes, isSqsSend, 'messages')),
      dispatchReceives: perEvent(sum(c, ['dispatch-esm'], (x) => x === 'SQS.ReceiveMessage')),
      dispatchDeletes: perEvent(sum(c, ['dispatch-esm'], (x) => x.startsWith('SQS.DeleteMessage'))),
      ingestReceives: perEvent(sum(c, ['ingest-esm'], (x) => x === 'SQS.ReceiveMessage')),
      dispatchQueueRequests: perEvent(sum(c, SHIPCAST_SCOPES, (x) => x.startsWith('SQS.'), 'fifoBilled')),
      ingestQueueRequests: perEvent(
        sum(c, SHIPCAST_SCOPES, (x) => x.startsWith('SQS.'), 'billed') -
          sum(c, SHIPCAST_SCOPES, (x) => x.startsWith('SQS.'), 'fifoBilled'),
      ),
      snsPublishes: per(ev.ingest ?? 0, allEvents),
      codeDeployCalls: perEvent(codeDeployCalls),
      secretsManagerCalls: perEvent(sum(c, SHIPCAST_SCOPES, (x) => x.startsWith('SecretsManager.'))),
      lambdaInvocations: {
        api: perEvent(invocationsOf('api')),
        ingest: perEvent(invocationsOf('ingest')),
        dispatch: perEvent(invocationsOf('dispatch')),
      },
      lambdaGbSeconds: {
        api: perEvent(fnGbSeconds('api')),
        ingest: perEvent(fnGbSeconds('ingest')),
        dispatch: perEvent(fnGbSeconds('dispatch')),
      },
      lambdaMs: {
        api: perEvent(fnGbSeconds('api') / (functions.api.memoryMb / 1024)) * 1000,
        ingest: perEvent(fnGbSeconds('ingest') / (functions.ingest.memoryMb / 1024)) * 1000,
        dispatch: perEvent(fnGbSeconds('dispatch') / (functions.dispatch.memoryMb / 1024)) * 1000,
      },
      usd: cost.perMillionEvents / 1e6,
      usdByItem: Object.fromEntries(cost.lines.map((l) => [l.item, perEvent(l.usd)])),
      floorUsd: floor.perMillionEvents / 1e6,
      /** Log and EMF bytes written (CloudWatch Logs ingestion; not in the cost budget's figure). */
      logBytes: per(logBytesInWindow, allEvents),
    },
    memoryMb: {
      api: functions.api.memoryMb,
      ingest: functions.ingest.memoryMb,
      dispatch: functions.dispatch.memoryMb,
    },
    table: tableLayout(),
  };
  const results = {
    at: new Date().toISOString(),
    model,
    machine,
    settings: {
      durationS: DURATION_S,
      warmupS: WARMUP_S,
      concurrency: CONCURRENCY,
      coldRuns: COLD_RUNS,
      targetsPerRoute: TARGETS,
    },
    sent: {
      total: sent,
      sinceWarmup: {
        codedeploy: sent.codedeploy - sentAtStart.codedeploy,
        native: sent.native - sentAtStart.native,
        github: sent.github - sentAtStart.github,
      },
    },
    throughput: {
      eventsPerSecond: eventsAtEnd / seconds,
      deliveriesPerSecond: atEnd.dispatched / seconds,
      events: atEnd.events,
      seconds,
    },
    latencyMs: { ...latency, n: sorted.length },
    calls,
    counts: c,
    handlers: durationStats,
    memoryMb: {
      api: functions.api.memoryMb,
      ingest: functions.ingest.memoryMb,
      dispatch: functions.dispatch.memoryMb,
    },
    cost: { prices: PRICES_US_EAST_1, scopes: SHIPCAST_SCOPES, ...cost },
    floor: { assumptions: FLOOR_ASSUMPTIONS, ...floor },
    loadAverageAtEnd: loadavg()[0],
    cpuMsPerEvent: drained.cpuMs / allEvents,
    heap: {
      afterWarmup: warm.heapUsed,
      afterRun: drained.heapUsed,
      growth: heapGrowth,
      rssAfterRun: drained.rss,
    },
    cold,
    correlation: stats,
    dora,
    budgets,
  };
  // The fleet scenario's figures (BENCH_SCENARIO=fleet) stay until it runs again.
  const file = new URL('results.json', HERE);
  const fleet = existsSync(file)
    ? (JSON.parse(readFileSync(file, 'utf8')) as { fleet?: unknown }).fleet
    : undefined;
  writeFileSync(file, `${JSON.stringify({ ...results, ...(fleet ? { fleet } : {}) }, null, 2)}\n`);
  writeFileSync(
    new URL('latency.svg', HERE),
    latencySvg(
      sorted,
      latency,
      `Shipcast local mode: ${sorted.length} deliveries, ${CONCURRENCY} deployments in flight, ${machine.cores} cores`,
    ),
  );
  console.log('\nwrote bench/results.json and bench/latency.svg');
  process.exitCode = budgets.every((b) => b.pass) ? 0 : 1;
}

main().catch((error) => {
  console.error(error);
  process.exit(2);
});

/** `kind 1.23, kind 0.45` per event, largest first. */
function byKindLine(units: Record<string, number>, events: number): string {
  return Object.entries(units)
    .sort(([, a], [, b]) => b - a)
    .map(([kind, u]) => `${kind} ${(events ? u / events : 0).toFixed(2)}`)
    .join(', ');
}
