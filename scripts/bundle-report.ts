/**
 * `npx tsx scripts/bundle-report.ts [api|ingest|dispatch ...] [--top N] [--config file] [--chains]`: what each
 * Lambda bundle holds and why. Builds each handler with the construct's esbuild options (lib/shipcast.ts
 * `bundling`: minified ESM, createRequire banner, config baked in by `define`, the unused lazy libraries and
 * the config's unused optional modules external) and esbuild's metafile, then prints the bundle's size, its bytes by package, its
 * biggest inputs and (with --chains) the shortest import chain from the handler to each of them. Dev only.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type BuildOptions, build, type Metafile } from 'esbuild';
import { baselineEntry, sdkClientsInCode } from '../bench/cold-start.ts';
import { parseConfig } from '../functions/core/config.ts';
import { ENV } from '../functions/handlers/env.ts';
import { FUNCTION_BUNDLE_OPTIONS } from '../lib/rare-routes-bundle.ts';
import { unusedLazyModules, unusedOptionalModules } from '../lib/shipcast.ts';

type FunctionName = 'api' | 'ingest' | 'dispatch';
const NAMES: readonly FunctionName[] = ['api', 'ingest', 'dispatch'];
const ROOT = fileURLToPath(new URL('../', import.meta.url));

/** One input of a bundle: its path, its minified bytes in the output, and how the handler reaches it. */
export interface BundleInput {
  path: string;
  bytes: number;
  chain: string[];
}

/** What one function's bundle holds, next to a baseline bundle of the same AWS SDK clients (bench/cold-start.ts). */
export interface BundleReport {
  name: FunctionName;
  bytes: number;
  inputs: BundleInput[];
  baseline: { clients: string[]; bytes: number; inputs: Map<string, number> };
}

/** The construct's esbuild options (lib/shipcast.ts `bundling`), writing nothing, with a metafile. */
const OPTIONS: BuildOptions = {
  ...FUNCTION_BUNDLE_OPTIONS,
  mainFields: [...FUNCTION_BUNDLE_OPTIONS.mainFields],
  absWorkingDir: ROOT,
  write: false,
  outfile: 'index.mjs',
  metafile: true,
  logLevel: 'error',
};

/** Builds `name`'s handler as the construct bundles it (without the stop-deployments CodeDeploy client). */
export async function bundleReport(name: FunctionName, configFile: string): Promise<BundleReport> {
  const config = parseConfig(JSON.parse(readFileSync(configFile, 'utf8')), configFile);
  const entry = `functions/handlers/${name}.ts`;
  const result = await build({
    ...OPTIONS,
    entryPoints: [`${ROOT}${entry}`],
    define: { [`process.env.${ENV.configJson}`]: JSON.stringify(JSON.stringify(config)) },
    external: [
      ...unusedLazyModules(config, name),
      ...unusedOptionalModules(config, name),
      ...(name === 'api' ? ['@aws-sdk/client-codedeploy'] : []),
    ],
  });
  const output = Object.values(result.metafile!.outputs).find((o) => o.entryPoint)!;
  const clients = sdkClientsInCode(result.outputFiles![0]!.text);
  const baseline = await build({
    ...OPTIONS,
    stdin: { contents: baselineEntry(clients), resolveDir: ROOT, loader: 'js', sourcefile: 'baseline.mjs' },
  });
  const baselineOutput = Object.values(baseline.metafile!.outputs)[0]!;
  const chains = shortestChains(result.metafile!, entry);
  const inputs = Object.entries(output.inputs)
    .filter(([, input]) => input.bytesInOutput > 0)
    .map(([path, input]) => ({ path, bytes: input.bytesInOutput, chain: chains.get(path) ?? [] }))
    .sort((a, b) => b.bytes - a.bytes);
  return {
    name,
    bytes: output.bytes,
    inputs,
    baseline: {
      clients,
      bytes: baselineOutput.bytes,
      inputs: new Map(
        Object.entries(baselineOutput.inputs).map(([path, input]) => [path, input.bytesInOutput]),
      ),
    },
  };
}

/** For each input esbuild read, the shortest chain of static imports from the entry to it (BFS). */
function shortestChains(metafile: Metafile, entry: string): Map<string, string[]> {
  const chains = new Map<string, string[]>([[entry, [entry]]]);
  const queue = [entry];
  while (queue.length > 0) {
    const from = queue.shift()!;
    for (const imported of metafile.inputs[from]?.imports ?? []) {
      if (imported.external || chains.has(imported.path)) continue;
      chains.set(imported.path, [...chains.get(from)!, imported.path]);
      queue.push(imported.path);
    }
  }
  return chains;
}

/** `node_modules/@scope/name` or `node_modules/name` for a dependency's file, the folder for project code. */
function groupOf(path: string): string {
  const parts = path.split('/');
  const at = parts.lastIndexOf('node_modules');
  if (at >= 0) return parts.slice(at, at + (parts[at + 1]?.startsWith('@') ? 3 : 2)).join('/');
  return parts.slice(0, -1).join('/');
}

/** A dependency's path from its `node_modules/` on (node_modules may be a symlink out of the work tree). */
const shown = (path: string) =>
  path.includes('node_modules/') ? path.slice(path.lastIndexOf('node_modules/')) : path;

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;

function print(report: BundleReport, top: number, withChains: boolean): void {
  const { baseline } = report;
  console.log(
    `\n== ${report.name}: ${kb(report.bytes)}, baseline[${baseline.clients.join('+')}] ${kb(baseline.bytes)}, ` +
      `adds ${kb(report.bytes - baseline.bytes)} (${report.inputs.length} inputs)`,
  );
  // What the function adds: its bytes per package or folder, less the baseline's bytes of the same package.
  const groups = new Map<string, { bytes: number; baseline: number }>();
  const group = (path: string) => {
    const key = groupOf(path);
    if (!groups.has(key)) groups.set(key, { bytes: 0, baseline: 0 });
    return groups.get(key)!;
  };
  for (const input of report.inputs) group(input.path).bytes += input.bytes;
  for (const [path, bytes] of baseline.inputs) group(path).baseline += bytes;
  console.log('-- added over the baseline, by package / folder (bytes in this bundle, baseline)');
  const added = [...groups].map(([key, g]) => ({ key, ...g, added: g.bytes - g.baseline }));
  for (const g of added
    .sort((a, b) => b.added - a.added)
    .filter((g) => Math.abs(g.added) >= 100)
    .slice(0, top)) {
    console.log(`${kb(g.added).padStart(10)}  ${g.key}  (${kb(g.bytes)}, ${kb(g.baseline)})`);
  }
  console.log('-- biggest inputs the baseline does not have');
  for (const input of report.inputs.filter((i) => !baseline.inputs.has(i.path)).slice(0, top)) {
    console.log(`${kb(input.bytes).padStart(10)}  ${shown(input.path)}`);
    if (withChains) console.log(`            ← ${input.chain.slice(0, -1).reverse().map(shown).join(' ← ')}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('bundle-report.ts')) {
  const args = process.argv.slice(2);
  const option = (flag: string) => {
    const at = args.indexOf(flag);
    return at >= 0 ? args.splice(at, 2)[1] : undefined;
  };
  const top = Number(option('--top') ?? 25);
  const configFile = option('--config') ?? `${ROOT}shipcast.config.json`;
  const withChains = args.includes('--chains');
  const names = args.filter((a): a is FunctionName => (NAMES as readonly string[]).includes(a));
  for (const name of names.length > 0 ? names : NAMES)
    print(await bundleReport(name, configFile), top, withChains);
}
