import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type RequestListener, type ServerOptions } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SNSClient } from '@aws-sdk/client-sns';
import { type MessageAttributeValue, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { type ServerType, serve } from '@hono/node-server';
import { AssumedRoles } from '../adapters/aws/assumed-roles.ts';
import { CodeDeployEnricher, type MemberAccounts } from '../adapters/aws/codedeploy-enricher.ts';
import { CodeDeployOperations } from '../adapters/aws/codedeploy-operations.ts';
import { DynamoStore } from '../adapters/aws/dynamo-store.ts';
import { EventBridgeBus } from '../adapters/aws/eventbridge-bus.ts';
import { SesV2Sender } from '../adapters/aws/ses-sender.ts';
import { groupIdOfBody, isFifoQueue, SqsDispatchQueue, SqsIngestQueue } from '../adapters/aws/sqs-queue.ts';
import { EnvFileSecretSource, secretEnvName } from '../adapters/local/env-file-secrets.ts';
import { createApi } from '../core/api/app.ts';
import { openApiDocument } from '../core/api/openapi.ts';
import {
  DISPATCH_MAX_CONCURRENCY,
  DISPATCH_QUEUE_MAX_RECEIVES,
  FUNCTION_TIMEOUT_SECONDS,
  QUEUE_VISIBILITY_FACTOR,
  type ShipcastConfig,
} from '../core/config.ts';
import { HttpClient } from '../core/http-client.ts';
import type { Clock } from '../core/ports.ts';
import { CODEDEPLOY_SOURCE } from '../core/sources/codedeploy.ts';
import { SWEEP_INTERVAL_MINUTES } from '../core/sweep.ts';
import { createLogger, type Logger } from '../core/telemetry.ts';
import { readDashboardFiles } from '../dashboard/files.ts';
import { createDispatchHandler } from '../handlers/dispatch-handler.ts';
import { memberAccountsOf } from '../handlers/enrichers.ts';
import { createIngestHandler } from '../handlers/ingest-handler.ts';
import { buildRuntime } from '../handlers/runtime.ts';
import { createSweepHandler } from '../handlers/sweep-handler.ts';
import { bufferedRequests } from './buffered-request.ts';
import { type QueueSnapshot, type RunningEmulator, startDynalite, startSqsSns } from './emulators.ts';
import { type Poller, startPoller } from './poller.ts';
import { DEFAULT_NAMES, type ProvisionedResources, provision } from './provision.ts';
import { importRareRoutes } from './rare-routes.ts';
import { startSchedule } from './schedule.ts';

/** How to run Shipcast locally. */
export interface LocalOptions {
  config: ShipcastConfig;
  /** Where dynalite keeps its data and where local secrets live. */
  dataDir: string;
  /** HTTP API port on 127.0.0.1 (0: random). */
  port: number;
  /** SQS/SNS emulator port on 127.0.0.1 (0: random). */
  queuePort: number;
  /** An existing DynamoDB endpoint (DynamoDB Local in tests) instead of an embedded dynalite. */
  dynamodbEndpoint?: string;
  tableName?: string;
  /** A CodeDeploy API endpoint for enrichment and stops; without it both are off locally (no AWS account). */
  codeDeployEndpoint?: string;
  /**
   * Deployments of other accounts (docs/organizations.md): the account local mode acts as, and the STS
   * endpoint it assumes member roles with (a local stand-in). Without both, every account is read as its own.
   */
  memberAccounts?: { ownAccount: string; stsEndpoint: string };
  /** The accounts the CodeDeploy endpoint stands for (stops of other accounts' deployments are refused); any when unset. */
  codeDeployAccounts?: string[];
  /** EventBridge endpoint for `eventbridge` targets (a local stand-in); AWS's, with the default credentials, when unset. */
  eventBridgeEndpoint?: string;
  /** Visibility timeouts (seconds): how soon a failed batch is received again. */
  visibilityTimeoutSeconds?: { ingest: number; dispatch: number };
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
  http?: HttpClient;
  logger?: Logger;
  /** Observation hooks (the benchmark counts AWS calls and times handlers with them); none by default. */
  instrument?: LocalInstrumentation;
  /**
   * How often the sweep of transitions whose enqueue was lost runs (seconds; it also runs at start, which
   * finds what a stop or crash cut off). Default: every SWEEP_INTERVAL_MINUTES, as in AWS.
   */
  sweepIntervalSeconds?: number;
}

/** Hooks to observe local mode without changing what it does. */
export interface LocalInstrumentation {
  /** Called with each AWS SDK client local mode creates, before it is used (e.g. to add middleware). */
  client?(client: DynamoDBClient | SQSClient | SNSClient): void;
  /** Wraps a handler entry point: the ingest and dispatch poller handlers and the HTTP API's fetch. */
  handler?<A extends unknown[], R>(
    name: 'api' | 'ingest' | 'dispatch',
    fn: (...args: A) => R,
  ): (...args: A) => R;
}

/** A running local Shipcast. */
export interface LocalShipcast {
  apiUrl: string;
  /** The bearer token of the first configured API token (generated on first start if unset). */
  token: string;
  /** Where the token came from: an environment variable or a file. */
  tokenOrigin: string;
  sqsSnsEndpoint: string;
  resources: ProvisionedResources;
  sqs: SQSClient;
  stop(): Promise<void>;
}

const LOCAL_CLIENT = { region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };

/**
 * Starts Shipcast on this machine: embedded DynamoDB (dynalite) and SQS/SNS (fauxqs) on 127.0.0.1,
 * the same resources as the stack, the same handlers behind pollers that behave like Lambda's SQS
 * event source, and the HTTP API.
 */
export async function startLocal(options: LocalOptions): Promise<LocalShipcast> {
  const env = options.env ?? process.env;
  const logger = options.logger ?? createLogger();
  const dataDir = resolve(options.dataDir);
  const secretsDir = join(dataDir, 'secrets');
  mkdirSync(secretsDir, { recursive: true });
  const { token, origin: tokenOrigin } = ensureApiToken(options.config, secretsDir, env);

  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const step of stops.reverse()) {
      try {
        await step();
      } catch (error) {
        logger.warn('error while stopping', { error: error as Error });
      }
    }
  };
  try {
    let dynamodbEndpoint = options.dynamodbEndpoint;
    if (!dynamodbEndpoint) {
      const dynalite: RunningEmulator = await startDynalite({ path: join(dataDir, 'dynamodb'), port: 0 });
      stops.push(() => dynalite.stop());
      dynamodbEndpoint = dynalite.endpoint;
    }
    const queues = await startSqsSns({ port: options.queuePort, region: LOCAL_CLIENT.region });
    const snapshotFile = join(dataDir, 'queues.json');
    stops.push(async () => {
      // The emulator keeps messages in memory: save what is still queued (including retries waiting out a
      // Retry-After) so the next start re-sends it instead of losing accepted work.
      const snapshot = queues.snapshot();
      if (Object.keys(snapshot).length > 0) {
        writeFileSync(`${snapshotFile}.tmp`, JSON.stringify(snapshot));
        renameSync(`${snapshotFile}.tmp`, snapshotFile);
        logger.info('saved queued messages for the next start', {
          messages: Object.values(snapshot).reduce((n, list) => n + list.length, 0),
        });
      }
      await queues.stop();
    });

    const dynamodb = new DynamoDBClient({ ...LOCAL_CLIENT, endpoint: dynamodbEndpoint });
    const sqs = new SQSClient({ ...LOCAL_CLIENT, endpoint: queues.endpoint });
    const sns = new SNSClient({ ...LOCAL_CLIENT, endpoint: queues.endpoint });
    for (const client of [dynamodb, sqs, sns]) options.instrument?.client?.(client);
    const wrap = <A extends unknown[], R>(name: 'api' | 'ingest' | 'dispatch', fn: (...args: A) => R) =>
      options.instrument?.handler ? options.instrument.handler(name, fn) : fn;
    stops.push(async () => {
      dynamodb.destroy();
      sqs.destroy();
      sns.destroy();
    });

    // As in AWS: each queue's visibility timeout is six times its function's timeout, which the poller
    // gives the handler as its deadline.
    const visibility = options.visibilityTimeoutSeconds ?? {
      ingest: FUNCTION_TIMEOUT_SECONDS.ingest * QUEUE_VISIBILITY_FACTOR,
      dispatch: FUNCTION_TIMEOUT_SECONDS.dispatch * QUEUE_VISIBILITY_FACTOR,
    };
    const resources = await provision({
      dynamodb,
      sqs,
      sns,
      names: { ...DEFAULT_NAMES, table: options.tableName ?? DEFAULT_NAMES.table },
      maxReceives: { ingest: 5, dispatch: DISPATCH_QUEUE_MAX_RECEIVES },
      visibilityTimeoutSeconds: visibility,
    });

    await restoreQueues(sqs, snapshotFile, resources, logger);

    const store = new DynamoStore(dynamodb, resources.tableName, options.clock);
    const runtime = buildRuntime({
      config: options.config,
      store,
      limiter: store,
      queue: new SqsDispatchQueue(sqs, resources.dispatchQueueUrl, resources.dispatchDlqUrl),
      secrets: new EnvFileSecretSource(secretsDir, env),
      enrichers:
        options.config.sources.codedeploy.enrich && options.codeDeployEndpoint
          ? {
              [CODEDEPLOY_SOURCE]: new CodeDeployEnricher({
                endpoint: options.codeDeployEndpoint,
                credentials: LOCAL_CLIENT.credentials,
                memberAccounts: localMemberAccounts(options),
              }),
            }
          : undefined,
      clock: options.clock,
      http: options.http ?? new HttpClient(),
      logger,
      ingestQueue: new SqsIngestQueue(sqs, resources.ingestQueueUrl),
      openApi: openApiDocument,
      rareRoutes: importRareRoutes,
      eventBus: new EventBridgeBus(
        options.eventBridgeEndpoint ? { ...LOCAL_CLIENT, endpoint: options.eventBridgeEndpoint } : {},
      ),
      ses: new SesV2Sender(),
      operations: options.codeDeployEndpoint
        ? new CodeDeployOperations({
            accounts: options.codeDeployAccounts ?? [],
            endpoint: options.codeDeployEndpoint,
            credentials: LOCAL_CLIENT.credentials,
            // A stand-in on this machine: no Slack 3-second budget to fit, and a loaded machine can be slow.
            timeoutMs: 10_000,
          })
        : undefined,
    });
    const ready = Promise.resolve(runtime);
    const pollers: Poller[] = [
      startPoller({
        sqs,
        queueUrl: resources.ingestQueueUrl,
        handler: wrap(
          'ingest',
          createIngestHandler(() => ready),
        ),
        logger,
        name: 'ingest',
        timeoutSeconds: FUNCTION_TIMEOUT_SECONDS.ingest,
      }),
      startPoller({
        sqs,
        queueUrl: resources.dispatchQueueUrl,
        handler: wrap(
          'dispatch',
          createDispatchHandler(() => ready),
        ),
        logger,
        name: 'dispatch',
        timeoutSeconds: FUNCTION_TIMEOUT_SECONDS.dispatch,
        // As many batches at once as the event source mapping runs in AWS: a target that hangs holds back
        // its own batch, not every other target's deliveries.
        concurrency: DISPATCH_MAX_CONCURRENCY,
      }),
    ];
    stops.push(async () => {
      await Promise.all(pollers.map((p) => p.stop()));
    });
    // The EventBridge schedule of AWS: the sweep, in the same handler the dispatcher function runs it with.
    const sweep = createSweepHandler(() => ready);
    const sweeper = startSchedule({
      name: 'sweep',
      everyMs: (options.sweepIntervalSeconds ?? SWEEP_INTERVAL_MINUTES * 60) * 1000,
      task: () => sweep(),
      logger,
    });
    stops.push(() => sweeper.stop());

    const app = createApi({ ...runtime.api, dashboard: readDashboardFiles });
    const server: ServerType = await new Promise((resolveServer) => {
      const s = serve(
        {
          fetch: wrap('api', app.fetch),
          hostname: '127.0.0.1',
          port: options.port,
          // Bodies are read whole first, as the function URL does (buffered-request.ts).
          autoCleanupIncoming: false,
          createServer: ((serverOptions: ServerOptions, listener: RequestListener) =>
            createServer(serverOptions, bufferedRequests(listener))) as typeof createServer,
        },
        () => resolveServer(s),
      );
    });
    stops.push(
      () =>
        new Promise<void>((resolveClose) => {
          server.close(() => resolveClose());
          (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
        }),
    );
    const { port } = server.address() as AddressInfo;
    return {
      apiUrl: `http://127.0.0.1:${port}`,
      token,
      tokenOrigin,
      sqsSnsEndpoint: queues.endpoint,
      resources,
      sqs,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Member-account enrichment as in AWS, with an STS stand-in and local mode's own credentials. */
function localMemberAccounts(options: LocalOptions): MemberAccounts | undefined {
  const members = options.memberAccounts;
  if (!members) return undefined;
  const sts = async () => {
    const { STSClient } = await import('@aws-sdk/client-sts');
    return new STSClient({ ...LOCAL_CLIENT, endpoint: members.stsEndpoint });
  };
  return memberAccountsOf(options.config, members.ownAccount, 'aws', new AssumedRoles({ sts }));
}

/**
 * The first API token's value: from `SHIPCAST_SECRET_<NAME>` or `<secrets>/<name>`; on a first start
 * without either, a random one is written to the file (mode 0600) so later starts keep it.
 */
function ensureApiToken(config: ShipcastConfig, secretsDir: string, env: NodeJS.ProcessEnv) {
  const first = config.api.tokens[0];
  if (!first) throw new Error('the config has no API token');
  const envName = secretEnvName(first.secret);
  const fromEnv = env[envName];
  if (fromEnv) return { token: fromEnv, origin: `environment variable ${envName}` };
  const file = join(secretsDir, first.secret);
  if (!existsSync(file)) {
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, `${randomBytes(24).toString('base64url')}\n`, { mode: 0o600 });
  }
  return { token: new EnvFileSecretSource(secretsDir, env).getSync(first.secret), origin: file };
}

/** Re-sends the messages saved at the last stop to the queues they were in, then forgets them. */
async function restoreQueues(sqs: SQSClient, file: string, resources: ProvisionedResources, logger: Logger) {
  if (!existsSync(file)) return;
  const snapshot = JSON.parse(readFileSync(file, 'utf8')) as QueueSnapshot;
  const urls: Record<string, string> = {};
  for (const url of [
    resources.ingestQueueUrl,
    resources.ingestDlqUrl,
    resources.dispatchQueueUrl,
    resources.dispatchDlqUrl,
  ]) {
    urls[url.slice(url.lastIndexOf('/') + 1)] = url;
  }
  let restored = 0;
  for (const [name, messages] of Object.entries(snapshot)) {
    // Saved before the dispatch queues became FIFO (`shipcast-dispatch`): they go to the FIFO ones.
    const url = urls[name] ?? urls[`${name}.fifo`];
    if (!url) {
      logger.warn('saved messages of an unknown queue were not restored', {
        queue: name,
        messages: messages.length,
      });
      continue;
    }
    for (let start = 0; start < messages.length; start += 10) {
      const entries = messages.slice(start, start + 10).map((m, i) => ({
        Id: String(i),
        MessageBody: m.body,
        MessageAttributes: m.messageAttributes as Record<string, MessageAttributeValue> | undefined,
        ...(isFifoQueue(url) && {
          MessageGroupId: m.messageGroupId ?? groupIdOfBody(m.body),
          MessageDeduplicationId: randomUUID(),
        }),
      }));
      const result = await sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: entries }));
      if (result.Failed?.length)
        throw new Error(`could not restore ${result.Failed.length} message(s) to ${name}`);
      restored += entries.length;
    }
  }
  rmSync(file);
  if (restored > 0) logger.info('restored queued messages from the last stop', { messages: restored });
}
