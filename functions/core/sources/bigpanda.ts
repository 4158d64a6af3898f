import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { bearerToken, missingScope } from '../api/auth.ts';
import type { RouteContext } from '../api/context.ts';
import { parseJsonBody, readUtf8Body } from '../api/json.ts';
import { ConcurrentUpdateError, InvalidInputError, issuesFromZod } from '../errors.ts';
import { deploymentIdFor, eventIdFor } from '../ids.ts';
import { ingestEvents } from '../ingest.ts';
import { lazy } from '../lazy.ts';
import type { DeploymentStore } from '../ports.ts';
import type { Deployment, DeploymentEvent } from '../schema.ts';
import { isTerminal, type Status } from '../status.ts';
import * as z from '../zod-mini.ts';
import type { HttpSource } from './http-source.ts';

/**
 * The BigPanda deployments API as a drop-in (`POST /data/events/deployments/start|end`), so an Ansible
 * `bigpanda` task (or any script written for BigPanda) can point its `url` at Shipcast.
 *
 * The Ansible module (community.general `bigpanda`) sends on start `component`, `version`, `hosts` (always a
 * list), `source_system` and, when given, `env`, `owner`, `description`; on end only `component`, `version`,
 * `hosts`, `status` (`success`/`failure`) and `errorMessage`. It treats only HTTP 200 as success and never
 * reads the body. The end names no environment: it finds its start by component, version and hosts.
 *
 * The same component, version and hosts are often deployed again (a re-run after a fix, a redeploy): each
 * run is a *generation* of that identity, its own Shipcast deployment. See `locateBigPandaCall`.
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
  z
    .string()
    .check(z.trim(), z.minLength(1, 'must not be empty'), z.maxLength(max, `at most ${max} characters`));
/** Optional text: null and absent are the same ("not given"). */
const optionalText = (max: number) => z.nullish(text(max));
/** Versions arrive as strings from Ansible; scripts sometimes send a bare number. */
const version = lazy(() =>
  z
    .pipe(
      z.union([
        z.pipe(
          z.number(),
          z.transform((n: number) => String(n)),
        ),
        z.string(),
      ]),
      text(128),
    )
    .register(z.globalRegistry, { description: 'the deployed version (a number is taken as its text)' }),
);
const hosts = lazy(() =>
  z
    .nullish(
      z.union([
        z.pipe(
          text(255),
          z.transform((host: string) => [host]),
        ),
        z.array(text(255)).check(z.maxLength(1000, 'at most 1000 hosts')),
      ]),
    )
    .register(z.globalRegistry, { description: 'a host name or a list of them' }),
);
/** BigPanda's clients send UTC epoch seconds (a number or numeric text). */
const timestamp = lazy(() =>
  z.nullish(
    z.pipe(
      z.union([
        z.number(),
        z.pipe(z.string().check(z.regex(/^\d+(\.\d+)?$/, 'must be epoch seconds')), z.transform(Number)),
      ]),
      z
        .number()
        .check(
          z.gt(0, 'must be epoch seconds'),
          z.lte(32503680000, 'must be epoch seconds (not milliseconds)'),
        ),
    ),
  ),
);

/**
 * Body of `POST /data/events/deployments/start`. Unknown fields are accepted and ignored, as BigPanda does:
 * the shape belongs to BigPanda and its clients, not to Shipcast.
 */
export const bigPandaStartSchema = lazy(() =>
  z.looseObject({
    component: text(128),
    version: version(),
    hosts: hosts(),
    env: optionalText(128),
    owner: optionalText(128),
    description: optionalText(2000),
    source_system: optionalText(128),
    timestamp: timestamp(),
  }),
);

/** Body of `POST /data/events/deployments/end`. */
export const bigPandaEndSchema = lazy(() =>
  z.looseObject({
    component: text(128),
    version: version(),
    hosts: hosts(),
    status: z.nullish(
      z
        .pipe(
          z.string(),
          z.transform((s) => s.trim().toLowerCase()),
        )
        .check(
          z.refine((s) => s === 'success' || s === 'failure', { message: 'must be success or failure' }),
        ),
    ),
    errorMessage: optionalText(2000),
    timestamp: timestamp(),
  }),
);

export type BigPandaStart = z.infer<ReturnType<typeof bigPandaStartSchema>>;
export type BigPandaEnd = z.infer<ReturnType<typeof bigPandaEndSchema>>;

/**
 * The deployment a call belongs to: component, version and the sorted, distinct host names (`identity`,
 * what every generation shares), and which run of them (`generation`, from 1). The first generation keeps
 * the identity itself as its source id (the ids Shipcast gave before generations existed); a later one
 * appends its number.
 */
export function bigPandaDeploymentKey(
  body: { component: string; version: string; hosts?: string[] | null },
  generation = 1,
) {
  const sortedHosts = [...new Set(body.hosts ?? [])].sort();
  const identity: unknown[] = [body.component, body.version, sortedHosts];
  return {
    identity: JSON.stringify(identity),
    sourceDeploymentId: JSON.stringify(generation === 1 ? identity : [...identity, generation]),
    hosts: sortedHosts,
  };
}

/**
 * Normalizes a start call of one generation. Its event id depends only on the deployment (the generation),
 * so a retried start of the same generation is a duplicate.
 */
export function normalizeBigPandaStart(
  body: BigPandaStart,
  receivedAt: string,
  generation = 1,
): DeploymentEvent {
  const { sourceDeploymentId, hosts } = bigPandaDeploymentKey(body, generation);
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
 * Normalizes an end call of one generation. It carries no environment, owner or description: the start
 * already put them on the record. An end without a start still records a finished deployment (without an
 * environment).
 */
export function normalizeBigPandaEnd(body: BigPandaEnd, receivedAt: string, generation = 1): DeploymentEvent {
  const { sourceDeploymentId, hosts } = bigPandaDeploymentKey(body, generation);
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

/** How often a start re-reads the generation after another call advanced it first. */
const MAX_GENERATION_ATTEMPTS = 8;

/**
 * The event of a call, in the generation it belongs to. The store keeps, per identity, the newest
 * generation (a pointer item, advanced only by a single-item conditional write); only the newest can be
 * open, because a new one begins only once the newest is terminal.
 *
 * - A start belongs to the newest generation while that has no record yet or is not terminal (a retried
 *   start, or an overlapping run of the same identity, is the same deployment). Once the newest is
 *   terminal, a start begins the next generation — unless it carries a `timestamp` equal to the newest
 *   generation's recorded start: then it is that start again (a retry that arrived after its end).
 *   Concurrent starts that all saw a terminal newest generation begin exactly one: the others lose the
 *   conditional write, read again, and join it.
 * - An end belongs to the newest generation: it closes it when open, and is recorded there as a duplicate
 *   or `stale` when it is not (as before generations). Exception: an end that carries a `timestamp`
 *   equal to the recorded end (same outcome) of the generation before an open newest one is that end
 *   again, a retry that arrived after the next run started, and must not close the new run.
 *
 * Without a `timestamp` (the Ansible module never sends one), a retry cannot be told from a new run with
 * the same parameters: a start retried after its own end begins a new generation, and an end retried
 * after the next start closes the new run.
 */
export async function locateBigPandaCall(
  call: { kind: 'start'; body: BigPandaStart } | { kind: 'end'; body: BigPandaEnd },
  receivedAt: string,
  store: DeploymentStore,
): Promise<{ event: DeploymentEvent; generation: number }> {
  const { identity } = bigPandaDeploymentKey(call.body);
  const timed = Boolean(call.body.timestamp);
  const build = (generation: number) => ({
    generation,
    event:
      call.kind === 'start'
        ? normalizeBigPandaStart(call.body, receivedAt, generation)
        : normalizeBigPandaEnd(call.body, receivedAt, generation),
  });

  if (call.kind === 'end') {
    const generation = await store.getGeneration(BIGPANDA_SOURCE, identity);
    const newest = build(generation);
    if (timed && generation > 1 && !isTerminalRecord(await store.getDeployment(newest.event.deploymentId))) {
      const earlier = build(generation - 1);
      if (await recorded(store, earlier.event)) return earlier;
    }
    return newest;
  }

  for (let attempt = 1; ; attempt++) {
    const generation = await store.getGeneration(BIGPANDA_SOURCE, identity);
    const newest = build(generation);
    if (!isTerminalRecord(await store.getDeployment(newest.event.deploymentId))) return newest;
    if (timed && (await recorded(store, newest.event))) return newest;
    if (await store.advanceGeneration(BIGPANDA_SOURCE, identity, generation)) return build(generation + 1);
    if (attempt >= MAX_GENERATION_ATTEMPTS) {
      throw new ConcurrentUpdateError(
        `the generation of BigPanda ${call.body.component} ${call.body.version} kept changing while a start was placed`,
      );
    }
  }
}

function isTerminalRecord(deployment: Deployment | undefined): boolean {
  return deployment !== undefined && isTerminal(deployment.status);
}

/**
 * Whether this very call (same event, same `timestamp`) is already in its deployment's history. A call
 * without a `timestamp` took its time from its arrival (occurredAt = receivedAt): that is no time of the
 * call's own, so it never matches.
 */
async function recorded(store: DeploymentStore, event: DeploymentEvent): Promise<boolean> {
  return (await store.listEvents(event.deploymentId)).some(
    (e) => e.eventId === event.eventId && e.occurredAt === event.occurredAt && e.occurredAt !== e.receivedAt,
  );
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
        const parsed = bigPandaStartSchema().safeParse(body);
        if (!parsed.success) throw new InvalidInputError('request body', issuesFromZod(parsed.error));
        return locateBigPandaCall({ kind: 'start', body: parsed.data }, receivedAt, context.store);
      }),
    );
    app.post(BIGPANDA_END_PATH, limit, (c) =>
      handle(c, context, (body, receivedAt) => {
        const parsed = bigPandaEndSchema().safeParse(body);
        if (!parsed.success) throw new InvalidInputError('request body', issuesFromZod(parsed.error));
        return locateBigPandaCall({ kind: 'end', body: parsed.data }, receivedAt, context.store);
      }),
    );
  },
};

async function handle(
  c: Context,
  context: RouteContext,
  locate: (body: unknown, receivedAt: string) => Promise<{ event: DeploymentEvent; generation: number }>,
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
  const forbidden = missingScope(context.config, token, 'events:write');
  if (forbidden) return c.json(forbidden, 403);
  const body = parseJsonBody(await readUtf8Body(c.req));
  const { event, generation } = await locate(body, context.clock.now().toISOString());
  // Ingest answers `applied` again for a redelivered event (it completes what a crash interrupted);
  // the caller is told it was a duplicate.
  const seen = (await context.store.listEvents(event.deploymentId)).some((e) => e.eventId === event.eventId);
  const [ingested] = await ingestEvents([event], context);
  const result = ingested && seen ? { ...ingested, disposition: 'duplicate' as const } : ingested;
  context.logger.info('BigPanda deployment call accepted', {
    token,
    eventId: event.eventId,
    deploymentId: event.deploymentId,
    generation,
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
      generation,
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
  const schema = (zod: z.ZodMiniType) => {
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
        'start after that deployment ended begins a new one (its next generation), and an end closes the ' +
        'newest. A repeated call is recognised as a duplicate. Unknown fields are ignored.',
      security: [{ bearer: ['events:write'] }],
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
        '403': error('The token lacks the events:write scope'),
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
      BigPandaStart: schema(bigPandaStartSchema()),
      BigPandaEnd: schema(bigPandaEndSchema()),
      BigPandaAccepted: {
        type: 'object',
        required: ['status', 'id', 'deploymentId', 'deploymentStatus', 'generation'],
        properties: {
          status: { type: 'string', const: 'created' },
          id: { type: 'string', description: 'The event id' },
          deploymentId: { type: 'string' },
          deploymentStatus: { type: ['string', 'null'] },
          disposition: {
            type: ['string', 'null'],
            enum: ['applied', 'duplicate', 'stale', 'no-status', null],
          },
          generation: {
            type: 'integer',
            minimum: 1,
            description:
              'Which run of this component, version and hosts the call belongs to (a start after the previous run ended begins the next)',
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
