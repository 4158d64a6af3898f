import { readFileSync } from 'node:fs';
import * as z from 'zod';
import { SCOPES } from './api/auth.ts';
import { CIRCUIT_DEFAULTS, DORA_DEFAULTS } from './config-reader.ts';
import { ConfigError, issuesFromZod } from './errors.ts';
import { STATUSES } from './status.ts';
import { TARGETS } from './targets/index.ts';
import { messageTemplatesSchema, TARGET_CONFIG_SCHEMAS } from './targets/schemas.ts';

const name = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/,
    'use 1-64 letters, digits, _ or -, starting with a letter or digit',
  );
const secretName = z
  .string()
  .regex(/^[A-Za-z0-9_./-]{1,128}$/, 'secret names use letters, digits and _ . / -');
const patterns = z
  .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
  .describe('a glob (`*`, `?`) or a list of globs');

/** When a route fires, relative to the transition and the previous deployment of the same service+environment. */
export const TRANSITION_MODES = ['all', 'passing', 'failing', 'change', 'problem', 'recovered'] as const;
export type TransitionMode = (typeof TRANSITION_MODES)[number];

const routeSchema = z
  .object({
    name: name.optional(),
    match: z
      .object({
        service: patterns.optional(),
        environment: patterns.optional(),
        source: patterns.optional(),
        status: z.array(z.enum(STATUSES)).min(1).optional(),
      })
      .strict()
      .default({}),
    on: z.array(z.enum(TRANSITION_MODES)).min(1).default(['all']),
    targets: z.array(name).min(1),
    /** Overrides the chat targets' title and text for what this route sends. */
    message: messageTemplatesSchema,
  })
  .strict();

/** Circuit breaker settings: how many retryable failures in a row open it, and how long it stays open. */
const circuitFields = {
  /** Off: the target is called whatever happened before. */
  enabled: z.boolean(),
  /** Retryable failures in a row (429, 5xx, timeouts, connection errors) that open the circuit. */
  failures: z.number().int().min(1).max(1000),
  /** How long an open circuit holds the target's messages back before one probe may go through. */
  coolDownSeconds: z.number().int().min(1).max(3600),
};
const circuitSchema = z
  .object({
    enabled: circuitFields.enabled.default(CIRCUIT_DEFAULTS.enabled),
    failures: circuitFields.failures.default(CIRCUIT_DEFAULTS.failures),
    coolDownSeconds: circuitFields.coolDownSeconds.default(CIRCUIT_DEFAULTS.coolDownSeconds),
  })
  .strict();
/** A target's own circuit settings, each overriding `dispatch.circuit`'s. */
const targetCircuitSchema = z
  .object({
    enabled: circuitFields.enabled.optional(),
    failures: circuitFields.failures.optional(),
    coolDownSeconds: circuitFields.coolDownSeconds.optional(),
  })
  .strict()
  .optional();

// Every target type also takes `circuit`, its own circuit breaker settings.
const targetSchemas = TARGET_CONFIG_SCHEMAS.map((schema) =>
  (schema as unknown as z.ZodObject).extend({ circuit: targetCircuitSchema }),
);
const targetSchema = z.discriminatedUnion(
  'type',
  targetSchemas as unknown as [z.ZodObject, ...z.ZodObject[]],
  {
    error: (issue) =>
      issue.code === 'invalid_union'
        ? `unknown target type; expected one of: ${TARGETS.map((t) => t.type).join(', ')}`
        : undefined,
  },
);

/** The Shipcast configuration file (`shipcast.config.json`). */
export const configSchema = z
  .object({
    $schema: z.string().optional(),
    api: z
      .object({
        /** Bearer tokens accepted by the HTTP API, each a named secret. */
        tokens: z
          .array(
            z
              .object({
                name,
                secret: secretName,
                /**
                 * What the token may do (docs/api.md): `events:write`, `deployments:read`, `pipelines:read`,
                 * `pipelines:write`, or `read` / `write` / `admin`. Without it the token has `admin` (every route).
                 */
                scopes: z.array(z.enum(SCOPES)).min(1).optional(),
              })
              .strict(),
          )
          .min(1),
        /**
         * Whether the Pipelines-compatible routes take a token in the `apiToken` query parameter, as Pipelines
         * clients send it (default true). CI logs and proxies keep URLs: turn it off once clients send
         * `Authorization: Bearer`.
         */
        queryTokens: z.boolean().optional(),
        /** How long an Idempotency-Key is remembered (hours). */
        idempotencyHours: z
          .number()
          .int()
          .min(1)
          .max(24 * 30)
          .default(24),
      })
      .strict(),
    sources: z
      .object({
        codedeploy: z
          .object({
            /** Call BatchGetDeployments for revision, creator, description. */
            enrich: z.boolean().default(true),
          })
          .strict()
          .default({ enrich: true }),
        /** GitHub webhooks (`POST /v1/hooks/github`): the secret name of the webhook secret. */
        github: z.object({ secret: secretName }).strict().optional(),
        /** GitLab webhooks (`POST /v1/hooks/gitlab`): the secret name of the X-Gitlab-Token value. */
        gitlab: z.object({ token: secretName }).strict().optional(),
        /** CodeDeploy triggers through an SNS HTTPS subscription (`POST /v1/hooks/sns`): the topics accepted. */
        sns: z
          .object({
            topicArns: z
              .array(
                z
                  .string()
                  .regex(
                    /^arn:aws(-[a-z]+)*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}$/,
                    'not an SNS topic ARN',
                  ),
              )
              .min(1),
          })
          .strict()
          .optional(),
      })
      .strict()
      .default({ codedeploy: { enrich: true } }),
    targets: z.record(name, targetSchema),
    routes: z.array(routeSchema),
    dispatch: z
      .object({
        /**
         * Attempts at one transition of one target that failed with a retryable error before it is given
         * up and dead-lettered. Messages held back by an open circuit do not count.
         */
        maxReceives: z.number().int().min(1).max(1000).default(10),
        /** Per-target circuit breaker shared by all dispatchers (a target's own `circuit` overrides it). */
        circuit: circuitSchema.default(CIRCUIT_DEFAULTS),
      })
      .strict()
      .default({ maxReceives: 10, circuit: CIRCUIT_DEFAULTS }),
    /** DORA metrics (docs/dora.md). */
    dora: z
      .object({
        /** Globs of the environments whose deployments count (and incidents link to): default `prod*`. */
        productionEnvironments: z
          .array(z.string().min(1))
          .min(1)
          .default([...DORA_DEFAULTS.productionEnvironments]),
      })
      .strict()
      .default({ productionEnvironments: [...DORA_DEFAULTS.productionEnvironments] }),
  })
  .strict()
  .superRefine((config, ctx) => {
    config.routes.forEach((route, r) => {
      route.targets.forEach((target, t) => {
        if (!(target in config.targets)) {
          ctx.addIssue({
            code: 'custom',
            path: ['routes', r, 'targets', t],
            message: `no target named "${target}" (targets: ${Object.keys(config.targets).join(', ') || 'none'})`,
          });
        }
      });
    });
  });

export type ShipcastConfig = z.infer<typeof configSchema>;
export type RouteConfig = ShipcastConfig['routes'][number];
export type CircuitSettings = z.infer<typeof circuitSchema>;

/**
 * The dispatch queue's own maxReceiveCount (its RedrivePolicy): only a backstop for messages whose
 * processing never finishes (a crashing or timing-out dispatcher). Giving up on a failing target is
 * decided on the attempts kept in the delivery record (`dispatch.maxReceives`), because messages held
 * back by an open circuit are received again and again without being attempted. SQS's maximum.
 */
export const DISPATCH_QUEUE_MAX_RECEIVES = 1000;

/** Each function's timeout in seconds: Lambda's in AWS, the local pollers' deadline under `npm start`. */
export const FUNCTION_TIMEOUT_SECONDS = { api: 10, ingest: 30, dispatch: 60 } as const;

/**
 * Dispatch batches run at once, at most: the dispatch event source mapping's maximum concurrency in AWS (the
 * construct's default) and the dispatch poller's concurrency under `npm start`.
 */
export const DISPATCH_MAX_CONCURRENCY = 5;

/** A queue's visibility timeout is this many times its consumer's timeout (AWS recommends at least six). */
export const QUEUE_VISIBILITY_FACTOR = 6;

/** Validates a parsed config; `file` names it in errors. */
export function parseConfig(input: unknown, file = 'shipcast.config.json'): ShipcastConfig {
  const result = configSchema.safeParse(input);
  if (!result.success) throw new ConfigError(file, issuesFromZod(result.error));
  return result.data;
}

/** Reads and validates a config file. */
export function loadConfigFile(path: string): ShipcastConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(path, [
      { path: '', message: `cannot read the file (${(error as Error).message})` },
    ]);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(path, [{ path: '', message: `not valid JSON (${(error as Error).message})` }]);
  }
  return parseConfig(parsed, path);
}

/** The config path: `SHIPCAST_CONFIG`, else `shipcast.config.json` in the working directory. */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.SHIPCAST_CONFIG ?? 'shipcast.config.json';
}

/** Every secret name the config refers to. */
export function referencedSecrets(config: ShipcastConfig): string[] {
  const names = new Set(config.api.tokens.map((t) => t.secret));
  if (config.sources.github) names.add(config.sources.github.secret);
  if (config.sources.gitlab) names.add(config.sources.gitlab.token);
  for (const target of Object.values(config.targets)) {
    const definition = TARGETS.find((d) => d.type === target.type);
    for (const secret of definition?.secretNames(target as never) ?? []) names.add(secret);
    // Read by the API only (it verifies Slack's interaction requests), so not among the target's own secrets.
    const signing = (target as { actions?: { signingSecret?: string } }).actions?.signingSecret;
    if (signing) names.add(signing);
  }
  return [...names].sort();
}

/** JSON Schema of the config file, from the same zod schema (editors complete and check with it). */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}
