import { bodyLimit } from 'hono/body-limit';
import { requireScope } from '../api/auth.ts';
import type { RouteContext } from '../api/context.ts';
import { mediaType, parseJsonBody, readUtf8Body } from '../api/json.ts';
import { BUILD_RANK } from '../build-status.ts';
import { productionEnvironments } from '../config-reader.ts';
import { InvalidInputError, type Issue, issuesFromZod, retryOnConflict } from '../errors.ts';
import { deploymentIdFor, eventIdFor } from '../ids.ts';
import { applyIncident, type IncidentBody } from '../incidents.ts';
import { ingestEvents } from '../ingest.ts';
import { lazy } from '../lazy.ts';
import type { BuildStatus, CiEvent, DeploymentEvent } from '../schema.ts';
import type { Status } from '../status.ts';
import * as z from '../zod-mini.ts';
import { type CloudEventData, cloudEventData } from './cloudevents-http.ts';
import type { HttpSource } from './http-source.ts';

/**
 * CDEvents (https://cdevents.dev) in a CloudEvents envelope, over HTTP in binary mode (`ce-*` headers, the
 * CDEvent as the body) or structured mode (`content-type: application/cloudevents+json`, the CDEvent as
 * `data`). The `cloudevents` package reads the envelope; it validates loosely on receipt (it fills in a
 * missing `id` or `time`, see cloudevents/sdk-javascript#394 and #597), so the required attributes are
 * checked here on the raw message. Per the CDEvents CloudEvents binding, the envelope's `id`, `source`,
 * `type` and `time` are the CDEvent context's.
 */

/** Registry name of this source. */
export const CDEVENTS_SOURCE = 'cdevents';

/** Route of the source (behind the API's bearer token). */
export const CDEVENTS_PATH = '/v1/cdevents';

/** Largest accepted body (the same limit as the native events API); larger ones answer 413 unparsed. */
const MAX_BODY_BYTES = 64 * 1024;

/** The Pipelines `:username` under which pipeline runs are listed (the app is the pipeline's name). */
export const CDEVENTS_CI_USERNAME = 'cdevents';

/**
 * `dev.cdevents.service.<predicate>` → the deployment's status. A service event reports something that
 * already happened, so each one is a finished deployment. `removed` is a finished change too: `stopped`
 * would count as failing in routing and page people for a planned removal.
 */
export const CDEVENTS_SERVICE_STATUS_TABLE = {
  deployed: 'succeeded',
  upgraded: 'succeeded',
  rolledback: 'succeeded',
  removed: 'succeeded',
} as const satisfies Record<string, Status>;

/** `dev.cdevents.pipelinerun.<predicate>` (and a finished run's `outcome`) → the build's status. */
export const CDEVENTS_PIPELINERUN_STATUS_TABLE = {
  queued: 'queued',
  started: 'running',
  'finished:success': 'succeeded',
  'finished:failure': 'failed',
  'finished:error': 'failed',
  'finished:cancel': 'cancelled',
} as const satisfies Record<string, BuildStatus>;

/** The Pipelines API's word for each build status, kept in the CI event's `build_status` field. */
const PIPELINES_BUILD_STATUS: Record<BuildStatus, string> = {
  waiting: 'Waiting',
  queued: 'Queued',
  running: 'Running',
  succeeded: 'Success',
  failed: 'Failed',
  timed_out: 'TimedOut',
  cancelled: 'Cancelled',
};

/**
 * Types Shipcast handles: subject and predicate, then an optional version. Any 0.x version is accepted
 * (0.1.x–0.3.x are published; minor versions only add fields); another major version is not understood.
 */
const TYPE_PATTERN =
  /^dev\.cdevents\.(service|pipelinerun|incident)\.(deployed|upgraded|rolledback|removed|queued|started|finished|detected|reported|resolved)(?:\.(\d+)\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)?$/;

/** The predicates of each subject Shipcast handles. */
const PREDICATES: Record<'service' | 'pipelinerun' | 'incident', readonly string[]> = {
  service: Object.keys(CDEVENTS_SERVICE_STATUS_TABLE),
  pipelinerun: ['queued', 'started', 'finished'],
  incident: ['detected', 'reported', 'resolved'],
};

/** What a CloudEvent type means to Shipcast, or undefined when it is not one Shipcast handles. */
export function classifyCdEventType(
  type: string,
): { subject: 'service' | 'pipelinerun' | 'incident'; predicate: string } | undefined {
  const match = TYPE_PATTERN.exec(type);
  if (!match) return undefined;
  const [, subject, predicate, major] = match as unknown as [
    string,
    'service' | 'pipelinerun' | 'incident',
    string,
    string?,
  ];
  if (major !== undefined && major !== '0') return undefined;
  if (!PREDICATES[subject].includes(predicate)) return undefined;
  return { subject, predicate };
}

const idText = () =>
  z.string().check(z.trim(), z.minLength(1, 'must not be empty'), z.maxLength(512, 'at most 512 characters'));
const optionalText = (max?: number) => z.optional(max ? z.string().check(z.maxLength(max)) : z.string());

/** The CDEvent of a service event (the CloudEvent's data). Fields beyond these are kept out, not refused. */
const serviceEventSchema = lazy(() =>
  z.looseObject({
    context: z.optional(z.looseObject({ timestamp: optionalText() })),
    subject: z.looseObject({
      id: idText(),
      source: optionalText(),
      content: z.looseObject({
        // The spec's environment is an object; some emitters send its id as a bare string.
        environment: z.union([z.looseObject({ id: idText(), source: optionalText() }), idText()]),
        artifactId: z.optional(idText()),
      }),
    }),
  }),
);

/** The CDEvent of a pipeline run event. */
const pipelineRunEventSchema = lazy(() =>
  z.looseObject({
    context: z.optional(z.looseObject({ timestamp: optionalText() })),
    subject: z.looseObject({
      id: idText(),
      source: optionalText(),
      content: z._default(
        z.looseObject({
          pipelineName: z.optional(idText()),
          // `url` up to pipelineRun 0.2.0, `uri` from 0.3.0.
          url: optionalText(2048),
          uri: optionalText(2048),
          outcome: optionalText(),
          errors: optionalText(4000),
        }),
        {},
      ),
    }),
  }),
);

/**
 * The CDEvent of an incident event (https://github.com/cdevents/spec/blob/main/continuous-operations.md):
 * `subject.id`, `content.environment` mandatory; `content.service` is optional in the spec but Shipcast needs it
 * to place the incident; `ticketURI` (reported) becomes the incident's url.
 */
const incidentEventSchema = lazy(() =>
  z.looseObject({
    context: z.optional(z.looseObject({ timestamp: optionalText() })),
    subject: z.looseObject({
      id: idText(),
      content: z.looseObject({
        description: z.optional(z.string().check(z.maxLength(500, 'at most 500 characters'))),
        environment: z.union([z.looseObject({ id: idText() }), idText()]),
        service: z.union([z.looseObject({ id: idText() }), idText()], {
          error: 'required: Shipcast places an incident by its service ({ "id": "service/name" })',
        }),
        ticketURI: optionalText(2048),
      }),
    }),
  }),
);

/**
 * Applies a `dev.cdevents.incident.*` event: detected and reported open (or update) the incident named by
 * the CloudEvent's source and the subject's id, resolved resolves it; the first event's time is when it opened.
 */
export async function applyIncidentEvent(
  envelope: Envelope,
  predicate: 'detected' | 'reported' | 'resolved',
  context: RouteContext,
) {
  const cdevent = parseData(incidentEventSchema(), envelope.data);
  const { content } = cdevent.subject;
  const at = occurredAt(envelope, cdevent.context?.timestamp, context.clock.now().toISOString());
  const idOf = (ref: string | { id: string }) => (typeof ref === 'string' ? ref : ref.id);
  const url = content.ticketURI && /^https?:\/\//i.test(content.ticketURI) ? content.ticketURI : undefined;
  const description = content.description?.trim();
  const body: IncidentBody = {
    id: `${envelope.source} ${cdevent.subject.id}`.slice(0, 200),
    service: serviceName(idOf(content.service)).slice(0, 128),
    environment: idOf(content.environment).slice(0, 128),
    status: predicate === 'resolved' ? 'resolved' : 'open',
    ...(description && predicate !== 'resolved' ? { title: description } : {}),
    ...(url ? { url } : {}),
    ...(predicate === 'resolved' ? { resolvedAt: at } : {}),
  };
  const { incident, created } = await applyIncident(CDEVENTS_SOURCE, body, {
    store: context.store,
    now: at,
    productionEnvironments: productionEnvironments(context.config),
    defaultTitle: description || `Incident ${cdevent.subject.id}`.slice(0, 500),
    reopen: false,
  });
  return { incidentId: incident.id, status: incident.status, created };
}

/** The envelope attributes Shipcast relies on, read from the raw message. */
interface Envelope {
  id: string;
  source: string;
  type: string;
  time?: string;
  data: unknown;
}

/**
 * Reads a CloudEvent from an HTTP request with the `cloudevents` package, then checks what it leaves
 * unchecked: `specversion`, `id`, `source` and `type` must be present (named in the 400 otherwise).
 */
export function parseCloudEvent(headers: Record<string, string>, body: string): Envelope {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  // Compared as a media type: `Application/CloudEvents+JSON; charset=UTF-8` is structured mode too.
  const contentType = mediaType(lower['content-type']);
  if (lower['content-type'] !== undefined) lower['content-type'] = contentType;
  if (contentType.startsWith('application/cloudevents-batch')) {
    throw new InvalidInputError('request', [
      { path: 'content-type', message: 'batched CloudEvents are not accepted; send one event per request' },
    ]);
  }
  const structured = contentType.startsWith('application/cloudevents');
  let raw: Record<string, unknown>;
  if (structured) {
    const parsed = parseJsonBody(body);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new InvalidInputError('request body', [
        { path: '', message: 'a structured CloudEvent must be a JSON object' },
      ]);
    }
    raw = parsed as Record<string, unknown>;
  } else {
    // The CDEvent is the body; checked here as untrusted JSON before the package parses it.
    if (body.trim() !== '') parseJsonBody(body, 'CloudEvent data');
    raw = Object.fromEntries(
      Object.entries(lower)
        .filter(([k]) => k.startsWith('ce-'))
        .map(([k, v]) => [k.slice(3), v]),
    );
  }
  const name = (attribute: string) => (structured ? attribute : `ce-${attribute}`);
  const issues: Issue[] = [];
  for (const attribute of ['specversion', 'id', 'source', 'type']) {
    const value = raw[attribute];
    if (typeof value !== 'string' || value.trim() === '') {
      issues.push({
        path: name(attribute),
        message: structured
          ? `the required CloudEvents attribute "${attribute}" is missing`
          : `the required CloudEvents attribute "${attribute}" is missing (binary mode sends it as the ${name(attribute)} header; structured mode needs content-type: application/cloudevents+json)`,
      });
    }
  }
  if (typeof raw.specversion === 'string' && raw.specversion !== '1.0' && raw.specversion !== '0.3') {
    issues.push({ path: name('specversion'), message: 'must be 1.0' });
  }
  if (issues.length > 0) throw new InvalidInputError('CloudEvent', issues);

  let event: CloudEventData;
  try {
    event = cloudEventData(lower, body);
  } catch (error) {
    throw new InvalidInputError('CloudEvent', [{ path: '', message: (error as Error).message }]);
  }
  let data: unknown = event.data;
  if (data === undefined && typeof event.data_base64 === 'string') {
    data = Buffer.from(event.data_base64, 'base64').toString('utf8');
  }
  if (data instanceof Uint8Array) data = Buffer.from(data).toString('utf8');
  // `application/cdevents+json` (the binding's content type) is not one the package parses.
  if (typeof data === 'string') data = parseJsonBody(data, 'CloudEvent data');
  const time = typeof raw.time === 'string' && !Number.isNaN(Date.parse(raw.time)) ? raw.time : undefined;
  return {
    id: (raw.id as string).trim(),
    source: (raw.source as string).trim(),
    type: (raw.type as string).trim(),
    time,
    data,
  };
}

function parseData<T extends z.ZodMiniType>(schema: T, data: unknown): z.infer<T> {
  const result = schema.safeParse(data);
  if (!result.success) {
    throw new InvalidInputError(
      'CDEvent',
      issuesFromZod(result.error).map((issue) => ({
        ...issue,
        path: issue.path ? `data.${issue.path}` : 'data',
      })),
    );
  }
  return result.data;
}

/** When it happened: the CDEvent's timestamp, else the envelope's time, else when Shipcast received it. */
function occurredAt(envelope: Envelope, contextTimestamp: string | undefined, receivedAt: string): string {
  for (const candidate of [contextTimestamp, envelope.time]) {
    if (candidate && !Number.isNaN(Date.parse(candidate))) return new Date(candidate).toISOString();
  }
  return receivedAt;
}

/** The version in a package URL (`pkg:oci/myapp@sha256%3A0b31…` → `sha256:0b31…`); a non-purl id is its own version. */
export function versionFromArtifactId(artifactId: string): string {
  if (!artifactId.startsWith('pkg:')) return artifactId;
  const withoutSubpath = artifactId.split('#')[0] as string;
  const withoutQualifiers = withoutSubpath.split('?')[0] as string;
  const at = withoutQualifiers.lastIndexOf('@');
  if (at < 0) return artifactId;
  try {
    return decodeURIComponent(withoutQualifiers.slice(at + 1));
  } catch {
    return withoutQualifiers.slice(at + 1);
  }
}

/**
 * Normalizes a `dev.cdevents.service.*` event. Each is its own, finished deployment, identified by the
 * CloudEvent's source and id (unique per event by the CloudEvents spec), so a redelivery is a duplicate.
 */
export function normalizeServiceEvent(
  envelope: Envelope,
  predicate: keyof typeof CDEVENTS_SERVICE_STATUS_TABLE,
  receivedAt: string,
): DeploymentEvent {
  const cdevent = parseData(serviceEventSchema(), envelope.data);
  const { subject } = cdevent;
  const environment =
    typeof subject.content.environment === 'string'
      ? subject.content.environment
      : subject.content.environment.id;
  const artifactId = subject.content.artifactId;
  const sourceDeploymentId = `${envelope.source} ${envelope.id}`;
  const at = occurredAt(envelope, cdevent.context?.timestamp, receivedAt);
  const details: Record<string, string> = { cdeventType: envelope.type, action: predicate };
  if (subject.source) details.subjectSource = subject.source;
  if (artifactId) details.artifactId = artifactId;
  const service = serviceName(subject.id);
  if (service !== subject.id) details.subjectId = subject.id;
  return {
    eventId: eventIdFor(CDEVENTS_SOURCE, envelope.source, envelope.id),
    source: CDEVENTS_SOURCE,
    sourceDeploymentId,
    deploymentId: deploymentIdFor(CDEVENTS_SOURCE, sourceDeploymentId),
    kind: 'deployment',
    status: CDEVENTS_SERVICE_STATUS_TABLE[predicate],
    sourceStatus: predicate,
    occurredAt: at,
    receivedAt,
    service,
    environment,
    version: artifactId ? versionFromArtifactId(artifactId) : undefined,
    description:
      predicate === 'rolledback'
        ? `rolled back${artifactId ? ` to ${artifactId}` : ''}`
        : predicate === 'removed'
          ? `removed from ${environment}`
          : undefined,
    finishedAt: at,
    details,
  };
}

/**
 * The service a service subject's id names: the part after its last `/`. The spec's examples are
 * `service/myapp` and `daemonset/myapp` (https://github.com/cdevents/spec/blob/main/continuous-deployment.md#service),
 * a kind before the name; the bare name lines up with the same service from CodeDeploy or the native API.
 */
export function serviceName(subjectId: string): string {
  const name = subjectId.slice(subjectId.lastIndexOf('/') + 1).trim();
  return name || subjectId;
}

/** What applying a pipeline run event did to its build. */
export interface BuildResult {
  ciEventId: string;
  status: BuildStatus;
  disposition: 'applied' | 'duplicate' | 'stale';
}

const MAX_CONFLICT_RETRIES = 8;

/**
 * Applies a `dev.cdevents.pipelinerun.*` event to its BUILD CI event: queued, started and finished of one
 * run (subject source + id) are one build, whose status only moves forward and is final once finished.
 * A CloudEvent already applied (same source and id) is a duplicate.
 */
export async function applyPipelineRunEvent(
  envelope: Envelope,
  predicate: 'queued' | 'started' | 'finished',
  context: RouteContext,
): Promise<BuildResult> {
  const cdevent = parseData(pipelineRunEventSchema(), envelope.data);
  const { subject } = cdevent;
  let status: BuildStatus;
  let sourceStatus: string = predicate;
  if (predicate === 'finished') {
    const outcome = subject.content.outcome?.trim().toLowerCase() ?? '';
    const mapped = (CDEVENTS_PIPELINERUN_STATUS_TABLE as Record<string, BuildStatus>)[`finished:${outcome}`];
    if (!mapped) {
      throw new InvalidInputError('CDEvent', [
        {
          path: 'data.subject.content.outcome',
          message: 'a finished pipeline run needs an outcome: success, failure, error or cancel',
        },
      ]);
    }
    status = mapped;
    sourceStatus = outcome;
  } else {
    status = CDEVENTS_PIPELINERUN_STATUS_TABLE[predicate];
  }
  const runSource = subject.source?.trim() || envelope.source;
  const ciEventId = eventIdFor(CDEVENTS_SOURCE, 'pipelinerun', runSource, subject.id);
  const cloudEventKey = `${envelope.source} ${envelope.id}`;
  const at = occurredAt(envelope, cdevent.context?.timestamp, context.clock.now().toISOString());
  const now = context.clock.now().toISOString();

  return retryOnConflict(async () => {
    const current = await context.store.getCiEvent(ciEventId);
    const seen = current
      ? ['queued', 'started', 'finished'].some((p) => current.fields[`${p}_cloudevent`] === cloudEventKey)
      : false;
    if (current && seen)
      return { ciEventId, status: current.status as BuildStatus, disposition: 'duplicate' };
    if (current && (current.final || BUILD_RANK[status] <= BUILD_RANK[current.status as BuildStatus])) {
      return { ciEventId, status: current.status as BuildStatus, disposition: 'stale' };
    }
    const fields: CiEvent['fields'] = {
      ...current?.fields,
      build_id: subject.id,
      build_status: PIPELINES_BUILD_STATUS[status],
      build_provider: 'CDEvents',
      pipeline_name: subject.content.pipelineName ?? (current?.fields.pipeline_name as string) ?? subject.id,
      run_source: runSource,
      [`${predicate}_cloudevent`]: cloudEventKey,
    };
    const link = subject.content.url ?? subject.content.uri;
    if (link) fields.build_url = link;
    if (predicate === 'started') fields.build_start = at;
    if (predicate === 'finished') {
      fields.build_end = at;
      fields.outcome = sourceStatus;
      if (subject.content.errors) fields.errors = subject.content.errors;
    }
    const next: CiEvent = {
      eventId: ciEventId,
      source: CDEVENTS_SOURCE,
      type: 'BUILD',
      username: CDEVENTS_CI_USERNAME,
      app: String(fields.pipeline_name),
      eventTime: current?.eventTime ?? at,
      updatedAt: now,
      status,
      sourceStatus,
      final: BUILD_RANK[status] === 2,
      fields,
      rev: (current?.rev ?? 0) + 1,
    };
    await context.store.saveCiEvent(next, current ? current.rev : null);
    return { ciEventId, status, disposition: 'applied' as const };
  }, MAX_CONFLICT_RETRIES);
}

/** The CDEvents source: `POST /v1/cdevents`. */
export const cdEventsSource: HttpSource = {
  name: CDEVENTS_SOURCE,
  mount(app, context) {
    app.post(
      CDEVENTS_PATH,
      requireScope(context.config, 'events:write'),
      bodyLimit({
        maxSize: MAX_BODY_BYTES,
        onError: (c) =>
          c.json(
            { error: 'payload_too_large', message: `request bodies are limited to ${MAX_BODY_BYTES} bytes` },
            413,
          ),
      }),
      async (c) => {
        const envelope = parseCloudEvent(c.req.header(), await readUtf8Body(c.req));
        const kind = classifyCdEventType(envelope.type);
        if (!kind) {
          context.logger.info('CloudEvent type not handled; ignored', {
            type: envelope.type,
            source: envelope.source,
            id: envelope.id,
          });
          return c.json(
            {
              ignored: true,
              type: envelope.type,
              message:
                'Shipcast handles dev.cdevents.service.deployed|upgraded|rolledback|removed, dev.cdevents.pipelinerun.queued|started|finished and dev.cdevents.incident.detected|reported|resolved (0.x versions); this event was not stored',
            },
            202,
          );
        }
        if (kind.subject === 'service') {
          const event = normalizeServiceEvent(
            envelope,
            kind.predicate as keyof typeof CDEVENTS_SERVICE_STATUS_TABLE,
            context.clock.now().toISOString(),
          );
          // Ingest answers `applied` again for a redelivered event (it completes what a crash interrupted);
          // the caller is told it was a duplicate.
          const seen = (await context.store.listEvents(event.deploymentId)).some(
            (e) => e.eventId === event.eventId,
          );
          const [ingested] = await ingestEvents([event], context);
          const result = ingested && seen ? { ...ingested, disposition: 'duplicate' as const } : ingested;
          const response = {
            kind: 'deployment',
            eventId: event.eventId,
            deploymentId: event.deploymentId,
            status: result?.status ?? null,
            disposition: result?.disposition ?? null,
          };
          context.logger.info('CDEvent accepted', {
            ...response,
            type: envelope.type,
            token: c.get('token'),
          });
          return c.json(response, 202);
        }
        if (kind.subject === 'incident') {
          const result = await applyIncidentEvent(
            envelope,
            kind.predicate as 'detected' | 'reported' | 'resolved',
            context,
          );
          const response = { kind: 'incident', ...result };
          context.logger.info('CDEvent accepted', {
            ...response,
            type: envelope.type,
            token: c.get('token'),
          });
          return c.json(response, 202);
        }
        const result = await applyPipelineRunEvent(
          envelope,
          kind.predicate as 'queued' | 'started' | 'finished',
          context,
        );
        const response = { kind: 'build', ...result };
        context.logger.info('CDEvent accepted', { ...response, type: envelope.type, token: c.get('token') });
        return c.json(response, 202);
      },
    );
  },
};

/** The source's OpenAPI paths and schemas (merged into the API's document). */
export function cdEventsOpenApi(): { paths: Record<string, unknown>; schemas: Record<string, unknown> } {
  const error = (description: string) => ({
    description,
    content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
  });
  const ceHeader = (name: string) => ({
    name,
    in: 'header',
    required: false,
    schema: { type: 'string' },
    description: 'Binary mode (required there)',
  });
  return {
    paths: {
      [CDEVENTS_PATH]: {
        post: {
          summary: 'One CDEvent in a CloudEvents envelope (binary or structured mode)',
          description:
            'dev.cdevents.service.deployed|upgraded|rolledback|removed become finished deployments; ' +
            'dev.cdevents.pipelinerun.queued|started|finished update one BUILD CI event per run; ' +
            'dev.cdevents.incident.detected|reported|resolved open and resolve an incident. Any other ' +
            'type is answered 202 and not stored. A CloudEvent seen before (same source and id) is a duplicate.',
          security: [{ bearer: ['events:write'] }],
          parameters: ['ce-specversion', 'ce-id', 'ce-source', 'ce-type', 'ce-time'].map(ceHeader),
          requestBody: {
            required: true,
            content: {
              'application/cloudevents+json': {
                schema: {
                  type: 'object',
                  required: ['specversion', 'id', 'source', 'type', 'data'],
                  properties: {
                    specversion: { type: 'string', const: '1.0' },
                    id: { type: 'string' },
                    source: { type: 'string' },
                    type: { type: 'string' },
                    time: { type: 'string', format: 'date-time' },
                    data: { $ref: '#/components/schemas/CDEvent' },
                  },
                },
              },
              'application/json': { schema: { $ref: '#/components/schemas/CDEvent' } },
              'application/cdevents+json': { schema: { $ref: '#/components/schemas/CDEvent' } },
            },
          },
          responses: {
            '202': {
              description: 'Recorded, a duplicate, or ignored (type not handled; nothing stored)',
              content: { 'application/json': { schema: { $ref: '#/components/schemas/CDEventAccepted' } } },
            },
            '400': error(
              'A required CloudEvents attribute is missing, or the CDEvent lacks a field it needs',
            ),
            '401': error('Missing or unknown bearer token'),
            '403': error('The token lacks the events:write scope'),
            '413': error('Body over 64 KiB'),
          },
        },
      },
    },
    schemas: {
      CDEvent: {
        type: 'object',
        description: 'A CDEvent (https://cdevents.dev): `context` and `subject`; other fields are ignored.',
        required: ['subject'],
        properties: {
          context: { type: 'object' },
          subject: {
            type: 'object',
            required: ['id'],
            properties: { id: { type: 'string' }, source: { type: 'string' }, content: { type: 'object' } },
          },
        },
      },
      CDEventAccepted: {
        type: 'object',
        properties: {
          kind: { type: 'string', enum: ['deployment', 'build', 'incident'] },
          incidentId: { type: 'string' },
          created: { type: 'boolean' },
          eventId: { type: 'string' },
          deploymentId: { type: 'string' },
          ciEventId: { type: 'string' },
          status: { type: ['string', 'null'] },
          disposition: { type: ['string', 'null'] },
          ignored: { type: 'boolean' },
          type: { type: 'string' },
          message: { type: 'string' },
        },
      },
    },
  };
}
