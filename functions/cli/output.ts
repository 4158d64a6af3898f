/** How the CLI prints: aligned tables for people, JSON for machines, progress on stderr. */

/** Where a command writes; injected so tests can read it. */
export interface Output {
  stdout(text: string): void;
  stderr(text: string): void;
}

/** The process's own stdout and stderr. */
export const processOutput: Output = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

/** An aligned, plain-text table (no colours, so it reads the same in CI logs). */
export function table(headers: string[], rows: (string | undefined)[][]): string {
  const cells = [headers, ...rows.map((row) => row.map((cell) => oneLine(cell ?? '-')))];
  const widths = headers.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  return `${cells
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}

/** A value shown on one line: control characters of event text cannot move the terminal's cursor. */
export function oneLine(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
  return text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ');
}

/** Seconds as `1h02m`, `3m05s` or `42s`. */
export function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}
