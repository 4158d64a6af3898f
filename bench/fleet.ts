/**
 * `BENCH_SCENARIO=fleet npm run bench`: a CodeDeploy deployment to a fleet. CodeDeploy publishes two instance
 * events per instance (InstanceStart, then InstanceSuccess) within seconds, next to the deployment's own three
 * (CREATED, the first instance's start which makes it in_progress, SUCCEEDED). Measured, in the same process
 * under test as the main scenario (local mode on DynamoDB Local, every AWS call counted):
 * 1. the storm alone: DynamoDB writes and units, dispatch sends and projected cost per instance event, and the
 *    latency of the deployment's own transitions (from the publish that causes each to all three targets);
 * 2. other deployments' transitions, quiet and then while a second storm runs.
 * The figures are printed and merged into bench/results.json under `fleet` (the scale model reads them).
 * Environment: BENCH_FLEET_INSTANCES (1000), BENCH_FLEET_PROBES (deployments beside the storm, 8).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { deploymentIdFor } from '../functions/core/ids.ts';
import { codeDeploySourceId } from '../functions/core/sources/codedeploy.ts';
import { startCodeDeployServer } from '../test/support/codedeploy-server.ts';
import { startDynamoDbLocal } from '../test/support/dynamodb-local.ts';
import { isDynamoRead, isDynamoWrite, isSqsSend, sum } from './aws-calls.ts';
import { projectCost } from './cost.ts';
import type { ShipcastUnderTest } from './faults.ts';
import type { Report } from './shipcast-process.ts';
import { webhookTargetsConfig } from './webhook-targets.ts';

const num = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a whole number ≥ 1`);
  return value;
};
const INSTANCES = num('BENCH_FLEET_INSTANCES', 1000);
const PROBES = num('BENCH_FLEET_PROBES', 8);
const TARGETS = 3;
const ACCOUNT = '123456789012';
const REGION = 'us-east-1';
const API_TOKEN = 'bench-api-token-0123456789abcdef';
const HOOK_KEY = 'bench-hook-key-0123456789abcdef';
/** Publishes in flight at once: CodeDeploy's instance events arrive within seconds. */
const PUBLISH_PARALLEL = 50;
/** The construct's default memory sizes (lib/shipcast.ts), for the cost of the storm. */
const MEMORY_MB = { api: 512, ingest: 256, dispatch: 256 };

/** Arrivals at the three webhook targets, by `shipcast-delivery: <deploymentId>:<seq>`. */
const waiting = new Map<string, { arrived: number; done: (at: number) => void }>();

function startTarget(): Promise<Server & { url: string }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const at = performance.now();
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      const entry = waiting.get(String(req.headers['shipcast-delivery'] ?? ''));
      if (entry && ++entry.arrived === TARGETS) entry.done(at);
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve(Object.assign(server, { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })),
    ),
  );
}

/** Resolves with the time the transition `seq` of `deploymentId` reached all three targets. */
function delivered(deploymentId: string, seq: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${deploymentId}:${seq} not delivered in 10 min`)),
      600_000,
    );
    waiting.set(`${deploymentId}:${seq}`, {
      arrived: 0,
      done: (at) => {
        clearTimeout(timer);
        resolve(at);
      },
    });
  });
}

/** Runs the fleet scenario with `startShipcast` (bench/run.ts's process under test); prints the figures. */
export async function runFleetScenario(
  startShipcast: (env: NodeJS.ProcessEnv) => ShipcastUnderTest & { child: { kill(): void } },
): Promise<void> {
  console.log(
    `Shipcast bench, fleet scenario: ${INSTANCES} instances (${2 * INSTANCES} instance events), ` +
      `${PROBES} deployments beside it, load ${loadavg()[0]?.toFixed(1)}`,
  );
  const dynamodb = await startDynamoDbLocal();
  const codedeploy = await startCodeDeployServer();
  const targets = await Promise.all(Array.from({ length: TARGETS }, startTarget));
  const config = webhookTargetsConfig(targets, { codedeploy: { enrich: true } });
  const shipcast = startShipcast({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    BENCH_CONFIG: JSON.stringify(config),
    BENCH_DYNAMODB_ENDPOINT: dynamodb.endpoint,
    BENCH_CODEDEPLOY_ENDPOINT: codedeploy.endpoint,
    SHIPCAST_SECRET_API_TOKEN: API_TOKEN,
    SHIPCAST_SECRET_HOOK_KEY: HOOK_KEY,
  });
  let sns: SNSClient | undefined;
  try {
    const ready = (await shipcast.next('ready')) as {
      apiUrl: string;
      sqsSnsEndpoint: string;
      topicArn: string;
    };
    const client = new SNSClient({
      region: REGION,
      endpoint: ready.sqsSnsEndpoint,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    sns = client;
    let counter = 0;

    /** A CodeDeploy deployment as its trigger messages report it. */
    const deployment = (instances: number) => {
      const n = ++counter;
      const id = `d-FLEET${n.toString().padStart(5, '0')}`;
      const app = `fleet-app-${n}`;
      const group = `${app}-production`;
      const createTime = (Date.now() / 1000).toFixed(3);
      codedeploy.deployments.set(id, {
        deploymentId: id,
        applicationName: app,
        deploymentGroupName: group,
        status: 'Succeeded',
        creator: 'user',
        createTime: Math.floor(Date.now() / 1000),
        computePlatform: 'Server',
        revision: {
          revisionType: 'GitHub',
          gitHubLocation: { repository: 'acme/fleet', commitId: '9fceb02d0ae598e95dc970b74767f19372d61af8' },
        },
      });
      const publish = (message: Record<string, unknown>) =>
        client.send(
          new PublishCommand({
            TopicArn: ready.topicArn,
            Subject: `${String(message.status ?? message.instanceStatus)}: AWS CodeDeploy ${id} in ${REGION}`,
            Message: JSON.stringify(message),
          }),
        );
      const status = (value: string, overview: Record<string, number>) =>
        publish({
          region: REGION,
          accountId: ACCOUNT,
          eventTriggerName: 'shipcast',
          applicationName: app,
          deploymentId: id,
          deploymentGroupName: group,
          createTime,
          completeTime: value === 'SUCCEEDED' ? (Date.now() / 1000).toFixed(3) : null,
          deploymentOverview: JSON.stringify({
            Pending: 0,
            InProgress: 0,
            Succeeded: 0,
            Failed: 0,
            Skipped: 0,
            ...overview,
          }),
          status: value,
          rollbackInformation: '{}',
        });
      const instance = (i: number, instanceStatus: string) =>
        publish({
          region: REGION,
          accountId: ACCOUNT,
          eventTriggerName: 'shipcast',
          deploymentId: id,
          instanceId: `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/i-${n.toString(16)}${i.toString(16).padStart(8, '0')}`,
          lastUpdatedAt: (Date.now() / 1000).toFixed(3),
          instanceStatus,
          lifecycleEvents: [],
        });
      return {
        id: deploymentIdFor('codedeploy', codeDeploySourceId(ACCOUNT, REGION, id)),
        created: () => status('CREATED', { Pending: instances }),
        succeeded: () => status('SUCCEEDED', { Succeeded: instances }),
        /** Every instance's InstanceStart, then every instance's InstanceSuccess, PUBLISH_PARALLEL at a time. */
        async storm(from = 0) {
          const messages = [
            ...Array.from({ length: instances - from }, (_, i) => () => instance(from + i, 'InProgress')),
            ...Array.from({ length: instances - from }, (_, i) => () => instance(from + i, 'Succeeded')),
          ];
          for (let i = 0; i < messages.length; i += PUBLISH_PARALLEL)
            await Promise.all(messages.slice(i, i + PUBLISH_PARALLEL).map((m) => m()));
        },
        instance,
      };
    };

    /** A small deployment's three transitions, each awaited; the latency of each (ms). */
    const probe = async (): Promise<number[]> => {
      const d = deployment(1);
      const latencies: number[] = [];
      const step = async (seq: number, send: () => Promise<unknown>) => {
        const arrived = delivered(d.id, seq);
        const t0 = performance.now();
        await send();
        latencies.push((await arrived) - t0);
      };
      await step(1, d.created);
      await step(2, () => d.instance(0, 'InProgress'));
      await step(3, d.succeeded);
      return latencies;
    };
    const probes = async (n: number) => (await Promise.all(Array.from({ length: n }, probe))).flat();

    await probes(2); // warm-up: connections, JIT, the table's first writes

    // 1. The storm alone, counted.
    const fleet = deployment(INSTANCES);
    const created = delivered(fleet.id, 1);
    await fleet.created();
    await created;
    await shipcast.ask({ type: 'report', drain: true }, 'report');
    await shipcast.ask({ type: 'reset' }, 'reset');
    const codeDeployCallsAtStart = codedeploy.requests.length;
    const inProgress = delivered(fleet.id, 2);
    const stormStart = performance.now();
    await fleet.storm();
    const published = performance.now();
    const succeeded = delivered(fleet.id, 3);
    await fleet.succeeded();
    const succeededAt = await succeeded;
    const inProgressAt = await inProgress;
    const { report } = (await shipcast.ask({ type: 'report', drain: true }, 'report')) as { report: Report };
    const drainedAt = performance.now();
    const codeDeployCalls = codedeploy.requests.length - codeDeployCallsAtStart;
    const answer = await fetch(`${ready.apiUrl}/v1/deployments/${encodeURIComponent(fleet.id)}`, {
      headers: { authorization: `Bearer ${API_TOKEN}` },
    });
    const body = (await answer.json()) as {
      deployment: { transitions: { to: string }[] };
      events: { kind: string; disposition: string }[];
      deliveries: { state: string }[];
    };

    // 2. Other deployments' transitions, quiet and beside a second storm.
    const quiet = await probes(PROBES);
    const second = deployment(INSTANCES);
    const secondCreated = delivered(second.id, 1);
    await second.created();
    await secondCreated;
    const beside = await Promise.all([
      second.storm().then(() => second.succeeded()),
      (async () => {
        // The probes start once the storm is under way.
        await new Promise((resolve) => setTimeout(resolve, 200));
        return probes(PROBES);
      })(),
    ]);
    await shipcast.ask({ type: 'report', drain: true }, 'report');

    // Figures.
    const c = report.counts;
    const ingestScopes = ['ingest'];
    const instanceEvents = 2 * INSTANCES;
    const events = (report.events.ingest ?? 0) || instanceEvents + 1;
    const cost = projectCost({
      counts: c,
      durations: report.durations,
      memoryMb: MEMORY_MB,
      events,
      snsPublishes: events,
    });
    const perInstance = (n: number) => n / instanceEvents;
    const putErrors = c.ingest?.['DynamoDB.PutItem']?.errors ?? 0;
    const dispositions: Record<string, number> = {};
    for (const e of body.events.filter((x) => x.kind === 'instance'))
      dispositions[e.disposition] = (dispositions[e.disposition] ?? 0) + 1;
    const sorted = (list: number[]) => [...list].sort((a, b) => a - b);
    const summary = (list: number[]) => {
      const s = sorted(list);
      return {
        n: s.length,
        p50: s[Math.floor((s.length - 1) / 2)] ?? Number.NaN,
        max: s.at(-1) ?? Number.NaN,
      };
    };
    const results = {
      at: new Date().toISOString(),
      instances: INSTANCES,
      instanceEvents,
      eventsIngested: report.events.ingest ?? 0,
      perInstanceEvent: {
        dynamoWrites: perInstance(sum(c, ingestScopes, isDynamoWrite, 'items')),
        dynamoWriteUnits: perInstance(sum(c, ingestScopes, isDynamoWrite, 'units')),
        dynamoIndexWriteUnits: perInstance(sum(c, ingestScopes, isDynamoWrite, 'indexUnits')),
        dynamoReads: perInstance(sum(c, ingestScopes, isDynamoRead)),
        dynamoReadUnits: perInstance(sum(c, ingestScopes, isDynamoRead, 'units')),
        dispatchSendRequests: perInstance(sum(c, ingestScopes, isSqsSend)),
        ingestInvocations: perInstance(report.durations.ingest?.length ?? 0),
        codeDeployCalls: perInstance(codeDeployCalls),
        usd: cost.perMillionEvents / 1e6,
      },
      window: {
        note: 'the storm plus the SUCCEEDED event; the in_progress and succeeded transitions are in it',
        dispatchSendRequests: sum(c, ingestScopes, isSqsSend),
        dispatchMessages: sum(c, ingestScopes, isSqsSend, 'messages'),
        deliveries: report.dispatched,
        failedConditionalPuts: putErrors,
        transitions: body.deployment.transitions.map((t) => t.to),
        instanceEventsRecorded: body.events.filter((e) => e.kind === 'instance').length,
        instanceDispositions: dispositions,
        deliveriesDelivered: body.deliveries.filter((d) => d.state === 'delivered').length,
      },
      latencyMs: {
        publishingTheStorm: published - stormStart,
        inProgressFromFirstInstanceEvent: inProgressAt - stormStart,
        succeededFromItsPublish: succeededAt - published,
        stormDrained: drainedAt - stormStart,
        otherDeploymentsQuiet: summary(quiet),
        otherDeploymentsBesideAStorm: summary(beside[1]),
      },
      loadAverageAtEnd: loadavg()[0],
    };
    const r = (v: number, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : String(v));
    const rows: [string, string][] = [
      ['instance events (one deployment)', `${instanceEvents}`],
      [
        'DynamoDB writes / WRU (of which GSIs) per instance event',
        `${r(results.perInstanceEvent.dynamoWrites)} / ${r(results.perInstanceEvent.dynamoWriteUnits)} (${r(results.perInstanceEvent.dynamoIndexWriteUnits)})`,
      ],
      [
        'DynamoDB reads / RRU per instance event',
        `${r(results.perInstanceEvent.dynamoReads, 3)} / ${r(results.perInstanceEvent.dynamoReadUnits, 3)}`,
      ],
      ['dispatch sends per instance event', r(results.perInstanceEvent.dispatchSendRequests, 4)],
      ['ingest invocations per instance event', r(results.perInstanceEvent.ingestInvocations, 3)],
      ['projected USD per million instance events', `$${r(cost.perMillionEvents)}`],
      [
        'the window: sends / messages / deliveries / failed conditional puts',
        `${results.window.dispatchSendRequests} / ${results.window.dispatchMessages} / ${results.window.deliveries} / ${putErrors}`,
      ],
      ['the deployment: transitions', results.window.transitions.join(' → ')],
      [
        'the deployment: instance events recorded (dispositions)',
        `${results.window.instanceEventsRecorded} ${JSON.stringify(dispositions)}`,
      ],
      ['publishing the storm (ms)', r(results.latencyMs.publishingTheStorm, 0)],
      [
        'in_progress: first instance event → all targets (ms)',
        r(results.latencyMs.inProgressFromFirstInstanceEvent, 0),
      ],
      [
        'succeeded: its publish (after the storm) → all targets (ms)',
        r(results.latencyMs.succeededFromItsPublish, 0),
      ],
      ['storm drained (ms from its first publish)', r(results.latencyMs.stormDrained, 0)],
      [
        'other deployments, transition latency quiet: p50 / max (ms)',
        `${r(results.latencyMs.otherDeploymentsQuiet.p50, 0)} / ${r(results.latencyMs.otherDeploymentsQuiet.max, 0)} (n=${results.latencyMs.otherDeploymentsQuiet.n})`,
      ],
      [
        'other deployments, transition latency beside a storm: p50 / max (ms)',
        `${r(results.latencyMs.otherDeploymentsBesideAStorm.p50, 0)} / ${r(results.latencyMs.otherDeploymentsBesideAStorm.max, 0)} (n=${results.latencyMs.otherDeploymentsBesideAStorm.n})`,
      ],
      ['load average (1 min) at the end', r(loadavg()[0] ?? Number.NaN, 1)],
    ];
    const width = Math.max(...rows.map(([k]) => k.length));
    console.log('');
    for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
    const file = new URL('results.json', import.meta.url);
    const previous = existsSync(file)
      ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>)
      : {};
    writeFileSync(file, `${JSON.stringify({ ...previous, fleet: results }, null, 2)}\n`);
    console.log('\nmerged the figures into bench/results.json (`fleet`)');
  } finally {
    sns?.destroy();
    await shipcast.ask({ type: 'stop' }, 'stopped').catch(() => shipcast.child.kill());
    for (const t of targets) t.close();
    await codedeploy.close();
    await dynamodb.stop();
  }
}
