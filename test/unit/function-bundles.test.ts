import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Metafile } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { parseConfig, type ShipcastConfig } from '../../functions/core/config.ts';
import { TARGETS } from '../../functions/core/targets/index.ts';
import { TARGET_LOADERS, targetModuleSpecifier } from '../../functions/core/targets/loaders.ts';
import { RARE_ROUTES_ENTRY, RARE_ROUTES_FILE_NAME } from '../../functions/handlers/rare-routes-file.ts';
import {
  esbuildExecutable,
  FUNCTION_BUNDLE_OPTIONS,
  rareRoutesEsbuildArgs,
} from '../../lib/rare-routes-bundle.ts';
import { unusedLazyModules, unusedOptionalModules } from '../../lib/shipcast.ts';

/**
 * Each Lambda function's bundle holds its own import graph only (README, "Performance"): the config is
 * validated at synth and trusted at runtime, so no bundle carries the config or target schemas; the
 * dispatcher has no zod and no source; ingest has no target; what validates requests uses zod/mini.
 * Bundled here with the construct's esbuild options (lib/shipcast.ts); what each output holds is read
 * from esbuild's metafile.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const built = new Map<string, Promise<string[]>>();
const inputsOf = (name: 'api' | 'ingest' | 'dispatch') => {
  if (!built.has(name)) built.set(name, bundleInputs(name));
  return built.get(name)!;
};

const defaultConfig = () =>
  parseConfig(JSON.parse(readFileSync(`${ROOT}shipcast.config.json`, 'utf8')), 'test');

/** What the function's bundle holds; with `external`, the lazily loaded libraries the construct leaves out. */
async function bundleInputs(
  name: 'api' | 'ingest' | 'dispatch',
  config: ShipcastConfig = defaultConfig(),
  external: string[] = [],
): Promise<string[]> {
  const result = await build({
    entryPoints: [`${ROOT}functions/handlers/${name}.ts`],
    ...FUNCTION_BUNDLE_OPTIONS,
    mainFields: [...FUNCTION_BUNDLE_OPTIONS.mainFields],
    absWorkingDir: ROOT,
    define: { 'process.env.SHIPCAST_CONFIG_JSON': JSON.stringify(JSON.stringify(config)) },
    write: false,
    outfile: 'index.mjs',
    metafile: true,
    external,
    logLevel: 'silent',
  });
  // What is in the output (a module esbuild read but tree-shook away entirely counts as absent).
  const output = Object.values(result.metafile.outputs).find((o) => o.entryPoint)!;
  return Object.entries(output.inputs)
    .filter(([, input]) => input.bytesInOutput > 0)
    .map(([path]) => path);
}

/** The modules of the API's rare routes (api/rare-routes.ts): in their own file, not in the API bundle. */
const RARE_ROUTE_MODULES = [
  'functions/core/api/insights.ts',
  'functions/core/dora.ts',
  'functions/core/dora-query.ts',
  'functions/core/incidents.ts',
  'functions/core/sources/bigpanda.ts',
  'functions/core/sources/cdevents.ts',
  'functions/core/sources/cloudevents-http.ts',
  'functions/core/sources/pipelines.ts',
];

/** What `rare-routes.mjs` holds, built by the construct's esbuild command (lib/rare-routes-bundle.ts). */
async function rareRoutesInputs(): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'shipcast-rare-routes-'));
  try {
    const metafile = join(dir, 'meta.json');
    const args = rareRoutesEsbuildArgs(
      `${ROOT}${RARE_ROUTES_ENTRY}`,
      join(dir, RARE_ROUTES_FILE_NAME),
      'node22',
    );
    execFileSync(esbuildExecutable(), [...args, `--metafile=${metafile}`], { cwd: ROOT });
    const meta = JSON.parse(readFileSync(metafile, 'utf8')) as Metafile;
    const output = Object.values(meta.outputs).find((o) => o.entryPoint)!;
    return Object.entries(output.inputs)
      .filter(([, input]) => input.bytesInOutput > 0)
      .map(([path]) => path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What the function's bundle holds with the externals the construct gives it for `config`. */
const builtByConstruct = (name: 'api' | 'ingest' | 'dispatch', config: ShipcastConfig) =>
  bundleInputs(name, config, [...unusedLazyModules(config, name), ...unusedOptionalModules(config, name)]);

const NOWHERE = [
  'functions/core/config.ts',
  'functions/core/targets/schemas.ts',
  'node_modules/zod/v4/classic/',
  'node_modules/zod/v4/locales/ar.js',
  'node_modules/cloudevents/',
];

describe('function bundles', () => {
  it.each(['api', 'ingest', 'dispatch'] as const)('%s carries no schema it does not use', async (name) => {
    const inputs = await inputsOf(name);
    for (const path of NOWHERE) expect(inputs.filter((i) => i.startsWith(path))).toEqual([]);
    expect(inputs.filter((i) => i.endsWith('.schema.ts'))).toEqual([]);
  });

  it('dispatch has the targets and no zod, no source', async () => {
    const inputs = await inputsOf('dispatch');
    expect(inputs).toContain('functions/core/targets/slack.ts');
    expect(
      inputs.filter((i) => i.startsWith('node_modules/zod/') || i.startsWith('functions/core/sources/')),
    ).toEqual([]);
  });

  it('ingest has the CodeDeploy parser and no target, no HTTP source', async () => {
    const inputs = await inputsOf('ingest');
    expect(inputs).toContain('functions/core/sources/codedeploy.ts');
    expect(
      inputs.filter(
        (i) =>
          i.startsWith('functions/core/targets/') ||
          i.startsWith('node_modules/hono/') ||
          i === 'functions/core/sources/pipelines.ts',
      ),
    ).toEqual([]);
  });

  it('api has the native source and no target, and none of the rare routes', async () => {
    // As the construct bundles it: a route the config turns off (PagerDuty's hook imports incidents.ts) is left out.
    const inputs = await builtByConstruct('api', defaultConfig());
    expect(inputs).toContain('functions/core/sources/native.ts');
    expect(inputs.filter((i) => i.startsWith('functions/core/targets/'))).toEqual([]);
    expect(inputs.filter((i) => RARE_ROUTE_MODULES.includes(i))).toEqual([]);
  });

  it('the rare routes file has their modules, and no AWS SDK, no target', async () => {
    const inputs = await rareRoutesInputs();
    expect(RARE_ROUTE_MODULES.filter((i) => !inputs.includes(i))).toEqual([]);
    expect(
      inputs.filter((i) => i.includes('node_modules/@aws-sdk/') || i.startsWith('functions/core/targets/')),
    ).toEqual([]);
  });

  it('api carries the reader of the dashboard files, not the files', async () => {
    const inputs = await inputsOf('api');
    expect(inputs).toContain('functions/dashboard/files.ts');
    expect(inputs.filter((i) => i.startsWith('functions/dashboard/') && !i.endsWith('.ts'))).toEqual([]);
  });

  it('dispatch carries the EventBridge client only when an eventbridge target is configured', async () => {
    const withBus = parseConfig(
      {
        ...JSON.parse(readFileSync(`${ROOT}shipcast.config.json`, 'utf8')),
        targets: { console: { type: 'log' }, bus: { type: 'eventbridge', bus: 'default' } },
      },
      'test',
    );
    const eventBridgeClient = (inputs: string[]) =>
      inputs.filter((i) => i.includes('node_modules/@aws-sdk/client-eventbridge/'));
    const dispatchOf = (config: ShipcastConfig) =>
      bundleInputs('dispatch', config, unusedLazyModules(config, 'dispatch'));
    const [plain, bus] = await Promise.all([dispatchOf(defaultConfig()), dispatchOf(withBus)]);

    expect(eventBridgeClient(plain)).toEqual([]);
    expect(eventBridgeClient(bus)).not.toEqual([]);
  });

  it('has a loader for every target type, importing its module with the specifier the construct leaves out', async () => {
    const source = readFileSync(`${ROOT}functions/core/targets/loaders.ts`, 'utf8');
    expect(
      Object.keys(TARGET_LOADERS).sort(),
      'every type in TARGETS (targets/index.ts) needs its line in TARGET_LOADERS (targets/loaders.ts)',
    ).toEqual(TARGETS.map((target) => target.type).sort());
    for (const target of TARGETS) {
      expect(source).toContain(`import('${targetModuleSpecifier(target.type)}')`);
      expect(await TARGET_LOADERS[target.type]!()).toBe(target);
    }
  });

  it('dispatch carries the modules of the configured target types only, and what they import', async () => {
    const dispatchOf = (config: ShipcastConfig) => builtByConstruct('dispatch', config);
    const chat = parseConfig(
      {
        ...JSON.parse(readFileSync(`${ROOT}shipcast.config.json`, 'utf8')),
        targets: { console: { type: 'log' }, chat: { type: 'mattermost', webhookUrl: 'mattermost-url' } },
      },
      'test',
    );
    const typeModules = TARGETS.map((target) => `functions/core/targets/${target.type}.ts`);
    const targetsIn = async (config: ShipcastConfig) =>
      (await dispatchOf(config)).filter((i) => typeModules.includes(i)).sort();

    expect(await targetsIn(defaultConfig())).toEqual(['functions/core/targets/log.ts']);
    // Mattermost imports a helper of slack.ts: that module stays, though no slack target is configured.
    expect(await targetsIn(chat)).toEqual([
      'functions/core/targets/log.ts',
      'functions/core/targets/mattermost.ts',
      'functions/core/targets/slack.ts',
    ]);
  });

  it('api carries the modules of the optional routes the config turns on, and no other', async () => {
    const apiOf = (config: ShipcastConfig) => builtByConstruct('api', config);
    const optional = [
      'functions/core/api/slack-interactions.ts',
      'functions/core/sources/github.ts',
      'functions/core/sources/gitlab.ts',
      'functions/core/sources/pagerduty.ts',
      'functions/core/sources/sns-http.ts',
    ];
    const hooks = parseConfig(
      {
        ...JSON.parse(readFileSync(`${ROOT}shipcast.config.json`, 'utf8')),
        sources: { github: { secret: 'github-secret' }, gitlab: { token: 'gitlab-token' } },
        targets: {
          chat: {
            type: 'slack',
            token: 'slack-token',
            channel: 'C0123456789',
            actions: { signingSecret: 'slack-signing', stop: { allowedUsers: ['U0123456789'] } },
          },
        },
        routes: [{ targets: ['chat'] }],
      },
      'test',
    );
    const optionalIn = async (config: ShipcastConfig) =>
      (await apiOf(config)).filter((i) => optional.includes(i)).sort();

    expect(await optionalIn(defaultConfig())).toEqual([]);
    expect(await optionalIn(hooks)).toEqual([
      'functions/core/api/slack-interactions.ts',
      'functions/core/sources/github.ts',
      'functions/core/sources/gitlab.ts',
    ]);
  });

  it('only the dispatcher carries the HTTP client (the API makes one for Slack buttons, when configured)', async () => {
    const [api, ingest, dispatch] = await Promise.all(
      (['api', 'ingest', 'dispatch'] as const).map((name) => builtByConstruct(name, defaultConfig())),
    );
    expect(api).not.toContain('functions/core/http-client.ts');
    expect(ingest).not.toContain('functions/core/http-client.ts');
    expect(dispatch).toContain('functions/core/http-client.ts');
  });
});
