import type { CircuitSettings, ShipcastConfig } from './config.ts';
import { ConfigError, formatPath, type Issue } from './errors.ts';

/** `dispatch.circuit` when the config says nothing (here, not in config.ts: the dispatcher has no zod). */
export const CIRCUIT_DEFAULTS = { enabled: true, failures: 5, coolDownSeconds: 60 } as const;

/** The role a member account's stack creates for enrichment, unless `sources.codedeploy.memberRoleName` says otherwise. */
export const MEMBER_ROLE_NAME = 'shipcast-codedeploy-read';

/** `dora` when the config says nothing. */
export const DORA_DEFAULTS = { productionEnvironments: ['prod*'] } as const;

/** The production environment globs (`dora.productionEnvironments`, default `prod*`). */
export function productionEnvironments(config: ShipcastConfig): string[] {
  return config.dora?.productionEnvironments ?? [...DORA_DEFAULTS.productionEnvironments];
}

/** The circuit breaker settings of one target: `dispatch.circuit`, overridden by the target's own `circuit`. */
export function circuitSettings(config: ShipcastConfig, target: string): CircuitSettings {
  const own = (config.targets[target] as { circuit?: Partial<CircuitSettings> } | undefined)?.circuit;
  return { ...CIRCUIT_DEFAULTS, ...config.dispatch.circuit, ...own };
}

/**
 * Reads a config that `parseConfig` (config.ts) already validated: the one the CDK construct validates at
 * synth and bakes into each Lambda bundle. The functions trust it instead of validating it again, so their
 * bundles carry neither zod nor any target's or source's config schema, and a cold start builds none of
 * them. What is checked here is only the shape the functions rely on, enough to fail clearly (naming the
 * field) on a config that did not come from Shipcast's construct.
 */
export function readValidatedConfig(json: string, where: string): ShipcastConfig {
  let config: unknown;
  try {
    config = JSON.parse(json);
  } catch (error) {
    throw new ConfigError(where, [{ path: '', message: `not valid JSON (${(error as Error).message})` }]);
  }
  const issues: Issue[] = [];
  const expect = (ok: boolean, path: (string | number)[], message: string) => {
    if (!ok) issues.push({ path: formatPath(path), message });
    return ok;
  };
  if (!expect(isObject(config), [], 'expected a validated Shipcast config object')) {
    throw new ConfigError(where, issues);
  }
  const c = config as Record<string, unknown>;
  if (expect(isObject(c.api), ['api'], 'expected an object')) {
    const api = c.api as Record<string, unknown>;
    if (expect(Array.isArray(api.tokens), ['api', 'tokens'], 'expected a list')) {
      (api.tokens as unknown[]).forEach((token, i) => {
        expect(
          isObject(token) && typeof token.name === 'string' && typeof token.secret === 'string',
          ['api', 'tokens', i],
          'expected { name, secret }',
        );
      });
    }
    expect(typeof api.idempotencyHours === 'number', ['api', 'idempotencyHours'], 'expected a number');
  }
  if (expect(isObject(c.sources), ['sources'], 'expected an object')) {
    const codedeploy = (c.sources as Record<string, unknown>).codedeploy;
    expect(
      isObject(codedeploy) && typeof codedeploy.enrich === 'boolean',
      ['sources', 'codedeploy'],
      'expected { enrich: boolean }',
    );
  }
  if (expect(isObject(c.targets), ['targets'], 'expected an object')) {
    for (const [name, target] of Object.entries(c.targets as Record<string, unknown>)) {
      expect(isObject(target) && typeof target.type === 'string', ['targets', name], 'expected { type, … }');
    }
  }
  if (expect(Array.isArray(c.routes), ['routes'], 'expected a list')) {
    (c.routes as unknown[]).forEach((route, r) => {
      if (!expect(isObject(route), ['routes', r], 'expected an object')) return;
      const { match, on, targets } = route as Record<string, unknown>;
      expect(isObject(match), ['routes', r, 'match'], 'expected an object');
      expect(isStrings(on), ['routes', r, 'on'], 'expected a list of strings');
      if (expect(isStrings(targets), ['routes', r, 'targets'], 'expected a list of target names')) {
        (targets as string[]).forEach((target, t) => {
          expect(
            isObject(c.targets) && Object.hasOwn(c.targets, target),
            ['routes', r, 'targets', t],
            `no target named "${target}"`,
          );
        });
      }
    });
  }
  if (expect(isObject(c.dispatch), ['dispatch'], 'expected an object')) {
    const { maxReceives, circuit } = c.dispatch as Record<string, unknown>;
    expect(typeof maxReceives === 'number', ['dispatch', 'maxReceives'], 'expected a number');
    expect(
      isObject(circuit) &&
        typeof circuit.enabled === 'boolean' &&
        typeof circuit.failures === 'number' &&
        typeof circuit.coolDownSeconds === 'number',
      ['dispatch', 'circuit'],
      'expected { enabled, failures, coolDownSeconds }',
    );
  }
  if (issues.length > 0) throw new ConfigError(where, issues);
  return config as ShipcastConfig;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStrings(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}
