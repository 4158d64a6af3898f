/**
 * Faults survived, scenario 1: a replay of many events over many deployments, with duplicates, in a seeded
 * shuffled order, from mixed sources (native HTTP through the API app with and without Idempotency-Key,
 * CodeDeploy trigger messages through the ingest handler as SQS records). Size from the environment:
 * FAULTS_REPLAY_EVENTS (10000), FAULTS_REPLAY_DEPLOYMENTS (1000), FAULTS_REPLAY_DUPLICATE_PERCENT (20),
 * FAULTS_SEED (20260301).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../functions/core/api/app.ts';
import type { Deployment } from '../../functions/core/schema.ts';
import { createIngestHandler } from '../../functions/handlers/ingest-handler.ts';
import {
  type DrainReport,
  drainDispatchBatches,
  elapsed,
  envInt,
  forwardOnly,
  type ModelStatus,
  mapLimit,
  reportFigures,
  runOrdered,
} from '../support/fault-kit.ts';
import { type ReplayEvent, replayWorkload, sqsEvent, sqsRecord } from '../support/fault-sources.ts';
import { type FaultTarget, startFaultTarget } from '../support/fault-targets.ts';
import { createHarness, type Harness } from '../support/harness.ts';

const TOTAL = envInt('FAULTS_REPLAY_EVENTS', 10_000);
const DEPLOYMENTS = envInt('FAULTS_REPLAY_DEPLOYMENTS', 1_000);
const DUPLICATE_RATE = envInt('FAULTS_REPLAY_DUPLICATE_PERCENT', 20) / 100;
const SEED = envInt('FAULTS_SEED', 20260301);
const CONCURRENCY = 16;
const TOKEN = 'replay-token-0123456789';
const TERMINAL: ModelStatus[] = ['succeeded', 'failed', 'stopped'];

/** The routes, as the test models them: which targets a transition to `to` of a deployment goes to. */
function routedTargets(route: ReplayEvent['route'], to: ModelStatus): string[] {
  const targets = ['every'];
  if (TERMINAL.includes(to)) targets.push('outcomes');
  if (route.source === 'native') targets.push('native');
  return targets;
}

describe('replay of a shuffled, duplicated event stream from mixed sources', () => {
  let h: Harness;
  const targets: Record<string, FaultTarget> = {};

  beforeAll(async () => {
    for (const name of ['every', 'outcomes', 'native']) targets[name] = await startFaultTarget(name);
    h = await createHarness({
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        sources: { codedeploy: { enrich: false } },
        targets: Object.fromEntries(
          Object.values(targets).map((t) => [t.name, { type: 'webhook', url: t.url }]),
        ),
        routes: [
          { targets: ['every'] },
          { match: { status: ['succeeded', 'failed', 'stopped'] }, targets: ['outcomes'] },
          { match: { source: 'native' }, targets: ['native'] },
        ],
      },
      env: { SHIPCAST_SECRET_API_TOKEN: TOKEN },
    });
  });
  afterAll(async () => {
    await h?.stop();
    for (const t of Object.values(targets)) await t.stop();
  });

  it('keeps one record per deployment with the forward-only status, and calls each routed target once per transition', async () => {
    const workload = replayWorkload({
      total: TOTAL,
      deployments: DEPLOYMENTS,
      duplicateRate: DUPLICATE_RATE,
      seed: SEED,
    });
    expect(workload.events).toHaveLength(TOTAL);
    expect(new Set(workload.deployments).size).toBe(DEPLOYMENTS);

    // The expectation, computed by the model from each deployment's arrival order.
    const arrivals = new Map<string, ReplayEvent[]>();
    for (const e of workload.events)
      arrivals.set(e.deploymentId, [...(arrivals.get(e.deploymentId) ?? []), e]);
    const expected = new Map<
      string,
      { final: ModelStatus | null; moves: ModelStatus[]; route: ReplayEvent['route'] }
    >();
    for (const [id, list] of arrivals) {
      expected.set(id, { ...forwardOnly(list.map((e) => e.status)), route: (list[0] as ReplayEvent).route });
    }

    // Units of work in arrival order: each HTTP request alone, CodeDeploy messages in SQS batches of up to 10
    // consecutive ones. A unit waits for the earlier units of its deployments (one deployment's events arrive
    // in order); the rest run concurrently.
    const api = createApi(h.runtime.api);
    const ingestHandler = createIngestHandler(() => Promise.resolve(h.runtime));
    const httpAnswers: Record<string, number> = {};
    let replayed = 0;
    let sqsBatches = 0;
    const units: { keys: string[]; run: () => Promise<void> }[] = [];
    let pending: ReplayEvent[] = [];
    const flush = () => {
      if (pending.length === 0) return;
      const batch = pending;
      pending = [];
      units.push({
        keys: [...new Set(batch.map((e) => e.deploymentId))],
        run: async () => {
          sqsBatches++;
          const records = batch.map((e, i) =>
            sqsRecord(`replay-${sqsBatches}-${i}`, (e.transport as { body: string }).body),
          );
          const result = await ingestHandler(sqsEvent(records));
          expect(result?.batchItemFailures ?? []).toEqual([]);
        },
      });
    };
    for (const e of workload.events) {
      const transport = e.transport;
      if (transport.kind === 'sqs') {
        pending.push(e);
        if (pending.length === 10) flush();
        continue;
      }
      units.push({
        keys: [e.deploymentId],
        run: async () => {
          const response = await api.request('/v1/events', {
            method: 'POST',
            headers: {
              authorization: `Bearer ${TOKEN}`,
              'content-type': 'application/json',
              ...(transport.idempotencyKey ? { 'idempotency-key': transport.idempotencyKey } : {}),
            },
            body: transport.body,
          });
          httpAnswers[response.status] = (httpAnswers[response.status] ?? 0) + 1;
          if (response.headers.get('idempotent-replayed') === 'true') replayed++;
          expect(response.status).toBe(202);
        },
      });
    }
    flush();

    // Dispatch runs alongside, like the dispatcher function: one event-source poller, batches of 10 in
    // queue order, so each deployment's transitions reach a target in order.
    const ingestStart = performance.now();
    const ingestCpu = process.cpuUsage();
    let ingesting = true;
    const drained: DrainReport = { batches: 0, messages: 0, byReceipt: new Map() };
    const dispatching = (async () => {
      while (ingesting) {
        await drainDispatchBatches(h, { report: drained });
        drained.byReceipt.clear();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const settled = await runOrdered(units, CONCURRENCY);
    const ingestMs = elapsed(ingestStart);
    ingesting = false;
    await dispatching;
    const failures = settled.filter((s) => s.status === 'rejected');
    expect(failures.map((f) => String((f as PromiseRejectedResult).reason)).slice(0, 3)).toEqual([]);

    // Exactly one record per deployment (the list reads the time index, every record is on it).
    const ids: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await h.store.listDeployments({ limit: 100, cursor });
      ids.push(...page.items.map((d) => d.id));
      cursor = page.cursor;
    } while (cursor);
    expect(ids).toHaveLength(DEPLOYMENTS);
    expect(new Set(ids)).toEqual(new Set(workload.deployments));

    // Each record's status and transitions are what the forward-only machine gives.
    const records = new Map<string, Deployment>();
    const read = await mapLimit(workload.deployments, CONCURRENCY, async (id) => {
      const record = await h.store.getDeployment(id);
      if (record) records.set(id, record);
    });
    expect(read.filter((r) => r.status === 'rejected')).toEqual([]);
    const wrong: string[] = [];
    for (const [id, model] of expected) {
      const record = records.get(id);
      const got = { final: record?.status ?? null, moves: record?.transitions.map((t) => t.to) ?? [] };
      if (JSON.stringify(got) !== JSON.stringify({ final: model.final, moves: model.moves })) {
        wrong.push(`${id}: expected ${JSON.stringify(model)} got ${JSON.stringify(got)}`);
      }
    }
    expect(wrong.slice(0, 5)).toEqual([]);

    await drainDispatchBatches(h, { report: drained });
    const wallMs = elapsed(ingestStart);
    const cpuMs = Math.round((process.cpuUsage(ingestCpu).user + process.cpuUsage(ingestCpu).system) / 1000);

    // Each target: exactly one call per (deployment, transition) routed to it, and none other.
    let expectedCalls = 0;
    for (const target of Object.values(targets)) {
      const want = new Set<string>();
      for (const [id, model] of expected) {
        model.moves.forEach((to, i) => {
          if (routedTargets(model.route, to).includes(target.name)) want.add(`${id}:${i + 1}`);
        });
      }
      expectedCalls += want.size;
      const got = [...target.answers.keys()];
      expect(new Set(got), target.name).toEqual(want);
      const repeated = got.filter((key) => (target.answers.get(key) ?? []).length !== 1);
      expect(repeated, `${target.name} called more than once`).toEqual([]);
    }
    expect(await h.dlqDepth()).toBe(0);

    reportFigures('replay', {
      events: TOTAL,
      unique: workload.unique,
      duplicates: workload.duplicates,
      bySource: workload.bySource,
      deployments: DEPLOYMENTS,
      transitions: [...records.values()].reduce((n, d) => n + d.transitions.length, 0),
      httpAnswers,
      idempotentReplays: replayed,
      sqsBatches,
      dispatchMessages: drained.messages,
      dispatchBatches: drained.batches,
      targetCalls: Object.values(targets).reduce((n, t) => n + t.calls(), 0),
      expectedCalls,
      ingestMs,
      wallMs,
      cpuMsOfTestProcess: cpuMs,
    });
  }, 600_000);
});
