import { mkdtempSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/core/config.ts';
import { type LocalShipcast, startLocal } from '../../functions/local/local-shipcast.ts';
import { captureLogs } from '../support/capture-logger.ts';
import { waitFor } from '../support/emulators.ts';

const TOKEN = 'local-concurrency-token-0123456789';

/** A webhook receiver that holds every request open until the test releases it; notes what happens, in order. */
async function startHoldingReceiver(name: string, journal: string[]) {
  const held: ServerResponse[] = [];
  let holding = true;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      journal.push(`${name} received`);
      res.on('close', () => journal.push(`${name} closed`));
      if (holding) held.push(res);
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    /** Answers what is held with 200, and everything after it at once. */
    release() {
      holding = false;
      for (const res of held.splice(0))
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('local mode runs dispatch batches concurrently, as Lambda does', () => {
  const journal: string[] = [];
  let slow: Awaited<ReturnType<typeof startHoldingReceiver>>;
  let fast: Awaited<ReturnType<typeof startHoldingReceiver>>;
  let local: LocalShipcast | undefined;
  const logs = captureLogs();

  const post = (service: string) =>
    fetch(`${local?.apiUrl}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ service, environment: 'production', status: 'in_progress', version: '1' }),
    });

  beforeAll(async () => {
    slow = await startHoldingReceiver('slow', journal);
    fast = await startHoldingReceiver('fast', journal);
    fast.release();
    local = await startLocal({
      config: parseConfig({
        api: { tokens: [{ name: 'dev', secret: 'api-token' }] },
        targets: {
          // Hangs on purpose until the test releases it; the timeout is longer than the test waits.
          slow: { type: 'webhook', url: slow.url, timeoutMs: 60_000 },
          fast: { type: 'webhook', url: fast.url },
        },
        routes: [
          { match: { service: 'slow-*' }, targets: ['slow'] },
          { match: { service: 'fast-*' }, targets: ['fast'] },
        ],
      }),
      dataDir: mkdtempSync(join(tmpdir(), 'shipcast-concurrency-')),
      port: 0,
      queuePort: 0,
      env: { SHIPCAST_SECRET_API_TOKEN: TOKEN },
      logger: logs.logger,
    });
  });
  afterAll(async () => {
    slow?.release();
    await local?.stop();
    await Promise.all([slow?.stop(), fast?.stop()]);
    logs.restore();
  });

  it("delivers to a fast target while another target's call hangs: the hanging batch holds back only itself", async () => {
    expect((await post('slow-search')).status).toBe(202);
    await waitFor(() => journal.includes('slow received'), { message: 'the call to the hanging target' });

    expect((await post('fast-checkout')).status).toBe(202);
    await waitFor(() => journal.includes('fast closed'), {
      message: 'the fast target answered while the other hangs',
      timeoutMs: 20_000,
    });

    // The fast delivery went through while the slow call was still open.
    expect(journal.indexOf('slow closed')).toBe(-1);
    slow.release();
    await waitFor(() => journal.includes('slow closed'), { message: 'the held call answered' });
    expect(journal).toEqual(['slow received', 'fast received', 'fast closed', 'slow closed']);
  });
});
