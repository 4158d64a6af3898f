import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestEvent } from '../../functions/core/ingest.ts';
import { redrive } from '../../functions/ops/redrive.ts';
import { nativeEvent } from '../support/events.ts';
import { createHarness, type Harness } from '../support/harness.ts';
import { startTargetServer, type TargetServer } from '../support/target-server.ts';

const run = promisify(execFile);

describe('dead letters and redrive', () => {
  let h: Harness;
  let hook: TargetServer;
  let poisoned = new Set<string>();

  beforeAll(async () => {
    hook = await startTargetServer();
    // The target rejects deployments marked poisoned with a 400 (permanent), accepts the rest.
    hook.fallback = (request) =>
      poisoned.has(request.json<{ deployment: { id: string } }>().deployment.id)
        ? { status: 400, body: { error: 'unsupported payload' } }
        : { status: 200, body: { ok: true } };
    h = await createHarness({
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: { hook: { type: 'webhook', url: `${hook.url}/hook` } },
        routes: [{ targets: ['hook'] }],
      },
    });
  });
  afterAll(async () => {
    await h.stop();
    await hook.stop();
  });

  const callsFor = (deploymentId: string) =>
    hook.requests.filter((r) => r.json<{ deployment: { id: string } }>().deployment.id === deploymentId);

  it('dead-letters a poison message while the rest of its batch is delivered, and a redrive delivers it once', async () => {
    const good = [nativeEvent('rd-good-1', 'succeeded'), nativeEvent('rd-good-2', 'succeeded')];
    const poison = nativeEvent('rd-poison', 'succeeded');
    poisoned = new Set([poison.deploymentId]);
    for (const e of [...good, poison]) await ingestEvent(e, h.runtime.ingest);

    await h.drainDispatch();

    expect(good.map((e) => callsFor(e.deploymentId).length)).toEqual([1, 1]);
    expect(callsFor(poison.deploymentId)).toHaveLength(1);
    expect(await h.dlqDepth()).toBe(1);
    expect(await h.store.getDelivery(poison.deploymentId, 'hook')).toMatchObject({ state: 'failed' });

    // The receiver is fixed; the operator redrives.
    poisoned = new Set();
    const first = await redrive(h.queues.sqs, {
      deadLetterQueueUrl: h.resources.dispatchDlqUrl,
      queueUrl: h.resources.dispatchQueueUrl,
    });
    await h.drainDispatch();

    expect(first).toEqual({ moved: 1, failed: 0 });
    expect(callsFor(poison.deploymentId)).toHaveLength(2);
    expect(await h.store.getDelivery(poison.deploymentId, 'hook')).toMatchObject({
      state: 'delivered',
      deliveredSeq: 1,
    });
    expect(good.map((e) => callsFor(e.deploymentId).length)).toEqual([1, 1]);
  });

  it('causes no second call when the same messages are redriven twice (with the command-line tool)', async () => {
    const done = nativeEvent('rd-twice', 'succeeded');
    await ingestEvent(done, h.runtime.ingest);
    await h.drainDispatch();
    expect(callsFor(done.deploymentId)).toHaveLength(1);
    // Copies of an already delivered message sit in the DLQ (e.g. a redrive that was interrupted and repeated).
    const copy = { v: 1 as const, deploymentId: done.deploymentId, seq: 1, target: 'hook' };
    await h.queue.deadLetter(JSON.stringify(copy), 'test copy');
    await h.queue.deadLetter(JSON.stringify(copy), 'test copy');

    for (let i = 0; i < 2; i++) {
      const { stdout } = await run(
        'npx',
        [
          'tsx',
          'bin/shipcast-cli.ts',
          'redrive',
          '--dlq-url',
          h.resources.dispatchDlqUrl,
          '--queue-url',
          h.resources.dispatchQueueUrl,
          '--endpoint',
          h.queues.endpoint,
          '--region',
          'us-east-1',
        ],
        { env: { ...process.env, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' } },
      );
      expect(stdout).toMatch(/moved \d+ message/);
      await h.drainDispatch();
    }

    expect(callsFor(done.deploymentId)).toHaveLength(1);
    expect(await h.dlqDepth()).toBe(0);
  });
});
