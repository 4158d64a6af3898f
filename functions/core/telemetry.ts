/**
 * Shipcast's logs and metrics, written as Lambda expects them: one JSON object per line (DEBUG and INFO on
 * stdout, WARN and ERROR on stderr, as Powertools' logger wrote them) and CloudWatch Embedded Metric Format
 * records on stdout. Registered secret values are masked in every string a log line holds (`secret-mask.ts`).
 *
 * This replaces `@aws-lambda-powertools/logger` and `/metrics` (about 33 KB minified in every bundle, for
 * the few features Shipcast used; this module is under 3 KB). Environment:
 * - `SHIPCAST_LOG_LEVEL`, else `POWERTOOLS_LOG_LEVEL`, else `AWS_LAMBDA_LOG_LEVEL` (Lambda's advanced
 *   logging controls), else INFO: TRACE, DEBUG, INFO, WARN, ERROR, CRITICAL/FATAL or SILENT, any case; an
 *   unknown value means INFO. Read when a logger is created (a child keeps its parent's).
 * - `SHIPCAST_METRICS=off` (also `false`, `0`, `no`) writes no metrics; `on` writes them whatever
 *   `POWERTOOLS_METRICS_DISABLED` says, which is still honoured when `SHIPCAST_METRICS` is unset. Read when
 *   the metrics are created.
 * - `_X_AMZN_TRACE_ID`: its `Root=` part becomes `xray_trace_id` (read for each line: it changes per invocation).
 */

import { maskSecrets } from './secret-mask.ts';

export { maskSecrets, registerSecret } from './secret-mask.ts';

/** What a log line carries besides its message: JSON values, Errors, bigints; cycles are cut. */
export type LogAttributes = Record<string, unknown>;

/** A record without a prototype: a `__proto__` key is then an ordinary key. */
const bare = (): Record<string, unknown> => Object.create(null);

const THRESHOLDS: Record<string, number> = {
  TRACE: 0,
  DEBUG: 1,
  INFO: 2,
  WARN: 3,
  ERROR: 4,
  CRITICAL: 5,
  FATAL: 5,
  SILENT: 6,
};
const LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];
/** Objects nested deeper than this (error causes included) are written as "[Truncated]". */
const MAX_DEPTH = 12;

/**
 * A copy of `value` that JSON.stringify writes without throwing: strings masked (keys too), bigints as
 * strings, Errors as `{ name, message, stack, cause }`, a reference to an enclosing object as "[Circular]".
 */
function plain(value: unknown, ancestors: object[]): unknown {
  if (typeof value === 'string') return maskSecrets(value);
  if (typeof value === 'bigint') return String(value);
  if (typeof value !== 'object' || value === null) return value;
  if (ancestors.includes(value)) return '[Circular]';
  if (ancestors.length >= MAX_DEPTH) return '[Truncated]';
  ancestors.push(value);
  try {
    const source =
      value instanceof Error
        ? { name: value.name, message: value.message, stack: value.stack, cause: value.cause }
        : typeof (value as { toJSON?: unknown }).toJSON === 'function'
          ? (value as { toJSON: () => unknown }).toJSON()
          : value;
    if (source !== value && (typeof source !== 'object' || source === null)) return plain(source, ancestors);
    if (Array.isArray(source)) return source.map((item) => plain(item, ancestors));
    const out = bare();
    for (const [key, item] of Object.entries(source as object))
      out[maskSecrets(key)] = plain(item, ancestors);
    return out;
  } finally {
    ancestors.pop();
  }
}

/** Structured JSON logger; `createChild` adds keys to every line of the child. */
export class Logger {
  readonly #service: string;
  readonly #keys: LogAttributes;
  readonly #threshold: number;

  constructor(service: string, keys: LogAttributes = {}, threshold?: number) {
    const env = process.env;
    this.#service = service;
    this.#keys = keys;
    this.#threshold =
      threshold ??
      THRESHOLDS[
        (env.SHIPCAST_LOG_LEVEL || env.POWERTOOLS_LOG_LEVEL || env.AWS_LAMBDA_LOG_LEVEL || '')
          .trim()
          .toUpperCase()
      ] ??
      2;
  }

  /** A logger that adds `persistentKeys` (and this logger's own) to every line. */
  createChild(options: { persistentKeys?: LogAttributes } = {}): Logger {
    return new Logger(this.#service, { ...this.#keys, ...options.persistentKeys }, this.#threshold);
  }

  debug(message: string, attributes?: LogAttributes | Error): void {
    this.#write(1, message, attributes);
  }

  info(message: string, attributes?: LogAttributes | Error): void {
    this.#write(2, message, attributes);
  }

  warn(message: string, attributes?: LogAttributes | Error): void {
    this.#write(3, message, attributes);
  }

  error(message: string, attributes?: LogAttributes | Error): void {
    this.#write(4, message, attributes);
  }

  #write(level: number, message: string, attributes: unknown): void {
    if (level < this.#threshold) return;
    const base = {
      level: LEVELS[level],
      message,
      timestamp: new Date().toISOString(),
      service: this.#service,
      xray_trace_id: /Root=([^;]+)/.exec(process.env._X_AMZN_TRACE_ID ?? '')?.[1],
    };
    let line: string;
    try {
      // An Error passed alone is logged as `error`, any other non-object (e.g. an array) as `extra`.
      const extra =
        attributes instanceof Error
          ? { error: attributes }
          : attributes === undefined || attributes === null
            ? {}
            : typeof attributes !== 'object' || Array.isArray(attributes)
              ? { extra: attributes }
              : attributes;
      const record = Object.assign(bare(), base);
      for (const [key, value] of Object.entries({ ...this.#keys, ...extra })) {
        if (!Object.hasOwn(base, key)) record[key] = value;
      }
      line = JSON.stringify(plain(record, []));
    } catch {
      try {
        line = JSON.stringify({
          ...base,
          message: maskSecrets(String(message)),
          log_error: 'the attributes of this line could not be serialized',
        });
      } catch {
        line = `{"level":"${base.level}","message":"a log line could not be serialized"}`;
      }
    }
    try {
      (level > 2 ? process.stderr : process.stdout).write(`${line}\n`);
    } catch {
      // Nowhere left to report it.
    }
  }
}

/** CloudWatch Embedded Metric Format records, namespace `Shipcast`, with a `service` dimension. */
export class Metrics {
  readonly service: string;
  readonly enabled: boolean;

  constructor(service: string) {
    const env = process.env;
    const setting = env.SHIPCAST_METRICS?.trim().toLowerCase();
    this.service = service;
    this.enabled = setting
      ? !['off', 'false', '0', 'no'].includes(setting)
      : !/^\s*(1|true|yes|on)\s*$/i.test(env.POWERTOOLS_METRICS_DISABLED ?? '');
  }
}

/** The Shipcast logger: structured JSON, with registered secrets masked. */
export function createLogger(serviceName = 'shipcast'): Logger {
  return new Logger(serviceName);
}

/** The Shipcast metrics: CloudWatch Embedded Metric Format. */
export function createMetrics(serviceName = 'shipcast'): Metrics {
  return new Metrics(serviceName);
}

/**
 * Counts one occurrence of `name` with the given dimensions, in its own EMF record. Within EMF's limits or
 * not written: a name of 1–255 characters, at most 30 dimensions (`service` included; the rest are
 * dropped), dimension values non-blank strings (others dropped) cut to 1024 characters. Never throws.
 */
export function count(metrics: Metrics, name: string, dimensions: Record<string, string>, value = 1): void {
  if (!metrics.enabled || !name || name.length > 255 || !Number.isFinite(value)) return;
  try {
    const keys = ['service'];
    const record = Object.assign(bare(), {
      _aws: {
        Timestamp: Date.now(),
        CloudWatchMetrics: [
          { Namespace: 'Shipcast', Dimensions: [keys], Metrics: [{ Name: name, Unit: 'Count' }] },
        ],
      },
      service: metrics.service,
    });
    if (Object.hasOwn(record, name)) return;
    for (const [key, dimension] of Object.entries(dimensions)) {
      if (
        keys.length < 30 &&
        key &&
        key.length <= 255 &&
        key !== name &&
        !Object.hasOwn(record, key) &&
        typeof dimension === 'string' &&
        dimension.trim()
      ) {
        keys.push(key);
        record[key] = dimension.slice(0, 1024);
      }
    }
    record[name] = value;
    process.stdout.write(`${JSON.stringify(record)}\n`);
  } catch {
    // Metrics must not fail the work they count.
  }
}
