import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/core/config.ts';
import { readValidatedConfig } from '../../functions/core/config-reader.ts';
import { ConfigError } from '../../functions/core/errors.ts';

/** The config as the construct bakes it into the functions: validated, defaults applied, as JSON. */
const baked = (input: unknown = JSON.parse(readFileSync('shipcast.config.json', 'utf8'))) =>
  JSON.stringify(parseConfig(input, 'test'));

const issuesOf = (json: string) => {
  try {
    readValidatedConfig(json, 'embedded config');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain('embedded config');
    return (error as ConfigError).issues;
  }
  throw new Error('expected a ConfigError');
};

describe('the functions read the config validated at synth', () => {
  it('takes a validated config as it is, defaults included', () => {
    const json = baked({
      api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
      targets: { console: { type: 'log' }, hook: { type: 'webhook', url: 'https://example.com/hook' } },
      routes: [
        { targets: ['console'] },
        { match: { service: 'checkout' }, on: ['failing'], targets: ['hook'] },
      ],
    });
    expect(readValidatedConfig(json, 'embedded config')).toEqual(JSON.parse(json));
    expect(readValidatedConfig(baked(), 'embedded config')).toEqual(JSON.parse(baked()));
  });

  it('names each field of a config that did not come from the construct', () => {
    expect(issuesOf('{')).toEqual([{ path: '', message: expect.stringContaining('not valid JSON') }]);
    expect(issuesOf('[]')).toEqual([{ path: '', message: 'expected a validated Shipcast config object' }]);
    const config = JSON.parse(baked());
    config.api.tokens = [{ name: 'ci' }];
    delete config.sources.codedeploy;
    config.targets.console = 'log';
    config.routes = [{ match: {}, on: ['all'], targets: ['console', 'missing'] }, 'x'];
    delete config.dispatch;
    expect(issuesOf(JSON.stringify(config))).toEqual([
      { path: 'api.tokens[0]', message: 'expected { name, secret }' },
      { path: 'sources.codedeploy', message: 'expected { enrich: boolean }' },
      { path: 'targets.console', message: 'expected { type, … }' },
      { path: 'routes[0].targets[1]', message: 'no target named "missing"' },
      { path: 'routes[1]', message: 'expected an object' },
      { path: 'dispatch', message: 'expected an object' },
    ]);
  });
});
