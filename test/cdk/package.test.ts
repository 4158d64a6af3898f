/**
 * Shipcast as a package in someone else's CDK app: `npm pack` (its `prepack` builds dist/ with tsc), the
 * tarball unpacked into a throwaway app laid out like `cdk init app --language typescript`, the app
 * type-checked against the shipped declarations and compiled by tsc, then synthesized by plain `node`
 * (no tsx): the construct loads from compiled JavaScript and NodejsFunction bundles the shipped handler
 * sources with esbuild.
 *
 * Offline and deterministic: instead of `npm install` (which would fetch every dependency's metadata from
 * the registry), the tarball is unpacked where npm would put it, node_modules/shipcast, and the app's other
 * node_modules entries are links to this project's node_modules (same versions as the tarball's
 * dependencies, one copy of aws-cdk-lib and constructs).
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NPM_TIMEOUT = 280_000;
const workDir = mkdtempSync(join(tmpdir(), 'shipcast-package-test-'));
const appDir = join(workDir, 'app');
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

type PackResult = { filename: string; files: { path: string }[] };
let packed: PackResult;
let manifest: {
  main: string;
  types: string;
  exports: Record<string, string | Record<string, string>>;
  files: string[];
  dependencies: Record<string, string>;
};

/** Runs a command, failing with its output when it exits non-zero. */
function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env) {
  const result = spawnSync(command, args, { cwd, env, encoding: 'utf8', timeout: NPM_TIMEOUT });
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} exited ${result.status ?? result.signal}:\n${result.stdout}\n${result.stderr}`,
    );
  }
  return result;
}

/** The files of the consumer app, as `cdk init app --language typescript` lays them out (CommonJS, NodeNext). */
const APP_FILES: Record<string, string> = {
  'package.json': JSON.stringify({
    name: 'consumer',
    version: '0.1.0',
    scripts: { build: 'tsc' },
    dependencies: { 'aws-cdk-lib': '*', constructs: '*', shipcast: 'file:../shipcast.tgz' },
  }),
  // NodejsFunction finds the app's lock file as `cdk init` + `npm install` would have written it.
  'package-lock.json': JSON.stringify({ name: 'consumer', lockfileVersion: 3, requires: true, packages: {} }),
  'tsconfig.json': JSON.stringify({
    compilerOptions: {
      target: 'ES2022',
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      lib: ['es2022'],
      declaration: true,
      strict: true,
      noImplicitReturns: true,
      experimentalDecorators: true,
      strictPropertyInitialization: false,
      skipLibCheck: true,
      typeRoots: ['./node_modules/@types'],
      isolatedModules: true,
      types: ['node'],
      outDir: 'build',
    },
    exclude: ['node_modules', 'cdk.out', 'build'],
  }),
  'bin/consumer.ts': `#!/usr/bin/env node
import * as cdk from 'aws-cdk-lib/core';
import { ConsumerStack } from '../lib/consumer-stack';

const app = new cdk.App();
new ConsumerStack(app, 'ConsumerStack');
`,
  'lib/consumer-stack.ts': `import * as cdk from 'aws-cdk-lib/core';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { Shipcast, type ShipcastProps } from 'shipcast';

export class ConsumerStack extends cdk.Stack {
  constructor(scope: Construct, id: string, props?: cdk.StackProps) {
    super(scope, id, props);
    const shipcastProps: ShipcastProps = {
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: { console: { type: 'log' }, audit: { type: 'webhook', url: 'https://hooks.example.com/consumer' } },
        routes: [{ targets: ['console', 'audit'] }],
      },
      alarmTopic: new sns.Topic(this, 'Alarms'),
      apiReservedConcurrency: 10,
    };
    const shipcast = new Shipcast(this, 'Shipcast', shipcastProps);
    new cdk.CfnOutput(this, 'ApiUrl', { value: shipcast.apiUrl.url });
  }
}
`,
  // Proves the declarations are real types, not \`any\`: tsc fails if this line is not an error.
  'lib/typed.ts': `import type { ShipcastProps } from 'shipcast';
// @ts-expect-error apiReservedConcurrency is a number or false
export const wrong: Partial<ShipcastProps> = { apiReservedConcurrency: 'twenty' };
`,
};

beforeAll(() => {
  // Prepare: pack (prepack builds dist/), then lay out the consumer app around the unpacked tarball.
  const pack = run('npm', ['pack', '--json', '--pack-destination', workDir], ROOT);
  packed = (JSON.parse(pack.stdout) as PackResult[])[0]!;
  manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  for (const [path, text] of Object.entries(APP_FILES)) {
    mkdirSync(join(appDir, path, '..'), { recursive: true });
    writeFileSync(join(appDir, path), text);
  }
  const modules = join(appDir, 'node_modules');
  mkdirSync(join(workDir, 'unpacked'));
  run('tar', ['-xzf', join(workDir, packed.filename), '-C', join(workDir, 'unpacked')], workDir);
  mkdirSync(modules);
  run('mv', [join(workDir, 'unpacked', 'package'), join(modules, 'shipcast')], workDir);
  for (const entry of readdirSync(join(ROOT, 'node_modules'))) {
    if (entry === 'shipcast' || entry === '.package-lock.json') continue;
    symlinkSync(join(ROOT, 'node_modules', entry), join(modules, entry));
  }
}, NPM_TIMEOUT);

describe('the packed package', () => {
  it('ships compiled JavaScript with declarations, and the handler sources NodejsFunction bundles', () => {
    const paths = new Set(packed.files.map((f) => f.path));
    const entry = manifest.exports['.'] as Record<string, string>;
    for (const file of [manifest.main, manifest.types, entry.types!, entry.default!]) {
      expect(paths.has(file.replace(/^\.\//, '')), file).toBe(true);
    }
    for (const name of ['api', 'ingest', 'dispatch']) {
      expect(paths.has(`functions/handlers/${name}.ts`), name).toBe(true);
    }
    expect([...paths].filter((p) => /^(test|bench|scripts|lib|cdk\.out|\.shipcast)\//.test(p))).toEqual([]);
  });

  it('loads without tsx: no compiled module imports a .ts file', () => {
    const dist = join(appDir, 'node_modules', 'shipcast', 'dist');
    const compiled = readdirSync(dist, { recursive: true, encoding: 'utf8' }).filter((f) =>
      f.endsWith('.js'),
    );
    expect(compiled.length).toBeGreaterThan(10);
    const tsImports = compiled.filter((file) =>
      /\bfrom\s*["'][^"']+\.ts["']|import\(\s*["'][^"']+\.ts["']/.test(
        readFileSync(join(dist, file), 'utf8'),
      ),
    );
    expect(tsImports).toEqual([]);
  });
});

describe('the shipcast command of the packed package', () => {
  it('runs its compiled JavaScript with plain node', () => {
    const installed = join(appDir, 'node_modules', 'shipcast');
    expect(existsSync(join(installed, 'dist', 'functions', 'cli', 'entry.js'))).toBe(true);
    const help = run(process.execPath, [join(installed, 'bin', 'shipcast.mjs'), '--help'], appDir, {
      ...process.env,
      NODE_OPTIONS: '',
    });
    expect(help.stdout).toMatch(/Commands:[\s\S]*notify[\s\S]*codedeploy/);
    const usage = spawnSync(
      process.execPath,
      [join(installed, 'bin', 'shipcast.mjs'), 'notify', '--status', 'succeeded'],
      {
        cwd: appDir,
        env: { PATH: process.env.PATH },
        encoding: 'utf8',
      },
    );
    expect(usage.status).toBe(64);
    expect(usage.stderr).toMatch(/--service is required/);
  });
});

describe('a cdk init TypeScript app that installs the package', () => {
  it(
    'type-checks against the shipped declarations and synthesizes with plain node',
    () => {
      // Act: the app's `npm run build` (tsc), then what `cdk synth` runs, with node alone.
      run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], appDir);
      const outdir = join(appDir, 'cdk.out');
      const env = { ...process.env, CDK_OUTDIR: outdir, NODE_OPTIONS: '' };
      run(process.execPath, [join(appDir, 'build', 'bin', 'consumer.js')], appDir, env);

      // Assess: the template and the three bundles, with the app's config baked in.
      const template = JSON.parse(readFileSync(join(outdir, 'ConsumerStack.template.json'), 'utf8'));
      const functions = Object.values(
        template.Resources as Record<string, { Type: string; Properties: Record<string, unknown> }>,
      ).filter((r) => r.Type === 'AWS::Lambda::Function');
      expect(functions).toHaveLength(3);
      expect(functions.map((f) => f.Properties.ReservedConcurrentExecutions).filter(Boolean)).toEqual([10]);
      const rareRoutes: string[] = [];
      for (const fn of functions) {
        const key = (fn.Properties.Code as { S3Key: string }).S3Key.replace(/\.zip$/, '');
        const bundle = join(outdir, `asset.${key}`, 'index.mjs');
        // The API's rare routes, built from the installed package's sources next to its bundle.
        if (existsSync(join(outdir, `asset.${key}`, 'rare-routes.mjs'))) rareRoutes.push(key);
        expect(existsSync(bundle), bundle).toBe(true);
        expect(readFileSync(bundle, 'utf8').includes('"url":"https://hooks.example.com/consumer"')).toBe(
          true,
        );
      }
      expect(rareRoutes).toHaveLength(1);
    },
    NPM_TIMEOUT,
  );
});
