import type { Hono } from 'hono';
import type { RareRoutes, RouteContext } from './context.ts';

/**
 * The API's route families few requests take (most deployments record CodeDeploy and native events and read
 * `/v1/deployments`), by family, with their paths as their modules mount them. Their code is not in the Lambda
 * bundle: the construct builds it into a second file next to it (`rare-routes.mjs`, docs/performance.md), loaded
 * on the first request to one of these paths. Locally and in tests the same app comes from the .ts modules.
 */
export const RARE_ROUTE_FAMILIES = {
  incidents: ['/v1/incidents', '/v1/incidents/:id'],
  metrics: ['/v1/metrics/dora'],
  bigpanda: ['/data/events/deployments/start', '/data/events/deployments/end'],
  cdevents: ['/v1/cdevents'],
  pipelines: ['/:username/apps/:app_name/events', '/:username/apps/:app_name/events/*'],
} as const satisfies Record<string, readonly string[]>;

/** A family of rare routes. */
export type RareRouteFamily = keyof typeof RARE_ROUTE_FAMILIES;

const loaded = new WeakMap<RouteContext, Promise<RareRoutes>>();

/**
 * Adds `family`'s paths to the app, every method: a request to one goes to the rare routes' app, loaded once per
 * API context (a load that fails is tried again by the next request), with the token the app authenticated.
 */
export function mountRareRoutes(
  app: Hono<{ Variables: { token: string } }>,
  context: RouteContext,
  family: RareRouteFamily,
): void {
  for (const path of RARE_ROUTE_FAMILIES[family]) {
    app.all(path, async (c) => {
      let routes = loaded.get(context);
      if (!routes) {
        routes = context.rareRoutes().then((module) => module.createRareRoutes(context));
        loaded.set(context, routes);
        routes.catch(() => loaded.delete(context));
      }
      let app: RareRoutes;
      try {
        app = await routes;
      } catch (error) {
        // Not the request's fault, and no retry of it helps: the deployed function lacks a file of its own.
        context.logger.error('the API could not load its rare routes (rare-routes.mjs next to its bundle)', {
          error,
          path: c.req.path,
        });
        return c.json(
          {
            error: 'unavailable',
            message:
              "this route's code could not be loaded (rare-routes.mjs next to the API function's bundle); " +
              "see the function's log, and deploy the stack again",
          },
          503,
        );
      }
      return app.fetch(c.req.raw, { token: c.get('token') });
    });
  }
}
