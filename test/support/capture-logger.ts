import { createLogger, type Logger } from '../../functions/core/telemetry.ts';

/** A captured log line, parsed. */
export type LogEntry = Record<string, unknown> & { level?: string; message?: string };

/**
 * A real Shipcast logger (functions/core/telemetry.ts) plus the JSON lines it (and its child loggers, and
 * EMF metrics) write. Telemetry calls `process.stdout.write` (DEBUG, INFO and metrics) and
 * `process.stderr.write` (WARN, ERROR) when it writes, so the capture taps both streams' `write`;
 * `restore()` undoes it. Non-JSON output passes through.
 */
export function captureLogs(): {
  logger: Logger;
  lines: string[];
  entries: () => LogEntry[];
  restore: () => void;
} {
  const lines: string[] = [];
  const streams = [process.stdout, process.stderr];
  const originals = streams.map((stream) => stream.write.bind(stream));
  streams.forEach((stream, i) => {
    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      if (!text.startsWith('{')) return (originals[i] as typeof stream.write)(chunk, ...(rest as []));
      for (const line of text.split('\n')) if (line.startsWith('{')) lines.push(line);
      return true;
    }) as typeof stream.write;
  });
  return {
    logger: createLogger('shipcast-test'),
    lines,
    entries: () => lines.map((line) => JSON.parse(line) as LogEntry),
    restore: () => {
      streams.forEach((stream, i) => {
        stream.write = originals[i] as typeof stream.write;
      });
    },
  };
}
