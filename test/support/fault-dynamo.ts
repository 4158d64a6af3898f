import {
  type DynamoDBClient,
  ProvisionedThroughputExceededException,
  ThrottlingException,
} from '@aws-sdk/client-dynamodb';
import { prng } from './fault-kit.ts';

/** What the throttling middleware did. */
export interface ThrottleStats {
  /** Logical calls (first SDK attempts). */
  calls: number;
  /** SDK attempts after the first (the SDK's own retries). */
  sdkRetries: number;
  /** Attempts answered with a throttling error. */
  throttled: number;
  /** Calls throttled on every SDK attempt, so the error reached Shipcast. */
  surfaced: number;
  /** Surfaced calls by command. */
  surfacedBy: Record<string, number>;
}

/**
 * Makes a DynamoDB client answer `ProvisionedThroughputExceededException` / `ThrottlingException` for some
 * calls, the way DynamoDB throttles (DynamoDB Local never does): a middleware inside the SDK's retry loop, so
 * the SDK retries as it would against AWS. `softRate` of all attempts-1 are throttled once (the SDK's retry
 * gets through); `hardRate` of distinct requests are throttled on every attempt the first time they are made,
 * so the error reaches the caller and only a retry of its own (or a queue redelivery) gets through.
 * The document client shares the client's middleware stack, so the store is throttled too.
 */
export function injectThrottling(
  client: DynamoDBClient,
  options: { softRate: number; hardRate: number; seed: number },
): { stats: ThrottleStats; stop(): void } {
  const random = prng(options.seed);
  const stats: ThrottleStats = { calls: 0, sdkRetries: 0, throttled: 0, surfaced: 0, surfacedBy: {} };
  const seen = new Set<string>();
  const hard = new Set<string>();
  let enabled = true;
  const name = 'faultInjectedThrottling';
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (!enabled) return next(args);
      const headers = (args.request as { headers?: Record<string, string> }).headers ?? {};
      const invocation = headers['amz-sdk-invocation-id'] ?? '';
      const [, attempt = '1', max = '1'] =
        /attempt=(\d+); max=(\d+)/.exec(headers['amz-sdk-request'] ?? '') ?? [];
      const first = attempt === '1';
      if (first) stats.calls++;
      else stats.sdkRetries++;
      if (first) {
        const identity = `${context.commandName}:${JSON.stringify(args.input)}`;
        if (!seen.has(identity)) {
          seen.add(identity);
          if (random() < options.hardRate) hard.add(invocation);
        }
      }
      const throttle = hard.has(invocation) || (first && random() < options.softRate);
      if (!throttle) return next(args);
      stats.throttled++;
      if (attempt === max) {
        stats.surfaced++;
        const command = context.commandName ?? 'unknown';
        stats.surfacedBy[command] = (stats.surfacedBy[command] ?? 0) + 1;
        hard.delete(invocation);
      }
      const details = { message: 'Throughput exceeds the current capacity (injected)', $metadata: {} };
      throw random() < 0.5
        ? new ProvisionedThroughputExceededException(details)
        : new ThrottlingException({
            ...details,
            message: 'Rate of requests exceeds the allowed throughput.',
          });
    },
    { step: 'finalizeRequest', priority: 'low', name },
  );
  return {
    stats,
    stop: () => {
      enabled = false;
    },
  };
}
