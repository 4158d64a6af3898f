/**
 * Faults survived, scenario 5 (b): conditional-check races in ingest. Many events of one deployment (new ones
 * and redeliveries, two different outcomes) ingested at the same moment, for several deployments at once.
 * Sizes: FAULTS_RACE_DEPLOYMENTS (12), FAULTS_RACE_EVENTS (40 per deployment), FAULTS_SEED.
 * (Two dispatchers racing for one delivery: faults-lease.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConcurrentUpdateError } from '../../functions/core/errors.ts';
import { HttpClient } from '../../functions/core/http-client.ts';
import { ingestEvent } from '../../functions/core/ingest.ts';
import type { DeploymentEvent } from '../../functions/core/schema.ts';
import { nativeEvent } from '../support/events.ts';
import {
  drainDispatchBatches,
  elapsed,
  envInt,
  type ModelStatus,
  mapLimit,
  modelRank,
  prng,
  reportFigures,
  shuffle,
} from '../support/fault-kit.ts';
import { type FaultTarget, startFaultTarget } from '../support/fault-targets.ts';
import { createHarness, type Harness } from '../support/harness.ts';

const DEPLOYMENTS = envInt('FAULTS_RACE_DEPLOYMENTS', 12);
const EVENTS = envInt('FAULTS_RACE_EVENTS', 40);
const SEED = envInt('FAULTS_SEED', 20260301);

describe('concurrent ingest of one deployment', () => {
  let h: Harness;
  let hook: FaultTarget;

  beforeAll(async () => {
    hook = await startFaultTarget('hook');
    h = await createHarness({
      http: new HttpClient({ timeoutMs: 5_000 }),
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: { hook: { type: 'webhook', url: hook.url } },
        routes: [{ targets: ['hook'] }],
      },
    });
  });
  afterAll(async () => {
    await h?.stop();
    await hook?.stop();
  });

  it('keeps one record with consistent transitions when many events of one deployment arrive at once', async () => {
    const random = prng(SEED);
    const started = performance.now();
    const plans = Array.from({ length: DEPLOYMENTS }, (_, d) => {
      const id = `burst-${SEED}-${d}`;
      const make = (status: ModelStatus, extra: Partial<DeploymentEvent> = {}) =>
        nativeEvent(id, status, { service: `burst-${d}`, version: '6.0.0', ...extra });
      const unique: DeploymentEvent[] = [make('queued')];
      // Two different outcomes race: whichever is applied first wins, the other is stale.
      unique.push(
        make('succeeded'),
        make(random() < 0.5 ? 'failed' : 'stopped', { error: { message: 'boom' } }),
      );
      while (unique.length < Math.ceil(EVENTS * 0.75)) {
        const roll = random();
        // Running events that each add a fact (a non-advancing event fills only what is unknown).
        if (roll < 0.7) unique.push(make('in_progress', { description: `step ${unique.length}` }));
        else if (roll < 0.85) unique.push(make('queued', { actor: `actor-${unique.length}` }));
        else unique.push(make('in_progress', { hosts: [`host-${unique.length}`] }));
      }
      const copies = Array.from({ length: EVENTS - unique.length }, () => ({
        ...(unique[Math.floor(random() * unique.length)] as DeploymentEvent),
      }));
      return {
        id,
        deploymentId: unique[0]?.deploymentId as string,
        unique,
        all: shuffle([...unique, ...copies], random),
      };
    });

    // All at once (interleaved across deployments); a ConcurrentUpdateError that escapes the ingest's own
    // re-reads is retried as the queue or the HTTP client would.
    let escaped = 0;
    const all = shuffle(
      plans.flatMap((p) => p.all),
      random,
    );
    const results = await mapLimit(all, 64, async (event) => {
      for (;;) {
        try {
          return await ingestEvent({ ...event }, h.runtime.ingest);
        } catch (error) {
          if (!(error instanceof ConcurrentUpdateError)) throw error;
          escaped++;
        }
      }
    });
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    const ingestMs = elapsed(started);

    const problems: string[] = [];
    let transitions = 0;
    for (const plan of plans) {
      const record = await h.store.getDeployment(plan.deploymentId);
      const list = (
        await h.store.listDeployments({ service: `burst-${plan.id.split('-').pop()}`, limit: 10 })
      ).items;
      if (list.filter((d) => d.id === plan.deploymentId).length !== 1)
        problems.push(`${plan.id}: not one record`);
      if (!record) {
        problems.push(`${plan.id}: no record`);
        continue;
      }
      transitions += record.transitions.length;
      // Transitions: seq 1..n, each from the previous one's status, strictly forward, ending at the status.
      record.transitions.forEach((t, i) => {
        const previous = record.transitions[i - 1];
        if (t.seq !== i + 1) problems.push(`${plan.id}: seq ${t.seq} at ${i}`);
        if (t.from !== (previous?.to ?? null))
          problems.push(`${plan.id}: ${t.seq} from ${t.from}, was ${previous?.to}`);
        if (previous && modelRank(t.to) <= modelRank(previous.to))
          problems.push(`${plan.id}: ${previous.to} → ${t.to}`);
      });
      if (record.transitions.at(-1)?.to !== record.status)
        problems.push(`${plan.id}: status ${record.status}`);
      if (modelRank(record.status) !== 2) problems.push(`${plan.id}: not finished (${record.status})`);
      // History: every event once; exactly the events that made a transition are marked applied.
      const stored = await h.store.listEvents(plan.deploymentId);
      if (stored.length !== plan.unique.length)
        problems.push(`${plan.id}: ${stored.length} events stored, ${plan.unique.length} sent`);
      const applied = stored
        .filter((e) => e.disposition === 'applied')
        .map((e) => e.eventId)
        .sort();
      const made = record.transitions.map((t) => t.eventId).sort();
      if (applied.join() !== made.join())
        problems.push(`${plan.id}: applied events ${applied.length} vs transitions ${made.length}`);
    }
    expect(problems.slice(0, 10)).toEqual([]);

    // The webhook gets the final transition once, no transition twice, and never an older after a newer
    // (transitions enqueued concurrently may be queued out of order: an older one behind a newer is skipped).
    hook.reset();
    await drainDispatchBatches(h);
    let superseded = 0;
    for (const plan of plans) {
      const record = await h.store.getDeployment(plan.deploymentId);
      const last = record?.transitions.length ?? 0;
      const keys = [...hook.answers.keys()].filter((k) => k.startsWith(`${plan.deploymentId}:`));
      const seqs = keys.map((k) => Number(k.split(':')[1]));
      expect(seqs, plan.id).toEqual([...seqs].sort((a, b) => a - b));
      expect(seqs.at(-1), plan.id).toBe(last);
      for (const key of keys) expect(hook.answers.get(key), key).toHaveLength(1);
      superseded += last - seqs.length;
    }
    reportFigures('concurrent ingest', {
      deployments: DEPLOYMENTS,
      eventsPerDeployment: EVENTS,
      events: all.length,
      transitions,
      conflictsEscapingIngest: escaped,
      supersededBeforeDispatch: superseded,
      ingestMs,
    });
  }, 120_000);
});
