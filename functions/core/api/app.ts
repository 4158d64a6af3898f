import { randomUUID } from 'node:crypto';
import { bodyLimit } from 'hono/body-limit';
import { Hono } from 'hono/tiny';
import { InvalidInputError, issuesFromZod } from '../errors.ts';
import { eventIdFor, stableHash } from '../ids.ts';
import { ingestEvents } from '../ingest.ts';
import { lazy } from '../lazy.ts';
import type { IdempotentResult } from '../ports.ts';
import type { Delivery, Deployment } from '../schema.ts';
import { HTTP_SOURCES } from '../sources/index.ts';
import {
  checkShipcastDeployment,
  hasIdentity,
  normalizeNativeEvent,
  parseNativeEvent,
  SHIPCAST_DEPLOYMENT_ID,
} from '../sources/native.ts';
import { STATUSES } from '../status.ts';
import { deploymentTimeline, MAX_CI_EVENTS_PAGE, publicCiEvent, timelineSubject } from '../timeline.ts';
import { publicDeployment, publicIncident } from '../view.ts';
import * as z from '../zod-mini.ts';
import { answerErrors } from './answers.ts';
import { bearerToken, grants, requireScope, scopesOf } from './auth.ts';
import type { RouteContext } from './context.ts';
import { type DashboardFiles, mountDashboard } from './dashboard.ts';
import { mountDeploymentActions } from './deployment-actions.ts';
import { parseJsonBody, readUtf8Body } from './json.ts';
import { mountOptionalRoute, SLACK_INTERACTIONS_ROUTE } from './optional-routes.ts';
import { mountRareRoutes } from './rare-routes.ts';

/** What the HTTP API needs: everything ingest needs, the secrets that hold the API tokens, what its routes use. */
export interface ApiContext extends RouteContext {
  /**
   * The OpenAPI document served at `/v1/openapi.json` (no route without it): generated from the schemas
   * locally and in tests (`api/openapi.ts`), generated at synth and written next to the Lambda bundle (the same document).
   */
  openApi?: () => Record<string, unknown>;
  /**
   * The web dashboard's files, served at `/` (no route without it): read from functions/dashboard/ locally,
   * copied next to the bundle at synth in Lambda; called on the first request for them, never at cold start.
   */
  dashboard?: () => DashboardFiles | Promise<DashboardFiles>;
}

/** Largest accepted request body. Larger ones are answered 413 before they are parsed. */
export const MAX_BODY_BYTES = 64 * 1024;

const listQuerySchema = lazy(() =>
  z.strictObject({
    service: z.optional(z.string().check(z.minLength(1), z.maxLength(128))),
    environment: z.optional(z.string().check(z.minLength(1), z.maxLength(128))),
    status: z.optional(z.enum(STATUSES, { error: `must be one of ${STATUSES.join(', ')}` })),
    source: z.optional(z.string().check(z.minLength(1), z.maxLength(64))),
    from: z.optional(listTime()),
    to: z.optional(listTime()),
    limit: z._default(z.coerce.number().check(z.int(), z.gte(1), z.lte(100)), 20),
    cursor: z.optional(z.string().check(z.minLength(1), z.maxLength(2048))),
  }),
);

function listTime() {
  return z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time, e.g. 2026-03-01T00:00:00Z' });
}

const ciEventsQuerySchema = lazy(() =>
  z.strictObject({
    limit: z._default(
      z.coerce.number().check(z.int(), z.gte(1), z.lte(MAX_CI_EVENTS_PAGE)),
      MAX_CI_EVENTS_PAGE,
    ),
    cursor: z.optional(z.string().check(z.minLength(1), z.maxLength(2048))),
  }),
);
/** Incidents `GET /v1/deployments/{id}` shows at most (oldest first). */
const MAX_DEPLOYMENT_INCIDENTS = 50;

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

type Variables = { token: string };

/** The Shipcast HTTP API: the same app behind a Lambda function URL and under `npm start`. */
export function createApi(context: ApiContext): Hono<{ Variables: Variables }> {
  const app = new Hono<{ Variables: Variables }>();
  const { logger } = context;

  answerErrors(app, logger);

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  if (context.dashboard) mountDashboard(app, context.dashboard);
  app.use('/v1/*', async (c, next) => {
    // Vendor webhooks prove who sent them with their own signatures (their source checks them).
    if (c.req.path.startsWith('/v1/hooks/')) return next();
    const token = await bearerToken(c.req.header('authorization'), context);
    if (!token) {
      c.header('www-authenticate', 'Bearer realm="shipcast"');
      return c.json(
        { error: 'unauthorized', message: 'send Authorization: Bearer <token> with a configured API token' },
        401,
      );
    }
    c.set('token', token);
    return next();
  });

  // Like every /v1 route but the vendor hooks, the description of the API needs a token.
  const { openApi } = context;
  if (openApi) app.get('/v1/openapi.json', (c) => c.json(openApi()));

  app.post(
    '/v1/events',
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
      const key = c.req.header('idempotency-key');
      if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
        throw new InvalidInputError('headers', [
          { path: 'Idempotency-Key', message: 'must be 1-255 printable ASCII characters without spaces' },
        ]);
      }
      const raw = await readUtf8Body(c.req);
      const scope = `native:${c.get('token')}`;
      const requestHash = stableHash(raw);
      const ttlSeconds = context.config.api.idempotencyHours * 3600;
      // What holds the key decides: another body → 422; an answer → the same answer again; a request with
      // this body still in flight (or one that died before answering) → go on: ingest is idempotent by the
      // event id, which the key and the body determine.
      const heldBy = (holder: IdempotentResult) => {
        if (holder.requestHash !== requestHash) {
          return c.json(
            {
              error: 'idempotency_key_reused',
              message: 'this Idempotency-Key was used with a different request body',
            },
            422,
          );
        }
        if (!holder.response) return undefined;
        c.header('idempotent-replayed', 'true');
        return c.json(holder.response, 202);
      };
      const earlier = key ? await context.store.getIdempotent(scope, key) : undefined;
      const answered = earlier && heldBy(earlier);
      if (answered) return answered;
      const body = parseNativeEvent(parseJsonBody(raw));
      if (!key && !hasIdentity(body)) {
        // Each such request would be a new deployment: a retry would announce it twice.
        throw new InvalidInputError('headers', [
          {
            path: 'Idempotency-Key',
            message:
              'required when the body has no deploymentId, version or commit: without one of them a retry of this request would record and announce a second deployment',
          },
        ]);
      }
      const shipcast =
        body.deploymentId && SHIPCAST_DEPLOYMENT_ID.test(body.deploymentId)
          ? checkShipcastDeployment(body, await context.store.getDeployment(body.deploymentId))
          : undefined;
      if (key && !earlier) {
        // Claimed only once the body is valid (a 400 writes nothing); of two requests racing with one key,
        // the one that loses the claim is answered by the holder, so a different body is never applied.
        const holder = await context.store.claimIdempotent(scope, key, requestHash, ttlSeconds);
        const lost = holder && heldBy(holder);
        if (lost) return lost;
      }
      // The body is part of a keyed event's id: a key used again after its window, for another event,
      // is a new event, not a repeat of the old one.
      const eventId = key
        ? eventIdFor('native', scope, key, requestHash)
        : `evt_${randomUUID().replaceAll('-', '').slice(0, 24)}`;
      const event = normalizeNativeEvent(body, eventId, context.clock.now().toISOString(), shipcast);
      // Without a key, a retry of this request is a new event: it re-sends what it repeats.
      const [result] = await ingestEvents([event], context, { resendOnDuplicate: !key });
      const response = {
        eventId: event.eventId,
        deploymentId: event.deploymentId,
        status: result?.status ?? null,
      };
      if (key) {
        await context.store.putIdempotent(scope, key, { requestHash, response }, ttlSeconds);
      }
      logger.info('event accepted', { ...response, disposition: result?.disposition });
      return c.json(response, 202);
    },
  );

  // Reads need deployments:read; `POST /v1/deployments/{id}/actions` has its own scope (deployments:write).
  const readDeployments = requireScope(context.config, 'deployments:read');
  app.use('/v1/deployments', readDeployments);
  app.use('/v1/deployments/*', (c, next) =>
    c.req.method === 'POST' && c.req.path.endsWith('/actions') ? next() : readDeployments(c, next),
  );
  app.get('/v1/deployments', async (c) => {
    const parsed = listQuerySchema().safeParse(c.req.query());
    if (!parsed.success) throw new InvalidInputError('query', issuesFromZod(parsed.error));
    // Compared as strings with the stored `createdAt`: written the way toISOString writes it.
    const from = parsed.data.from ? new Date(parsed.data.from).toISOString() : undefined;
    const to = parsed.data.to ? new Date(parsed.data.to).toISOString() : undefined;
    if (from && to && from >= to) {
      throw new InvalidInputError('query', [{ path: 'from', message: 'must be before to' }]);
    }
    const page = await context.store.listDeployments({ ...parsed.data, from, to });
    return c.json({ deployments: page.items.map(publicDeployment), cursor: page.cursor ?? null });
  });

  app.get('/v1/deployments/:id', async (c) => {
    const id = c.req.param('id');
    const deployment = SHIPCAST_DEPLOYMENT_ID.test(id) ? await context.store.getDeployment(id) : undefined;
    if (!deployment) return c.json({ error: 'not_found', message: `no deployment ${id}` }, 404);
    const [events, deliveries, timeline, incidents] = await Promise.all([
      context.store.listEvents(id),
      context.store.listDeliveries(id),
      deploymentTimeline(context.store, deployment),
      // Shown to tokens that may read incidents (every token with `read`).
      grants(scopesOf(context.config, c.get('token')), 'incidents:read')
        ? context.store.incidentsOfDeployment(id, MAX_DEPLOYMENT_INCIDENTS)
        : undefined,
    ]);
    return c.json({
      deployment: publicDeployment(deployment),
      events,
      deliveries: deliveryStates(deployment, deliveries),
      ...(timeline ? { timeline } : {}),
      ...(incidents ? { incidents: incidents.map(publicIncident) } : {}),
    });
  });

  app.get('/v1/deployments/:id/ci-events', async (c) => {
    const id = c.req.param('id');
    const parsed = ciEventsQuerySchema().safeParse(c.req.query());
    if (!parsed.success) throw new InvalidInputError('query', issuesFromZod(parsed.error));
    const deployment = SHIPCAST_DEPLOYMENT_ID.test(id) ? await context.store.getDeployment(id) : undefined;
    if (!deployment) return c.json({ error: 'not_found', message: `no deployment ${id}` }, 404);
    const subject = timelineSubject(deployment);
    if (!subject) return c.json({ repository: null, commit: null, events: [], cursor: null });
    const page = await context.store.ciEventsForCommit(subject.repository, subject.commit, parsed.data);
    return c.json({ ...subject, events: page.items.map(publicCiEvent), cursor: page.cursor ?? null });
  });
  mountDeploymentActions(app, context);
  mountRareRoutes(app, context, 'incidents');
  mountRareRoutes(app, context, 'metrics');

  for (const source of HTTP_SOURCES) source.mount(app, context);
  mountOptionalRoute(app, context, SLACK_INTERACTIONS_ROUTE);

  return app;
}

/** Per routed target: what was delivered, what is still owed, and the last error. */
export function deliveryStates(deployment: Deployment, deliveries: Delivery[]) {
  const targets = new Set<string>();
  for (const transition of deployment.transitions)
    for (const target of transition.targets) targets.add(target);
  return [...targets].sort().map((target) => {
    const routedSeqs = deployment.transitions.filter((t) => t.targets.includes(target)).map((t) => t.seq);
    const latestSeq = Math.max(...routedSeqs);
    const delivery = deliveries.find((d) => d.target === target);
    const deliveredSeq = delivery?.deliveredSeq ?? 0;
    const state =
      deliveredSeq >= latestSeq
        ? 'delivered'
        : delivery?.state === 'delivered' || !delivery
          ? 'pending'
          : delivery.state;
    return {
      target,
      state,
      latestSeq,
      deliveredSeq,
      deliveredStatus: delivery?.deliveredStatus ?? null,
      attempts: delivery?.attempts ?? 0,
      lastError: delivery?.lastError ?? null,
      updatedAt: delivery?.updatedAt ?? null,
      refs: delivery?.refs ?? {},
    };
  });
}
