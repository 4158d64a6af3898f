import { randomUUID } from 'node:crypto';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { apiTokenName, bearerToken, missingScope } from '../api/auth.ts';
import type { RouteContext } from '../api/context.ts';
import { parseJsonBody, readUtf8Body } from '../api/json.ts';
import { ConcurrentUpdateError, InvalidInputError, issuesFromZod } from '../errors.ts';
import { stableHash } from '../ids.ts';
import { lazy } from '../lazy.ts';
import type { BuildStatus, CiEvent, CiEventType, Deployment } from '../schema.ts';
import type { Status } from '../status.ts';
import { normalizeRepository, repositoryFromFields, withoutCredentials } from '../timeline.ts';
import * as z from '../zod-mini.ts';
import type { HttpSource } from './http-source.ts';

/**
 * The Pipelines-compatible events API (Puppet Pipelines, formerly Distelli): CI systems record pushes, pull
 * requests and builds of an app, update builds until they finish, and list the app's events — its CI
 * events merged with Shipcast's deployments of the service of the same name (as `DEPLOY` events).
 * Authenticated by the `apiToken` query parameter (any configured API token).
 */

/** Pipelines build statuses (matched in any case) and their normalized value; the word sent is kept. */
export const PIPELINES_BUILD_STATUS_TABLE = {
  Waiting: 'waiting',
  Queued: 'queued',
  Running: 'running',
  Success: 'succeeded',
  Failed: 'failed',
  TimedOut: 'timed_out',
  Cancelled: 'cancelled',
} as const satisfies Record<string, BuildStatus>;

/** Once a build reaches one of these, the event is an immutable historical record. */
export const TERMINAL_BUILD_STATUSES: readonly BuildStatus[] = [
  'succeeded',
  'failed',
  'timed_out',
  'cancelled',
];

/** How a Shipcast deployment status reads as a Pipelines `deployment_status`. */
export const DEPLOY_STATUS_WORDS: Record<Status, string> = {
  queued: 'Queued',
  in_progress: 'Running',
  succeeded: 'Success',
  failed: 'Failed',
  stopped: 'Cancelled',
};

/** Build providers Pipelines knows (matched in any case; the spelling sent is kept). */
export const BUILD_PROVIDERS = ['Jenkins', 'CircleCI', 'TravisCI', 'Codeship', 'AzureDevops'] as const;
/** Repository providers Pipelines knows (matched in any case; the spelling sent is kept). */
export const REPO_PROVIDERS = [
  'bitbucket',
  'bitbucketserver',
  'github',
  'githubenterprise',
  'gitlab',
  'azuredevops',
] as const;

/** `filter_event_type` values and the event type each selects. */
export const PIPELINES_EVENT_TYPES = {
  build: 'BUILD',
  deploy: 'DEPLOY',
  pullrequest: 'PULLREQUEST',
  push: 'PUSH',
  release: 'RELEASE',
} as const;

export const FILTER_NAMES = ['Branch', 'Env', 'EventType', 'BranchAndEventType', 'EnvAndBranch'] as const;

/** Largest accepted request body; larger ones are answered 413 before they are parsed. */
export const PIPELINES_MAX_BODY_BYTES = 64 * 1024;

const BUILD_STATUS_BY_LOWER = new Map(
  Object.entries(PIPELINES_BUILD_STATUS_TABLE).map(([word, status]) => [
    word.toLowerCase(),
    { word, status },
  ]),
);
const WORD_OF_STATUS = new Map(
  Object.entries(PIPELINES_BUILD_STATUS_TABLE).map(([word, status]) => [status as BuildStatus, word]),
);

// ---------------------------------------------------------------------------------------------------------
// Request schemas

const text = (max: number) =>
  z
    .string()
    .check(z.trim(), z.minLength(1, 'must not be empty'), z.maxLength(max, `at most ${max} characters`));
/** An optional field: absent or null mean "not given". */
const opt = <T extends z.ZodMiniType>(schema: T) => z.optional(z.nullable(schema));
const httpUrl = () =>
  z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
    .check(z.maxLength(2048, 'at most 2048 characters'));
const isoDate = () =>
  z.iso.datetime({
    offset: true,
    error: 'must be an ISO 8601 date-time, e.g. 2024-03-01T10:00:00.000Z',
  });
const anyCaseOf = (words: readonly string[]) =>
  z.string().check(
    z.trim(),
    z.refine((s) => words.some((w) => w.toLowerCase() === s.toLowerCase()), {
      message: `must be one of (any case): ${words.join(', ')}`,
    }),
  );
const buildStatus = () => anyCaseOf(Object.keys(PIPELINES_BUILD_STATUS_TABLE));

const commonFields = () => ({
  repo_url: opt(text(2048)),
  commit_url: opt(httpUrl()),
  repo_owner: opt(text(256)),
  repo_name: opt(text(256)),
  repo_provider: opt(anyCaseOf(REPO_PROVIDERS)),
  author_username: opt(text(256)),
  author_name: opt(text(256)),
  commit_msg: opt(text(8192)),
  commit_id: opt(text(128)),
  branch: opt(text(256)),
});

/** Body of `PUT …/events/pushEvent` and `…/pullRequestEvent`. */
export const pipelinesCommitEventSchema = lazy(() => z.strictObject(commonFields()));

/** Body of `PUT …/events/buildEvent`. */
export const pipelinesBuildEventSchema = lazy(() =>
  z.strictObject({
    ...commonFields(),
    build_status: opt(buildStatus()),
    build_start: opt(isoDate()),
    build_end: opt(isoDate()),
    auto_build: opt(z.boolean({ error: 'must be true or false' })),
    build_id: opt(text(256)),
    build_url: opt(httpUrl()),
    build_provider: opt(anyCaseOf(BUILD_PROVIDERS)),
    parent_event_id: opt(text(128)),
  }),
);

/** Body of `POST …/events/{eventId}`: what may change on a build until it finishes. */
export const pipelinesBuildUpdateSchema = lazy(() =>
  z
    .strictObject({
      build_status: opt(buildStatus()),
      build_end: opt(isoDate()),
      release_version: opt(text(256)),
    })
    .check(
      z.refine((b) => b.build_status != null || b.build_end != null || b.release_version != null, {
        message: 'send at least one of build_status, build_end, release_version',
      }),
    ),
);

const WHOLE_1_TO_100 = 'must be a whole number from 1 to 100';
const listQuerySchema = lazy(() =>
  z.strictObject({
    apiToken: z.optional(z.string()),
    filter_name: opt(anyCaseOf(FILTER_NAMES)),
    filter_branch: opt(text(256)),
    filter_env: opt(text(128)),
    filter_event_type: opt(anyCaseOf(Object.keys(PIPELINES_EVENT_TYPES))),
    max_results: z._default(
      z.coerce
        .number({ error: WHOLE_1_TO_100 })
        .check(z.int(WHOLE_1_TO_100), z.gte(1, WHOLE_1_TO_100), z.lte(100, WHOLE_1_TO_100)),
      10,
    ),
    marker: opt(z.string().check(z.minLength(1), z.maxLength(8192))),
    order: z._default(
      z.pipe(
        z.pipe(
          z.string(),
          z.transform((s) => s.toLowerCase()),
        ),
        z.enum(['asc', 'desc'], { error: 'must be asc or desc' }),
      ),
      'desc',
    ),
  }),
);

const pathSchema = lazy(() => z.object({ username: text(128), app_name: text(128) }));

function parse<T extends z.ZodMiniType>(schema: T, value: unknown, where: string): z.output<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw new InvalidInputError(where, issuesFromZod(result.error));
  return result.data;
}

// ---------------------------------------------------------------------------------------------------------
// Views: events as the Pipelines API lists them (every field present, null where the event has none)

const EVENT_FIELDS = [
  'build_status',
  'build_start',
  'build_end',
  'build_provider',
  'build_url',
  'build_id',
  'auto_build',
  'repo_url',
  'commit_url',
  'repo_owner',
  'repo_name',
  'repo_provider',
  'author_username',
  'author_name',
  'commit_msg',
  'commit_id',
  'branch',
  'parent_event_id',
  'release_version',
  'deployment_id',
  'deployment_status',
  'deployment_type',
  'deployment_number',
  'env_name',
  'auto_deploy',
] as const;

type PipelinesEvent = Record<string, string | number | boolean | null>;

function emptyEvent(app: string, eventId: string, eventTime: string, eventType: string): PipelinesEvent {
  const event: PipelinesEvent = {
    app_name: app,
    event_id: eventId,
    event_time: eventTime,
    event_type: eventType,
  };
  for (const field of EVENT_FIELDS) event[field] = null;
  return event;
}

/** A CI event in Pipelines shape; `build_status` is the Pipelines word of its normalized status. */
export function pipelinesCiEvent(event: CiEvent): PipelinesEvent {
  const view = emptyEvent(event.app, event.eventId, event.eventTime, event.type);
  for (const field of EVENT_FIELDS) {
    const value = event.fields[field];
    if (value !== undefined) view[field] = value;
  }
  if (event.status) view.build_status = WORD_OF_STATUS.get(event.status) ?? event.sourceStatus ?? null;
  return view;
}

/** A Shipcast deployment as a Pipelines `DEPLOY` event of the app named like its service. */
export function pipelinesDeployEvent(app: string, deployment: Deployment): PipelinesEvent {
  const view = emptyEvent(app, deployment.id, deployment.createdAt, 'DEPLOY');
  const [owner, name, ...rest] = (normalizeRepository(deployment.revision?.repository) ?? '').split('/');
  Object.assign(view, {
    deployment_id: deployment.id,
    deployment_status: DEPLOY_STATUS_WORDS[deployment.status],
    deployment_type: deployment.source,
    env_name: deployment.environment ?? null,
    release_version: deployment.version ?? null,
    commit_id: deployment.revision?.commit ?? null,
    branch: branchName(deployment.revision?.ref) ?? null,
    repo_owner: name && rest.length === 0 ? owner : null,
    repo_name: name && rest.length === 0 ? name : null,
  });
  return view;
}

/** `refs/heads/main` and `main` are the same branch. */
function branchName(ref: string | undefined | null): string | undefined {
  return ref ? ref.replace(/^refs\/heads\//, '') : undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Listing: CI events and deployments merged by time, with a marker that keeps a position in each

/**
 * One ordered stream of events (CI events of the app, or deployments of its service). `read` pages through
 * the store's index with its opaque cursor; `matches` is the part of the filter the index cannot apply.
 */
interface Stream<T> {
  read(cursor: string | undefined, limit: number): Promise<{ items: T[]; cursor?: string }>;
  matches(item: T): boolean;
  /** True when `matches` can reject items (pages are then read in larger steps). */
  filtered: boolean;
  time(item: T): string;
  id(item: T): string;
}

/** Where a stream continues: after the store cursor `c` (from the start without it), or nowhere (`done`). */
type Position = { done: true } | { done?: false; c?: string };

interface Buffer<T> {
  pages: { start?: string; end?: string }[];
  /** Matching items read, in stream order, with the page and offset they came from. */
  matched: { item: T; page: number; offset: number }[];
  /** The stream has nothing after what was read. */
  exhausted: boolean;
}

/** Raw items read per stream and request at most (a rare filter answers a short page with a marker). */
const MAX_SCAN_PAGES = 10;
const SCAN_PAGE = 100;

async function fill<T>(stream: Stream<T>, position: Position, want: number): Promise<Buffer<T>> {
  const buffer: Buffer<T> = { pages: [], matched: [], exhausted: position.done === true };
  if (position.done) return buffer;
  let cursor = position.c;
  for (let n = 0; n < MAX_SCAN_PAGES && buffer.matched.length < want; n++) {
    const page = await stream.read(cursor, stream.filtered ? SCAN_PAGE : want - buffer.matched.length);
    buffer.pages.push({ start: cursor, end: page.cursor });
    page.items.forEach((item, offset) => {
      if (stream.matches(item)) buffer.matched.push({ item, page: buffer.pages.length - 1, offset });
    });
    cursor = page.cursor;
    if (!cursor) {
      buffer.exhausted = true;
      break;
    }
  }
  return buffer;
}

/** The position just before the first matching item not returned (or after everything read). */
async function positionAfter<T>(stream: Stream<T>, buffer: Buffer<T>, consumed: number): Promise<Position> {
  const next = buffer.matched[consumed];
  if (!next) {
    if (buffer.exhausted) return { done: true };
    return { c: buffer.pages.at(-1)?.end };
  }
  const page = buffer.pages[next.page] as { start?: string };
  if (next.offset === 0) return { c: page.start };
  // The store only hands out cursors at the end of a page: read the same items again, just up to `next`.
  const again = await stream.read(page.start, next.offset);
  if (!again.cursor) throw new Error('the store returned no cursor for a page that has more items');
  return { c: again.cursor };
}

interface Marker {
  v: 1;
  /** Hash of the query the marker belongs to: filters and order must stay the same. */
  q: string;
  /** Positions in the CI event stream and the deployment stream. */
  s: [Position, Position];
}

function encodeMarker(marker: Marker): string {
  return Buffer.from(JSON.stringify(marker)).toString('base64url');
}

function decodeMarker(raw: string, queryHash: string): Marker {
  const invalid = (message: string) => new InvalidInputError('query', [{ path: 'marker', message }]);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw invalid('not a marker this API returned');
  }
  const position = z.union([
    z.strictObject({ done: z.literal(true) }),
    z.strictObject({ c: z.optional(z.string().check(z.maxLength(4096))) }),
  ]);
  const result = z
    .strictObject({ v: z.literal(1), q: z.string(), s: z.tuple([position, position]) })
    .safeParse(parsed);
  if (!result.success) throw invalid('not a marker this API returned');
  if (result.data.q !== queryHash) {
    throw invalid('this marker belongs to another query: keep the filters and order of the first page');
  }
  return result.data as Marker;
}

type ListQuery = z.output<ReturnType<typeof listQuerySchema>>;

interface Filters {
  branch?: string;
  env?: string;
  type?: (typeof PIPELINES_EVENT_TYPES)[keyof typeof PIPELINES_EVENT_TYPES];
}

/** What filter_name needs and allows, checked as one more 400 with the parameter's path. */
function filtersOf(query: ListQuery): Filters {
  const name = FILTER_NAMES.find((n) => n.toLowerCase() === query.filter_name?.toLowerCase());
  const uses = {
    filter_branch: name === 'Branch' || name === 'BranchAndEventType' || name === 'EnvAndBranch',
    filter_env: name === 'Env' || name === 'EnvAndBranch',
    filter_event_type: name === 'EventType' || name === 'BranchAndEventType',
  };
  const issues = Object.entries(uses).flatMap(([param, used]) => {
    const given = query[param as keyof typeof uses] != null;
    if (used && !given) return [{ path: param, message: `required with filter_name=${name}` }];
    if (!used && given) {
      return [
        { path: param, message: `applies only with a filter_name that uses it (${FILTER_NAMES.join(', ')})` },
      ];
    }
    return [];
  });
  if (issues.length > 0) throw new InvalidInputError('query', issues);
  const type = query.filter_event_type?.toLowerCase() as keyof typeof PIPELINES_EVENT_TYPES | undefined;
  return {
    branch: query.filter_branch ? branchName(query.filter_branch) : undefined,
    env: query.filter_env ?? undefined,
    type: type ? PIPELINES_EVENT_TYPES[type] : undefined,
  };
}

async function listEvents(
  context: RouteContext,
  username: string,
  app: string,
  query: ListQuery,
): Promise<{ app_name: string; events: PipelinesEvent[]; marker?: string }> {
  const filters = filtersOf(query);
  const order = query.order;
  const limit = query.max_results;
  const queryHash = stableHash(
    'pipelines-list',
    username,
    app,
    order,
    filters.branch ?? '',
    filters.env ?? '',
    filters.type ?? '',
  );
  const ciWanted = !filters.env && (!filters.type || ['BUILD', 'PUSH', 'PULLREQUEST'].includes(filters.type));
  const deployWanted = !filters.type || filters.type === 'DEPLOY';

  const ci: Stream<CiEvent> = {
    read: async (cursor, n) => context.store.listCiEvents({ username, app, order, limit: n, cursor }),
    matches: (e) =>
      (!filters.branch || branchName(e.branch) === filters.branch) &&
      (!filters.type || e.type === filters.type),
    filtered: !!(filters.branch || filters.type),
    time: (e) => e.eventTime,
    id: (e) => e.eventId,
  };
  const deploys: Stream<Deployment> = {
    read: async (cursor, n) =>
      context.store.listDeployments({ service: app, environment: filters.env, order, limit: n, cursor }),
    matches: (d) => !filters.branch || branchName(d.revision?.ref) === filters.branch,
    filtered: !!filters.branch,
    time: (d) => d.createdAt,
    id: (d) => d.id,
  };

  const start: [Position, Position] = query.marker
    ? decodeMarker(query.marker, queryHash).s
    : [ciWanted ? {} : { done: true }, deployWanted ? {} : { done: true }];

  try {
    // One more than a page from each, so the answer knows whether anything follows.
    const [ciBuffer, deployBuffer] = await Promise.all([
      fill(ci, start[0], limit + 1),
      fill(deploys, start[1], limit + 1),
    ]);
    const events: PipelinesEvent[] = [];
    let usedCi = 0;
    let usedDeploys = 0;
    while (events.length < limit) {
      const nextCi = ciBuffer.matched[usedCi]?.item;
      const nextDeploy = deployBuffer.matched[usedDeploys]?.item;
      // A stream with nothing buffered that may still have items blocks the merge: its next one could come first.
      if ((!nextCi && !ciBuffer.exhausted) || (!nextDeploy && !deployBuffer.exhausted)) break;
      if (!nextCi && !nextDeploy) break;
      let takeCi: boolean;
      if (!nextDeploy) takeCi = true;
      else if (!nextCi) takeCi = false;
      else {
        const byTime =
          ci.time(nextCi).localeCompare(deploys.time(nextDeploy)) ||
          ci.id(nextCi).localeCompare(deploys.id(nextDeploy));
        takeCi = order === 'asc' ? byTime <= 0 : byTime >= 0;
      }
      if (takeCi && nextCi) {
        events.push(pipelinesCiEvent(nextCi));
        usedCi++;
      } else if (nextDeploy) {
        events.push(pipelinesDeployEvent(app, nextDeploy));
        usedDeploys++;
      }
    }
    const positions: [Position, Position] = [
      await positionAfter(ci, ciBuffer, usedCi),
      await positionAfter(deploys, deployBuffer, usedDeploys),
    ];
    const more = positions.some((p) => !p.done);
    return {
      app_name: app,
      events,
      ...(more ? { marker: encodeMarker({ v: 1, q: queryHash, s: positions }) } : {}),
    };
  } catch (error) {
    // The store rejects a cursor it did not hand out: that came from a tampered marker.
    if (error instanceof InvalidInputError && error.issues.some((i) => i.path === 'cursor')) {
      throw new InvalidInputError('query', [{ path: 'marker', message: 'not a marker this API returned' }]);
    }
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Routes

const BASE = '/:username/apps/:app_name/events';
const TOKEN = /^[\x21-\x7e]{1,512}$/;
const MAX_UPDATE_ATTEMPTS = 5;

type App = Parameters<HttpSource['mount']>[0];
type Ctx = Context<{ Variables: { token: string } }>;

function pathOf(c: Ctx): { username: string; app: string } {
  const params = parse(
    pathSchema(),
    { username: c.req.param('username'), app_name: c.req.param('app_name') },
    'path',
  );
  return { username: params.username, app: params.app_name };
}

const CREATE_ROUTES: { path: string; type: CiEventType }[] = [
  { path: 'buildEvent', type: 'BUILD' },
  { path: 'pushEvent', type: 'PUSH' },
  { path: 'pullRequestEvent', type: 'PULLREQUEST' },
];

/** The fields as sent, without the nulls that mean "not given". */
function givenFields(body: Record<string, unknown>): CiEvent['fields'] {
  const fields: CiEvent['fields'] = {};
  for (const [key, value] of Object.entries(body)) {
    if (value === null || value === undefined) continue;
    fields[key] = key === 'repo_url' ? withoutCredentials(value as string) : (value as string | boolean);
  }
  return fields;
}

function newEventId(): string {
  return `pev_${randomUUID().replaceAll('-', '').slice(0, 24)}`;
}

function mount(app: App, context: RouteContext): void {
  const { logger } = context;

  // Pipelines clients authenticate with ?apiToken=… (unless `api.queryTokens` is false), others with
  // Authorization: Bearer; checked before anything is parsed or read.
  const queryTokens = context.config.api.queryTokens ?? true;
  const authenticate = async (c: Ctx, next: () => Promise<void>) => {
    const presented = c.req.query('apiToken');
    if (presented !== undefined && !queryTokens) {
      return c.json(
        {
          error: 'unauthorized',
          message:
            'tokens in the query string are turned off (api.queryTokens); send Authorization: Bearer <token> instead',
        },
        401,
      );
    }
    const token =
      presented !== undefined
        ? TOKEN.test(presented)
          ? await apiTokenName(presented, context)
          : undefined
        : await bearerToken(c.req.header('authorization'), context);
    if (!token) {
      return c.json(
        {
          error: 'unauthorized',
          message: queryTokens
            ? 'add the apiToken query parameter, or send Authorization: Bearer, with a configured Shipcast API token'
            : 'send Authorization: Bearer <token> with a configured Shipcast API token',
        },
        401,
      );
    }
    const forbidden = missingScope(
      context.config,
      token,
      c.req.method === 'GET' || c.req.method === 'HEAD' ? 'pipelines:read' : 'pipelines:write',
    );
    if (forbidden) return c.json(forbidden, 403);
    c.set('token', token);
    await next();
  };
  app.use(BASE, authenticate);
  app.use(`${BASE}/*`, authenticate);

  const limitBody = bodyLimit({
    maxSize: PIPELINES_MAX_BODY_BYTES,
    onError: (c) =>
      c.json(
        {
          error: 'payload_too_large',
          message: `request bodies are limited to ${PIPELINES_MAX_BODY_BYTES} bytes`,
        },
        413,
      ),
  });

  for (const route of CREATE_ROUTES) {
    app.put(`${BASE}/${route.path}`, limitBody, async (c) => {
      const { username, app: appName } = pathOf(c);
      const json = parseJsonBody(await readUtf8Body(c.req));
      // A push or pull request has a subset of a build's fields.
      const body: z.output<ReturnType<typeof pipelinesBuildEventSchema>> =
        route.type === 'BUILD'
          ? parse(pipelinesBuildEventSchema(), json, 'request body')
          : parse(pipelinesCommitEventSchema(), json, 'request body');
      const now = context.clock.now().toISOString();
      const fields = givenFields(body);
      const sent = body.build_status ?? undefined;
      const status = sent ? BUILD_STATUS_BY_LOWER.get(sent.toLowerCase()) : undefined;
      const event: CiEvent = {
        eventId: newEventId(),
        source: 'pipelines',
        type: route.type,
        username,
        app: appName,
        eventTime: now,
        updatedAt: now,
        repository: repositoryFromFields(body),
        commit: body.commit_id ?? undefined,
        branch: body.branch ? branchName(body.branch) : undefined,
        parentEventId: body.parent_event_id ?? undefined,
        status: status?.status,
        sourceStatus: sent ?? undefined,
        final: status ? TERMINAL_BUILD_STATUSES.includes(status.status) : undefined,
        fields,
        rev: 1,
      };
      await context.store.saveCiEvent(event, null);
      logger.info('pipelines event recorded', {
        eventId: event.eventId,
        type: event.type,
        username,
        app: appName,
        repository: event.repository,
        commit: event.commit,
      });
      // Pipelines answers a created event with 200 and its id; clients read only the body.
      return c.json({ event_id: event.eventId }, 200);
    });
  }

  app.post(`${BASE}/:eventId`, limitBody, async (c) => {
    const { username, app: appName } = pathOf(c);
    const eventId = c.req.param('eventId');
    const body = parse(
      pipelinesBuildUpdateSchema(),
      parseJsonBody(await readUtf8Body(c.req)),
      'request body',
    );
    const notFound = () =>
      c.json({ error: 'not_found', message: `no event ${eventId} in app ${username}/${appName}` }, 404);
    if (eventId.length > 128) return notFound();
    for (let attempt = 1; ; attempt++) {
      const current = await context.store.getCiEvent(eventId);
      if (!current || current.username !== username || current.app !== appName) return notFound();
      if (current.type !== 'BUILD') {
        return c.json(
          {
            error: 'not_a_build_event',
            message: `event ${eventId} is a ${current.type} event; only build events can be updated`,
          },
          409,
        );
      }
      if (current.final) {
        const word = current.status ? WORD_OF_STATUS.get(current.status) : current.sourceStatus;
        return c.json(
          {
            error: 'event_immutable',
            message: `build event ${eventId} finished with build_status ${word}; a finished build is an immutable record and cannot be updated`,
          },
          409,
        );
      }
      const now = context.clock.now().toISOString();
      const next: CiEvent = {
        ...current,
        fields: { ...current.fields },
        updatedAt: now,
        rev: current.rev + 1,
      };
      if (body.build_status) {
        const status = BUILD_STATUS_BY_LOWER.get(body.build_status.toLowerCase());
        next.fields.build_status = body.build_status;
        next.status = status?.status;
        next.sourceStatus = body.build_status;
        next.final = status ? TERMINAL_BUILD_STATUSES.includes(status.status) : false;
      }
      if (body.build_end) next.fields.build_end = body.build_end;
      if (body.release_version) next.fields.release_version = body.release_version;
      try {
        await context.store.saveCiEvent(next, current.rev);
      } catch (error) {
        // Someone else updated it first: read it again and check again (it may have finished meanwhile).
        if (!(error instanceof ConcurrentUpdateError)) throw error;
        if (attempt < MAX_UPDATE_ATTEMPTS) continue;
        return c.json(
          { error: 'conflict', message: `build event ${eventId} kept changing while it was updated; retry` },
          409,
        );
      }
      logger.info('pipelines build event updated', { eventId, status: next.status, final: next.final });
      return c.json({ event: pipelinesCiEvent(next) }, 200);
    }
  });

  app.get(BASE, async (c) => {
    const { username, app: appName } = pathOf(c);
    const query = parse(listQuerySchema(), c.req.query(), 'query');
    return c.json(await listEvents(context, username, appName, query), 200);
  });
}

export const pipelinesSource: HttpSource = { name: 'pipelines', mount };

// ---------------------------------------------------------------------------------------------------------
// OpenAPI

function jsonSchema(schema: z.ZodMiniType): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, {
    io: 'input',
    unrepresentable: 'any',
  }) as Record<string, unknown>;
  return rest;
}

/** The Pipelines routes for the OpenAPI document (merged in by `api/openapi.ts`). */
export function pipelinesOpenApi(): {
  securitySchemes: Record<string, unknown>;
  schemas: Record<string, unknown>;
  paths: Record<string, unknown>;
} {
  // Either the apiToken query parameter (unless api.queryTokens is false) or a bearer token, with the scope.
  const security = (scope: 'pipelines:read' | 'pipelines:write') => [
    { pipelinesApiToken: [scope] },
    { bearer: [scope] },
  ];
  const error = (description: string) => ({
    description,
    content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
  });
  const json = (ref: string) => ({ 'application/json': { schema: { $ref: `#/components/schemas/${ref}` } } });
  const pathParams = [
    { name: 'username', in: 'path', required: true, schema: { type: 'string' } },
    { name: 'app_name', in: 'path', required: true, schema: { type: 'string' } },
  ];
  const create = (summary: string, body: string) => ({
    put: {
      summary,
      security: security('pipelines:write'),
      parameters: pathParams,
      requestBody: { required: true, content: json(body) },
      responses: {
        '200': {
          description: 'Recorded',
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['event_id'],
                properties: { event_id: { type: 'string' } },
              },
            },
          },
        },
        '400': error('Invalid body; every problem with its field path'),
        '401': error('Missing or unknown token, or a query-string token while api.queryTokens is false'),
        '403': error('The token lacks the scope the operation names'),
        '413': error('Body over 64 KiB'),
      },
    },
  });
  return {
    securitySchemes: {
      pipelinesApiToken: {
        type: 'apiKey',
        in: 'query',
        name: 'apiToken',
        description:
          'A Shipcast API token in the query string, as Pipelines clients send it; refused when the config sets api.queryTokens to false (URLs end up in CI logs)',
      },
    },
    schemas: {
      PipelinesBuildEvent: jsonSchema(pipelinesBuildEventSchema()),
      PipelinesCommitEvent: jsonSchema(pipelinesCommitEventSchema()),
      PipelinesBuildUpdate: jsonSchema(pipelinesBuildUpdateSchema()),
      PipelinesEvent: {
        type: 'object',
        description: 'A Pipelines event; every field is present, null where the event has none.',
        required: ['app_name', 'event_id', 'event_time', 'event_type'],
        properties: {
          app_name: { type: 'string' },
          event_id: { type: 'string' },
          event_time: { type: 'string', format: 'date-time' },
          event_type: { type: 'string', enum: ['BUILD', 'PUSH', 'PULLREQUEST', 'DEPLOY', 'RELEASE'] },
          ...Object.fromEntries(
            EVENT_FIELDS.map((f) => [
              f,
              { type: f === 'auto_build' ? ['boolean', 'null'] : ['string', 'null'] },
            ]),
          ),
        },
      },
    },
    paths: {
      '/{username}/apps/{app_name}/events': {
        get: {
          summary: 'Pipelines-compatible: list the app’s CI and deploy events',
          security: security('pipelines:read'),
          parameters: [
            ...pathParams,
            { name: 'filter_name', in: 'query', schema: { type: 'string', enum: [...FILTER_NAMES] } },
            { name: 'filter_branch', in: 'query', schema: { type: 'string' } },
            { name: 'filter_env', in: 'query', schema: { type: 'string' } },
            {
              name: 'filter_event_type',
              in: 'query',
              schema: { type: 'string', enum: Object.keys(PIPELINES_EVENT_TYPES) },
            },
            {
              name: 'max_results',
              in: 'query',
              schema: { type: 'integer', minimum: 1, maximum: 100, default: 10 },
            },
            { name: 'marker', in: 'query', schema: { type: 'string' } },
            {
              name: 'order',
              in: 'query',
              schema: { type: 'string', enum: ['asc', 'desc'], default: 'desc' },
            },
          ],
          responses: {
            '200': {
              description: 'A page of events; pass `marker` to get the next one (absent on the last page)',
              content: {
                'application/json': {
                  schema: {
                    type: 'object',
                    required: ['app_name', 'events'],
                    properties: {
                      app_name: { type: 'string' },
                      events: { type: 'array', items: { $ref: '#/components/schemas/PipelinesEvent' } },
                      marker: { type: 'string' },
                    },
                  },
                },
              },
            },
            '400': error('Invalid query or marker'),
            '401': error('Missing or unknown token, or a query-string token while api.queryTokens is false'),
            '403': error('The token lacks the scope the operation names'),
          },
        },
      },
      '/{username}/apps/{app_name}/events/buildEvent': create(
        'Pipelines-compatible: record a build',
        'PipelinesBuildEvent',
      ),
      '/{username}/apps/{app_name}/events/pushEvent': create(
        'Pipelines-compatible: record a push',
        'PipelinesCommitEvent',
      ),
      '/{username}/apps/{app_name}/events/pullRequestEvent': create(
        'Pipelines-compatible: record a pull request',
        'PipelinesCommitEvent',
      ),
      '/{username}/apps/{app_name}/events/{eventId}': {
        post: {
          summary: 'Pipelines-compatible: update a build until it finishes',
          security: security('pipelines:write'),
          parameters: [
            ...pathParams,
            { name: 'eventId', in: 'path', required: true, schema: { type: 'string' } },
          ],
          requestBody: { required: true, content: json('PipelinesBuildUpdate') },
          responses: {
            '200': {
              description: 'The whole event after the update',
              content: {
                'application/json': {
                  schema: {
                    type: 'object',
                    required: ['event'],
                    properties: { event: { $ref: '#/components/schemas/PipelinesEvent' } },
                  },
                },
              },
            },
            '400': error('Invalid body'),
            '401': error('Missing or unknown token, or a query-string token while api.queryTokens is false'),
            '403': error('The token lacks the scope the operation names'),
            '404': error('No such event in this app'),
            '409': error('The build finished (it is immutable) or the event is not a build'),
            '413': error('Body over 64 KiB'),
          },
        },
      },
    },
  };
}
