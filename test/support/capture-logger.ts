import { createLogger, type Logger } from '../../functions/core/telemetry.ts';

/** A captured log line, parsed. */
export type LogEntry = Record<string, unknown> & { level?: string; message?: string };

/**
 * A real Powertools logger plus the JSON lines it (and its child loggers) write. Powertools writes to
 * process.stdout through its own Console, so the capture taps process.stdout.write; `restore()` undoes it.
 */
export function captureLogs(): {
  logger: Logger;
  lines: string[];
  entries: () => LogEntry[];
  restore: () => void;
} {
  const lines: string[] = [];
  const original = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    for (const line of text.split('\n')) if (line.startsWith('{')) lines.push(line);
    return text.startsWith('{') ? true : original(chunk, ...(rest as []));
  }) as typeof process.stdout.write;
  return {
    logger: createLogger('shipcast-test'),
    lines,
    entries: () => lines.map((line) => JSON.parse(line) as LogEntry),
    restore: () => {
      process.stdout.write = original;
    },
  };
}
