import { describe, expect, it } from 'vitest';
import { FLOOR_ASSUMPTIONS, floorCost, PRICES_US_EAST_1 } from '../../bench/cost.ts';

describe('the benchmark’s cost floor', () => {
  it('prices exactly the minimum calls: two writes, a read and a send per event, a write and two reads per transition', () => {
    // 1,000 events over HTTP, each one transition to three targets.
    const floor = floorCost({
      events: 1000,
      snsEvents: 0,
      httpEvents: 1000,
      deliveries: 3000,
      targetsPerTransition: 3,
      memoryMb: { api: 512, ingest: 256, dispatch: 256 },
    });
    const p = PRICES_US_EAST_1;
    const byItem = Object.fromEntries(floor.lines.map((l) => [l.item, l.quantity]));
    // A transition's deliveries to its three targets: one write, one consistent read of them, an eventually
    // consistent read of the record.
    expect(byItem['DynamoDB writes (table + GSIs)']).toBe(1000 * 2 + 1000);
    expect(byItem['DynamoDB reads']).toBe(1000 + 1000 * 1.5);
    // One send per event, a receive and a delete per ten deliveries.
    expect(byItem['SQS requests (incl. event source polling)']).toBe(1000 + 600);
    expect(byItem['Lambda requests']).toBe(1000 + 300);
    expect(byItem['SNS publishes (CodeDeploy → topic)']).toBe(0);
    const ms = FLOOR_ASSUMPTIONS.handlerMs / 1000;
    const expected =
      3000 * p.dynamoWriteRequestUnit +
      2500 * p.dynamoReadRequestUnit +
      1600 * p.sqsFifoRequest +
      1300 * p.lambdaRequest +
      (1000 * ms * 0.5 + 3000 * ms * 0.25) * p.lambdaArmGbSecond;
    expect(floor.perMillionEvents).toBeCloseTo((expected / 1000) * 1e6, 6);
  });

  it('adds the SNS publish and the ingest queue’s receive and delete for CodeDeploy events', () => {
    const base = {
      deliveries: 0,
      targetsPerTransition: 3,
      memoryMb: { api: 512, ingest: 256, dispatch: 256 },
    };
    const http = floorCost({ ...base, events: 10, snsEvents: 0, httpEvents: 10 });
    const sns = floorCost({ ...base, events: 10, snsEvents: 10, httpEvents: 0 });
    const line = (f: typeof http, item: string) => f.lines.find((l) => l.item === item)?.quantity;
    expect(line(sns, 'SNS publishes (CodeDeploy → topic)')).toBe(10);
    expect(line(sns, 'SQS requests (incl. event source polling)')).toBe(10 + 2);
    expect(line(http, 'Lambda requests')).toBe(10);
    expect(line(sns, 'Lambda requests')).toBe(1);
  });
});
