/**
 * Projected AWS cost from what the benchmark measured. Every price is in the one table below:
 * us-east-1 list prices (on-demand, no free tier), checked 2025; update them here and only here.
 */
import { type CallCounts, isDynamoRead, isDynamoWrite, sum } from './aws-calls.ts';

export const PRICES_US_EAST_1 = {
  /** Lambda, arm64: per GB-second of billed duration (first tier) and per request. */
  lambdaArmGbSecond: 0.0000133334,
  lambdaRequest: 0.2 / 1e6,
  /** DynamoDB on-demand (standard table class): per write / read request unit. */
  dynamoWriteRequestUnit: 0.625 / 1e6,
  dynamoReadRequestUnit: 0.125 / 1e6,
  /** SQS standard queue: per request, each 64 KB chunk of a payload billed as one. */
  sqsRequest: 0.4 / 1e6,
  /** SQS FIFO queue (the dispatch queue and its DLQ): per request, 64 KB chunks as above. */
  sqsFifoRequest: 0.5 / 1e6,
  /** SNS standard topic: per publish (64 KB chunks); deliveries to SQS are free. */
  snsPublish: 0.5 / 1e6,
  /** CloudWatch Logs: per GB ingested (standard class); the functions' JSON logs and EMF metrics. */
  cloudWatchLogsIngestedGb: 0.5,
} as const;

/** The Shipcast scopes whose AWS calls are Shipcast's cost (not the benchmark's own calls). */
export const SHIPCAST_SCOPES = [
  'api',
  'api-keyed',
  'api-hook',
  'ingest',
  'dispatch',
  'ingest-esm',
  'dispatch-esm',
];

export interface CostInput {
  counts: CallCounts;
  /** Handler invocation durations (ms) by scope (api, api-keyed, api-hook, ingest, dispatch). */
  durations: Record<string, number[]>;
  /** Memory (MB) of each function, from the synthesized template. */
  memoryMb: { api: number; ingest: number; dispatch: number };
  /** Events ingested in the measured interval, and how many of them came through SNS (CodeDeploy). */
  events: number;
  snsPublishes: number;
}

export interface CostLine {
  item: string;
  quantity: number;
  unit: string;
  usd: number;
}

/** USD for the measured interval, per line, and scaled to one million deployment events. */
export function projectCost(input: CostInput): { lines: CostLine[]; perMillionEvents: number } {
  return withTotal(measuredLines(input), input.events);
}

function withTotal(lines: CostLine[], events: number): { lines: CostLine[]; perMillionEvents: number } {
  const total = lines.reduce((n, l) => n + l.usd, 0);
  return { lines, perMillionEvents: events > 0 ? (total / events) * 1e6 : 0 };
}

function measuredLines(input: CostInput): CostLine[] {
  const p = PRICES_US_EAST_1;
  const lines: CostLine[] = [];
  const fnOf = (where: string) => (where.startsWith('api') ? 'api' : (where as 'ingest' | 'dispatch'));
  let gbSeconds = 0;
  let invocations = 0;
  for (const [where, list] of Object.entries(input.durations)) {
    const memoryGb = input.memoryMb[fnOf(where)] / 1024;
    // Lambda bills duration rounded up to the millisecond.
    for (const ms of list) gbSeconds += (Math.ceil(ms) / 1000) * memoryGb;
    invocations += list.length;
  }
  lines.push({
    item: 'Lambda duration (arm64)',
    quantity: gbSeconds,
    unit: 'GB-s',
    usd: gbSeconds * p.lambdaArmGbSecond,
  });
  lines.push({
    item: 'Lambda requests',
    quantity: invocations,
    unit: 'requests',
    usd: invocations * p.lambdaRequest,
  });
  const wru = sum(input.counts, SHIPCAST_SCOPES, isDynamoWrite, 'units');
  const rru = sum(input.counts, SHIPCAST_SCOPES, isDynamoRead, 'units');
  lines.push({
    item: 'DynamoDB writes (table + GSIs)',
    quantity: wru,
    unit: 'WRU',
    usd: wru * p.dynamoWriteRequestUnit,
  });
  lines.push({ item: 'DynamoDB reads', quantity: rru, unit: 'RRU', usd: rru * p.dynamoReadRequestUnit });
  const sqs = sum(input.counts, SHIPCAST_SCOPES, (c) => c.startsWith('SQS.'), 'billed');
  const sqsFifo = sum(input.counts, SHIPCAST_SCOPES, (c) => c.startsWith('SQS.'), 'fifoBilled');
  lines.push({
    item: 'SQS requests (incl. event source polling)',
    quantity: sqs,
    unit: 'requests',
    usd: (sqs - sqsFifo) * p.sqsRequest + sqsFifo * p.sqsFifoRequest,
  });
  lines.push({
    item: 'SNS publishes (CodeDeploy → topic)',
    quantity: input.snsPublishes,
    unit: 'requests',
    usd: input.snsPublishes * p.snsPublish,
  });
  return lines;
}

/**
 * The floor: what the same events would cost if Shipcast made only the calls it cannot do without, at the
 * same list prices. Per event: one event write and one record update (1 WRU each: items under 1 KB, no index
 * write because no indexed or projected attribute changes), one strongly consistent read of the record
 * (1 RRU) and one batched send to the dispatch queue (one FIFO request). Per transition, shared by its
 * deliveries: one write of the deliveries (1 WRU), one strongly consistent read of them (1 RRU) and one
 * eventually consistent read of the record (0.5 RRU). Queues are
 * polled in full batches; each function runs FLOOR_ASSUMPTIONS.handlerMs per event or delivery at its memory
 * size. CodeDeploy events cost their SNS publish and the ingest queue's receive and delete. Not in the floor:
 * the index writes of a new record, idempotency keys and webhook delivery ids (kept on purpose), retries.
 */
export const FLOOR_ASSUMPTIONS = {
  writeUnitsPerEvent: 2,
  readUnitsPerEvent: 1,
  sendRequestsPerEvent: 1,
  /** One write of a transition's deliveries to every target (one item under 1 KB). */
  writeUnitsPerTransition: 1,
  /** A consistent read of the deliveries (1 RRU) and an eventually consistent one of the record (0.5 RRU). */
  readUnitsPerTransition: 1.5,
  /** Messages per receive (and per delete batch): SQS's maximum of 10. */
  batchSize: 10,
  /** Billed handler time per event (API, ingest) and per delivery (dispatch), ms. */
  handlerMs: 10,
} as const;

/** What the floor needs to know about the measured workload. */
export interface FloorInput {
  /** Events in the measured interval; of them, through SNS (CodeDeploy) and through the HTTP API. */
  events: number;
  snsEvents: number;
  httpEvents: number;
  deliveries: number;
  /** Targets per transition (the route's). */
  targetsPerTransition: number;
  memoryMb: { api: number; ingest: number; dispatch: number };
}

/** The floor's cost lines (same items as projectCost's) and its total per million events. */
export function floorCost(input: FloorInput): { lines: CostLine[]; perMillionEvents: number } {
  const p = PRICES_US_EAST_1;
  const f = FLOOR_ASSUMPTIONS;
  const gb = (mb: number) => mb / 1024;
  const gbSeconds =
    (f.handlerMs / 1000) *
    (input.httpEvents * gb(input.memoryMb.api) +
      input.snsEvents * gb(input.memoryMb.ingest) +
      input.deliveries * gb(input.memoryMb.dispatch));
  const invocations = input.httpEvents + (input.snsEvents + input.deliveries) / f.batchSize;
  const transitions = input.deliveries / Math.max(1, input.targetsPerTransition);
  const wru = input.events * f.writeUnitsPerEvent + transitions * f.writeUnitsPerTransition;
  const rru = input.events * f.readUnitsPerEvent + transitions * f.readUnitsPerTransition;
  const fifo = input.events * f.sendRequestsPerEvent + (2 * input.deliveries) / f.batchSize;
  const standard = (2 * input.snsEvents) / f.batchSize;
  const lines: CostLine[] = [
    {
      item: 'Lambda duration (arm64)',
      quantity: gbSeconds,
      unit: 'GB-s',
      usd: gbSeconds * p.lambdaArmGbSecond,
    },
    { item: 'Lambda requests', quantity: invocations, unit: 'requests', usd: invocations * p.lambdaRequest },
    {
      item: 'DynamoDB writes (table + GSIs)',
      quantity: wru,
      unit: 'WRU',
      usd: wru * p.dynamoWriteRequestUnit,
    },
    { item: 'DynamoDB reads', quantity: rru, unit: 'RRU', usd: rru * p.dynamoReadRequestUnit },
    {
      item: 'SQS requests (incl. event source polling)',
      quantity: fifo + standard,
      unit: 'requests',
      usd: fifo * p.sqsFifoRequest + standard * p.sqsRequest,
    },
    {
      item: 'SNS publishes (CodeDeploy → topic)',
      quantity: input.snsEvents,
      unit: 'requests',
      usd: input.snsEvents * p.snsPublish,
    },
  ];
  return withTotal(lines, input.events);
}
