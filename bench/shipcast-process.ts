/**
 * The process under test: Shipcast's local mode (startLocal: the same handlers as Lambda behind SQS
 * pollers, the HTTP API, fauxqs embedded) on DynamoDB Local, with every AWS SDK client counted and every
 * handler invocation timed. Run by bench/run.ts with `node --expose-gc --import tsx` and driven over IPC,
 * so the load generator and the target servers do not share its heap or its event loop.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseConfig } from '../functions/core/config.ts';
import { createLogger } from '../functions/core/telemetry.ts';
import { type LocalShipcast, startLocal } from '../functions/local/local-shipcast.ts';
import { waitForQueueEmpty } from '../functions/local/poller.ts';
import { AwsCallCounter, scope } from './aws-calls.ts';

/** Messages from bench/run.ts. */
export type Command =
  | { type: 'reset' }
  | { type: 'report'; drain?: boolean; drainTimeoutMs?: number }
  | { type: 'stop' };

/** What the process reports. */
export interface Report {
  counts: AwsCallCounter['counts'];
  /** Handler invocation durations (ms) by handler scope. */
  durations: Record<string, number[]>;
  /** Events accepted: by the API (202, keyed or not) and by the ingest handler (records not failed). */
  events: Record<string, number>;
  /** Dispatch messages handled (records not failed). */
  dispatched: number;
  /** V8 heap used after a full GC (bytes). */
  heapUsed: number;
  rss: number;
  elapsedMs: number;
  /** CPU time (user + system) the process used in the interval (ms): Shipcast plus the embedded fauxqs. */
  cpuMs: number;
}

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

const send = (message: unknown) => process.send?.(message);
const counter = new AwsCallCounter();
let durations: Record<string, number[]> = {};
let events: Record<string, number> = {};
let dispatched = 0;
let since = performance.now();
let cpuSince = process.cpuUsage();
let active = 0;

function heapAfterGc(): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
}

function reset() {
  counter.reset();
  durations = {};
  events = {};
  dispatched = 0;
  since = performance.now();
  cpuSince = process.cpuUsage();
}

function report(): Report {
  return {
    counts: counter.counts,
    durations,
    events,
    dispatched,
    heapUsed: heapAfterGc(),
    rss: process.memoryUsage().rss,
    elapsedMs: performance.now() - since,
    cpuMs: (({ user, system }) => (user + system) / 1000)(process.cpuUsage(cpuSince)),
  };
}

/** Times one handler invocation and runs it in its scope (which names the AWS calls it makes). */
function instrumentHandler<A extends unknown[], R>(
  name: 'api' | 'ingest' | 'dispatch',
  fn: (...args: A) => R,
): (...args: A) => R {
  return ((...args: A) => {
    let where: string = name;
    if (name === 'api') {
      const request = args[0] as Request;
      if (request.headers.get('idempotency-key')) where = 'api-keyed';
      else if (new URL(request.url).pathname.startsWith('/v1/hooks/')) where = 'api-hook';
    }
    return scope.run(where as never, async () => {
      const started = performance.now();
      active++;
      try {
        const result = await fn(...args);
        if (name === 'api') {
          const request = args[0] as Request;
          if ((result as Response).status === 202 && request.method === 'POST') {
            events[where] = (events[where] ?? 0) + 1;
          }
        } else {
          const records = (args[0] as { Records: unknown[] }).Records.length;
          const failed =
            (result as { batchItemFailures?: unknown[] } | undefined)?.batchItemFailures?.length ?? 0;
          if (name === 'ingest') events.ingest = (events.ingest ?? 0) + records - failed;
          else dispatched += records - failed;
        }
        return result;
      } finally {
        active--;
        const list = durations[where] ?? [];
        durations[where] = list;
        list.push(performance.now() - started);
      }
    });
  }) as (...args: A) => R;
}

async function main() {
  const env = process.env;
  const dataDir = mkdtempSync(join(tmpdir(), 'shipcast-bench-'));
  const config = parseConfig(JSON.parse(env.BENCH_CONFIG as string), 'BENCH_CONFIG');
  // Logs go where Lambda's go (stdout, here /dev/null): JSON-formatted and written, as in AWS.
  const logger = createLogger('shipcast');
  const local: LocalShipcast = await startLocal({
    config,
    dataDir,
    port: 0,
    queuePort: 0,
    dynamodbEndpoint: env.BENCH_DYNAMODB_ENDPOINT,
    tableName: `bench-${process.pid}`,
    codeDeployEndpoint: env.BENCH_CODEDEPLOY_ENDPOINT,
    env: { ...env },
    logger,
    instrument: {
      client: (client) => counter.attach(client as never),
      handler: instrumentHandler,
    },
  });
  counter.setQueueScope(local.resources.ingestQueueUrl, 'ingest-esm');
  counter.setQueueScope(local.resources.dispatchQueueUrl, 'dispatch-esm');

  process.on('message', async (command: Command) => {
    try {
      if (command.type === 'reset') {
        reset();
        send({ type: 'reset', heapUsed: heapAfterGc() });
      } else if (command.type === 'report') {
        if (command.drain) {
          // Everything sent has been handled: both queues empty and no handler running.
          for (let quiet = 0; quiet < 3; ) {
            const timeoutMs = command.drainTimeoutMs ?? 120_000;
            await waitForQueueEmpty(local.sqs, local.resources.ingestQueueUrl, timeoutMs);
            await waitForQueueEmpty(local.sqs, local.resources.dispatchQueueUrl, timeoutMs);
            quiet = active === 0 ? quiet + 1 : 0;
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
        }
        send({ type: 'report', report: report() });
      } else if (command.type === 'stop') {
        await local.stop();
        rmSync(dataDir, { recursive: true, force: true });
        send({ type: 'stopped' });
        process.exit(0);
      }
    } catch (error) {
      send({ type: 'error', message: String((error as Error).stack ?? error) });
    }
  });
  send({
    type: 'ready',
    apiUrl: local.apiUrl,
    token: local.token,
    sqsSnsEndpoint: local.sqsSnsEndpoint,
    topicArn: local.resources.topicArn,
  });
}

main().catch((error) => {
  send({ type: 'error', message: String((error as Error).stack ?? error) });
  process.exit(1);
});
