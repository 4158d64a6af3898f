import type { Hono as HonoApp } from 'hono';
import { Hono } from 'hono/tiny';
import { bigPandaSource } from '../sources/bigpanda.ts';
import { cdEventsSource } from '../sources/cdevents.ts';
import { pipelinesSource } from '../sources/pipelines.ts';
import { answerErrors } from './answers.ts';
import type { RareRoutes, RouteContext } from './context.ts';
import { mountIncidentRoutes, mountMetricRoutes } from './insights.ts';
import type { RareRouteFamily } from './rare-routes.ts';

type App = HonoApp<{ Variables: { token: string } }>;

/** Each family's routes (`RARE_ROUTE_FAMILIES` in rare-routes.ts lists their paths). */
const FAMILIES: Record<RareRouteFamily, (app: App, context: RouteContext) => void> = {
  incidents: mountIncidentRoutes,
  metrics: mountMetricRoutes,
  bigpanda: (app, context) => bigPandaSource.mount(app, context),
  cdevents: (app, context) => cdEventsSource.mount(app, context),
  pipelines: (app, context) => pipelinesSource.mount(app, context),
};

/**
 * The app of the API's rare routes, which the main app forwards their requests to (`mountRareRoutes`); the entry of
 * the `rare-routes.mjs` file the construct builds next to the API's Lambda bundle. Everything it uses comes in
 * `context` (store, config, clock, logger, secrets): in Lambda it shares no module state with the main bundle.
 */
export function createRareRoutes(context: RouteContext): RareRoutes {
  const app: App = new Hono<{ Variables: { token: string } }>();
  answerErrors(app, context.logger);
  app.use(async (c, next) => {
    const { token } = (c.env ?? {}) as { token?: string };
    if (token) c.set('token', token);
    await next();
  });
  for (const mount of Object.values(FAMILIES)) mount(app, context);
  return app;
}
