/**
 * Cold start of each Lambda: the bundle `cdk synth` produces (the construct's own esbuild options:
 * minified ESM for node22, AWS SDK bundled, config baked in), its size, and its module init time in a
 * fresh `node` (import until the module has evaluated; median of N), next to a baseline bundle that only
 * imports the same AWS SDK clients as that function (found in its bundle), built by esbuild with the same
 * options. The difference is Shipcast's. The API's rare routes file next to its bundle (`rare-routes.mjs`) is
 * timed as its first request loads it: imported in a fresh `node` right after the API bundle.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { App } from 'aws-cdk-lib';
import { build } from 'esbuild';
import { RARE_ROUTES_FILE_NAME } from '../functions/handlers/rare-routes-file.ts';
import { ShipcastStack } from '../lib/index.ts';
import { FUNCTION_BUNDLE_OPTIONS } from '../lib/rare-routes-bundle.ts';

export type FunctionName = 'api' | 'ingest' | 'dispatch';

export interface SynthesizedFunction {
  bundle: string;
  memoryMb: number;
  nodeOptions: string;
  /** The API's rare routes file next to its bundle (the API only). */
  rareRoutes?: string;
}

/** Synthesizes the stack from the repository's config; returns each function's bundle and memory. */
export function synthesize(outdir: string): Record<FunctionName, SynthesizedFunction> {
  const root = new URL('..', import.meta.url);
  const cdkJson = JSON.parse(readFileSync(new URL('cdk.json', root), 'utf8'));
  const config = JSON.parse(readFileSync(new URL('shipcast.config.json', root), 'utf8'));
  const app = new App({ context: cdkJson.context, outdir });
  new ShipcastStack(app, 'Shipcast', { config });
  const assembly = app.synth();
  // biome-ignore lint/suspicious/noExplicitAny: synthesized CloudFormation JSON
  const resources = assembly.getStackByName('Shipcast').template.Resources as Record<string, any>;
  const manifest = JSON.parse(readFileSync(join(assembly.directory, 'manifest.json'), 'utf8'));
  const assetFile = (
    Object.values(manifest.artifacts) as { type: string; properties: { file: string } }[]
  ).find((a) => a.type === 'cdk:asset-manifest')!.properties.file;
  const assets = Object.values(
    JSON.parse(readFileSync(join(assembly.directory, assetFile), 'utf8')).files as Record<
      string,
      { source: { path: string }; destinations: Record<string, { objectKey: string }> }
    >,
  );
  const out = {} as Record<FunctionName, SynthesizedFunction>;
  for (const name of ['api', 'ingest', 'dispatch'] as const) {
    const prefix = `Shipcast${name[0]!.toUpperCase()}${name.slice(1)}Function`;
    const [, fn] = Object.entries(resources).find(
      ([id, r]) => r.Type === 'AWS::Lambda::Function' && id.startsWith(prefix),
    )!;
    const asset = assets.find((a) =>
      Object.values(a.destinations).some((d) => d.objectKey === fn.Properties.Code.S3Key),
    )!;
    const rareRoutes = join(assembly.directory, asset.source.path, RARE_ROUTES_FILE_NAME);
    out[name] = {
      ...(existsSync(rareRoutes) ? { rareRoutes } : {}),
      bundle: join(assembly.directory, asset.source.path, 'index.mjs'),
      memoryMb: fn.Properties.MemorySize,
      nodeOptions: fn.Properties.Environment.Variables.NODE_OPTIONS ?? '',
    };
  }
  return out;
}

/**
 * The AWS SDK clients a function may import: how to spot each in a bundle (a protocol string only that client
 * carries) and the imports a baseline uses for it (the client plus the commands Shipcast sends with it).
 */
const SDK_CLIENTS = [
  {
    name: 'dynamodb',
    marker: 'DynamoDB_20120810',
    imports: [
      "import { DynamoDBClient, ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';",
      "import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';",
    ],
    uses: 'DynamoDBDocumentClient.from(new DynamoDBClient({})), GetCommand, PutCommand, QueryCommand, UpdateCommand, ConditionalCheckFailedException',
  },
  {
    name: 'sqs',
    marker: 'AmazonSQS',
    imports: [
      "import { SQSClient, SendMessageBatchCommand, SendMessageCommand, ChangeMessageVisibilityCommand } from '@aws-sdk/client-sqs';",
    ],
    uses: 'new SQSClient({}), SendMessageBatchCommand, SendMessageCommand, ChangeMessageVisibilityCommand',
  },
  {
    name: 'secretsmanager',
    marker: 'secretsmanager',
    imports: ["import { SecretsManagerClient, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';"],
    uses: 'new SecretsManagerClient({}), GetSecretValueCommand',
  },
  {
    name: 'codedeploy',
    marker: 'CodeDeploy_',
    imports: ["import { CodeDeployClient, BatchGetDeploymentsCommand } from '@aws-sdk/client-codedeploy';"],
    uses: 'new CodeDeployClient({}), BatchGetDeploymentsCommand',
  },
] as const;

export type SdkClientName = (typeof SDK_CLIENTS)[number]['name'];

/** The AWS SDK clients in a bundle: its baseline imports exactly these (the API has no CodeDeploy client). */
export function sdkClientsIn(bundle: string): SdkClientName[] {
  return sdkClientsInCode(readFileSync(bundle, 'utf8'));
}

/** The AWS SDK clients in a bundle's code. */
export function sdkClientsInCode(code: string): SdkClientName[] {
  return SDK_CLIENTS.filter((client) => code.includes(client.marker)).map((client) => client.name);
}

/** A handler that only creates the given clients (on first call, as Shipcast does) and references their commands. */
export function baselineEntry(clients: readonly SdkClientName[]): string {
  const chosen = SDK_CLIENTS.filter((client) => clients.includes(client.name));
  return [
    ...chosen.flatMap((client) => client.imports),
    'let used;',
    `export const handler = async () => { used ??= [${chosen.map((client) => client.uses).join(', ')}]; return used.length; };`,
  ].join('\n');
}

/** Builds a baseline of `clients` with the construct's bundling options (lib/shipcast.ts `bundling`). */
export async function buildBaseline(dir: string, clients: readonly SdkClientName[]): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const entry = join(dir, 'baseline.mjs');
  writeFileSync(entry, baselineEntry(clients));
  const outfile = join(dir, 'out', 'index.mjs');
  await build({
    entryPoints: [entry],
    absWorkingDir: new URL('..', import.meta.url).pathname,
    nodePaths: [new URL('../node_modules', import.meta.url).pathname],
    ...FUNCTION_BUNDLE_OPTIONS,
    mainFields: [...FUNCTION_BUNDLE_OPTIONS.mainFields],
    sourcemap: true,
    sourcesContent: false,
    outfile,
    logLevel: 'error',
  });
  return outfile;
}

const IMPORT_TIMER = `
const [url, before] = process.argv.slice(2);
if (before) await import(before);
const started = performance.now();
await import(url);
process.stdout.write(JSON.stringify({ ms: performance.now() - started }));
`;

/**
 * Import time of a bundle in a fresh node (ms), with the function's NODE_OPTIONS and a Lambda-like env; after an
 * untimed import of `importedFirst`, if given.
 */
async function importOnce(
  timer: string,
  bundle: string,
  nodeOptions: string,
  importedFirst?: string,
): Promise<number> {
  const urls = [bundle, ...(importedFirst ? [importedFirst] : [])].map((file) => pathToFileURL(file).href);
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, [timer, ...urls], {
      env: {
        PATH: process.env.PATH,
        NODE_OPTIONS: nodeOptions,
        AWS_REGION: 'us-east-1',
        AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
        TZ: ':UTC',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(text) : reject(new Error(`import of ${bundle} exited ${code}`)),
    );
  });
  return (JSON.parse(output) as { ms: number }).ms;
}

export interface ColdStart {
  name: string;
  bytes: number;
  initMs: number;
  runs: number[];
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/**
 * Measures every bundle N times, interleaved so that machine noise hits them alike; a bundle with `importedFirst`
 * is timed after an untimed import of that one in the same process (a file a bundle imports later).
 */
export async function measureColdStarts(
  workDir: string,
  bundles: { name: string; bundle: string; nodeOptions: string; importedFirst?: string }[],
  repeats: number,
): Promise<ColdStart[]> {
  const timer = join(workDir, 'import-timer.mjs');
  writeFileSync(timer, IMPORT_TIMER);
  const runs = new Map<string, number[]>(bundles.map((b) => [b.name, []]));
  const once = (b: (typeof bundles)[number]) => importOnce(timer, b.bundle, b.nodeOptions, b.importedFirst);
  for (const b of bundles) await once(b); // warm the file cache
  for (let i = 0; i < repeats; i++) {
    for (const b of bundles) runs.get(b.name)!.push(await once(b));
  }
  return bundles.map((b) => ({
    name: b.name,
    bytes: statSync(b.bundle).size,
    initMs: median(runs.get(b.name)!),
    runs: runs.get(b.name)!,
  }));
}
