/**
 * Faults survived, scenario 5 (a): two dispatchers, one delivery. SQS delivers at least once and a visibility
 * timeout can run out mid-batch, so two dispatchers can hold copies of one message, or consecutive transitions
 * of one deployment, at the same moment. A target must still get each transition once, in order: this needs a
 * dispatch lease per (deployment, target).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dispatchBatch, type ReceivedMessage } from '../../functions/core/dispatch.ts';
import { HttpClient } from '../../functions/core/http-client.ts';
import { ingestEvent } from '../../functions/core/ingest.ts';
import { nativeEvent } from '../support/events.ts';
import { reportFigures } from '../support/fault-kit.ts';
import { type FaultTarget, startFaultTarget } from '../support/fault-targets.ts';
import { createHarness, type Harness } from '../support/harness.ts';
import { type SlackServer, startSlackServer } from '../support/slack-server.ts';

const BOT_TOKEN = 'xoxb-7777-8888-RaceBotToken2c3d';

describe('two dispatchers racing for one delivery', () => {
  let h: Harness;
  let hook: FaultTarget;
  let slack: SlackServer;

  beforeAll(async () => {
    hook = await startFaultTarget('hook');
    slack = await startSlackServer({ tokens: [BOT_TOKEN], channels: { deploys: 'C0RACE' } });
    h = await createHarness({
      http: new HttpClient({ timeoutMs: 5_000 }),
      limiter: () => ({ take: async () => 0 }),
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: {
          hook: { type: 'webhook', url: hook.url },
          slack: { type: 'slack', token: 'slack-bot-token', channel: 'deploys', baseUrl: slack.apiUrl },
        },
        routes: [{ match: { service: 'race-*' }, targets: ['hook', 'slack'] }],
      },
    });
    writeFileSync(join(h.secretsDir, 'slack-bot-token'), BOT_TOKEN);
  });
  afterAll(async () => {
    await h?.stop();
    await hook?.stop();
    await slack?.stop();
  });

  /** Takes every visible dispatch message off the queue (for 30 s), without handling it. */
  async function takeAll(): Promise<ReceivedMessage[]> {
    const all: ReceivedMessage[] = [];
    for (;;) {
      const batch = await h.receiveDispatch(30);
      if (batch.length === 0) return all;
      all.push(...batch);
    }
  }
  const copy = (m: ReceivedMessage, n: number): ReceivedMessage => ({
    ...m,
    messageId: `${m.messageId}-copy${n}`,
  });

  it('calls a target once when two dispatchers handle copies of the same message at the same moment', async () => {
    const events = Array.from({ length: 10 }, (_, i) =>
      nativeEvent(`race-${i}`, 'in_progress', { service: `race-${i}`, version: '5.0.0' }),
    );
    for (const e of events) await ingestEvent(e, h.runtime.ingest);
    const messages = await takeAll();
    expect(messages).toHaveLength(events.length * 2);

    await Promise.all(
      messages.flatMap((m) => [
        dispatchBatch([m], h.runtime.dispatch),
        dispatchBatch([copy(m, 1)], h.runtime.dispatch),
      ]),
    );

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
    const messages = (await takeAll()).filter((m) => JSON.parse(m.body).target === 'hook');
    expect(messages).toHaveLength(ids.length * 2);

    // Each message in its own batch, all at once: seq 1 and seq 2 of a deployment race each other.
    await Promise.all(messages.map((m) => dispatchBatch([m], h.runtime.dispatch)));

    const order = [...hook.answers.keys()]; // in order of first arrival
    const backwards: string[] = [];
    for (const id of ids) {
      const deploymentId = nativeEvent(id, 'queued').deploymentId;
      const seqs = order.filter((k) => k.startsWith(`${deploymentId}:`)).map((k) => Number(k.split(':')[1]));
      if (seqs.join() === '2,1') backwards.push(`${id}: ${seqs.join(' then ')}`);
      for (const seq of seqs) expect(hook.answers.get(`${deploymentId}:${seq}`)).toHaveLength(1);
    }
    expect(backwards).toEqual([]);
    await h.drainDispatch();
  });
});
