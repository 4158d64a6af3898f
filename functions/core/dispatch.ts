import { breakersFor, type CircuitBreakers } from './circuit.ts';
import type { ShipcastConfig } from './config.ts';
import { circuitSettings } from './config-reader.ts';
import { PermanentDeliveryError, RetryableDeliveryError } from './errors.ts';
import type { HttpClient } from './http-client.ts';
import type {
  Clock,
  DeploymentStore,
  DispatchQueue,
  EventBus,
  RateLimiter,
  SecretSource,
  SesSender,
} from './ports.ts';
import type { Delivery, Deployment, DispatchMessage } from './schema.ts';
import { DISPATCH_TARGETS as TARGETS } from './targets/loaders.ts';
import type { SendResult, TargetDefinition } from './targets/target.ts';
import { count, type Logger, type Metrics, maskSecrets } from './telemetry.ts';
import { deploymentTimeline } from './timeline.ts';
import { MAX_VISIBILITY_SECONDS, queueableWait } from './visibility.ts';

/** What dispatching needs: the ports, the config, the one HTTP client and the telemetry. */
export interface DispatchContext {
  store: DeploymentStore;
  queue: DispatchQueue;
  clock: Clock;
  config: ShipcastConfig;
  http: HttpClient;
  secrets: SecretSource;
  limiter: RateLimiter;
  logger: Logger;
  metrics: Metrics;
  /** Target definitions by type; defaults to the built-in registry. */
  targets?: readonly TargetDefinition[];
  /** This dispatcher's circuit breakers (state shared through the store); one set per store when absent. */
  circuits?: CircuitBreakers;
  /** Milliseconds left before the function's timeout (Lambda's context); no deadline when absent. */
  remainingMs?: () => number;
  /** The event bus adapter the `eventbridge` target puts events with. */
  eventBus?: EventBus;
  /** Amazon SES for the `email` target. */
  ses?: SesSender;
}

/**
 * A message is started only with this much of the function's time left: enough for the target's calls
 * (10 s each) and the record. One started later could be cut off by the timeout between calling the
 * target and recording it, and its message, still invisible, could overlap with the next receive.
 */
export const DISPATCH_START_RESERVE_MS = 20_000;

/** A received dispatch queue message, transport details unwrapped. */
export interface ReceivedMessage {
  messageId: string;
  receiptHandle: string;
  body: string;
  /** How many times the queue has handed this message out, this time included. */
  receiveCount: number;
  /**
   * When the queue handed it out this time (epoch milliseconds), as near as known: a wait asked of the queue
   * must end within SQS's 12 hours of it. Absent: now (the caller received it itself just before).
   */
  receivedAt?: number;
}

/** What became of one message. */
export type DispatchOutcome =
  | { kind: 'delivered' }
  | { kind: 'skipped'; reason: string }
  | { kind: 'retry'; afterSeconds: number; error: string }
  /** Not attempted (the target's circuit is open, or the function's time is short). Counts no attempt. */
  | { kind: 'deferred'; afterSeconds: number; reason: string }
  | { kind: 'dead'; error: string };

/**
 * Handles one batch: messages for the same deployment and target go in transition order, one after
 * another; the rest run concurrently. The messages of one deployment go in rounds (the first message of each
 * of its targets, then the second…): a round reads the record and the deliveries once and records every
 * delivery it made with one write. Returns the ids of messages to leave on the queue (retry).
 */
export async function dispatchBatch(
  messages: ReceivedMessage[],
  context: DispatchContext,
): Promise<string[]> {
  const deployments = new Map<string, Map<string, { message: ReceivedMessage; parsed: DispatchMessage }[]>>();
  const invalid: ReceivedMessage[] = [];
  for (const message of messages) {
    const parsed = parseMessage(message.body);
    if (!parsed) {
      invalid.push(message);
      continue;
    }
    const targets = deployments.get(parsed.deploymentId) ?? new Map();
    deployments.set(parsed.deploymentId, targets);
    targets.set(parsed.target, [...(targets.get(parsed.target) ?? []), { message, parsed }]);
  }
  const failures: string[] = [];
  const handle = async (
    message: ReceivedMessage,
    parsed: DispatchMessage | undefined,
    round?: DispatchRound,
  ) => {
    const logger = context.logger.createChild({
      persistentKeys: {
        queueMessageId: message.messageId,
        deploymentId: parsed?.deploymentId,
        target: parsed?.target,
        seq: parsed?.seq,
      },
    });
    const outcome = parsed
      ? await dispatchOne(parsed, message.receiveCount, { ...context, logger }, round)
          .catch((error: unknown) => {
            // One message that cannot be handled (a store error, a key DynamoDB refuses) must not fail the
            // batch: it alone comes back, and goes to the DLQ after the queue's maximum receives.
            logger.error('could not dispatch the message; it will be received again', {
              error: error as Error,
            });
            return undefined;
          })
          .finally(() => round?.leave(parsed.target))
      : ({ kind: 'dead', error: 'not a Shipcast dispatch message' } as const);
    if (!outcome || !(await settle(message, outcome, { ...context, logger })))
      failures.push(message.messageId);
  };
  await Promise.all([
    ...invalid.map((message) => handle(message, undefined)),
    ...[...deployments].map(async ([deploymentId, targets]) => {
      const queues = [...targets.values()].map((list) => list.sort((a, b) => a.parsed.seq - b.parsed.seq));
      for (let turn = 0; queues.some((list) => list.length > turn); turn++) {
        const entries = queues.flatMap((list) => {
          const entry = list[turn];
          return entry ? [entry] : [];
        });
        const round = dispatchRound(context.store, deploymentId, entries.length, context.remainingMs);
        await Promise.all(entries.map(({ message, parsed }) => handle(message, parsed, round)));
      }
    }),
  ]);
  return failures;
}

/**
 * What the messages of one deployment handled together share: one read of the record (each way), one read of
 * its deliveries, and one write of the deliveries they made. Every message in the round either writes once
 * through it or leaves; the write goes when all have.
 */
export interface DispatchRound {
  deployment(read: 'eventually' | 'consistent'): Promise<Deployment | undefined>;
  delivery(target: string): Promise<Delivery | undefined>;
  /** Joins the round's one write; false when any of its deliveries changed meanwhile (then written alone). */
  write(next: Delivery, expectedRev: number | null): Promise<boolean>;
  /** This target's message is done with the round (wrote, or has nothing to write). */
  leave(target: string): void;
}

/**
 * A delivery recorded with the round's shared write waits at most this long for the round's other targets
 * (and never past DISPATCH_WRITE_RESERVE_MS before the function's timeout): then what is pending is written,
 * and later ones go alone. A slow target (a GitHub deployment makes three calls of up to 10 s each) does not
 * keep a fast one's outcome unrecorded, where a timeout of the function would lose it.
 */
export const ROUND_WRITE_WAIT_MS = 3_000;
/** The shared write goes no later than this before the function's timeout. */
export const DISPATCH_WRITE_RESERVE_MS = 10_000;

/**
 * A round of `size` messages of one deployment, each for another target. `remainingMs` is the function's
 * time left (Lambda's context), when known.
 */
export function dispatchRound(
  store: DeploymentStore,
  deploymentId: string,
  size: number,
  remainingMs?: () => number,
): DispatchRound {
  const reads = new Map<string, Promise<Deployment | undefined>>();
  let deliveries: Promise<Map<string, Delivery>> | undefined;
  const arrived = new Set<string>();
  let pending: { next: Delivery; expectedRev: number | null; settle: (saved: boolean) => void }[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    const writes = pending;
    pending = [];
    if (writes.length === 0) return;
    // A shared write that fails (throttled past the retries, an item DynamoDB refuses) is answered `false`:
    // each delivery is then re-read and written alone, so one cannot cost the others their outcome.
    persistently(() =>
      store.saveDeliveries(writes.map(({ next, expectedRev }) => ({ next, expectedRev }))),
    ).then(
      (saved) => {
        for (const w of writes) w.settle(saved);
      },
      () => {
        for (const w of writes) w.settle(false);
      },
    );
  };
  const flushIfAll = () => {
    if (arrived.size >= size) flush();
    else if (pending.length > 0 && !timer) {
      const left = remainingMs?.();
      const wait = Math.min(
        ROUND_WRITE_WAIT_MS,
        left === undefined ? Infinity : left - DISPATCH_WRITE_RESERVE_MS,
      );
      timer = setTimeout(flush, Math.max(0, wait));
    }
  };
  return {
    deployment(read) {
      const cached = reads.get(read);
      if (cached) return cached;
      const loading = store.getDeployment(deploymentId, read === 'eventually' ? 'eventually' : undefined);
      reads.set(read, loading);
      return loading;
    },
    async delivery(target) {
      deliveries ??= store
        .listDeliveries(deploymentId)
        .then((list) => new Map(list.map((delivery) => [delivery.target, delivery])));
      return (await deliveries).get(target);
    },
    write(next, expectedRev) {
      arrived.add(next.target);
      const written = new Promise<boolean>((settle) => pending.push({ next, expectedRev, settle }));
      flushIfAll();
      return written;
    },
    leave(target) {
      if (arrived.has(target)) return;
      arrived.add(target);
      flushIfAll();
    },
  };
}

/** Delivers one transition to one target, at most once per (deployment, target, seq) as far as the record can tell. */
export async function dispatchOne(
  message: DispatchMessage,
  receiveCount: number,
  context: DispatchContext,
  round: DispatchRound = dispatchRound(context.store, message.deploymentId, 1, context.remainingMs),
): Promise<DispatchOutcome> {
  const { store, config, logger } = context;
  const left = context.remainingMs?.();
  if (left !== undefined && left < DISPATCH_START_RESERVE_MS) {
    // Not attempted, so not counted: the message is received again at once, by a fresh invocation.
    logger.info("not started: too little of the function's time is left", { remainingMs: left });
    return {
      kind: 'deferred',
      afterSeconds: 0,
      reason: `not started with ${left} ms of the function's time left (needs ${DISPATCH_START_RESERVE_MS})`,
    };
  }
  // An eventually consistent read (half a read unit) has the transition but in the rare second after its
  // write: only then is the record read again, consistently, before the message is judged.
  // A refresh names a transition the record already had: it is read consistently, so it sees what changed.
  const seen = message.refresh ? undefined : await round.deployment('eventually');
  const deployment = seen?.transitions.some((t) => t.seq === message.seq)
    ? seen
    : await round.deployment('consistent');
  if (!deployment) return { kind: 'dead', error: `deployment ${message.deploymentId} does not exist` };
  const transition = deployment.transitions.find((t) => t.seq === message.seq);
  if (!transition)
    return { kind: 'dead', error: `deployment ${deployment.id} has no transition ${message.seq}` };
  const targetConfig = config.targets[message.target];
  const definition = (context.targets ?? TARGETS).find((t) => t.type === targetConfig?.type);
  if (!targetConfig || !definition) {
    return { kind: 'dead', error: `no target named "${message.target}" in the current config` };
  }

  const delivery = await round.delivery(message.target);
  // The delivery as last written by this dispatch (ids kept mid-send move it on).
  let known = delivery;
  // A refresh shows the delivered transition again (the record changed, e.g. someone asked to stop it).
  const shownAgain = message.refresh !== undefined && delivery?.deliveredSeq === message.seq;
  if (delivery && delivery.deliveredSeq >= message.seq && !shownAgain) {
    return { kind: 'skipped', reason: `transition ${delivery.deliveredSeq} was already delivered` };
  }

  const breakers = context.circuits ?? breakersFor(store);
  const settings = circuitSettings(config, message.target);
  // If the circuit state cannot be read, call the target anyway (as if closed).
  const gate =
    (await circuitStep(() => breakers.admit(message.target, settings, context), context)) ||
    ({ kind: 'closed', target: message.target, settings } as const);
  if (gate.kind === 'wait') {
    logger.info('circuit open; the message waits in the queue', { afterSeconds: gate.seconds });
    return { kind: 'deferred', afterSeconds: gate.seconds, reason: gate.reason };
  }

  // A wait answered by the shared limiter holds the call back: it says nothing about the target.
  let heldBack = false;
  const limiter: RateLimiter = {
    take: async (key, limit, windowSeconds) => {
      const wait = await context.limiter.take(key, limit, windowSeconds);
      if (wait > 0) heldBack = true;
      return wait;
    },
  };
  // The target's health is judged by its calls, not by the delivery: a delivery of several calls (a GitHub
  // deployment's first: a look-up, a create and a status) that fails on one of them still saw it answer.
  let answeredCalls = 0;
  const http = context.http.observed((outcome) => {
    if (outcome === 'answered') answeredCalls++;
  });
  let sent: SendResult | undefined;
  try {
    sent = await definition.send(
      { deployment, transition, delivery },
      {
        name: message.target,
        config: targetConfig as never,
        http,
        secrets: context.secrets,
        logger,
        clock: context.clock,
        limiter,
        deliveryOf: (deploymentId, target) => store.getDelivery(deploymentId, target),
        previousDeployment: async () =>
          deployment.service && deployment.environment
            ? store.previousTerminal(deployment.service, deployment.environment, deployment)
            : undefined,
        ciEvents: async () => (await deploymentTimeline(store, deployment))?.events ?? [],
        eventBus: context.eventBus,
        keep: (refs) =>
          record(context, known, message, undefined, (base) => ({
            ...base,
            refs: { ...base.refs, ...refs },
          })).then(
            (saved) => {
              // The outcome's write starts from what was kept (its rev), so the round's write holds.
              known = saved;
            },
            (error: unknown) => logger.warn('could not save ids learned mid-send', { error: error as Error }),
          ),
        message: transition.messages?.[message.target],
        ses: context.ses,
      },
    );
    const refs = sent.refs;
    await record(context, known, message, round, (base) => ({
      ...base,
      deliveredSeq: message.seq,
      deliveredStatus: transition.to,
      state: 'delivered',
      attempts: base.attempts + 1,
      failedAttempts: undefined,
      failingSeq: undefined,
      lastError: undefined,
      refs: refs ? { ...base.refs, ...refs } : base.refs,
    }));
    await circuitStep(() => breakers.succeeded(gate, context), context);
    count(context.metrics, 'Deliveries', { target: message.target, outcome: 'delivered' });
    logger.info('delivered', { to: transition.to });
    return { kind: 'delivered' };
  } catch (error) {
    const text = maskSecrets(error instanceof Error ? error.message : String(error));
    // A failure after the target answered (writing the delivery) keeps what it answered, e.g. the id of the
    // message it made, so the retry updates that message instead of posting another.
    const learned = sent?.refs ?? (error as { refs?: Record<string, string> } | undefined)?.refs;
    const withRefs = (base: Delivery) => (learned ? { ...base.refs, ...learned } : base.refs);
    const permanent = error instanceof PermanentDeliveryError;
    // A call the target answered shows it up (a probe closes the circuit, a closed one's failures reset);
    // only a retryable failure of the target itself (429, 5xx, timeout, connection), with none of its calls
    // answered, counts against it.
    const targetAnswered = sent !== undefined || answeredCalls > 0;
    const targetFailed = !targetAnswered && !heldBack && error instanceof RetryableDeliveryError;
    let circuitOpen = false;
    if (targetAnswered) await circuitStep(() => breakers.succeeded(gate, context), context);
    else if (targetFailed)
      circuitOpen =
        (await circuitStep(() => breakers.failed(gate, context, error.retryAfterSeconds), context)) === true;
    else await circuitStep(() => breakers.inconclusive(gate, context), context);
    // Attempts at this transition are counted in the delivery record, not by the queue's receive count (a
    // message held back by an open circuit comes back without an attempt). A failed probe is the circuit's
    // failure (the target is still down), not this message's: not counted either. Nor is a wait for
    // Shipcast's own spacing of calls (the shared limiter): the target said nothing, so a burst for one
    // channel waits its turn instead of using up its attempts and ending in the DLQ.
    const counted = !heldBack && !(gate.kind === 'probe' && targetFailed);
    // A transition given up on before (its message dead-lettered) and now received again was redriven:
    // once the cause is fixed it gets a fresh set of attempts, not the one left over.
    const priorFailures = (base: Delivery | undefined) =>
      base?.failingSeq === message.seq && base.state !== 'failed' ? (base.failedAttempts ?? 0) : 0;
    const failedBefore = priorFailures(delivery);
    const failures = counted ? failedBefore + 1 : failedBefore;
    const exhausted = counted && failures >= config.dispatch.maxReceives;
    const failedAttempts = (base: Delivery) => {
      const previous = priorFailures(base);
      return { failingSeq: message.seq, failedAttempts: counted ? previous + 1 : previous };
    };
    if (permanent || exhausted) {
      const reason = permanent ? text : `gave up after ${failures} attempts: ${text}`;
      await record(context, known, message, round, (base) => ({
        ...base,
        state: 'failed',
        attempts: base.attempts + 1,
        ...failedAttempts(base),
        lastError: reason,
        refs: withRefs(base),
      }));
      count(context.metrics, 'Deliveries', { target: message.target, outcome: 'failed' });
      return { kind: 'dead', error: reason };
    }
    let afterSeconds = retryDelay(error, Math.max(1, failures));
    // An open circuit holds the message back anyway: no use coming back before its cool-down is over.
    if (circuitOpen && gate.settings.enabled)
      afterSeconds = Math.max(afterSeconds, gate.settings.coolDownSeconds);
    await record(context, known, message, round, (base) => ({
      ...base,
      state: 'retrying',
      attempts: base.attempts + 1,
      ...failedAttempts(base),
      lastError: text,
      refs: withRefs(base),
    }));
    count(context.metrics, 'Retries', { target: message.target });
    logger.warn('delivery failed; retrying through the queue', {
      error: text,
      afterSeconds,
      failedAttempts: failures,
      receiveCount,
    });
    return { kind: 'retry', afterSeconds, error: text };
  }
}

/** Runs a circuit bookkeeping step; its failure (a store error) must not change what becomes of the message. */
async function circuitStep<T>(step: () => Promise<T>, context: DispatchContext): Promise<T | false> {
  try {
    return await step();
  } catch (error) {
    context.logger.warn('could not update the circuit state', { error: error as Error });
    return false;
  }
}

/** How long to leave a failed message invisible: what the target asked for, else exponential backoff. */
export function retryDelay(error: unknown, attempt: number): number {
  const asked = error instanceof RetryableDeliveryError ? error.retryAfterSeconds : undefined;
  const backoff = Math.min(900, 5 * 2 ** Math.max(0, attempt - 1));
  // What is left of the message's 12 hours is applied when the wait is asked of the queue (queueableWait).
  return Math.min(MAX_VISIBILITY_SECONDS, Math.max(1, Math.ceil(asked ?? backoff)));
}

/**
 * Writes the delivery record with a conditional write (the first with the round's other deliveries, when
 * given); re-reads and re-applies, alone, when another writer won.
 */
async function record(
  context: DispatchContext,
  known: Delivery | undefined,
  message: DispatchMessage,
  round: DispatchRound | undefined,
  change: (base: Delivery) => Delivery,
): Promise<Delivery> {
  let current = known;
  for (let attempt = 0; attempt < 5; attempt++) {
    const base: Delivery = current ?? {
      deploymentId: message.deploymentId,
      target: message.target,
      deliveredSeq: 0,
      state: 'retrying',
      attempts: 0,
      updatedAt: '',
      rev: 0,
    };
    const next = change(base);
    // Never move the delivered mark backwards, whoever wrote in between.
    if (current && current.deliveredSeq > next.deliveredSeq) {
      next.deliveredSeq = current.deliveredSeq;
      next.deliveredStatus = current.deliveredStatus;
      next.state = current.state;
    }
    next.updatedAt = context.clock.now().toISOString();
    next.rev = base.rev + 1;
    // Retried past the SDK's own retries: after a target answered, a lost write means calling it again.
    const expectedRev = current ? current.rev : null;
    const saved =
      attempt === 0 && round
        ? await round.write(next, expectedRev)
        : await persistently(() => context.store.saveDelivery(next, expectedRev));
    if (saved) return next;
    current = await context.store.getDelivery(message.deploymentId, message.target);
  }
  throw new Error(`delivery record ${message.deploymentId}/${message.target} keeps changing; will retry`);
}

/** Runs a store write again when it throws (throttled, timed out), a few times with a short backoff. */
async function persistently<T>(write: () => Promise<T>, attempts = 4): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (error) {
      if (attempt >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt * (0.5 + Math.random())));
    }
  }
}

async function settle(message: ReceivedMessage, outcome: DispatchOutcome, context: DispatchContext) {
  try {
    if (outcome.kind === 'retry' || outcome.kind === 'deferred') {
      const now = context.clock.now().getTime();
      const wait = queueableWait(outcome.afterSeconds, message.receivedAt ?? now, now);
      if (wait < outcome.afterSeconds) {
        context.logger.info("wait cut to what is left of the queue's 12 hours", {
          askedSeconds: outcome.afterSeconds,
          afterSeconds: wait,
        });
      }
      await context.queue.retryLater(message.receiptHandle, wait);
      return false;
    }
    if (outcome.kind === 'dead') {
      context.logger.error('delivery failed permanently; moved to the dead-letter queue', {
        error: outcome.error,
      });
      await context.queue.deadLetter(message.body, outcome.error, message.messageId);
      count(context.metrics, 'DeadLettered', { queue: 'dispatch' });
    }
    if (outcome.kind === 'skipped') context.logger.info('skipped', { reason: outcome.reason });
    return true;
  } catch (error) {
    context.logger.error('could not settle the message; it will be received again', {
      error: error as Error,
    });
    return false;
  }
}

function parseMessage(body: string): DispatchMessage | undefined {
  try {
    const value = JSON.parse(body) as Partial<DispatchMessage>;
    if (
      value?.v === 1 &&
      typeof value.deploymentId === 'string' &&
      typeof value.target === 'string' &&
      Number.isInteger(value.seq)
    ) {
      return value as DispatchMessage;
    }
  } catch {
    // fall through: not JSON
  }
  return undefined;
}
