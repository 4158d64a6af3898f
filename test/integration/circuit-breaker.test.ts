import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SqsDispatchQueue } from '../../functions/adapters/aws/sqs-queue.ts';
import { PROBE_WAIT_SECONDS } from '../../functions/core/circuit.ts';
import { dispatchBatch, dispatchOne, type ReceivedMessage } from '../../functions/core/dispatch.ts';
import { ingestEvent } from '../../functions/core/ingest.ts';
import type { DispatchQueue } from '../../functions/core/ports.ts';
import type { DispatchMessage } from '../../functions/core/schema.ts';
import { MAX_VISIBILITY_SECONDS, VISIBILITY_MARGIN_SECONDS } from '../../functions/core/visibility.ts';
import type { LogEntry } from '../support/capture-logger.ts';
import { nativeEvent } from '../support/events.ts';
import { type GitHubServer, startGitHubServer } from '../support/github-server.ts';
import { createHarness, type Harness } from '../support/harness.ts';

type Answer = { status: number; headers?: Record<string, string> };

/** A webhook receiver whose answers the test decides, possibly later (an answer can be held back). */
async function startReceiver() {
  const calls: { deploymentId: string; seq: number }[] = [];
  let answer: (call: { deploymentId: string; seq: number }) => Answer | Promise<Answer> = () => ({
    status: 200,
  });
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        deployment: { id: string };
        transition: { seq: number };
      };
      const call = { deploymentId: body.deployment.id, seq: body.transition.seq };
      calls.push(call);
      const { status, headers } = await answer(call);
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(status < 300 ? { ok: true } : { error: `answered ${status}` }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    calls,
    answerWith(next: typeof answer) {
      answer = next;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * The dispatch queue, keeping every delay asked for (by receipt handle) on the way. The tests move their
 * clock and bring messages back themselves: in real time a retried message stays away (a 5 s backoff
 * coming back by itself would turn up in a later test's receive).
 */
function recordingQueue(real: SqsDispatchQueue, delays: Map<string, number>): DispatchQueue {
  return {
    enqueue: (messages) => real.enqueue(messages),
    retryLater: async (receiptHandle, seconds) => {
      delays.set(receiptHandle, seconds);
      await real.retryLater(receiptHandle, Math.max(seconds, 600));
    },
    deadLetter: (body, reason, messageId) => real.deadLetter(body, reason, messageId),
  };
}

const COOL_DOWN = 60;
const FAILURES = 3;

const config = (url: string) => ({
  api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
  targets: {
    hook: { type: 'webhook', url },
    // Its own settings: never opened by failures.
    steady: { type: 'log', circuit: { enabled: false } },
  },
  routes: [{ targets: ['hook'] }],
  dispatch: { maxReceives: 4, circuit: { failures: FAILURES, coolDownSeconds: COOL_DOWN } },
});

/** EMF records of a metric for the target, across the given harnesses' captured lines. */
const metricRecords = (name: string, ...harnesses: Harness[]) =>
  harnesses
    .flatMap((h) => h.logs.entries())
    .filter((e: LogEntry) => '_aws' in e && name in e && e.target === 'hook');

const messageOf = (received: ReceivedMessage) => JSON.parse(received.body) as DispatchMessage;

describe('circuit breaker', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let h: Harness;
  const delays = new Map<string, number>();

  beforeAll(async () => {
    receiver = await startReceiver();
    h = await createHarness({
      config: config(receiver.url),
      queue: (real) => recordingQueue(real, delays),
      dispatchVisibilitySeconds: 30,
    });
  });
  afterAll(async () => {
    await h?.stop();
    await receiver?.stop();
  });
  beforeEach(() => {
    receiver.answerWith(() => ({ status: 200 }));
  });

  /** Ingests a started deployment per id; returns their dispatch messages, received (invisible for 30 s). */
  async function started(...ids: string[]): Promise<ReceivedMessage[]> {
    const deploymentIds = new Set<string>();
    for (const id of ids) {
      const event = nativeEvent(id, 'in_progress');
      deploymentIds.add(event.deploymentId);
      await ingestEvent(event, h.runtime.ingest);
    }
    const received: ReceivedMessage[] = [];
    while (received.length < ids.length) {
      const batch = await h.receiveDispatch(30);
      if (batch.length === 0) throw new Error('dispatch messages missing');
      received.push(...batch.filter((m) => deploymentIds.has(messageOf(m).deploymentId)));
    }
    return received;
  }

  it('opens after the configured failures in a row; while open no call is made and messages wait out the cool-down without using attempts; one probe that works closes it and the waiting messages are delivered once each', async () => {
    receiver.answerWith(() => ({ status: 503 }));
    const failing = await started('cb-1', 'cb-2', 'cb-3');

    expect(await dispatchBatch(failing, h.runtime.dispatch)).toHaveLength(3);

    expect(receiver.calls).toHaveLength(FAILURES);
    expect(metricRecords('CircuitOpened', h)).toHaveLength(1);
    expect(h.logs.entries().filter((e) => e.message?.startsWith('circuit opened'))).toHaveLength(1);
    const circuit = await h.store.getCircuit('hook');
    expect(circuit).toMatchObject({ state: 'open', openedAt: h.clock.now().getTime() });
    // The failure that opened it waits out the cool-down rather than its shorter backoff.
    expect(Math.max(...failing.map((m) => delays.get(m.receiptHandle) ?? 0))).toBe(COOL_DOWN);

    // New work for the target waits in the queue for what is left of the cool-down: no call, no attempt.
    const waiting = await started('cb-4', 'cb-5');
    h.clock.advance(20_000);
    expect(await dispatchBatch(waiting, h.runtime.dispatch)).toHaveLength(2);
    expect(receiver.calls).toHaveLength(FAILURES);
    expect(waiting.map((m) => delays.get(m.receiptHandle))).toEqual([COOL_DOWN - 20, COOL_DOWN - 20]);
    for (const m of waiting)
      expect(await h.store.getDelivery(messageOf(m).deploymentId, 'hook')).toBeUndefined();
    // However often it was received, a held-back message is not given up on (maxReceives is 4).
    const again = await dispatchOne(messageOf(failing[0] as ReceivedMessage), 40, h.runtime.dispatch);
    expect(again).toMatchObject({ kind: 'deferred', afterSeconds: COOL_DOWN - 20 });
    expect(receiver.calls).toHaveLength(FAILURES);

    // The cool-down is over and the target is back: all five messages come back at once.
    h.clock.advance((COOL_DOWN - 20) * 1000);
    const probed: string[] = [];
    receiver.answerWith((call) => {
      probed.push(call.deploymentId);
      return { status: 200 };
    });
    for (const m of [...failing, ...waiting]) await h.queue.retryLater(m.receiptHandle, 0);
    const back = await h.receiveDispatch(30);
    expect(back).toHaveLength(5);

    expect(await dispatchBatch(back, h.runtime.dispatch)).toEqual([]);

    // One probe went first and alone; the rest followed it once it had closed the circuit.
    expect(
      h.logs.entries().filter((e) => e.message === 'circuit cool-down over; probing the target'),
    ).toHaveLength(1);
    expect(metricRecords('CircuitClosed', h)).toHaveLength(1);
    expect(await h.store.getCircuit('hook')).toMatchObject({ state: 'closed', failures: 0 });
    const deploymentIds = [...failing, ...waiting].map((m) => messageOf(m).deploymentId);
    expect(probed.sort()).toEqual([...deploymentIds].sort());
    for (const id of deploymentIds) {
      expect(await h.store.getDelivery(id, 'hook')).toMatchObject({
        state: 'delivered',
        deliveredSeq: 1,
      });
    }
    // Attempts: one failure each for the first three (the probe's, if one of them, is the circuit's), none for the rest.
    const first = await h.store.getDelivery(messageOf(failing[0] as ReceivedMessage).deploymentId, 'hook');
    expect(first?.failedAttempts).toBeUndefined();
    expect(first?.attempts).toBe(2);
  });

  it('keeps the circuit open for another cool-down when the probe fails, and does not count the probe against its message', async () => {
    receiver.answerWith(() => ({ status: 503 }));
    const failing = await started('cb-probe-1', 'cb-probe-2', 'cb-probe-3');
    await dispatchBatch(failing, h.runtime.dispatch);
    expect((await h.store.getCircuit('hook'))?.state).toBe('open');
    const callsBefore = receiver.calls.length;

    h.clock.advance(COOL_DOWN * 1000);
    const probe = messageOf(failing[0] as ReceivedMessage);
    const outcome = await dispatchOne(probe, 2, h.runtime.dispatch);

    expect(outcome).toMatchObject({ kind: 'retry', afterSeconds: COOL_DOWN });
    expect(receiver.calls.length).toBe(callsBefore + 1);
    expect(await h.store.getCircuit('hook')).toMatchObject({
      state: 'open',
      openedAt: h.clock.now().getTime(),
    });
    expect((await h.store.getCircuit('hook'))?.probeOwner).toBeUndefined();
    // Still one failed attempt (the one before the circuit opened); the probe was recorded, not counted.
    expect(await h.store.getDelivery(probe.deploymentId, 'hook')).toMatchObject({
      state: 'retrying',
      failedAttempts: 1,
      attempts: 2,
    });
    // The others wait for the new cool-down.
    expect(await dispatchOne(messageOf(failing[1] as ReceivedMessage), 2, h.runtime.dispatch)).toMatchObject({
      kind: 'deferred',
      afterSeconds: COOL_DOWN,
    });

    // Clean up for the next tests: the target is back, the next probe closes the circuit.
    receiver.answerWith(() => ({ status: 200 }));
    h.clock.advance(COOL_DOWN * 1000);
    for (const m of failing)
      expect((await dispatchOne(messageOf(m), 3, h.runtime.dispatch)).kind).toBe('delivered');
    expect((await h.store.getCircuit('hook'))?.state).toBe('closed');
  });

  it("waits out a Retry-After longer than the cool-down before it probes: no call before the target's time", async () => {
    receiver.answerWith(() => ({ status: 429, headers: { 'retry-after': '600' } }));
    const limited = await started('cb-rl-1', 'cb-rl-2', 'cb-rl-3');
    await dispatchBatch(limited, h.runtime.dispatch);
    expect(await h.store.getCircuit('hook')).toMatchObject({
      state: 'open',
      reopensAt: h.clock.now().getTime() + 600_000,
    });
    const callsBefore = receiver.calls.length;

    // The cool-down is over, the target's wait is not: still no probe.
    h.clock.advance((COOL_DOWN + 1) * 1000);
    receiver.answerWith(() => ({ status: 200 }));
    expect(await dispatchOne(messageOf(limited[0] as ReceivedMessage), 2, h.runtime.dispatch)).toMatchObject({
      kind: 'deferred',
      afterSeconds: 600 - COOL_DOWN - 1,
    });
    expect(receiver.calls).toHaveLength(callsBefore);

    // Then one probe closes it, and the rest follow.
    h.clock.advance((600 - COOL_DOWN - 1) * 1000);
    for (const m of limited)
      expect((await dispatchOne(messageOf(m), 3, h.runtime.dispatch)).kind).toBe('delivered');
    expect(receiver.calls).toHaveLength(callsBefore + 3);
    expect(await h.store.getCircuit('hook')).toMatchObject({ state: 'closed', failures: 0 });
    expect((await h.store.getCircuit('hook'))?.reopensAt).toBeUndefined();
  });

  it("never asks the queue for a wait past SQS's 12 hours since the receive, for a retry or an open circuit", async () => {
    // A rate limit that names a day: longer than SQS can hold a message back after it was received.
    receiver.answerWith(() => ({ status: 429, headers: { 'retry-after': '86400' } }));
    const threeHoursAgo = h.clock.now().getTime() - 3 * 3_600_000;
    const limited = (await started('cb-day-1', 'cb-day-2', 'cb-day-3')).map((m) => ({
      ...m,
      receivedAt: threeHoursAgo,
    }));
    const usable = MAX_VISIBILITY_SECONDS - VISIBILITY_MARGIN_SECONDS;

    await dispatchBatch(limited, h.runtime.dispatch);

    // Nine of the twelve hours are left (less the margin): that is what each retry asks for.
    expect(limited.map((m) => delays.get(m.receiptHandle))).toEqual(Array(3).fill(usable - 3 * 3600));
    // The circuit is probed again no later than a freshly received message can wait.
    expect(await h.store.getCircuit('hook')).toMatchObject({
      state: 'open',
      reopensAt: h.clock.now().getTime() + usable * 1000,
    });
    // A message held back by the open circuit is cut to what is left of its own 12 hours too.
    const held = (await started('cb-day-4')).map((m) => ({ ...m, receivedAt: threeHoursAgo }));
    expect(await dispatchBatch(held, h.runtime.dispatch)).toHaveLength(1);
    expect(delays.get((held[0] as ReceivedMessage).receiptHandle)).toBe(usable - 3 * 3600);

    // Clean up: the wait is over, the target is back.
    h.clock.advance(usable * 1000);
    receiver.answerWith(() => ({ status: 200 }));
    for (const m of [...limited, ...held])
      expect((await dispatchOne(messageOf(m), 3, h.runtime.dispatch)).kind).toBe('delivered');
    expect((await h.store.getCircuit('hook'))?.state).toBe('closed');
  });

  it('is not opened by permanent refusals (4xx), and a success resets the failures counted before it', async () => {
    receiver.answerWith(() => ({ status: 400 }));
    const refused = await started('cb-400-1', 'cb-400-2', 'cb-400-3', 'cb-400-4');
    await dispatchBatch(refused, h.runtime.dispatch);
    expect(
      receiver.calls.filter((c) => refused.some((m) => messageOf(m).deploymentId === c.deploymentId)),
    ).toHaveLength(4);
    expect((await h.store.getCircuit('hook'))?.state).toBe('closed');

    // Two failures, a success, two failures: never three in a row.
    const failures = await started('cb-reset-1', 'cb-reset-2', 'cb-reset-3', 'cb-reset-4');
    const good = await started('cb-reset-ok');
    receiver.answerWith(() => ({ status: 503 }));
    await dispatchBatch(failures.slice(0, 2), h.runtime.dispatch);
    expect((await h.store.getCircuit('hook'))?.failures).toBe(2);
    receiver.answerWith(() => ({ status: 200 }));
    await dispatchBatch(good, h.runtime.dispatch);
    expect((await h.store.getCircuit('hook'))?.failures).toBe(0);
    receiver.answerWith(() => ({ status: 503 }));
    await dispatchBatch(failures.slice(2), h.runtime.dispatch);
    expect(await h.store.getCircuit('hook')).toMatchObject({ state: 'closed', failures: 2 });

    // Clean up: deliver what is left.
    receiver.answerWith(() => ({ status: 200 }));
    for (const m of failures)
      expect((await dispatchOne(messageOf(m), 2, h.runtime.dispatch)).kind).toBe('delivered');
    expect(await h.store.getCircuit('hook')).toMatchObject({ state: 'closed', failures: 0 });
  });

  it('costs no write on the healthy path: a delivery writes its record once, and the circuit is read once per few seconds', async () => {
    const healthy = await started('cb-ok-1', 'cb-ok-2', 'cb-ok-3');
    const before = await h.store.getCircuit('hook');
    const writes: string[] = [];
    const reads: string[] = [];
    const store = h.runtime.dispatch.store;
    const counting = Object.create(store) as typeof store;
    counting.saveDelivery = (next, rev) => {
      writes.push(`delivery ${next.deploymentId}`);
      return store.saveDelivery(next, rev);
    };
    counting.saveDeliveries = (list) => {
      writes.push(`delivery ${list[0]?.next.deploymentId}`);
      return store.saveDeliveries(list);
    };
    counting.saveCircuit = (next, rev) => {
      writes.push('circuit');
      return store.saveCircuit(next, rev);
    };
    counting.countCircuitFailure = (target) => {
      writes.push('failure');
      return store.countCircuitFailure(target);
    };
    counting.getCircuit = (target) => {
      reads.push(target);
      return store.getCircuit(target);
    };

    // A fresh dispatcher (nothing cached) with the same config and target.
    const { CircuitBreakers } = await import('../../functions/core/circuit.ts');
    const context = { ...h.runtime.dispatch, store: counting, circuits: new CircuitBreakers() };
    expect(await dispatchBatch(healthy, context)).toEqual([]);

    expect(writes.sort()).toEqual(healthy.map((m) => `delivery ${messageOf(m).deploymentId}`).sort());
    expect(reads).toEqual(['hook']);
    expect(await h.store.getCircuit('hook')).toEqual(before);
  });
});

describe('circuit breaker shared by two dispatchers', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let one: Harness;
  let two: Harness;

  beforeAll(async () => {
    receiver = await startReceiver();
    one = await createHarness({ config: config(receiver.url), dispatchVisibilitySeconds: 30 });
    two = await createHarness({ config: config(receiver.url), share: one });
  });
  afterAll(async () => {
    await two?.stop();
    await one?.stop();
    await receiver?.stop();
  });

  const message = async (h: Harness, id: string): Promise<DispatchMessage> => {
    const event = nativeEvent(id, 'in_progress');
    await ingestEvent(event, h.runtime.ingest);
    return { v: 1, deploymentId: event.deploymentId, seq: 1, target: 'hook' };
  };
  const advance = (ms: number) => {
    one.clock.advance(ms);
    two.clock.advance(ms);
  };

  it('opened by one dispatcher holds the other back, lets one probe through at a time, and closes for both', async () => {
    receiver.answerWith(() => ({ status: 502 }));
    for (const id of ['sh-1', 'sh-2', 'sh-3']) {
      expect((await dispatchOne(await message(one, id), 1, one.runtime.dispatch)).kind).toBe('retry');
    }
    expect(receiver.calls).toHaveLength(FAILURES);

    // The second dispatcher never saw a failure, yet holds back.
    const held = await message(two, 'sh-4');
    expect(await dispatchOne(held, 1, two.runtime.dispatch)).toMatchObject({
      kind: 'deferred',
      afterSeconds: COOL_DOWN,
    });
    expect(receiver.calls).toHaveLength(FAILURES);

    // After the cool-down, the first dispatcher's probe is in flight (its answer held back) ...
    advance(COOL_DOWN * 1000);
    let release: (answer: Answer) => void = () => {};
    receiver.answerWith(
      () =>
        new Promise<Answer>((resolve) => {
          release = resolve;
        }),
    );
    const probe = dispatchOne(await message(one, 'sh-5'), 1, one.runtime.dispatch);
    while (receiver.calls.length === FAILURES) await new Promise((resolve) => setTimeout(resolve, 10));
    // ... so the second dispatcher does not probe too: it waits a little and looks again.
    expect(await dispatchOne(held, 2, two.runtime.dispatch)).toMatchObject({
      kind: 'deferred',
      afterSeconds: PROBE_WAIT_SECONDS,
    });
    expect(receiver.calls).toHaveLength(FAILURES + 1);

    release({ status: 200 });
    expect((await probe).kind).toBe('delivered');
    expect(metricRecords('CircuitClosed', one, two)).toHaveLength(1);

    // Closed for the second dispatcher too.
    receiver.answerWith(() => ({ status: 200 }));
    expect((await dispatchOne(held, 3, two.runtime.dispatch)).kind).toBe('delivered');
    expect(await one.store.getCircuit('hook')).toMatchObject({ state: 'closed', failures: 0 });
    expect(metricRecords('CircuitOpened', one, two)).toHaveLength(1);
  });
});

describe('circuit breaker judging a target by its calls, not by deliveries of several calls', () => {
  const TOKEN = 'ghp_circuitcalls0123456789abcdef';
  const STATUSES = 'POST /repos/*/*/deployments/*/statuses';
  let gh: GitHubServer;
  let h: Harness;

  beforeAll(async () => {
    gh = await startGitHubServer({ tokens: [TOKEN] });
    h = await createHarness({
      dispatchVisibilitySeconds: 30,
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: { github: { type: 'github-deployment', baseUrl: gh.url, token: 'github-token' } },
        routes: [{ targets: ['github'] }],
        dispatch: { maxReceives: 10, circuit: { failures: FAILURES, coolDownSeconds: COOL_DOWN } },
      },
    });
    writeFileSync(join(h.secretsDir, 'github-token'), TOKEN);
  });
  afterAll(async () => {
    await h?.stop();
    await gh?.stop();
  });

  /** Ingests a started deployment on acme/shop per id; its dispatch message to the GitHub target. */
  const started = async (id: string): Promise<DispatchMessage> => {
    const event = nativeEvent(id, 'in_progress', {
      environment: 'production',
      revision: { repository: 'acme/shop', commit: createHash('sha1').update(id).digest('hex') },
    });
    await ingestEvent(event, h.runtime.ingest);
    return { v: 1, deploymentId: event.deploymentId, seq: 1, target: 'github' };
  };

  it('stays closed while each delivery fails on its last call but the calls before it were answered', async () => {
    // Each first delivery looks up, creates, then fails to post its status: one failed call in three.
    gh.intercept(STATUSES, { status: 502, body: { message: 'Server Error' } }, { times: FAILURES + 1 });
    const messages = await Promise.all(['calls-1', 'calls-2', 'calls-3', 'calls-4'].map(started));

    for (const message of messages)
      expect((await dispatchOne(message, 1, h.runtime.dispatch)).kind).toBe('retry');

    expect(gh.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/statuses'))).toHaveLength(4);
    expect((await h.store.getCircuit('github'))?.state ?? 'closed').toBe('closed');
    // The retries post only the missing status, to the deployment already created.
    for (const message of messages)
      expect((await dispatchOne(message, 2, h.runtime.dispatch)).kind).toBe('delivered');
    expect(gh.deployments).toHaveLength(4);
  });

  it('closes on a probe whose first calls are answered, even when its last call fails', async () => {
    // Down: every look-up fails, so three deliveries in a row fail without an answer and open the circuit.
    gh.intercept('GET /repos/*/*/deployments', { status: 503 }, { times: FAILURES });
    const failing = await Promise.all(['probe-1', 'probe-2', 'probe-3'].map(started));
    for (const message of failing)
      expect((await dispatchOne(message, 1, h.runtime.dispatch)).kind).toBe('retry');
    expect((await h.store.getCircuit('github'))?.state).toBe('open');

    // Back, mostly: the probe's look-up and create are answered, its status post fails.
    h.clock.advance(COOL_DOWN * 1000);
    gh.intercept(STATUSES, { status: 502, body: { message: 'Server Error' } });
    const probe = await dispatchOne(failing[0] as DispatchMessage, 2, h.runtime.dispatch);

    expect(probe.kind).toBe('retry');
    expect(await h.store.getCircuit('github')).toMatchObject({ state: 'closed', failures: 0 });
    // The others are not held back: they go through at once, and so does the probe's retry.
    for (const message of [...failing.slice(1), failing[0] as DispatchMessage])
      expect((await dispatchOne(message, 3, h.runtime.dispatch)).kind).toBe('delivered');
  });
});
