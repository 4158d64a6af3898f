import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

export type { Logger } from '@aws-lambda-powertools/logger';
export type { Metrics } from '@aws-lambda-powertools/metrics';
export { MetricUnit } from '@aws-lambda-powertools/metrics';

const MASK = '****';
const secretValues = new Set<string>();

/**
 * Registers a secret value so it is masked in every log line and error message Shipcast writes.
 * Values shorter than 4 characters are not registered: masking them would garble ordinary text.
 */
export function registerSecret(value: string): void {
  if (value.length >= 4) secretValues.add(value);
}

/** Replaces every registered secret value in `text` with `****`. */
export function maskSecrets(text: string): string {
  let out = text;
  for (const value of secretValues) {
    if (out.includes(value)) out = out.split(value).join(MASK);
  }
  return out;
}

/** The Shipcast logger: structured JSON (Powertools), with registered secrets masked. */
export function createLogger(serviceName = 'shipcast'): Logger {
  return new Logger({
    serviceName,
    jsonReplacerFn: (_key: string, value: unknown) => {
      if (typeof value === 'string') return maskSecrets(value);
      if (value instanceof Error) {
        return { name: value.name, message: maskSecrets(value.message) };
      }
      return value;
    },
  });
}

/** The Shipcast metrics: CloudWatch Embedded Metric Format (Powertools). */
export function createMetrics(serviceName = 'shipcast'): Metrics {
  return new Metrics({ namespace: 'Shipcast', serviceName });
}

/** Counts one occurrence of `name` with the given dimension, in its own EMF record. */
export function count(metrics: Metrics, name: string, dimensions: Record<string, string>, value = 1): void {
  const single = metrics.singleMetric();
  for (const [key, dimension] of Object.entries(dimensions)) single.addDimension(key, dimension);
  single.addMetric(name, MetricUnit.Count, value);
}
