import { describe, expect, it } from 'vitest';
import {
  MAX_VISIBILITY_SECONDS,
  queueableWait,
  receivedAtOf,
  VISIBILITY_MARGIN_SECONDS,
} from '../../functions/core/visibility.ts';

const HOUR = 3_600_000;
const received = Date.parse('2026-03-01T10:00:00.000Z');
const usable = MAX_VISIBILITY_SECONDS - VISIBILITY_MARGIN_SECONDS;

describe('waits asked of the queue', () => {
  it('keeps a wait that ends well within 12 hours of the receive', () => {
    expect(queueableWait(900, received, received + HOUR)).toBe(900);
  });

  it('cuts a wait to what is left of the 12 hours since this receive, less the margin', () => {
    expect(queueableWait(43_200, received, received + 3 * HOUR)).toBe(usable - 3 * 3600);
    expect(queueableWait(86_400, received, received)).toBe(usable);
  });

  it('asks for no wait at all once the margin is reached: the message comes back and is received afresh', () => {
    expect(queueableWait(60, received, received + (usable + 5) * 1000)).toBe(0);
    expect(queueableWait(60, received, received + 13 * HOUR)).toBe(0);
  });

  it('counts from the receive when the clocks disagree and the receive looks later than now', () => {
    expect(queueableWait(86_400, received + 1000, received)).toBe(usable);
  });
});

describe('when a record was received', () => {
  const started = received + 5_000;

  it('is its first receive when this is the first', () => {
    expect(
      receivedAtOf(
        { ApproximateReceiveCount: '1', ApproximateFirstReceiveTimestamp: String(received) },
        started,
      ),
    ).toBe(received);
  });

  it("is the handler's start on a later receive (the first one may be long past)", () => {
    expect(
      receivedAtOf(
        { ApproximateReceiveCount: '4', ApproximateFirstReceiveTimestamp: String(received - 13 * HOUR) },
        started,
      ),
    ).toBe(started);
    expect(receivedAtOf(undefined, started)).toBe(started);
  });
});
