import type { Handler } from 'hono';
import type { RouteContext } from '../api/context.ts';
import { productionEnvironments } from '../config-reader.ts';
import { InvalidInputError, issuesFromZod } from '../errors.ts';
import { applyIncident, type IncidentBody } from '../incidents.ts';
import { lazy } from '../lazy.ts';
import * as z from '../zod-mini.ts';
import {
  answerOnce,
  deliveryId,
  type HookAnswer,
  notConfigured,
  pagerDutySignatureValid,
  parseWebhookJson,
  sourceSecret,
  unauthorized,
} from './webhook-signature.ts';

/**
 * PagerDuty V3 webhooks as an incident source. Each delivery carries one `event` (`id`, `event_type`,
 * `resource_type`, `occurred_at`, `agent`, `client`, `data`); for the incident events `data` is the incident
 * (`id`, `number`, `title`, `html_url`, `status`, `created_at`, `urgency`, `priority`, `service { id, summary }`).
 * Deliveries are signed in `X-PagerDuty-Signature`, retried on 5xx/429/timeouts (5 tries over ~20 minutes,
 * dropped on any other 4xx), delivered at least once with the same `X-Webhook-Id` on every attempt, in order
 * per incident. From PagerDuty's "Webhooks v3" docs (github.com/PagerDuty/developer-docs, docs/webhooks/):
 * 01-Overview.md (payload, event types), 04-Signatures.md (signature), 02-Behavior.md (retries,
 * `X-Webhook-Id`, ordering); the test delivery is `pagey.ping`.
 */

/** Registry name of this source (and its config key, `sources.pagerduty`). */
export const PAGERDUTY_SOURCE = 'pagerduty';

/** The route PagerDuty's webhook subscription delivers to. */
export const PAGERDUTY_HOOK_PATH = '/v1/hooks/pagerduty';

/**
 * What each handled event type does to the Shipcast incident. `priority_updated` keeps the status the
 * incident has in PagerDuty (`data.status`). Only `reopened` opens a resolved incident again: a trigger or an
 * acknowledgement arriving after the resolution (out of order, or a redelivery under a new id) leaves it resolved.
 */
export const PAGERDUTY_EVENT_TABLE = {
  'incident.triggered': { status: 'open', reopen: false },
  'incident.acknowledged': { status: 'open', reopen: false },
  'incident.reopened': { status: 'open', reopen: true },
  'incident.resolved': { status: 'resolved', reopen: false },
  'incident.priority_updated': { status: 'from-data', reopen: false },
} as const satisfies Record<string, { status: 'open' | 'resolved' | 'from-data'; reopen: boolean }>;

type HandledEventType = keyof typeof PAGERDUTY_EVENT_TABLE;

const DELIVERY_ID = /^[\x21-\x7e]{1,255}$/;

/** The PagerDuty test delivery ("Send Test Event"): answered, nothing stored. */
const PING_EVENT_TYPE = 'pagey.ping';

/** Longest incident title Shipcast keeps (`POST /v1/incidents`' limit); PagerDuty's longer ones are cut. */
const MAX_TITLE_CHARS = 500;
/** Longest severity Shipcast keeps. */
const MAX_SEVERITY_CHARS = 32;
/** Longest service or environment name. */
const MAX_NAME_CHARS = 128;

const text = (max: number) =>
  z
    .string()
    .check(z.trim(), z.minLength(1, 'must not be empty'), z.maxLength(max, `at most ${max} characters`));
const dateTime = () =>
  z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time, e.g. 2020-10-02T18:45:22.169Z' });
/** PagerDuty object ids: letters and digits (`PGR0VU2`, `Q0RIJJZL24RC6W`). */
const pagerDutyId = (what: string) =>
  z.string().check(z.regex(/^[A-Za-z0-9]{1,64}$/, `must be a PagerDuty ${what} id (letters and digits)`));

/** What every delivery must have, whatever its event type. */
const envelopeSchema = lazy(() =>
  z.looseObject({
    event: z.looseObject({
      id: text(255),
      event_type: text(128),
    }),
  }),
);

/** A delivery of one of the incident events Shipcast handles (`event.data` is an incident). */
const incidentDeliverySchema = lazy(() =>
  z.looseObject({
    event: z.looseObject({
      id: text(255),
      event_type: z.enum(Object.keys(PAGERDUTY_EVENT_TABLE) as [HandledEventType, ...HandledEventType[]]),
      occurred_at: dateTime(),
      data: z.looseObject({
        id: pagerDutyId('incident'),
        type: z.optional(z.literal('incident', { error: 'must be incident' })),
        number: z.optional(z.number().check(z.int(), z.gte(1))),
        title: z.string().check(z.trim(), z.minLength(1, 'must not be empty')),
        html_url: z.optional(
          z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).check(z.maxLength(2048)),
        ),
        status: z.enum(['triggered', 'acknowledged', 'resolved'], {
          error: 'must be triggered, acknowledged or resolved',
        }),
        created_at: z.optional(dateTime()),
        urgency: z.nullish(z.enum(['high', 'low'], { error: 'must be high or low' })),
        priority: z.nullish(z.looseObject({ summary: z.string().check(z.trim(), z.minLength(1)) })),
        service: z.looseObject({
          id: pagerDutyId('service'),
          summary: z.optional(z.string().check(z.trim(), z.minLength(1), z.maxLength(255))),
        }),
      }),
    }),
  }),
);

/** A validated delivery of a handled incident event. */
export type PagerDutyIncidentDelivery = z.infer<ReturnType<typeof incidentDeliverySchema>>;

/** `sources.pagerduty` as the functions read it (validated at synth / start by config.ts). */
type PagerDutySourceConfig = NonNullable<RouteContext['config']['sources']['pagerduty']>;

/**
 * The Shipcast service and environment of a PagerDuty service: its entry in `services` by id, else by name
 * (summary); a service entry without an environment, and a service without an entry, get `environment`. A
 * service without an entry takes its PagerDuty name as the service (`unmapped: service-name`) or is not
 * placed at all (`unmapped: ignore`: undefined).
 */
export function placePagerDutyService(
  service: { id: string; summary?: string },
  config: PagerDutySourceConfig,
): { service: string; environment: string } | undefined {
  const services = config.services ?? {};
  const environment = config.environment ?? 'production';
  const entry =
    (Object.hasOwn(services, service.id) ? services[service.id] : undefined) ??
    (service.summary && Object.hasOwn(services, service.summary) ? services[service.summary] : undefined);
  if (entry) return { service: entry.service, environment: entry.environment ?? environment };
  if (config.unmapped === 'ignore') return undefined;
  return { service: (service.summary ?? service.id).slice(0, MAX_NAME_CHARS), environment };
}

/**
 * The incident body a delivery makes: keyed by the PagerDuty incident id, opened at the incident's
 * `created_at` (else the event's time), resolved at the `incident.resolved` event's time; severity is the
 * incident's priority (`P1`) when it has one, else its urgency (`high`/`low`).
 */
export function pagerDutyIncidentBody(
  delivery: PagerDutyIncidentDelivery,
  place: { service: string; environment: string },
): IncidentBody {
  const { event_type: eventType, occurred_at: occurredAt, data } = delivery.event;
  const row = PAGERDUTY_EVENT_TABLE[eventType];
  const status = row.status === 'from-data' ? (data.status === 'resolved' ? 'resolved' : 'open') : row.status;
  const severity = data.priority?.summary ?? data.urgency ?? undefined;
  return {
    id: data.id,
    service: place.service,
    environment: place.environment,
    status,
    title: data.title.length > MAX_TITLE_CHARS ? `${data.title.slice(0, MAX_TITLE_CHARS - 1)}…` : data.title,
    ...(severity ? { severity: severity.slice(0, MAX_SEVERITY_CHARS) } : {}),
    ...(data.html_url ? { url: data.html_url } : {}),
    openedAt: data.created_at ?? occurredAt,
    // A priority change of a resolved incident keeps the time it was resolved.
    ...(eventType === 'incident.resolved' ? { resolvedAt: occurredAt } : {}),
  };
}

/** `POST /v1/hooks/pagerduty` (api/optional-routes.ts): a V3 webhook subscription's incident events. */
export function pagerDutyHook(context: RouteContext): Handler {
  return async (c) => {
    const configured = context.config.sources.pagerduty;
    if (!configured) return notConfigured(c, PAGERDUTY_SOURCE);
    const raw = new Uint8Array(await c.req.arrayBuffer());
    const secret = await sourceSecret(context, configured.secret);
    const webhookId = c.req.header('x-webhook-id');
    if (!pagerDutySignatureValid(c.req.header('x-pagerduty-signature'), raw, secret)) {
      context.logger.warn('PagerDuty webhook refused: X-PagerDuty-Signature does not verify', {
        webhookId,
      });
      return unauthorized(c, 'X-PagerDuty-Signature');
    }
    const body = parseWebhookJson(raw);
    const envelope = envelopeSchema().safeParse(body);
    if (!envelope.success) throw new InvalidInputError('request body', issuesFromZod(envelope.error));
    const { id: eventId, event_type: eventType } = envelope.data.event;
    // The event id is signed (X-Webhook-Id is not, so a captured body resent under a new one would apply
    // again); every retry of a delivery carries the same body. Without an event id, X-Webhook-Id.
    const delivery =
      (DELIVERY_ID.test(eventId) ? eventId : undefined) ?? deliveryId(webhookId, 'X-Webhook-Id');
    return answerOnce(c, context, 'pagerduty:delivery', delivery, raw, async () => {
      const answer = await handle(eventType, body, configured, context);
      context.logger.info('PagerDuty webhook handled', {
        eventType,
        eventId,
        delivery,
        ...answer.body,
      });
      return answer;
    });
  };
}

function ignored(eventType: string, reason: string): HookAnswer & { remember: false } {
  return { status: 202, body: { ignored: eventType, reason }, remember: false };
}

async function handle(
  eventType: string,
  body: Record<string, unknown>,
  configured: PagerDutySourceConfig,
  context: RouteContext,
): Promise<HookAnswer & { remember?: boolean }> {
  if (eventType === PING_EVENT_TYPE) {
    return ignored(eventType, 'a PagerDuty test delivery: the subscription reaches Shipcast and is signed');
  }
  if (!Object.hasOwn(PAGERDUTY_EVENT_TABLE, eventType)) {
    return ignored(
      eventType,
      `Shipcast records ${Object.keys(PAGERDUTY_EVENT_TABLE).join(', ')}; this event was not stored`,
    );
  }
  const parsed = incidentDeliverySchema().safeParse(body);
  if (!parsed.success) throw new InvalidInputError('request body', issuesFromZod(parsed.error));
  const delivery = parsed.data;
  const { data, occurred_at: occurredAt } = delivery.event;
  const place = placePagerDutyService(data.service, configured);
  if (!place) {
    return ignored(
      eventType,
      `PagerDuty service ${data.service.id} is not in sources.pagerduty.services (unmapped: ignore)`,
    );
  }
  if (
    eventType === 'incident.resolved' &&
    data.created_at &&
    Date.parse(occurredAt) < Date.parse(data.created_at)
  ) {
    throw new InvalidInputError('request body', [
      { path: 'event.occurred_at', message: `must not be before event.data.created_at (${data.created_at})` },
    ]);
  }
  const { incident, created } = await applyIncident(
    PAGERDUTY_SOURCE,
    pagerDutyIncidentBody(delivery, place),
    {
      store: context.store,
      now: context.clock.now().toISOString(),
      productionEnvironments: productionEnvironments(context.config),
      reopen: PAGERDUTY_EVENT_TABLE[eventType as HandledEventType].reopen,
    },
  );
  return {
    status: 202,
    body: {
      kind: 'incident',
      incidentId: incident.id,
      status: incident.status,
      created,
      deploymentId: incident.deploymentId ?? null,
      link: incident.link,
    },
  };
}

/** The hook's OpenAPI path and schema (merged into the API's document). */
export function pagerDutyOpenApi(): { paths: Record<string, unknown>; schemas: Record<string, unknown> } {
  const error = (description: string) => ({
    description,
    content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
  });
  return {
    paths: {
      [PAGERDUTY_HOOK_PATH]: {
        post: {
          summary:
            'PagerDuty V3 webhook: incident triggered, acknowledged, reopened, priority updated, resolved',
          description:
            'Verified with X-PagerDuty-Signature (v1= HMAC-SHA256 of the raw body under the subscription’s ' +
            'signing secret, sources.pagerduty.secret) before anything is read. Each PagerDuty incident is one ' +
            'Shipcast incident, placed by sources.pagerduty.services; a redelivery (same X-Webhook-Id) answers ' +
            'the first answer again. Other event types (and the test ping) are answered 202 and ignored. No bearer token.',
          security: [{ pagerDutySignature: [] }],
          parameters: [
            {
              name: 'X-Webhook-Id',
              in: 'header',
              required: false,
              schema: { type: 'string', maxLength: 255 },
            },
          ],
          requestBody: { required: true, content: { 'application/json': { schema: { type: 'object' } } } },
          responses: {
            '202': {
              description: 'The incident recorded, or the event ignored (nothing stored)',
              content: { 'application/json': { schema: { $ref: '#/components/schemas/PagerDutyAccepted' } } },
            },
            '400': error(
              'Not a JSON object, or a field Shipcast needs is missing or malformed; every problem with its path',
            ),
            '401': error('X-PagerDuty-Signature missing or not valid for the body'),
            '404': error('PagerDuty webhooks are not configured (sources.pagerduty)'),
            '413': error('Body over 1 MiB'),
            '422': error('A delivery id seen before with a different body'),
          },
        },
      },
    },
    schemas: {
      PagerDutyAccepted: {
        type: 'object',
        properties: {
          kind: { type: 'string', const: 'incident' },
          incidentId: { type: 'string' },
          status: { type: 'string', enum: ['open', 'resolved'] },
          created: { type: 'boolean' },
          deploymentId: { type: ['string', 'null'] },
          link: { type: 'string', enum: ['given', 'auto', 'none'] },
          ignored: { type: 'string', description: 'The event type, when the event was not stored' },
          reason: { type: 'string' },
        },
      },
    },
  };
}
