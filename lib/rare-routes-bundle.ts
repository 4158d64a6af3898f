import { createRequire } from 'node:module';

/** The banner of Shipcast's Lambda bundles: a `require` for the CommonJS modules an ES module bundle holds. */
export const BUNDLE_BANNER =
  "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";

/**
 * esbuild's command-line arguments that build the API's rare routes (`entry`, `functions/core/api/rare-routes-app.ts`)
 * into `outfile`, next to the API bundle: the options the construct gives the function bundles (`bundling` in
 * shipcast.ts), and no config baked in (the routes get it from the API's context).
 */
export function rareRoutesEsbuildArgs(entry: string, outfile: string, target: string): string[] {
  return [
    entry,
    '--bundle',
    '--platform=node',
    '--format=esm',
    `--target=${target}`,
    '--minify',
    '--sourcemap',
    '--sources-content=false',
    '--main-fields=module,main',
    `--banner:js=${BUNDLE_BANNER}`,
    `--outfile=${outfile}`,
    '--log-level=warning',
  ];
}

/** The esbuild executable installed with this package (the one local bundling runs), else `esbuild` on the PATH. */
export function esbuildExecutable(): string {
  try {
    return createRequire(import.meta.url).resolve('esbuild/bin/esbuild');
  } catch {
    return 'esbuild';
  }
}

/** `words` as one POSIX shell command (each word single-quoted). */
export function shellCommand(words: readonly string[]): string {
  return words.map((word) => `'${word.replaceAll("'", "'\\''")}'`).join(' ');
}
