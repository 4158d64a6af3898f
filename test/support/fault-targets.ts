import { type ScriptedAnswer, startTargetServer, type TargetServer } from './target-server.ts';

/** What a fault target did with one request. */
export type FaultAnswer =
  | { kind: 'ok' }
  | { kind: 'rate-limited'; retryAfter: number }
  | { kind: 'error' }
  | { kind: 'hang' }
  | { kind: 'reset' }
  | { kind: 'refused' };

/** Decides the answer to one request; `key` is its `shipcast-delivery` header (`<deploymentId>:<seq>`). */
export type FaultPlan = (key: string, attempt: number) => FaultAnswer;

/**
 * A webhook receiver that counts every call by `shipcast-delivery` (deployment id + seq) and answers as its
 * plan says: 200, 429 with `Retry-After`, 500, a hung connection, a reset connection, or 400.
 */
export interface FaultTarget {
  name: string;
  url: string;
  server: TargetServer;
  /** Per `shipcast-delivery` key, every answer given, in order. */
  answers: Map<string, FaultAnswer[]>;
  plan: FaultPlan;
  /** Calls answered 2xx, per key. */
  accepted(key: string): number;
  /** Every key with at least one 2xx answer. */
  acceptedKeys(): string[];
  /** Requests received in all. */
  calls(): number;
  /** Answers of one kind given in all. */
  count(kind: FaultAnswer['kind']): number;
  reset(): void;
  stop(): Promise<void>;
}

const scripted = (answer: FaultAnswer): ScriptedAnswer => {
  switch (answer.kind) {
    case 'ok':
      return { status: 200, body: { ok: true } };
    case 'rate-limited':
      return {
        status: 429,
        headers: { 'retry-after': String(answer.retryAfter) },
        body: { error: 'slow down' },
      };
    case 'error':
      return { status: 500, body: { error: 'internal' } };
    case 'hang':
      return { hang: true };
    case 'reset':
      return { reset: true };
    case 'refused':
      return { status: 400, body: { error: 'unsupported payload' } };
  }
};

/** Starts a fault target on 127.0.0.1 (answers 200 until given a plan). */
export async function startFaultTarget(
  name: string,
  plan: FaultPlan = () => ({ kind: 'ok' }),
): Promise<FaultTarget> {
  const server = await startTargetServer();
  const answers = new Map<string, FaultAnswer[]>();
  const target: FaultTarget = {
    name,
    url: `${server.url}/${name}`,
    server,
    answers,
    plan,
    accepted: (key) => (answers.get(key) ?? []).filter((a) => a.kind === 'ok').length,
    acceptedKeys: () =>
      [...answers].filter(([, list]) => list.some((a) => a.kind === 'ok')).map(([key]) => key),
    calls: () => [...answers.values()].reduce((n, list) => n + list.length, 0),
    count: (kind) =>
      [...answers.values()].reduce((n, list) => n + list.filter((a) => a.kind === kind).length, 0),
    reset: () => {
      answers.clear();
      server.requests.length = 0;
    },
    stop: () => server.stop(),
  };
  server.fallback = (request) => {
    const key = String(request.headers['shipcast-delivery'] ?? `no-delivery-header:${request.path}`);
    const list = answers.get(key) ?? [];
    answers.set(key, list);
    const answer = target.plan(key, list.length + 1);
    list.push(answer);
    return scripted(answer);
  };
  // The server keeps request bodies; these tests only need the counts, so it forgets them.
  const forget = setInterval(() => {
    server.requests.length = 0;
  }, 1_000);
  forget.unref();
  const stop = target.stop;
  target.stop = async () => {
    clearInterval(forget);
    await stop();
  };
  return target;
}
