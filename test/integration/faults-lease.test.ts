/**
 * Faults survived, scenario 5 (a): two dispatchers, one delivery. SQS delivers at least once and a visibility
 * timeout can run out mid-batch, so copies of one message, or consecutive transitions of one deployment, can
 * reach two dispatchers. A target must still get each transition once, in order. The dispatch queue is FIFO
 * with one message group per (deployment, target) (README, "How it works"): SQS hands a group out one message
 * at a time and none while one is in flight, and a dispatch (Lambda's 60 s timeout) always ends before the
 * visibility timeout (6x that) runs out. So here two dispatchers, each with two pollers taking one message per
 * batch, race for copies and consecutive transitions through that queue.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient } from '../../functions/core/http-client.ts';
import { ingestEvent } from '../../functions/core/ingest.ts';
import type { DispatchMessage } from '../../functions/core/schema.ts';
import { createDispatchHandler } from '../../functions/handlers/dispatch-handler.ts';
import { type Poller, startPoller, waitForQueueEmpty } from '../../functions/local/poller.ts';
import { nativeEvent } from '../support/events.ts';
import { reportFigures } from '../support/fault-kit.ts';
import { type FaultTarget, startFaultTarget } from '../support/fault-targets.ts';
import { createHarness, type Harness } from '../support/harness.ts';
import { type SlackServer, startSlackServer } from '../support/slack-server.ts';

const BOT_TOKEN = 'xoxb-7777-8888-RaceBotToken2c3d';

describe('two dispatchers racing for one delivery', () => {
  let h: Harness;
  let other: Harness;
  let hook: FaultTarget;
  let slack: SlackServer;
  const pollers: Poller[] = [];

  beforeAll(async () => {
    hook = await startFaultTarget('hook');
    slack = await startSlackServer({ tokens: [BOT_TOKEN], channels: { deploys: 'C0RACE' } });
    const options = {
      http: new HttpClient({ timeoutMs: 5_000 }),
      limiter: () => ({ take: async () => 0 }),
      // As in AWS: a message stays invisible well past the time its dispatch takes.
      dispatchVisibilitySeconds: 30,
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: {
          hook: { type: 'webhook', url: hook.url },
          slack: { type: 'slack', token: 'slack-bot-token', channel: 'deploys', baseUrl: slack.apiUrl },
        },
        routes: [{ match: { service: 'race-*' }, targets: ['hook', 'slack'] }],
      },
    };
    h = await createHarness(options);
    writeFileSync(join(h.secretsDir, 'slack-bot-token'), BOT_TOKEN);
    // The second dispatcher: its own runtime, on the same table and queues.
    other = await createHarness({ ...options, share: h });
    writeFileSync(join(other.secretsDir, 'slack-bot-token'), BOT_TOKEN);
  });
  afterEach(async () => {
    await Promise.all(pollers.splice(0).map((p) => p.stop()));
  });
  afterAll(async () => {
    await other?.stop();
    await h?.stop();
    await hook?.stop();
    await slack?.stop();
  });

  /** Both dispatchers, two pollers each taking one message per batch, until the dispatch queue is empty. */
  async function dispatchWithBoth() {
    for (const runtime of [h.runtime, other.runtime, h.runtime, other.runtime]) {
      pollers.push(
        startPoller({
          sqs: h.queues.sqs,
          queueUrl: h.resources.dispatchQueueUrl,
          handler: createDispatchHandler(() => Promise.resolve(runtime)),
          batchSize: 1,
          waitTimeSeconds: 1,
        }),
      );
    }
    await waitForQueueEmpty(h.queues.sqs, h.resources.dispatchQueueUrl, 30_000);
  }

  it('calls a target once when two dispatchers handle copies of the same message at the same moment', async () => {
    const events = Array.from({ length: 10 }, (_, i) =>
      nativeEvent(`race-${i}`, 'in_progress', { service: `race-${i}`, version: '5.0.0' }),
    );
    for (const e of events) {
      await ingestEvent(e, h.runtime.ingest);
      // Right behind each message, a copy of it (a duplicate past SQS's deduplication, or a redriven one).
      await h.queue.enqueue(
        ['hook', 'slack'].map((target) => ({ v: 1, deploymentId: e.deploymentId, seq: 1, target })),
      );
    }
    const messages = await h.dispatchMessages();
    expect(messages).toHaveLength(events.length * 4);

    await dispatchWithBoth();

    const doubled = events.filter((e) => (hook.answers.get(`${e.deploymentId}:1`) ?? []).length !== 1);
    const slackPosts = events.map(
      (e) => slack.calls('chat.postMessage').filter((r) => r.body.includes(e.service ?? '')).length,
    );
    reportFigures('two dispatchers', {
      messages: messages.length,
      webhookCalls: events.map((e) => (hook.answers.get(`${e.deploymentId}:1`) ?? []).length),
      slackPosts,
    });
    expect(doubled.map((e) => e.deploymentId)).toEqual([]);
    expect(slackPosts).toEqual(events.map(() => 1));
  });

  it('never sends an older transition after a newer one when two dispatchers take consecutive transitions at once', async () => {
    const ids = Array.from({ length: 10 }, (_, i) => `race-order-${i}`);
    for (const id of ids) {
      await ingestEvent(nativeEvent(id, 'in_progress', { service: id, version: '5.1.0' }), h.runtime.ingest);
      await ingestEvent(nativeEvent(id, 'succeeded', { service: id, version: '5.1.0' }), h.runtime.ingest);
    }
    const messages = (await h.dispatchMessages()).filter((m: DispatchMessage) => m.target === 'hook');
    expect(messages).toHaveLength(ids.length * 2);

    // One message per batch, four pollers in two dispatchers: seq 1 and seq 2 of a deployment race each other.
    await dispatchWithBoth();

    const order = [...hook.answers.keys()]; // in order of first arrival
    const backwards: string[] = [];
    for (const id of ids) {
      const deploymentId = nativeEvent(id, 'queued').deploymentId;
      const seqs = order.filter((k) => k.startsWith(`${deploymentId}:`)).map((k) => Number(k.split(':')[1]));
      if (seqs.join() === '2,1') backwards.push(`${id}: ${seqs.join(' then ')}`);
      for (const seq of seqs) expect(hook.answers.get(`${deploymentId}:${seq}`)).toHaveLength(1);
      // Both, in order: neither is skipped for the other.
      expect(seqs).toEqual([1, 2]);
    }
    expect(backwards).toEqual([]);
  });
});
