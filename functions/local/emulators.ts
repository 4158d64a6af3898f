/**
 * In-process emulators for local mode and tests: dynalite (DynamoDB) and fauxqs (SQS + SNS),
 * both bound to 127.0.0.1 only.
 */
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { type BuildAppOptions, buildApp } from 'fauxqs';

/** A running emulator: its http endpoint (`http://127.0.0.1:<port>`) and how to stop it. */
export interface RunningEmulator {
  endpoint: string;
  stop(): Promise<void>;
}

interface DynaliteOptions {
  path?: string;
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
}

const require = createRequire(import.meta.url);

/** Starts dynalite on 127.0.0.1 (`port` 0 or absent = random), persisted in LevelDB under `path` when given. */
export async function startDynalite(
  options: { path?: string; port?: number } = {},
): Promise<RunningEmulator> {
  // dynalite is CommonJS without types; it returns a plain http.Server whose close() also closes the store.
  const dynalite = require('dynalite') as (options: DynaliteOptions) => Server;
  // dynalite keeps tables (and GSIs) in CREATING for 500 ms by default; 0 makes them ACTIVE on the next tick
  // (CreateTable still answers CREATING, so callers must still wait for ACTIVE).
  const server = dynalite({ path: options.path, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await listen(server, options.port ?? 0);
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        // Closes the LevelDB store too, releasing its directory lock so a restart on the same path works.
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeIdleConnections();
      }),
  };
}

type FauxqsStores = NonNullable<BuildAppOptions['stores']>;

/**
 * fauxqs's SqsStore defaults `host` to "localhost", which makes CreateQueue answer
 * `http://sqs.<region>.localhost:<port>/000000000000/<name>` (not resolvable everywhere, and not our endpoint).
 * buildApp only overrides it with a truthy `host`, so we construct the stores ourselves (as startFauxqs does)
 * with `host = ''`: queue URLs then use the request's Host header, i.e. `http://127.0.0.1:<port>/...`.
 * The store classes are not in the package's `exports`, so they are imported by file URL next to `dist/app.js`.
 */
async function createFauxqsStores(): Promise<FauxqsStores> {
  const appUrl = import.meta.resolve('fauxqs');
  const load = async (path: string, name: string) => {
    const module = (await import(new URL(path, appUrl).href)) as Record<string, new () => unknown>;
    const Store = module[name];
    if (!Store) throw new Error(`fauxqs: ${name} not found in ${path}`);
    return new Store();
  };
  const [sqsStore, snsStore, s3Store] = await Promise.all([
    load('./sqs/sqsStore.js', 'SqsStore'),
    load('./sns/snsStore.js', 'SnsStore'),
    load('./s3/s3Store.js', 'S3Store'),
  ]);
  (sqsStore as { host: string }).host = '';
  return { sqsStore, snsStore, s3Store } as FauxqsStores;
}

/** The messages a queue held when the emulator stopped: body, attributes and FIFO group, waiting or in flight. */
export type QueueSnapshot = Record<
  string,
  { body: string; messageAttributes?: Record<string, unknown>; messageGroupId?: string }[]
>;

interface FauxqsMessage {
  body: string;
  messageAttributes?: Record<string, unknown>;
  messageGroupId?: string;
}
interface FauxqsQueue {
  name: string;
  messages: FauxqsMessage[];
  delayedMessages: FauxqsMessage[];
  inflightMessages: Map<string, { message: FauxqsMessage }>;
  /** FIFO queues keep their waiting messages per message group instead. */
  fifoMessages: Map<string, FauxqsMessage[]>;
  fifoDelayed: Map<string, FauxqsMessage[]>;
}

/** A running SQS/SNS emulator that can tell what its queues still hold. */
export interface RunningSqsSns extends RunningEmulator {
  /** Every message still in a queue (ready, delayed and, unless told not to, in flight), by queue name. */
  snapshot(options?: { inFlight?: boolean }): QueueSnapshot;
}

/** Starts fauxqs (SQS + SNS) on 127.0.0.1 (`port` 0 or absent = random); queue URLs point at its endpoint. */
export async function startSqsSns(options: { port?: number; region?: string } = {}): Promise<RunningSqsSns> {
  const stores = await createFauxqsStores();
  const app = buildApp({
    logger: false,
    defaultRegion: options.region ?? 'us-east-1',
    stores,
  });
  await app.listen({ port: options.port ?? 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    // Cancels pending long polls (they answer empty) and force-closes connections.
    stop: () => app.close(),
    snapshot: ({ inFlight = true } = {}) => {
      // fauxqs keeps queues in memory only; this reads its store so local mode can carry messages over a restart.
      const queues = (stores.sqsStore as unknown as { queues: Map<string, FauxqsQueue> }).queues;
      const snapshot: QueueSnapshot = {};
      for (const queue of queues.values()) {
        // In flight first: in a FIFO group, the message in flight is older than those waiting behind it.
        const held = [
          ...(inFlight ? [...queue.inflightMessages.values()].map((entry) => entry.message) : []),
          ...queue.messages,
          ...queue.delayedMessages,
          ...[...(queue.fifoMessages?.values() ?? [])].flat(),
          ...[...(queue.fifoDelayed?.values() ?? [])].flat(),
        ];
        if (held.length > 0) {
          snapshot[queue.name] = held.map((m) => ({
            body: m.body,
            messageAttributes: m.messageAttributes,
            ...(m.messageGroupId !== undefined && { messageGroupId: m.messageGroupId }),
          }));
        }
      }
      return snapshot;
    },
  };
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}
