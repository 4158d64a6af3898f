import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { z } from 'zod';
import type { ApiContext } from '../api/app.ts';
import { bearerToken } from '../api/auth.ts';
import { parseJsonBody } from '../api/json.ts';
import { InvalidInputError, issuesFromZod } from '../errors.ts';
import { deploymentIdFor, eventIdFor } from '../ids.ts';
import { ingestEvents } from '../ingest.ts';
import type { DeploymentEvent } from '../schema.ts';
import type { Status } from '../status.ts';
import type { HttpSource } from './http-source.ts';

/**
 * The BigPanda deployments API as a drop-in (`POST /data/events/deployments/start|end`), so an Ansible
 * `bigpanda` task (or any script written for BigPanda) can point its `url` at Shipcast.
 *
 * The Ansible module (community.general `bigpanda`) sends on start `component`, `version`, `hosts` (always a
 * list), `source_system` and, when given, `env`, `owner`, `description`; on end only `component`, `version`,
 * `hosts`, `status` (`success`/`failure`) and `errorMessage`. It treats only HTTP 200 as success and never
 * reads the body. The end names no environment: it finds its start by component, version and hosts.
 */

/** Registry name of this source. */
export const BIGPANDA_SOURCE = 'bigpanda';

/** Paths of the drop-in (BigPanda's own, outside `/v1`: the module appends them to its `url`). */
export const BIGPANDA_START_PATH = '/data/events/deployments/start';
export const BIGPANDA_END_PATH = '/data/events/deployments/end';

/** Largest accepted body (the same limit as the native events API); larger ones answer 413 unparsed. */
const MAX_BODY_BYTES = 64 * 1024;

/** BigPanda's calls and end statuses → Shipcast statuses. An end without `status` is a success (BigPanda's clients allow it). */
export const BIGPANDA_STATUS_TABLE = {
  start: 'in_progress',
  success: 'succeeded',
  failure: 'failed',
} as const satisfies Record<string, Status>;

const text = (max: number) =>
  z.string().trim().min(1, 'must not be empty').max(max, `at most ${max} characters`);
/** Optional text: null and absent are the same ("not given"). */
const optionalText = (max: number) => text(max).nullish();
/** Versions arrive as strings from Ansible; scripts sometimes send a bare number. */
const version = z
  .union([z.number().finite().transform(String), z.string()])
  .pipe(text(128))
  .describe('the deployed version (a number is taken as its text)');
const hosts = z
  .union([text(255).transform((host) => [host]), z.array(text(255)).max(1000, 'at most 1000 hosts')])
  .nullish()
  .describe('a host name or a list of them');
/** BigPanda's clients send UTC epoch seconds (a number or numeric text). */
const timestamp = z
  .union([
    z.number(),
    z
      .string()
      .regex(/^\d+(\.\d+)?$/, 'must be epoch seconds')
      .transform(Number),
  ])
  .pipe(
    z.number().positive('must be epoch seconds').max(32503680000, 'must be epoch seconds (not milliseconds)'),
  )
  .nullish();

/**
 * Body of `POST /data/events/deployments/start`. Unknown fields are accepted and ignored, as BigPanda does:
 * the shape belongs to BigPanda and its clients, not to Shipcast.
 */
export const bigPandaStartSchema = z.looseObject({
  component: text(128),
  version,
  hosts,
  env: optionalText(128),
  owner: optionalText(128),
  description: optionalText(2000),
  source_system: optionalText(128),
  timestamp,
});

/** Body of `POST /data/events/deployments/end`. */
export const bigPandaEndSchema = z.looseObject({
  component: text(128),
  version,
  hosts,
  status: z
    .string()
    .transform((s) => s.trim().toLowerCase())
    .refine((s) => s === 'success' || s === 'failure', { message: 'must be success or failure' })
    .nullish(),
  errorMessage: optionalText(2000),
  timestamp,
});

export type BigPandaStart = z.infer<typeof bigPandaStartSchema>;
export type BigPandaEnd = z.infer<typeof bigPandaEndSchema>;

/** The deployment a call belongs to: component, version and the sorted, distinct host names. */
export function bigPandaDeploymentKey(body: { component: string; version: string; hosts?: string[] | null }) {
  const sortedHosts = [...new Set(body.hosts ?? [])].sort();
  return {
    sourceDeploymentId: JSON.stringify([body.component, body.version, sortedHosts]),
    hosts: sortedHosts,
  };
}

/** Normalizes a start call. Its event id depends only on the deployment, so a retried start is a duplicate. */
export function normalizeBigPandaStart(body: BigPandaStart, receivedAt: string): DeploymentEvent {
  const { sourceDeploymentId, hosts } = bigPandaDeploymentKey(body);
  const occurredAt = occurred(body.timestamp, receivedAt);
  return {
    eventId: eventIdFor(BIGPANDA_SOURCE, sourceDeploymentId, 'start'),
    source: BIGPANDA_SOURCE,
    sourceDeploymentId,
    deploymentId: deploymentIdFor(BIGPANDA_SOURCE, sourceDeploymentId),
    kind: 'deployment',
    status: BIGPANDA_STATUS_TABLE.start,
    sourceStatus: 'start',
    occurredAt,
    receivedAt,
    service: body.component,
    environment: body.env ?? undefined,
    version: body.version,
    actor: body.owner ?? undefined,
    description: body.description ?? undefined,
    hosts: hosts.length > 0 ? hosts : undefined,
    startedAt: occurredAt,
    details: body.source_system ? { sourceSystem: body.source_system } : undefined,
  };
}

/**
 * Normalizes an end call. It carries no environment, owner or description: the start already put them on
 * the record. An end without a start still records a finished deployment (without an environment).
 */
export function normalizeBigPandaEnd(body: BigPandaEnd, receivedAt: string): DeploymentEvent {
  const { sourceDeploymentId, hosts } = bigPandaDeploymentKey(body);
  const outcome = body.status ?? 'success';
  const status = BIGPANDA_STATUS_TABLE[outcome as 'success' | 'failure'];
  const occurredAt = occurred(body.timestamp, receivedAt);
  const message = body.errorMessage ?? undefined;
  return {
    eventId: eventIdFor(BIGPANDA_SOURCE, sourceDeploymentId, 'end', outcome),
    source: BIGPANDA_SOURCE,
    sourceDeploymentId,
    deploymentId: deploymentIdFor(BIGPANDA_SOURCE, sourceDeploymentId),
    kind: 'deployment',
    status,
    sourceStatus: outcome,
    occurredAt,
    receivedAt,
    service: body.component,
    version: body.version,
    hosts: hosts.length > 0 ? hosts : undefined,
    finishedAt: occurredAt,
    // The module sends its `deployment_message` as `errorMessage` whatever the outcome.
    error: status === 'failed' ? { message: message ?? 'the deployment failed' } : undefined,
    details: status === 'succeeded' && message ? { message } : undefined,
  };
}

function occurred(epochSeconds: number | null | undefined, receivedAt: string): string {
  return epochSeconds ? new Date(epochSeconds * 1000).toISOString() : receivedAt;
}

/** The BigPanda deployments API drop-in. */
export const bigPandaSource: HttpSource = {
  name: BIGPANDA_SOURCE,
  mount(app, context) {
    const limit = bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: (c) =>
        c.json(
          { error: 'payload_too_large', message: `request bodies are limited to ${MAX_BODY_BYTES} bytes` },
          413,
        ),
    });
    app.post(BIGPANDA_START_PATH, limit, (c) =>
      handle(c, context, (body, receivedAt) => {
        const parsed = bigPandaStartSchema.safeParse(body);
        if (!parsed.success) throw new InvalidInputError('request body', issuesFromZod(parsed.error));
        return normalizeBigPandaStart(parsed.data, receivedAt);
      }),
    );
    app.post(BIGPANDA_END_PATH, limit, (c) =>
      handle(c, context, (body, receivedAt) => {
        const parsed = bigPandaEndSchema.safeParse(body);
        if (!parsed.success) throw new InvalidInputError('request body', issuesFromZod(parsed.error));
        return normalizeBigPandaEnd(parsed.data, receivedAt);
      }),
    );
  },
};

async function handle(
  c: Context,
  context: ApiContext,
  normalize: (body: unknown, receivedAt: string) => DeploymentEvent,
) {
  // Outside /v1, so the API's bearer middleware does not cover these routes: check the token here.
  const token = await bearerToken(c.req.header('authorization'), context);
  if (!token) {
    c.header('www-authenticate', 'Bearer realm="shipcast"');
    return c.json(
      { error: 'unauthorized', message: 'send Authorization: Bearer <token> with a configured API token' },
      401,
    );
  }
  const body = parseJsonBody(await c.req.text());
  const event = normalize(body, context.clock.now().toISOString());
  // Ingest answers `applied` again for a redelivered event (it completes what a crash interrupted);
  // the caller is told it was a duplicate.
  const seen = (await context.store.listEvents(event.deploymentId)).some((e) => e.eventId === event.eventId);
  const [ingested] = await ingestEvents([event], context);
  const result = ingested && seen ? { ...ingested, disposition: 'duplicate' as const } : ingested;
  context.logger.info('BigPanda deployment call accepted', {
    token,
    eventId: event.eventId,
    deploymentId: event.deploymentId,
    disposition: result?.disposition,
  });
  // BigPanda answers {"status":"created","id":…}; the module only checks for 200. Shipcast adds its own ids
  // and the deployment's parameters, which a later end call repeats.
  return c.json(
    {
      status: 'created',
      id: event.eventId,
      deploymentId: event.deploymentId,
      deploymentStatus: result?.status ?? null,
      disposition: result?.disposition ?? null,
      deployment: {
        component: event.service,
        version: event.version,
        hosts: event.hosts ?? [],
        ...(event.environment ? { env: event.environment } : {}),
      },
    },
    200,
  );
}

/** The drop-in's OpenAPI paths and schemas (merged into the API's document). */
export function bigPandaOpenApi(): { paths: Record<string, unknown>; schemas: Record<string, unknown> } {
  const schema = (zod: z.ZodType) => {
    const { $schema: _ignored, ...rest } = z.toJSONSchema(zod, { io: 'input' }) as Record<string, unknown>;
    return rest;
  };
  const error = (description: string) => ({
    description,
    content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
  });
  const operation = (summary: string, body: string) => ({
    post: {
      summary,
      description:
        'BigPanda deployments API drop-in (the Ansible `bigpanda` module and BigPanda clients): point their ' +
        '`url` at Shipcast. Start and end of the same component, version and hosts are one deployment; a ' +
        'repeated call is recognised as a duplicate. Unknown fields are ignored.',
      security: [{ bearer: [] }],
      requestBody: {
        required: true,
        content: { 'application/json': { schema: { $ref: `#/components/schemas/${body}` } } },
      },
      responses: {
        '200': {
          description: 'Recorded (also for a duplicate); shaped like BigPanda’s answer',
          content: { 'application/json': { schema: { $ref: '#/components/schemas/BigPandaAccepted' } } },
        },
        '400': error('Not JSON, or not a deployment; every problem with its field path'),
        '401': error('Missing or unknown bearer token'),
        '413': error('Body over 64 KiB'),
      },
    },
  });
  return {
    paths: {
      [BIGPANDA_START_PATH]: operation('BigPanda drop-in: a deployment started', 'BigPandaStart'),
      [BIGPANDA_END_PATH]: operation(
        'BigPanda drop-in: a deployment ended (success or failure)',
        'BigPandaEnd',
      ),
    },
    schemas: {
      BigPandaStart: schema(bigPandaStartSchema),
      BigPandaEnd: schema(bigPandaEndSchema),
      BigPandaAccepted: {
        type: 'object',
        required: ['status', 'id', 'deploymentId', 'deploymentStatus'],
        properties: {
          status: { type: 'string', const: 'created' },
          id: { type: 'string', description: 'The event id' },
          deploymentId: { type: 'string' },
          deploymentStatus: { type: ['string', 'null'] },
          disposition: {
            type: ['string', 'null'],
            enum: ['applied', 'duplicate', 'stale', 'no-status', null],
          },
          deployment: {
            type: 'object',
            description: 'The parameters that identify the deployment (an end repeats them)',
            properties: {
              component: { type: 'string' },
              version: { type: 'string' },
              hosts: { type: 'array', items: { type: 'string' } },
              env: { type: 'string' },
            },
          },
        },
      },
    },
  };
}
