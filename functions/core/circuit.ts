import { randomUUID } from 'node:crypto';
import type { CircuitSettings } from './config.ts';
import type { CircuitState, Clock, DeploymentStore } from './ports.ts';
import { count, type Logger, type Metrics } from './telemetry.ts';
import { MAX_VISIBILITY_SECONDS, VISIBILITY_MARGIN_SECONDS } from './visibility.ts';

/** What the breakers need from the dispatch context. */
export interface CircuitContext {
  store: DeploymentStore;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
}

/** May this message call its target now? */
export type CircuitGate =
  /** Closed (or off): call. */
  | { kind: 'closed'; target: string; settings: CircuitSettings }
  /** This call is the one probe of an open circuit; its outcome closes or reopens it. */
  | { kind: 'probe'; target: string; settings: CircuitSettings; claimed: CircuitState }
  /** Open: leave the message in the queue this long; no call, no attempt counted. */
  | { kind: 'wait'; target: string; seconds: number; reason: string };

/** How long a claimed probe holds the circuit for its dispatcher (a crashed prober is replaced after it). */
export const PROBE_LEASE_SECONDS = 60;
/** How long a message waits while another dispatcher's probe is in flight, at most. */
export const PROBE_WAIT_SECONDS = 5;
/** How long a dispatcher trusts the circuit state it read (the healthy path reads it at most this often). */
export const CIRCUIT_CACHE_SECONDS = 5;

interface Cached {
  state: CircuitState | undefined;
  readAt: number;
}

/**
 * The circuit breakers of one dispatcher process, one per target, their state in the store (shared by
 * every dispatcher) and cached here for a few seconds. The closed, healthy path costs no write and at
 * most one read per target every few seconds; writes happen on failures and state changes only.
 */
export class CircuitBreakers {
  private readonly cache = new Map<string, Cached>();
  /** Probes this process is running, by target: others of its messages wait for them instead of the queue. */
  private readonly probes = new Map<string, { done: Promise<void>; settle: () => void }>();
  /** Reads of the store in flight, by target. */
  private readonly reading = new Map<string, Promise<CircuitState | undefined>>();

  /** Decides whether a message of `target` may call it now; claims the probe when one is due. */
  async admit(target: string, settings: CircuitSettings, context: CircuitContext): Promise<CircuitGate> {
    if (!settings.enabled) return { kind: 'closed', target, settings };
    for (let round = 0; round < 4; round++) {
      // The first look may use the cached state; after a lost claim or a probe, look again for real.
      const state = await this.read(target, context, round > 0);
      if (!state || state.state === 'closed') return { kind: 'closed', target, settings };
      const now = context.clock.now().getTime();
      const reopensAt = Math.max(
        (state.openedAt ?? 0) + settings.coolDownSeconds * 1000,
        state.reopensAt ?? 0,
      );
      if (now < reopensAt) {
        return {
          kind: 'wait',
          target,
          seconds: Math.ceil((reopensAt - now) / 1000),
          reason: `circuit of ${target} is open; the next probe is due in ${Math.ceil((reopensAt - now) / 1000)} s`,
        };
      }
      const local = this.probes.get(target);
      if (local) {
        // This process is probing: wait for its outcome rather than bounce the message off the queue.
        await local.done;
        continue;
      }
      if (state.probeOwner && (state.probeUntil ?? 0) > now) {
        if (round === 0) continue; // a cached probe may be over already: look again first
        const seconds = Math.min(
          PROBE_WAIT_SECONDS,
          settings.coolDownSeconds,
          Math.ceil(((state.probeUntil ?? 0) - now) / 1000),
        );
        return {
          kind: 'wait',
          target,
          seconds: Math.max(1, seconds),
          reason: `circuit of ${target} is open; another dispatcher is probing it`,
        };
      }
      const claimed: CircuitState = {
        ...state,
        probeOwner: randomUUID(),
        probeUntil: now + PROBE_LEASE_SECONDS * 1000,
        updatedAt: new Date(now).toISOString(),
        rev: state.rev + 1,
      };
      // Taken here before the claim is written, so this process's other messages wait for it and its probe.
      let settle: () => void = () => {};
      const done = new Promise<void>((resolve) => {
        settle = resolve;
      });
      this.probes.set(target, { done, settle });
      let won = false;
      try {
        won = await context.store.saveCircuit(claimed, state.rev);
      } finally {
        if (!won) {
          this.probes.delete(target);
          settle();
        }
      }
      if (won) {
        this.remember(target, claimed, context);
        context.logger.info('circuit cool-down over; probing the target', { target });
        return { kind: 'probe', target, settings, claimed };
      }
    }
    return { kind: 'wait', target, seconds: 1, reason: `circuit of ${target} keeps changing` };
  }

  /** The call went through: a probe closes the circuit; a success while closed resets the failure count. */
  async succeeded(gate: CircuitGate, context: CircuitContext): Promise<void> {
    if (gate.kind === 'wait') return;
    if (gate.kind === 'probe') {
      const closed: CircuitState = {
        target: gate.target,
        state: 'closed',
        failures: 0,
        updatedAt: context.clock.now().toISOString(),
        rev: gate.claimed.rev + 1,
      };
      await this.finishProbe(gate, closed, context, () => {
        count(context.metrics, 'CircuitClosed', { target: gate.target });
        context.logger.info('circuit closed: the probe went through', { target: gate.target });
      });
      return;
    }
    const known = this.cache.get(gate.target)?.state;
    if (known?.state !== 'closed' || known.failures === 0) return;
    const reset: CircuitState = {
      ...known,
      failures: 0,
      updatedAt: context.clock.now().toISOString(),
      rev: known.rev + 1,
    };
    if (await context.store.saveCircuit(reset, known.rev)) this.remember(gate.target, reset, context);
    else this.cache.delete(gate.target);
  }

  /**
   * The target failed in a way that may pass (429, 5xx, timeout, connection): counts toward opening the
   * circuit, or reopens it after a failed probe. Returns whether the circuit is open now.
   */
  async failed(gate: CircuitGate, context: CircuitContext, retryAfterSeconds?: number): Promise<boolean> {
    if (gate.kind === 'wait') return true;
    const now = context.clock.now();
    // A target that named its wait (Retry-After, a rate limit's reset) is not probed before it is over, nor
    // later than the queue can hold its messages back: a probe then asks again.
    const named = Math.min(retryAfterSeconds ?? 0, MAX_VISIBILITY_SECONDS - VISIBILITY_MARGIN_SECONDS);
    const reopensAt = named > gate.settings.coolDownSeconds ? now.getTime() + named * 1000 : undefined;
    if (gate.kind === 'probe') {
      const reopened: CircuitState = {
        target: gate.target,
        state: 'open',
        failures: gate.claimed.failures,
        openedAt: now.getTime(),
        reopensAt,
        updatedAt: now.toISOString(),
        rev: gate.claimed.rev + 1,
      };
      await this.finishProbe(gate, reopened, context, () => {
        context.logger.warn('circuit stays open: the probe failed', {
          target: gate.target,
          coolDownSeconds: gate.settings.coolDownSeconds,
        });
      });
      return true;
    }
    if (!gate.settings.enabled) return false;
    const counted = await context.store.countCircuitFailure(gate.target);
    this.remember(gate.target, counted, context);
    if (counted.state === 'open') return true;
    if (counted.failures < gate.settings.failures) return false;
    const opened: CircuitState = {
      ...counted,
      state: 'open',
      openedAt: now.getTime(),
      reopensAt,
      probeOwner: undefined,
      probeUntil: undefined,
      updatedAt: now.toISOString(),
      rev: counted.rev + 1,
    };
    if (await context.store.saveCircuit(opened, counted.rev)) {
      this.remember(gate.target, opened, context);
      count(context.metrics, 'CircuitOpened', { target: gate.target });
      context.logger.warn('circuit opened: the target keeps failing; its messages wait in the queue', {
        target: gate.target,
        failures: counted.failures,
        coolDownSeconds: gate.settings.coolDownSeconds,
      });
      return true;
    }
    // Another dispatcher changed it first (opened it, most likely): take its word.
    return (await this.read(gate.target, context, true))?.state === 'open';
  }

  /** The attempt ended without saying anything about the target (held back, a permanent 4xx, a bug): a probe is handed back. */
  async inconclusive(gate: CircuitGate, context: CircuitContext): Promise<void> {
    if (gate.kind !== 'probe') return;
    const released: CircuitState = {
      ...gate.claimed,
      probeOwner: undefined,
      probeUntil: undefined,
      updatedAt: context.clock.now().toISOString(),
      rev: gate.claimed.rev + 1,
    };
    await this.finishProbe(gate, released, context, () => {});
  }

  private async finishProbe(
    gate: Extract<CircuitGate, { kind: 'probe' }>,
    next: CircuitState,
    context: CircuitContext,
    onWritten: () => void,
  ): Promise<void> {
    try {
      if (await context.store.saveCircuit(next, gate.claimed.rev)) {
        this.remember(gate.target, next, context);
        onWritten();
      } else {
        // The lease ran out and another dispatcher took over: its outcome counts.
        this.cache.delete(gate.target);
      }
    } finally {
      // At most one probe per target runs in a process (admit claims none while one is running).
      const probe = this.probes.get(gate.target);
      this.probes.delete(gate.target);
      probe?.settle();
    }
  }

  private async read(target: string, context: CircuitContext, fresh: boolean) {
    const now = context.clock.now().getTime();
    const cached = this.cache.get(target);
    if (!fresh && cached && now - cached.readAt < CIRCUIT_CACHE_SECONDS * 1000) return cached.state;
    // Messages of one batch ask at once: one read answers them all.
    let reading = this.reading.get(target);
    if (!reading) {
      reading = context.store.getCircuit(target).finally(() => this.reading.delete(target));
      this.reading.set(target, reading);
      const state = await reading;
      this.cache.set(target, { state, readAt: now });
      return state;
    }
    return reading;
  }

  private remember(target: string, state: CircuitState, context: CircuitContext) {
    this.cache.set(target, { state, readAt: context.clock.now().getTime() });
  }
}

const fallback = new WeakMap<DeploymentStore, CircuitBreakers>();

/** The breakers of a context built without any (one set per store, so per runtime). */
export function breakersFor(store: DeploymentStore): CircuitBreakers {
  let breakers = fallback.get(store);
  if (!breakers) {
    breakers = new CircuitBreakers();
    fallback.set(store, breakers);
  }
  return breakers;
}
