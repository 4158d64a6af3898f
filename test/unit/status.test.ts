import { describe, expect, it } from 'vitest';
import { decide, isTerminal, outcome, STATUSES, type Status } from '../../functions/core/status.ts';

type Expected = 'advance' | 'duplicate' | 'stale';

/** Every (current, incoming) pair and what applying it must do. Rows: current; columns: incoming. */
const TABLE: Record<Status, Record<Status, Expected>> = {
  queued: {
    queued: 'duplicate',
    in_progress: 'advance',
    succeeded: 'advance',
    failed: 'advance',
    stopped: 'advance',
  },
  in_progress: {
    queued: 'stale',
    in_progress: 'duplicate',
    succeeded: 'advance',
    failed: 'advance',
    stopped: 'advance',
  },
  succeeded: {
    queued: 'stale',
    in_progress: 'stale',
    succeeded: 'duplicate',
    failed: 'stale',
    stopped: 'stale',
  },
  failed: {
    queued: 'stale',
    in_progress: 'stale',
    succeeded: 'stale',
    failed: 'duplicate',
    stopped: 'stale',
  },
  stopped: {
    queued: 'stale',
    in_progress: 'stale',
    succeeded: 'stale',
    failed: 'stale',
    stopped: 'duplicate',
  },
};

const pairs = STATUSES.flatMap((current) =>
  STATUSES.map((incoming) => ({ current, incoming, expected: TABLE[current][incoming] })),
);

describe('decide', () => {
  it('covers every status pair in the table', () => {
    expect(pairs).toHaveLength(25);
    expect(Object.keys(TABLE).sort()).toEqual([...STATUSES].sort());
  });

  it.each(pairs)('$current then $incoming is $expected', ({ current, incoming, expected }) => {
    const decision = decide(current, incoming);
    expect(decision.kind).toBe(expected);
    if (decision.kind === 'advance')
      expect(decision).toEqual({ kind: 'advance', from: current, to: incoming });
    if (decision.kind === 'stale') {
      expect(decision.reason).toContain(current);
      expect(decision.reason).toContain(incoming);
    }
  });

  it.each(STATUSES)('advances a deployment with no status yet to %s', (incoming) => {
    expect(decide(null, incoming)).toEqual({ kind: 'advance', from: null, to: incoming });
  });

  it.each(STATUSES.filter(isTerminal))('never moves a %s deployment to any other status', (terminal) => {
    for (const incoming of STATUSES) {
      const decision = decide(terminal, incoming);
      expect(decision.kind).not.toBe('advance');
      if (incoming !== terminal) {
        expect(decision).toEqual({
          kind: 'stale',
          reason: expect.stringContaining(`already ${terminal}`),
        });
      }
    }
  });

  it('never moves backwards: a decision that advances always goes to a later status', () => {
    const order: Record<Status, number> = { queued: 0, in_progress: 1, succeeded: 2, failed: 2, stopped: 2 };
    for (const { current, incoming } of pairs) {
      const decision = decide(current, incoming);
      if (decision.kind === 'advance') expect(order[incoming]).toBeGreaterThan(order[current]);
    }
  });
});

describe('isTerminal and outcome', () => {
  it('treats succeeded, failed and stopped as terminal and the rest as not', () => {
    expect(STATUSES.filter(isTerminal)).toEqual(['succeeded', 'failed', 'stopped']);
  });

  it('calls succeeded passing, failed and stopped failing, and the rest pending', () => {
    expect(Object.fromEntries(STATUSES.map((s) => [s, outcome(s)]))).toEqual({
      queued: 'pending',
      in_progress: 'pending',
      succeeded: 'passing',
      failed: 'failing',
      stopped: 'failing',
    });
  });
});
