/**
 * Faults survived, scenario 2: webhook targets answering 30% 429 with Retry-After (seconds or an HTTP date),
 * 10% 500, 5% hung connections and 5% connection resets, decided per (target, delivery, attempt) by a seeded
 * PRNG. Every notification is delivered, none twice, and no message comes back before the Retry-After its
 * 429 named. Size from the environment: FAULTS_TARGET_DEPLOYMENTS (60), FAULTS_SEED.
 */
import { createHash } from 'node:crypto';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient } from '../../functions/core/http-client.ts';
import { ingestEvent } from '../../functions/core/ingest.ts';
import type { DeploymentEvent } from '../../functions/core/schema.ts';
import { nativeEvent } from '../support/events.ts';
import {
  type DrainReport,
  drainDispatchBatches,
  elapsed,
  envInt,
  mapLimit,
  prng,
  type RecordingQueue,
  randomInt,
  recordingQueue,
  reportFigures,
} from '../support/fault-kit.ts';
import { type FaultAnswer, type FaultTarget, startFaultTarget } from '../support/fault-targets.ts';
import { createHarness, type Harness } from '../support/harness.ts';

const DEPLOYMENTS = envInt('FAULTS_TARGET_DEPLOYMENTS', 60);
const SEED = envInt('FAULTS_SEED', 20260301);
/** Concurrent dispatchers (pollers); each deployment has one transition in flight at a time here. */
const DRAINERS = 8;

/** The seeded fault plan: the answer depends only on the seed, the target, the delivery and the attempt. */
function plan(target: string) {
  return (key: string, attempt: number): FaultAnswer => {
    const digest = createHash('sha256').update(`${SEED}/${target}/${key}/${attempt}`).digest();
    const random = prng(digest.readUInt32LE(0));
    const roll = random();
    if (roll < 0.3) {
      // Retry-After from 1 s to an hour: some shorter, some longer than the dispatcher's own backoff.
      const seconds = random() < 0.8 ? randomInt(random, 1, 120) : randomInt(random, 900, 3600);
      return { kind: 'rate-limited', retryAfter: seconds };
    }
    if (roll < 0.4) return { kind: 'error' };
    if (roll < 0.45) return { kind: 'hang' };
    if (roll < 0.5) return { kind: 'reset' };
    return { kind: 'ok' };
  };
}

describe('targets that rate-limit, fail, hang and reset', () => {
  let h: Harness;
  let queue: RecordingQueue;
  const targets: FaultTarget[] = [];
  /** When each retryLater was asked (ms), by position in `queue.delays`. */
  const askedAt: number[] = [];
  /** Per 429 answer given as an HTTP date: the date (ms) it named, by target/key/attempt. */
  const retryDates = new Map<string, number>();

  beforeAll(async () => {
    for (const name of ['alpha', 'beta', 'gamma']) {
      const target = await startFaultTarget(name);
      const seeded = plan(name);
      target.plan = (key, attempt) => seeded(key, attempt);
      targets.push(target);
    }
    // A third of the 429s name their Retry-After as an HTTP date instead of seconds.
    for (const target of targets) {
      const fallback = target.server.fallback;
      target.server.fallback = (request) => {
        const answer = fallback(request);
        const key = String(request.headers['shipcast-delivery']);
        // The position of this answer in the key's list (the plan has just recorded it).
        const attempt = (target.answers.get(key)?.length ?? 1) - 1;
        if ('status' in answer && answer.status === 429 && attempt % 3 === 0) {
          const seconds = Number(answer.headers?.['retry-after']);
          const date = new Date(Math.ceil(Date.now() / 1000) * 1000 + seconds * 1000);
          retryDates.set(`${target.name}/${key}/${attempt}`, date.getTime());
          return { ...answer, headers: { 'retry-after': date.toUTCString() } };
        }
        return answer;
      };
    }
    h = await createHarness({
      maxReceives: 60,
      // Generous next to a local answer (a loaded machine must not turn a slow 200 into a timeout and a second
      // delivery: at-least-once is the guarantee, exactly once is what this test wants to see), short next to a hang.
      http: new HttpClient({ timeoutMs: 10_000 }),
      queue: (real) => {
        queue = recordingQueue(real, 0);
        const retryLater = queue.retryLater;
        queue.retryLater = (handle, seconds) => {
          askedAt[queue.delays.length] = Date.now();
          return retryLater(handle, seconds);
        };
        return queue;
      },
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: Object.fromEntries(targets.map((t) => [t.name, { type: 'webhook', url: t.url }])),
        routes: [{ targets: targets.map((t) => t.name) }],
        dispatch: { maxReceives: 60 },
      },
    });
  });
  afterAll(async () => {
    await h?.stop();
    for (const t of targets) await t.stop();
  });

  /** Drains with several dispatchers at once until nothing is left, visible or in flight. */
  async function drainAll(report: DrainReport) {
    for (;;) {
      await Promise.all(Array.from({ length: DRAINERS }, () => drainDispatchBatches(h, { report })));
      const { Attributes = {} } = await h.queues.sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: h.resources.dispatchQueueUrl,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      );
      if (
        Attributes.ApproximateNumberOfMessages === '0' &&
        Attributes.ApproximateNumberOfMessagesNotVisible === '0'
      )
        return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  it('delivers every notification exactly once and never retries sooner than the Retry-After a target named', async () => {
    const started = performance.now();
    const report: DrainReport = { batches: 0, messages: 0, byReceipt: new Map() };
    const outcomes: DeploymentEvent['status'][] = ['succeeded', 'failed', 'stopped'];
    const ids = Array.from({ length: DEPLOYMENTS }, (_, i) => `ft-${SEED}-${i}`);
    // One transition per deployment in flight at a time (a wave), so every transition is owed to every target.
    const waves: DeploymentEvent['status'][][] = [
      ids.map(() => 'queued'),
      ids.map(() => 'in_progress'),
      ids.map((_, i) => outcomes[i % 3] ?? 'succeeded'),
    ];
    const deploymentIds: string[] = [];
    for (const wave of waves) {
      const events = ids.map((id, i) => nativeEvent(id, wave[i] ?? null, { version: '2.0.0' }));
      deploymentIds.splice(0, deploymentIds.length, ...events.map((e) => e.deploymentId));
      const ingested = await mapLimit(events, 8, (e) => ingestEvent(e, h.runtime.ingest));
      expect(ingested.filter((r) => r.status === 'rejected')).toEqual([]);
      await drainAll(report);
    }

    // Every (deployment, transition) reached every target: exactly one accepted call each.
    const notAccepted: string[] = [];
    const twice: string[] = [];
    for (const target of targets) {
      for (const id of deploymentIds) {
        for (const seq of [1, 2, 3]) {
          const accepted = target.accepted(`${id}:${seq}`);
          if (accepted === 0) notAccepted.push(`${target.name} ${id}:${seq}`);
          if (accepted > 1) twice.push(`${target.name} ${id}:${seq} ×${accepted}`);
        }
      }
      expect(target.acceptedKeys()).toHaveLength(deploymentIds.length * 3);
    }
    expect(notAccepted.slice(0, 5)).toEqual([]);
    expect(twice.slice(0, 5)).toEqual([]);
    for (const id of deploymentIds) {
      for (const target of targets) {
        expect(await h.store.getDelivery(id, target.name)).toMatchObject({
          deliveredSeq: 3,
          state: 'delivered',
        });
      }
    }
    expect(await h.dlqDepth()).toBe(0);

    // Each failed attempt asked the queue for a delay; a 429's delay is at least its Retry-After.
    const asked = new Map<string, { seconds: number; at: number }[]>();
    queue.delays.forEach(({ receiptHandle, seconds }, i) => {
      const message = report.byReceipt.get(receiptHandle);
      expect(message, 'a retry of a message the test received').toBeDefined();
      const { deploymentId, seq, target } = JSON.parse(message?.body ?? '{}');
      const key = `${target}/${deploymentId}:${seq}`;
      asked.set(key, [...(asked.get(key) ?? []), { seconds, at: askedAt[i] ?? 0 }]);
    });
    const tooSoon: string[] = [];
    let rateLimited = 0;
    let datedRetries = 0;
    for (const target of targets) {
      for (const [key, answers] of target.answers) {
        const failures = answers.filter((a) => a.kind !== 'ok');
        const delays = asked.get(`${target.name}/${key}`) ?? [];
        expect(delays.length, `${target.name} ${key}: one retry per failed attempt`).toBe(failures.length);
        answers.forEach((answer, attempt) => {
          if (answer.kind !== 'rate-limited') return;
          rateLimited++;
          const delay = delays[answers.slice(0, attempt).filter((a) => a.kind !== 'ok').length];
          const date = retryDates.get(`${target.name}/${key}/${attempt}`);
          if (date !== undefined) datedRetries++;
          const earliest = date ?? 0;
          if (
            delay === undefined ||
            delay.seconds < (date === undefined ? answer.retryAfter : 0) ||
            delay.at + delay.seconds * 1000 < earliest
          ) {
            tooSoon.push(
              `${target.name} ${key} #${attempt + 1}: Retry-After ${answer.retryAfter} s, asked ${delay?.seconds}`,
            );
          }
        });
      }
    }
    expect(tooSoon.slice(0, 5)).toEqual([]);

    const count = (kind: FaultAnswer['kind']) => targets.reduce((n, t) => n + t.count(kind), 0);
    reportFigures('targets', {
      deployments: DEPLOYMENTS,
      notifications: deploymentIds.length * 3 * targets.length,
      calls: targets.reduce((n, t) => n + t.calls(), 0),
      accepted: count('ok'),
      rateLimited,
      datedRetryAfter: datedRetries,
      serverErrors: count('error'),
      hung: count('hang'),
      reset: count('reset'),
      retriesAsked: queue.delays.length,
      longestDelayAsked: Math.max(...queue.delays.map((d) => d.seconds)),
      dispatchMessagesHandled: report.messages,
      wallMs: elapsed(started),
    });
  }, 300_000);
});
