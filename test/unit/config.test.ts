import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configJsonSchema, configPath, loadConfigFile, parseConfig } from '../../functions/core/config.ts';
import { circuitSettings } from '../../functions/core/config-reader.ts';
import { referencedSecrets } from '../../functions/core/config-secrets.ts';
import { ConfigError } from '../../functions/core/errors.ts';
import { renderTemplate } from '../../functions/core/template.ts';

const valid = () => ({
  api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
  targets: { console: { type: 'log' }, hook: { type: 'webhook', url: 'https://example.com/hook' } },
  routes: [{ targets: ['console', 'hook'] }],
});

/** The ConfigError `fn` throws (fails the test when it throws nothing or something else). */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

const pathsOf = (error: ConfigError) => error.issues.map((i) => i.path).sort();

describe('config', () => {
  it("accepts the repository's own shipcast.config.json", () => {
    const config = loadConfigFile('shipcast.config.json');
    expect(Object.keys(config.targets).length).toBeGreaterThan(0);
    expect(config.routes.length).toBeGreaterThan(0);
  });

  it('fills in the defaults', () => {
    const config = parseConfig(valid());
    expect(config.api.idempotencyHours).toBe(24);
    expect(config.sources.codedeploy.enrich).toBe(true);
    expect(config.dispatch.maxReceives).toBe(10);
    expect(config.routes[0]).toMatchObject({ match: {}, on: ['all'] });
    expect(config.dispatch.circuit).toEqual({ enabled: true, failures: 5, coolDownSeconds: 60 });
  });

  it("takes a target's own circuit settings over dispatch.circuit, field by field, and names a bad one's path", () => {
    const input = {
      ...valid(),
      targets: {
        console: { type: 'log', circuit: { enabled: false } },
        hook: { type: 'webhook', url: 'https://example.com/hook', circuit: { coolDownSeconds: 300 } },
      },
      dispatch: { circuit: { failures: 3 } },
    };
    const config = parseConfig(input);
    expect(circuitSettings(config, 'hook')).toEqual({ enabled: true, failures: 3, coolDownSeconds: 300 });
    expect(circuitSettings(config, 'console')).toEqual({ enabled: false, failures: 3, coolDownSeconds: 60 });

    const bad = {
      ...input,
      targets: { ...input.targets, hook: { ...input.targets.hook, circuit: { failures: 0 } } },
    };
    expect(pathsOf(configError(() => parseConfig(bad)))).toEqual(['targets.hook.circuit.failures']);
  });

  it('names the path of a target with a non-http url', () => {
    const input = valid();
    input.targets.hook.url = 'ftp://example.com/hook';
    const error = configError(() => parseConfig(input));
    expect(error.issues).toEqual([{ path: 'targets.hook.url', message: 'must be an http(s) URL' }]);
    expect(error.message).toContain('targets.hook.url: must be an http(s) URL');
  });

  it('names the route target that refers to no configured target', () => {
    const input = valid();
    input.routes = [{ targets: ['console', 'missing'] }];
    const error = configError(() => parseConfig(input));
    expect(error.issues).toEqual([
      { path: 'routes[0].targets[1]', message: expect.stringContaining('no target named "missing"') },
    ]);
    expect(error.issues[0]?.message).toContain('console, hook');
  });

  it('names an unknown target type and lists the known ones', () => {
    const input = { ...valid(), targets: { pager: { type: 'carrier-pigeon' } }, routes: [] };
    const error = configError(() => parseConfig(input));
    expect(error.issues).toEqual([
      { path: 'targets.pager.type', message: expect.stringContaining('webhook') },
    ]);
    expect(error.issues[0]?.message).toContain('unknown target type');
    expect(error.issues[0]?.message).toContain('log');
  });

  it('names the path of each unknown key', () => {
    const input = {
      ...valid(),
      extra: true,
      targets: { hook: { type: 'webhook', url: 'https://example.com', secrt: 'x' } },
      routes: [{ targets: ['hook'], match: { services: 'checkout' } }],
    };
    const error = configError(() => parseConfig(input));
    expect(pathsOf(error)).toEqual(['extra', 'routes[0].match.services', 'targets.hook.secrt']);
    for (const issue of error.issues) expect(issue.message).toContain('unknown field');
  });

  it('reports every bad field at once, each with its own path', () => {
    const input = {
      api: { tokens: [], idempotencyHours: 0 },
      targets: {
        hook: { type: 'webhook', url: 'not a url', timeoutMs: 5 },
        'bad name!': { type: 'log' },
      },
      routes: [{ on: ['sometimes'], targets: ['hook', 'ghost'] }],
    };
    const error = configError(() => parseConfig(input));
    expect(pathsOf(error)).toEqual(
      expect.arrayContaining([
        'api.tokens',
        'api.idempotencyHours',
        'targets.hook.url',
        'targets.hook.timeoutMs',
        'routes[0].on[0]',
      ]),
    );
    expect(error.issues).toContainEqual({
      path: 'targets.bad name!',
      message: expect.stringContaining('letters, digits'),
    });
    for (const issue of error.issues) expect(error.message).toContain(issue.message);
  });

  describe('one template engine for every templated field', () => {
    /** A config with `template` in each templated field of the config: chat, Zulip, GitHub, BigPanda. */
    const everywhere = (template: string) => ({
      ...valid(),
      targets: {
        console: { type: 'log' },
        zulip: {
          type: 'zulip',
          site: 'https://z.example.com',
          email: 'bot@z.example.com',
          apiKey: 'k',
          stream: 's',
          topic: template,
        },
        gh: { type: 'github-deployment', token: 't', environmentUrl: `https://${template}.example.com` },
        status: { type: 'github-status', token: 't', context: `ci/${template}` },
        bp: { type: 'bigpanda', token: 't', component: template },
      },
      routes: [{ targets: ['console'], message: { title: template, text: template } }],
    });
    const FIELDS = [
      'routes[0].message.text',
      'routes[0].message.title',
      'targets.bp.component',
      'targets.gh.environmentUrl',
      'targets.status.context',
      'targets.zulip.topic',
    ];

    it.each(['{{constructor}}', '{{valueOf}}', '{{toString}}', '{{__proto__}}', '{{hasOwnProperty}}'])(
      'refuses %s (a name every object inherits) in every templated field',
      (template) => {
        const error = configError(() => parseConfig(everywhere(template)));

        expect(pathsOf(error)).toEqual(FIELDS);
        for (const issue of error.issues) expect(issue.message).toContain(`unknown placeholder ${template}`);
      },
    );

    it.each(['{{service}', 'x}}', '{{ serv ice }}', '{{}}'])(
      'refuses the malformed %j in every templated field',
      (template) => {
        expect(pathsOf(configError(() => parseConfig(everywhere(template))))).toEqual(FIELDS);
      },
    );

    it('accepts the same placeholder syntax, spaces inside the braces included, in every templated field', () => {
      expect(() => parseConfig(everywhere('{{ service }}-{{environment}}'))).not.toThrow();
    });
  });

  it('renders an inherited name as nothing, never as a function of Object.prototype', () => {
    expect(renderTemplate('[{{constructor}}|{{valueOf}}|{{service}}]', { service: 'checkout' })).toBe(
      '[||checkout]',
    );
  });

  it('rejects a route message template with an unknown placeholder, naming it and the path', () => {
    const input = {
      ...valid(),
      routes: [{ targets: ['console'], message: { title: '{{service}} by {{author}}' } }],
    };
    const error = configError(() => parseConfig(input));

    expect(error.issues).toEqual([
      expect.objectContaining({
        path: 'routes[0].message.title',
        message: expect.stringContaining('{{author}}'),
      }),
    ]);
  });

  it('names the file in the error when the file cannot be read', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'shipcast-config-')), 'missing.json');
    const error = configError(() => loadConfigFile(file));
    expect(error.file).toBe(file);
    expect(error.message).toContain(file);
    expect(error.message).toContain('cannot read the file');
  });

  it('names the file in the error when the file is not valid JSON', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'shipcast-config-')), 'broken.json');
    writeFileSync(file, '{ "api": { "tokens": [ }');
    const error = configError(() => loadConfigFile(file));
    expect(error.file).toBe(file);
    expect(error.message).toContain(file);
    expect(error.message).toContain('not valid JSON');
  });

  it('names the file in the error when the file is valid JSON but an invalid config', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'shipcast-config-')), 'bad.json');
    writeFileSync(file, JSON.stringify({ ...valid(), routes: [{ targets: ['nobody'] }] }));
    const error = configError(() => loadConfigFile(file));
    expect(error.message).toContain(file);
    expect(error.message).toContain('routes[0].targets[0]');
  });

  it('reads the config path from SHIPCAST_CONFIG, else the working directory', () => {
    expect(configPath({ SHIPCAST_CONFIG: '/etc/shipcast.json' })).toBe('/etc/shipcast.json');
    expect(configPath({})).toBe('shipcast.config.json');
  });

  it('keeps the committed shipcast.config.schema.json equal to the schema the code generates', () => {
    const committed = JSON.parse(readFileSync('shipcast.config.schema.json', 'utf8'));
    expect(
      committed,
      'shipcast.config.schema.json is stale: run `npm run schema` and commit the result',
    ).toEqual(configJsonSchema());
  });

  it('generates a JSON schema that knows every target type and rejects unknown keys', () => {
    const text = JSON.stringify(configJsonSchema());
    expect(text).toContain('"webhook"');
    expect(text).toContain('"log"');
    expect(configJsonSchema()).toMatchObject({ type: 'object', additionalProperties: false });
  });

  it('lists every secret the config refers to once, sorted', () => {
    const config = parseConfig({
      api: {
        tokens: [
          { name: 'ci', secret: 'tokens/ci' },
          { name: 'ops', secret: 'api-token' },
        ],
      },
      targets: {
        signed: { type: 'webhook', url: 'https://a.example/hook', secret: 'hooks/shared' },
        again: { type: 'webhook', url: 'https://b.example/hook', secret: 'hooks/shared' },
        unsigned: { type: 'webhook', url: 'https://c.example/hook' },
        console: { type: 'log' },
      },
      routes: [],
    });
    expect(referencedSecrets(config)).toEqual(['api-token', 'hooks/shared', 'tokens/ci']);
  });
});
