import type { Hono } from 'hono/tiny';
import { productionEnvironments } from '../config-reader.ts';
import { DoraWindowTooLargeError, doraFromStore } from '../dora-query.ts';
import { InvalidInputError, issuesFromZod } from '../errors.ts';
import { applyIncident, parseIncidentBody, SHIPCAST_INCIDENT_ID } from '../incidents.ts';
import { lazy } from '../lazy.ts';
import { publicIncident } from '../view.ts';
import * as z from '../zod-mini.ts';
import { requireScope } from './auth.ts';
import type { RouteContext as ApiContext } from './context.ts';
import { parseJsonBody, readUtf8Body } from './json.ts';

/** Longest DORA window, in days. */
export const DORA_MAX_WINDOW_DAYS = 366;
/** Services one DORA request may name. */
export const DORA_MAX_SERVICES = 20;

const name = () => z.string().check(z.minLength(1), z.maxLength(128));

const incidentListSchema = lazy(() =>
  z.strictObject({
    service: z.optional(name()),
    environment: z.optional(name()),
    status: z.optional(z.enum(['open', 'resolved'], { error: 'must be open or resolved' })),
    limit: z._default(z.coerce.number().check(z.int(), z.gte(1), z.lte(100)), 20),
    cursor: z.optional(z.string().check(z.minLength(1), z.maxLength(2048))),
  }),
);

const dateTime = () =>
  z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time, e.g. 2024-03-01T00:00:00Z' });

const doraQuerySchema = lazy(() =>
  z.strictObject({
    service: z.optional(z.string().check(z.minLength(1), z.maxLength(DORA_MAX_SERVICES * 129))),
    environment: z.optional(name()),
    from: z.optional(dateTime()),
    to: z.optional(dateTime()),
    interval: z._default(z.enum(['week', 'month'], { error: 'must be week or month' }), 'week'),
  }),
);

type Variables = { Variables: { token: string } };

/** Incidents: `POST /v1/incidents`, `GET /v1/incidents`, `GET /v1/incidents/{id}`. */
export function mountIncidentRoutes(app: Hono<Variables>, context: ApiContext): void {
  app.post('/v1/incidents', requireScope(context.config, 'incidents:write'), async (c) => {
    const body = parseIncidentBody(parseJsonBody(await readUtf8Body(c.req)));
    const { incident, created } = await applyIncident('api', body, {
      store: context.store,
      now: context.clock.now().toISOString(),
      productionEnvironments: productionEnvironments(context.config),
    });
    context.logger.info('incident recorded', { incidentId: incident.id, status: incident.status, created });
    return c.json({ incident: publicIncident(incident) }, created ? 201 : 200);
  });
  app.get('/v1/incidents', requireScope(context.config, 'incidents:read'), async (c) => {
    const parsed = incidentListSchema().safeParse(c.req.query());
    if (!parsed.success) throw new InvalidInputError('query', issuesFromZod(parsed.error));
    const page = await context.store.listIncidents(parsed.data);
    return c.json({ incidents: page.items.map(publicIncident), cursor: page.cursor ?? null });
  });
  app.get('/v1/incidents/:id', requireScope(context.config, 'incidents:read'), async (c) => {
    const id = c.req.param('id');
    const incident = SHIPCAST_INCIDENT_ID.test(id) ? await context.store.getIncident(id) : undefined;
    if (!incident) return c.json({ error: 'not_found', message: `no incident ${id}` }, 404);
    return c.json({ incident: publicIncident(incident) });
  });
}

/** `GET /v1/metrics/dora`: the five DORA metrics over a window, from bounded reads. */
export function mountMetricRoutes(app: Hono<Variables>, context: ApiContext): void {
  app.get('/v1/metrics/dora', requireScope(context.config, 'metrics:read'), async (c) => {
    const parsed = doraQuerySchema().safeParse(c.req.query());
    if (!parsed.success) throw new InvalidInputError('query', issuesFromZod(parsed.error));
    const q = parsed.data;
    const services = q.service?.split(',').map((s) => s.trim());
    const to = q.to ? new Date(q.to) : context.clock.now();
    const from = q.from ? new Date(q.from) : new Date(to.getTime() - 28 * 86_400_000);
    const problems: { path: string; message: string }[] = [];
    if (
      services &&
      (services.some((s) => s.length === 0 || s.length > 128) || services.length > DORA_MAX_SERVICES)
    ) {
      problems.push({
        path: 'service',
        message: `a service or a comma-separated list of at most ${DORA_MAX_SERVICES} services, each 1-128 characters`,
      });
    }
    if (from >= to) problems.push({ path: 'from', message: 'must be before to' });
    else if (to.getTime() - from.getTime() > DORA_MAX_WINDOW_DAYS * 86_400_000) {
      problems.push({ path: 'from', message: `the window is at most ${DORA_MAX_WINDOW_DAYS} days` });
    }
    if (problems.length > 0) throw new InvalidInputError('query', problems);
    try {
      const answer = await doraFromStore(context.store, {
        services: services ? [...new Set(services)] : undefined,
        environment: q.environment,
        from: from.toISOString(),
        to: to.toISOString(),
        interval: q.interval,
        productionEnvironments: productionEnvironments(context.config),
      });
      return c.json({ services: services ?? null, environment: q.environment ?? null, ...answer });
    } catch (error) {
      if (error instanceof DoraWindowTooLargeError) {
        return c.json({ error: 'window_too_large', message: error.message }, 422);
      }
      throw error;
    }
  });
}
