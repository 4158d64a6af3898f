import { readFileSync } from 'node:fs';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { DispatchQueue } from '../../functions/core/ports.ts';
import type { Deployment, DispatchMessage } from '../../functions/core/schema.ts';
import { parseCodeDeployMessage } from '../../functions/core/sources/codedeploy.ts';
import { createIngestHandler } from '../../functions/handlers/ingest-handler.ts';
import { createHarness, type Harness } from '../support/harness.ts';

// A CodeDeploy deployment to a fleet, as its trigger delivers it through SNS and the ingest queue: CREATED,
// two instance events per instance (InstanceStart, InstanceSuccess), SUCCEEDED among the late ones.
const fixture = (name: string) => readFileSync(`test/fixtures/codedeploy/${name}`, 'utf8');
const ENVELOPE = JSON.parse(fixture('sns-sqs-body.json')) as Record<string, unknown>;
const INSTANCE = JSON.parse(fixture('instance-succeeded.documented.message.json')) as Record<string, unknown>;
const TARGETS = ['chat', 'tracker', 'pager'];
const INSTANCES = 100;

let messageCounter = 0;
function record(message: Record<string, unknown>): SQSRecord {
  const id = `fleet-msg-${++messageCounter}`;
  return {
    messageId: id,
    receiptHandle: `rh-${id}`,
    body: JSON.stringify({ ...ENVELOPE, MessageId: id, Message: JSON.stringify(message) }),
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: '1772359200000',
      SenderId: 'AIDAEXAMPLE',
      ApproximateFirstReceiveTimestamp: '1772359200100',
    },
    messageAttributes: {},
    md5OfBody: '00000000000000000000000000000000',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:eu-west-2:123456789012:shipcast-ingest',
    awsRegion: 'eu-west-2',
  };
}

/** The trigger messages of one deployment of `codeDeployId` to INSTANCES instances. */
function fleet(codeDeployId: string) {
  const status = (name: string) =>
    record({
      ...(JSON.parse(fixture(name).replaceAll('d-4F2KQ8ZX1', codeDeployId)) as Record<string, unknown>),
    });
  const instance = (i: number, instanceStatus: string) =>
    record({
      ...INSTANCE,
      region: 'eu-west-2',
      accountId: '123456789012',
      deploymentId: codeDeployId,
      instanceId: `arn:aws:ec2:eu-west-2:123456789012:instance/i-${i.toString(16).padStart(8, '0')}`,
      instanceStatus,
      lastUpdatedAt: String(1_665_676_300 + i + (instanceStatus === 'Succeeded' ? INSTANCES : 0)),
    });
  const created = status('deployment-created.real.message.json');
  const succeeded = status('deployment-succeeded.real.message.json');
  const starts = Array.from({ length: INSTANCES }, (_, i) => instance(i, 'InProgress'));
  const successes = Array.from({ length: INSTANCES }, (_, i) => instance(i, 'Succeeded'));
  // SUCCEEDED arrives while a quarter of the instances' successes are still on their way.
  const cut = (INSTANCES * 3) / 4;
  const rest = [...starts, ...successes.slice(0, cut), succeeded, ...successes.slice(cut)];
  const deploymentId = parseCodeDeployMessage(JSON.parse(created.body).Message, {
    receivedAt: '2026-03-01T10:00:00.000Z',
    where: 'test',
  }).deploymentId;
  return { deploymentId, created, rest };
}

/** Batches of ten, as Lambda's SQS event source hands them out. */
function batches(records: SQSRecord[]): SQSEvent[] {
  const out: SQSEvent[] = [];
  for (let i = 0; i < records.length; i += 10) out.push({ Records: records.slice(i, i + 10) });
  return out;
}

describe('a fleet deployment’s instance events', () => {
  let h: Harness;
  const enqueued: DispatchMessage[] = [];

  beforeAll(async () => {
    h = await createHarness({
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        sources: { codedeploy: { enrich: false } },
        targets: Object.fromEntries(TARGETS.map((t) => [t, { type: 'log' }])),
        routes: [{ targets: TARGETS }],
      },
      queue: (real): DispatchQueue => ({
        enqueue: async (messages) => {
          enqueued.push(...messages);
          await real.enqueue(messages);
        },
        retryLater: (r, s) => real.retryLater(r, s),
        deadLetter: (b, r) => real.deadLetter(b, r),
      }),
    });
  });
  afterAll(() => h.stop());

  const handler = () => createIngestHandler(async () => h.runtime);
  const messagesOf = (deploymentId: string) =>
    enqueued.filter((m) => m.deploymentId === deploymentId).map((m) => `${m.seq}/${m.target}`);

  it('reads the record once per batch and writes it only for the deployment’s own transitions', async () => {
    const { deploymentId, created, rest } = fleet('d-FLEETSEQ1');
    const loads = vi.spyOn(h.store, 'loadForUpdate');
    const saves = vi.spyOn(h.store, 'saveDeployment');
    try {
      const ingest = handler();
      await ingest({ Records: [created] });
      const events = batches(rest);
      for (const batch of events) expect(await ingest(batch)).toEqual({ batchItemFailures: [] });

      const ofThis = (calls: unknown[][]) =>
        calls.filter((args) => args[0] === deploymentId || (args[0] as Deployment).id === deploymentId);
      expect(ofThis(loads.mock.calls)).toHaveLength(1 + events.length);
      expect(ofThis(saves.mock.calls).map((args) => (args[0] as Deployment).status)).toEqual([
        'queued',
        'in_progress',
        'succeeded',
      ]);
    } finally {
      loads.mockRestore();
      saves.mockRestore();
    }
    const stored = await h.store.getDeployment(deploymentId);
    expect(stored?.transitions.map((t) => t.to)).toEqual(['queued', 'in_progress', 'succeeded']);
    expect(messagesOf(deploymentId).sort()).toEqual(
      [1, 2, 3].flatMap((seq) => TARGETS.map((t) => `${seq}/${t}`)).sort(),
    );
  });

  it('keeps one transition per status and one message per target when batches run at once', async () => {
    const { deploymentId, created, rest } = fleet('d-FLEETPAR1');
    const saves = vi.spyOn(h.store, 'saveDeployment');
    try {
      const ingest = handler();
      await ingest({ Records: [created] });
      // Four invocations at a time, as Lambda scales out on a storm: they race for the record.
      const events = batches(rest);
      for (let i = 0; i < events.length; i += 4) {
        const answers = await Promise.all(events.slice(i, i + 4).map((batch) => ingest(batch)));
        for (const answer of answers) expect(answer).toEqual({ batchItemFailures: [] });
      }
      const ofThis = saves.mock.calls
        .map((args) => args[0] as Deployment)
        .filter((d) => d.id === deploymentId);
      // The deployment's own SUCCEEDED is written once: no instance event holds or changes the record then.
      expect(ofThis.filter((d) => d.status === 'succeeded')).toHaveLength(1);
    } finally {
      saves.mockRestore();
    }

    const stored = await h.store.getDeployment(deploymentId);
    expect(stored?.transitions.map((t) => [t.from, t.to])).toEqual([
      [null, 'queued'],
      ['queued', 'in_progress'],
      ['in_progress', 'succeeded'],
    ]);
    const messages = messagesOf(deploymentId);
    expect(messages.sort()).toEqual([1, 2, 3].flatMap((seq) => TARGETS.map((t) => `${seq}/${t}`)).sort());

    // Every instance event is in the history once, with what it did: one made the deployment in_progress,
    // the others repeated it or came after the end.
    const history = await h.store.listEvents(deploymentId);
    const instances = history.filter((e) => e.kind === 'instance');
    expect(instances).toHaveLength(2 * INSTANCES);
    expect(new Set(instances.map((e) => e.eventId)).size).toBe(2 * INSTANCES);
    const dispositions = instances.map((e) => e.disposition);
    expect(dispositions.filter((d) => d === 'applied')).toHaveLength(1);
    expect(dispositions.filter((d) => d !== 'applied' && d !== 'duplicate' && d !== 'stale')).toEqual([]);
    const causedInProgress = stored?.transitions[1]?.eventId;
    expect(instances.find((e) => e.disposition === 'applied')?.eventId).toBe(causedInProgress);
    // An instance event handled after SUCCEEDED (the last batch runs alone) is kept as stale, never applied.
    const last = parseCodeDeployMessage(JSON.parse((rest.at(-1) as SQSRecord).body).Message, {
      receivedAt: '2026-03-01T10:00:00.000Z',
      where: 'test',
    });
    expect(instances.find((e) => e.eventId === last.eventId)?.disposition).toBe('stale');
  });
});
