import { createRequire } from 'node:module';

/** The banner of Shipcast's Lambda bundles: a `require` for the CommonJS modules an ES module bundle holds. */
export const BUNDLE_BANNER =
  "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";

/**
 * The construct's esbuild options for a function bundle (`bundling` in shipcast.ts) as esbuild's API takes
 * them, for the tools that build one as it does (the benchmark's baselines, `scripts/bundle-report.ts`, the
 * bundle tests); Node 22, the default runtime.
 */
export const FUNCTION_BUNDLE_OPTIONS = {
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'esm',
  minify: true,
  mainFields: ['module', 'main'],
  banner: { js: BUNDLE_BANNER },
} as const;

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
