/**
 * `BENCH_SCENARIO=faults npm run bench`: how long a backlog takes to drain when every target misbehaves.
 * The process under test is the same as the main scenario's (local mode on DynamoDB Local, in its own
 * process); each target's stand-in server sits behind a fault proxy that answers a seeded share of the calls
 * itself: 429 with a Retry-After, 503, a hang (until the target's timeout) or a connection reset; the rest go
 * through to the stand-in. A backlog of native events (one transition each, routed to every target) is posted
 * at once; the figure is the time until the dispatch queue is empty and no handler runs (every delivery made
 * or given up on). Judge changes to the circuit breaker and the backoff by it.
 * Environment: BENCH_FAULT_DEPLOYMENTS (40), BENCH_FAULT_SEED (20260301), BENCH_FAULT_TIMEOUT_S (900).
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { type BigPandaServer, startBigPandaServer } from '../test/support/bigpanda-server.ts';
import { startDynamoDbLocal } from '../test/support/dynamodb-local.ts';
import { type GitHubServer, startGitHubServer } from '../test/support/github-server.ts';
import { startTargetServer, type TargetServer } from '../test/support/target-server.ts';
import type { Report } from './shipcast-process.ts';

const num = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number`);
  return value;
};
const DEPLOYMENTS = num('BENCH_FAULT_DEPLOYMENTS', 40);
const SEED = num('BENCH_FAULT_SEED', 20260301);
const TIMEOUT_S = num('BENCH_FAULT_TIMEOUT_S', 900);
const API_TOKEN = 'bench-api-token-0123456789abcdef';
const GITHUB_TOKEN = 'ghp_benchfaults0123456789abcdefghij';
const BIGPANDA_TOKEN = 'bench-bigpanda-token-0123456789';

/**
 * The share of calls a proxy answers itself: 20 % 429 (Retry-After 1–10 s), 5 % 503, 3 % hangs, 2 % resets.
 * Three calls in ten fail: a GitHub deployment's first delivery (three calls) goes through a third of the time.
 */
const MIX = { rateLimited: 0.2, error: 0.05, hang: 0.03, reset: 0.02 };

type Fault = 'rate-limited' | 'error' | 'hang' | 'reset' | 'through';

/** What the process under test is, as bench/run.ts starts it. */
export interface ShipcastUnderTest {
  next(type: string): Promise<Record<string, unknown>>;
  ask(command: Record<string, unknown>, reply: string): Promise<Record<string, unknown>>;
}

interface FaultProxy {
  url: string;
  counts: Record<Fault, number>;
  stop(): Promise<void>;
}

/** A proxy in front of a stand-in server: answers a seeded share of the calls with a fault, forwards the rest. */
async function startFaultProxy(name: string, upstream: string): Promise<FaultProxy> {
  const counts: Record<Fault, number> = { 'rate-limited': 0, error: 0, hang: 0, reset: 0, through: 0 };
  const sockets = new Set<Socket>();
  let call = 0;
  const roll = () => {
    const digest = createHash('sha256').update(`${SEED}/${name}/${call++}`).digest();
    return [digest.readUInt32LE(0) / 2 ** 32, digest.readUInt32LE(4) / 2 ** 32] as const;
  };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const [r, s] = roll();
      let fault: Fault = 'through';
      if (r < MIX.rateLimited) fault = 'rate-limited';
      else if (r < MIX.rateLimited + MIX.error) fault = 'error';
      else if (r < MIX.rateLimited + MIX.error + MIX.hang) fault = 'hang';
      else if (r < MIX.rateLimited + MIX.error + MIX.hang + MIX.reset) fault = 'reset';
      counts[fault]++;
      if (fault === 'hang') return;
      if (fault === 'reset') {
        req.socket.destroy();
        return;
      }
      if (fault === 'rate-limited') {
        // 1–10 s: shorter and longer than the dispatcher's first backoff (5 s).
        const retryAfter = 1 + Math.floor(s * 10);
        res.writeHead(429, { 'content-type': 'application/json', 'retry-after': String(retryAfter) });
        res.end(JSON.stringify({ message: 'rate limited' }));
        return;
      }
      if (fault === 'error') {
        res.writeHead(503, { 'content-type': 'application/json' }).end('{"message":"unavailable"}');
        return;
      }
      try {
        const headers = Object.fromEntries(
          Object.entries(req.headers).filter(
            ([key, value]) => typeof value === 'string' && !['host', 'content-length', 'connection'].includes(key),
          ),
        ) as Record<string, string>;
        const answer = await fetch(`${upstream}${req.url}`, {
          method: req.method,
          headers,
          body: chunks.length > 0 ? Buffer.concat(chunks) : undefined,
          redirect: 'manual',
        });
        const body = Buffer.from(await answer.arrayBuffer());
        const relayed: Record<string, string> = {};
        answer.headers.forEach((value, key) => {
          if (!['content-length', 'transfer-encoding', 'connection', 'content-encoding'].includes(key))
            relayed[key] = value;
        });
        res.writeHead(answer.status, relayed).end(body);
      } catch {
        req.socket.destroy();
      }
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    counts,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Runs the faults scenario with `startShipcast` (bench/run.ts's process under test); prints the figure. */
export async function runFaultsScenario(
  startShipcast: (env: NodeJS.ProcessEnv) => ShipcastUnderTest & { child: { kill(): void } },
): Promise<void> {
  console.log(
    `Shipcast bench, faults scenario: a backlog of ${DEPLOYMENTS} deployments × 5 targets, ` +
      `fault mix ${JSON.stringify(MIX)}, seed ${SEED}, load ${loadavg()[0]?.toFixed(1)}`,
  );
  const dynamodb = await startDynamoDbLocal();
  const hooks: TargetServer[] = [await startTargetServer(), await startTargetServer()];
  const github: GitHubServer = await startGitHubServer({ tokens: [GITHUB_TOKEN] });
  const bigpanda: BigPandaServer = await startBigPandaServer({ tokens: [BIGPANDA_TOKEN] });
  const proxies = {
    'hook-1': await startFaultProxy('hook-1', hooks[0]!.url),
    'hook-2': await startFaultProxy('hook-2', hooks[1]!.url),
    'gh-deployments': await startFaultProxy('gh-deployments', github.url),
    'gh-statuses': await startFaultProxy('gh-statuses', github.url),
    bigpanda: await startFaultProxy('bigpanda', new URL(bigpanda.url).origin),
  };
  const targets = {
    'hook-1': { type: 'webhook', url: `${proxies['hook-1'].url}/shipcast` },
    'hook-2': { type: 'webhook', url: `${proxies['hook-2'].url}/shipcast` },
    'gh-deployments': { type: 'github-deployment', token: 'github-token', baseUrl: proxies['gh-deployments'].url },
    'gh-statuses': { type: 'github-status', token: 'github-token', baseUrl: proxies['gh-statuses'].url },
    bigpanda: {
      type: 'bigpanda',
      token: 'bigpanda-token',
      url: `${proxies.bigpanda.url}${new URL(bigpanda.url).pathname}`,
    },
  };
  const config = {
    api: { tokens: [{ name: 'bench', secret: 'api-token' }] },
    targets,
    routes: [{ name: 'everything', targets: Object.keys(targets) }],
  };
  const shipcast = startShipcast({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    BENCH_CONFIG: JSON.stringify(config),
    BENCH_DYNAMODB_ENDPOINT: dynamodb.endpoint,
    SHIPCAST_SECRET_API_TOKEN: API_TOKEN,
    SHIPCAST_SECRET_GITHUB_TOKEN: GITHUB_TOKEN,
    SHIPCAST_SECRET_BIGPANDA_TOKEN: BIGPANDA_TOKEN,
  });
  try {
    const ready = (await shipcast.next('ready')) as { apiUrl: string };
    const started = performance.now();
    const post = async (i: number) => {
      const commit = createHash('sha1').update(`faults-${SEED}-${i}`).digest('hex');
      const answer = await fetch(`${ready.apiUrl}/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          service: `faults-${i}`,
          environment: 'production',
          status: 'succeeded',
          version: '1.0.0',
          repository: 'acme/shop',
          commit,
        }),
      });
      if (answer.status !== 202) throw new Error(`POST /v1/events answered ${answer.status}`);
      return ((await answer.json()) as { deploymentId: string }).deploymentId;
    };
    // Posted eight at a time: the backlog is there within seconds, as after a burst of deployments.
    const deploymentIds: string[] = [];
    for (let i = 0; i < DEPLOYMENTS; i += 8)
      deploymentIds.push(
        ...(await Promise.all(Array.from({ length: Math.min(8, DEPLOYMENTS - i) }, (_, j) => post(i + j)))),
      );
    const posted = performance.now();
    const progress = setInterval(() => {
      const sum = sumCounts(Object.values(proxies));
      console.log(`  ${((performance.now() - started) / 1000).toFixed(0)} s: target calls ${JSON.stringify(sum)}`);
    }, 30_000);
    const { report } = (await shipcast.ask(
      { type: 'report', drain: true, drainTimeoutMs: TIMEOUT_S * 1000 },
      'report',
    )) as { report: Report };
    const drained = performance.now();
    clearInterval(progress);

    const deliveries = { delivered: 0, failed: 0, other: 0 };
    for (const id of deploymentIds) {
      const answer = await fetch(`${ready.apiUrl}/v1/deployments/${id}`, {
        headers: { authorization: `Bearer ${API_TOKEN}` },
      });
      const body = (await answer.json()) as { deliveries?: { state: string }[] };
      for (const d of body.deliveries ?? []) {
        if (d.state === 'delivered') deliveries.delivered++;
        else if (d.state === 'failed') deliveries.failed++;
        else deliveries.other++;
      }
    }
    const calls = Object.fromEntries(
      Object.entries(proxies).map(([name, proxy]) => [name, { ...proxy.counts }]),
    );
    const total = Object.values(proxies).reduce(
      (n, p) => n + Object.values(p.counts).reduce((a, b) => a + b, 0),
      0,
    );
    console.log('');
    console.log('| measure | value |');
    console.log('| --- | --- |');
    console.log(
      `| backlog drained (first POST → dispatch queue empty) | **${((drained - started) / 1000).toFixed(1)} s** (posting took ${((posted - started) / 1000).toFixed(1)} s) |`,
    );
    console.log(
      `| deliveries | ${DEPLOYMENTS * Object.keys(targets).length} owed: ${deliveries.delivered} delivered, ${deliveries.failed} given up (DLQ), ${deliveries.other} other |`,
    );
    console.log(`| target calls | ${total} (${JSON.stringify(sumCounts(Object.values(proxies)))}) |`);
    console.log(`| dispatch messages handled | ${report.dispatched} |`);
    console.log('');
    console.log(`calls by target: ${JSON.stringify(calls)}`);
    console.log(`load at the end: ${loadavg()[0]?.toFixed(1)}`);
  } finally {
    await shipcast.ask({ type: 'stop' }, 'stopped').catch(() => shipcast.child.kill());
    for (const proxy of Object.values(proxies)) await proxy.stop();
    for (const hook of hooks) await hook.stop();
    await github.stop();
    await bigpanda.stop();
    await dynamodb.stop();
  }
}

function sumCounts(proxies: FaultProxy[]): Record<Fault, number> {
  const sum: Record<Fault, number> = { 'rate-limited': 0, error: 0, hang: 0, reset: 0, through: 0 };
  for (const proxy of proxies) for (const [k, v] of Object.entries(proxy.counts)) sum[k as Fault] += v;
  return sum;
}
