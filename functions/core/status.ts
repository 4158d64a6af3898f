/**
 * The normalized deployment status machine. Statuses only move forward:
 * queued → in_progress → succeeded | failed | stopped. A terminal status never changes again.
 */
export const STATUSES = ['queued', 'in_progress', 'succeeded', 'failed', 'stopped'] as const;

/**
 * A lookup table of words that come from outside (a source's status names) with no prototype, so that
 * `__proto__`, `constructor` or `toString` is not a key of it: `word in table` and `table[word]` only
 * ever see the listed words.
 */
export function wordTable<T>(entries: Record<string, T>): Readonly<Record<string, T>> {
  return Object.freeze(Object.assign(Object.create(null) as Record<string, T>, entries));
}

/** A normalized deployment status. */
export type Status = (typeof STATUSES)[number];

/** The terminal statuses: once reached, a deployment's status never changes. */
export const TERMINAL_STATUSES: readonly Status[] = ['succeeded', 'failed', 'stopped'];

const RANK: Record<Status, number> = { queued: 0, in_progress: 1, succeeded: 2, failed: 2, stopped: 2 };

/** True when the status is terminal. */
export function isTerminal(status: Status): boolean {
  return RANK[status] === 2;
}

/** What applying an incoming status to a deployment's current status does. */
export type StatusDecision =
  | { kind: 'advance'; from: Status | null; to: Status }
  | { kind: 'duplicate' }
  | { kind: 'stale'; reason: string };

/** Decides whether `incoming` moves a deployment forward from `current` (null: not yet known). */
export function decide(current: Status | null, incoming: Status): StatusDecision {
  if (current === null) return { kind: 'advance', from: null, to: incoming };
  if (current === incoming) return { kind: 'duplicate' };
  if (isTerminal(current)) {
    return { kind: 'stale', reason: `deployment is already ${current}; ${incoming} is not applied` };
  }
  if (RANK[incoming] > RANK[current]) return { kind: 'advance', from: current, to: incoming };
  return { kind: 'stale', reason: `${incoming} arrived after ${current}; statuses only move forward` };
}

/** Outcome of a finished deployment as a route sees it: passing or failing. */
export function outcome(status: Status): 'passing' | 'failing' | 'pending' {
  if (status === 'succeeded') return 'passing';
  if (status === 'failed' || status === 'stopped') return 'failing';
  return 'pending';
}
