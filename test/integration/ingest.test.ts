import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ingestEvent, ingestEvents, RESEND_WINDOW_MS } from '../../functions/core/ingest.ts';
import type { DispatchQueue } from '../../functions/core/ports.ts';
import type { DeploymentEvent, DispatchMessage } from '../../functions/core/schema.ts';
import { parseCodeDeployMessage } from '../../functions/core/sources/codedeploy.ts';
import { nativeEvent as event } from '../support/events.ts';
import { createHarness, type Harness } from '../support/harness.ts';

const fixture = (name: string) => readFileSync(`test/fixtures/codedeploy/${name}`, 'utf8');
const parse = (name: string, receivedAt = '2026-03-01T10:00:00.000Z') =>
  parseCodeDeployMessage(fixture(name), { receivedAt, where: name });

const config = {
  api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
  targets: {
    everything: { type: 'log' },
    failures: { type: 'log' },
    changes: { type: 'log' },
    problems: { type: 'log' },
    recoveries: { type: 'log' },
  },
  routes: [
    { targets: ['everything'] },
    { on: ['failing'], targets: ['failures'] },
    { on: ['change'], targets: ['changes'] },
    { on: ['problem'], targets: ['problems'] },
    { on: ['recovered'], targets: ['recoveries'] },
    {
      match: { service: 'search' },
      targets: ['everything'],
      message: { title: '{{service}} is {{status}}' },
    },
  ],
};

describe('ingest', () => {
  let h: Harness;
  const sent: DispatchMessage[][] = [];
  let failNextEnqueue = false;

  beforeAll(async () => {
    h = await createHarness({
      config,
      // Records what reaches the real queue, and can crash once between the store write and the enqueue.
      queue: (real): DispatchQueue => ({
        enqueue: async (messages) => {
          if (failNextEnqueue) {
            failNextEnqueue = false;
            throw new Error('injected crash before enqueue');
          }
          sent.push(messages);
          await real.enqueue(messages);
        },
        retryLater: (r, s) => real.retryLater(r, s),
        deadLetter: (b, r) => real.deadLetter(b, r),
      }),
    });
  });
  afterAll(() => h.stop());

  it('moves a deployment forward and keeps a succeeded deployment succeeded when a late start arrives', async () => {
    const ctx = h.runtime.ingest;
    const queued = event('forward-1', 'queued');
    const done = event('forward-1', 'succeeded');
    const lateStart = event('forward-1', 'in_progress');

    await ingestEvent(queued, ctx);
    await ingestEvent(done, ctx);
    const late = await ingestEvent(lateStart, ctx);

    expect(late).toMatchObject({ disposition: 'stale', status: 'succeeded' });
    const record = await h.store.getDeployment(queued.deploymentId);
    expect(record?.status).toBe('succeeded');
    expect(record?.transitions.map((t) => [t.from, t.to])).toEqual([
      [null, 'queued'],
      ['queued', 'succeeded'],
    ]);
    const history = await h.store.listEvents(queued.deploymentId);
    expect(history.map((e) => [e.eventId, e.disposition])).toEqual(
      expect.arrayContaining([
        [queued.eventId, 'applied'],
        [done.eventId, 'applied'],
        [lateStart.eventId, 'stale'],
      ]),
    );
    expect(history).toHaveLength(3);
  });

  it('never changes a terminal status: failed stays failed when a success arrives', async () => {
    const failed = event('terminal-1', 'failed');
    await ingestEvent(failed, h.runtime.ingest);
    const result = await ingestEvent(event('terminal-1', 'succeeded'), h.runtime.ingest);

    expect(result).toMatchObject({ disposition: 'stale', status: 'failed' });
    expect((await h.store.getDeployment(failed.deploymentId))?.status).toBe('failed');
  });

  it('acknowledges a redelivered event without a second transition or a second history entry', async () => {
    const started = event('dup-1', 'in_progress');
    await ingestEvent(started, h.runtime.ingest);
    const before = sent.length;

    const again = await ingestEvent({ ...started }, h.runtime.ingest);

    expect(again).toMatchObject({ disposition: 'applied', status: 'in_progress' });
    const record = await h.store.getDeployment(started.deploymentId);
    expect(record?.transitions).toHaveLength(1);
    expect(await h.store.listEvents(started.deploymentId)).toHaveLength(1);
    // The redelivery re-sends the transition's deliveries (idempotent at the dispatcher), nothing new.
    expect(sent.slice(before).flat()).toEqual(
      sent
        .flat()
        .filter((m) => m.deploymentId === started.deploymentId && m.seq === 1)
        .slice(0, record?.transitions[0]?.targets.length),
    );
  });

  it('records a second event with the same status as a duplicate in the history', async () => {
    const first = event('dup-2', 'in_progress');
    const second = event('dup-2', 'in_progress');
    await ingestEvent(first, h.runtime.ingest);
    const result = await ingestEvent(second, h.runtime.ingest);

    expect(result.disposition).toBe('duplicate');
    const history = await h.store.listEvents(first.deploymentId);
    expect(history.find((e) => e.eventId === second.eventId)?.disposition).toBe('duplicate');
  });

  it('completes the enqueue when the same input is redelivered after a crash between store and enqueue', async () => {
    const started = event('crash-1', 'in_progress');
    failNextEnqueue = true;

    await expect(ingestEvent(started, h.runtime.ingest)).rejects.toThrow('injected crash');
    // The record was written before the crash…
    expect((await h.store.getDeployment(started.deploymentId))?.status).toBe('in_progress');
    expect(sent.flat().some((m) => m.deploymentId === started.deploymentId)).toBe(false);

    // …and the redelivery of the same input enqueues what the crash lost.
    await ingestEvent({ ...started }, h.runtime.ingest);
    const enqueued = sent.flat().filter((m) => m.deploymentId === started.deploymentId);
    expect(enqueued.map((m) => m.target).sort()).toEqual(['everything']);
    expect(enqueued.every((m) => m.seq === 1)).toBe(true);
  });

  it('completes the enqueue when the caller retries with a new event after a crash between store and enqueue', async () => {
    const started = event('crash-2', 'in_progress');
    failNextEnqueue = true;
    await expect(ingestEvent(started, h.runtime.ingest)).rejects.toThrow('injected crash');
    expect(sent.flat().some((m) => m.deploymentId === started.deploymentId)).toBe(false);

    // A keyless HTTP retry is a new event (a new id) with the same status: a duplicate, which sends the
    // transition that set that status again.
    const retry = await ingestEvent({ ...started, eventId: `${started.eventId}-retry` }, h.runtime.ingest, {
      resendOnDuplicate: true,
    });

    expect(retry).toMatchObject({ disposition: 'duplicate', status: 'in_progress' });
    const enqueued = sent.flat().filter((m) => m.deploymentId === started.deploymentId);
    expect(enqueued).toEqual([{ v: 1, deploymentId: started.deploymentId, seq: 1, target: 'everything' }]);
    expect((await h.store.getDeployment(started.deploymentId))?.transitions).toHaveLength(1);
  });

  it('sends a transition again only while it is recent, and only for sources without stable event ids', async () => {
    const started = event('resend-old', 'in_progress');
    await ingestEvent(started, h.runtime.ingest);
    const before = sent.flat().filter((m) => m.deploymentId === started.deploymentId).length;
    await ingestEvent({ ...started, eventId: `${started.eventId}-stable` }, h.runtime.ingest);
    expect(sent.flat().filter((m) => m.deploymentId === started.deploymentId)).toHaveLength(before);
    h.clock.advance(RESEND_WINDOW_MS + 1000);

    await ingestEvent({ ...started, eventId: `${started.eventId}-later` }, h.runtime.ingest, {
      resendOnDuplicate: true,
    });

    expect(sent.flat().filter((m) => m.deploymentId === started.deploymentId)).toHaveLength(before);
  });

  it('routes failing, change, problem and recovered against the previous deployment of the same service+environment', async () => {
    const service = { service: 'billing', environment: 'staging' };
    const targetsOf = async (e: DeploymentEvent) => {
      await ingestEvent(e, h.runtime.ingest);
      const record = await h.store.getDeployment(e.deploymentId);
      return record?.transitions.at(-1)?.targets;
    };
    expect(await targetsOf(event('route-1', 'succeeded', service))).toEqual(['everything']);
    h.clock.advance(1000);
    expect(await targetsOf(event('route-2', 'failed', service))).toEqual([
      'everything',
      'failures',
      'changes',
      'problems',
    ]);
    h.clock.advance(1000);
    expect(await targetsOf(event('route-3', 'failed', service))).toEqual(['everything', 'failures']);
    h.clock.advance(1000);
    expect(await targetsOf(event('route-4', 'succeeded', service))).toEqual([
      'everything',
      'changes',
      'recoveries',
    ]);
  });

  it('keeps the message templates of the route that matched on the transition', async () => {
    const started = event('message-1', 'in_progress', { service: 'search' });
    const other = event('message-2', 'in_progress');

    await ingestEvent(started, h.runtime.ingest);
    await ingestEvent(other, h.runtime.ingest);

    expect((await h.store.getDeployment(started.deploymentId))?.transitions[0]?.messages).toEqual({
      everything: { title: '{{service}} is {{status}}' },
    });
    expect((await h.store.getDeployment(other.deploymentId))?.transitions[0]?.messages).toBeUndefined();
  });

  it('parses CodeDeploy messages in either order: a success before its start leaves it succeeded', async () => {
    const success = parse('deployment-succeeded.real.message.json');
    const created = parse('deployment-created.real.message.json');

    await ingestEvents([success, created], h.runtime.ingest);

    const record = await h.store.getDeployment(success.deploymentId);
    expect(record).toMatchObject({
      status: 'succeeded',
      sourceStatus: 'SUCCEEDED',
      service: 'checkout',
      environment: 'checkout-production',
    });
    expect(record?.transitions).toHaveLength(1);
  });

  it('makes the rollback link on the redelivery when writing it failed the first time', async () => {
    const original = event('link-original', 'succeeded');
    const rollbackId = event('link-rollback', 'in_progress');
    const rollback: DeploymentEvent = {
      ...rollbackId,
      rollbackOfSourceId: original.sourceDeploymentId,
    };
    await ingestEvent(original, h.runtime.ingest);
    // A write fault DynamoDB Local cannot be asked for: the link fails once (throttled, say).
    const link = vi
      .spyOn(h.store, 'linkRollback')
      .mockRejectedValueOnce(new Error('injected: ProvisionedThroughputExceededException'));

    await expect(ingestEvent(rollback, h.runtime.ingest)).rejects.toThrow('injected');
    expect((await h.store.getDeployment(rollback.deploymentId))?.rollbackOf).toBe(original.deploymentId);
    expect((await h.store.getDeployment(original.deploymentId))?.rolledBackBy).toBeUndefined();

    // The message is received again.
    await ingestEvent(rollback, h.runtime.ingest);
    link.mockRestore();

    expect((await h.store.getDeployment(original.deploymentId))?.rolledBackBy).toBe(rollback.deploymentId);
    expect((await h.store.getDeployment(rollback.deploymentId))?.transitions).toHaveLength(1);
  });

  it('links a rollback to the deployment it rolls back, both ways, whichever arrives first', async () => {
    const rollback = parse('rollback-created.real.message.json');
    const original = parse('deployment-failed-rolledback.real.message.json');

    await ingestEvent(rollback, h.runtime.ingest);
    await ingestEvent(original, h.runtime.ingest);

    const rolledBack = await h.store.getDeployment(original.deploymentId);
    const theRollback = await h.store.getDeployment(rollback.deploymentId);
    expect(theRollback?.rollbackOf).toBe(original.deploymentId);
    expect(rolledBack?.rolledBackBy).toBe(rollback.deploymentId);
    expect(rolledBack?.status).toBe('failed');
    expect(rolledBack?.error).toEqual({
      code: 'ECS_UPDATE_ERROR',
      message: 'CodeDeploy detected that the replacement task set is unhealthy.',
    });
  });

  it('records an instance event of an unknown deployment in the history without inventing a record', async () => {
    const instance = parse('instance-succeeded.documented.message.json');
    const result = await ingestEvent(instance, h.runtime.ingest);

    // An instance that succeeded means its deployment is running.
    expect(result.status).toBe('in_progress');
    const record = await h.store.getDeployment(instance.deploymentId);
    expect(record?.status).toBe('in_progress');
    expect(record?.service).toBeUndefined();
  });
});
