import { mountOptionalRoute, OPTIONAL_SOURCE_ROUTES } from '../api/optional-routes.ts';
import { mountRareRoutes } from '../api/rare-routes.ts';
import type { HttpSource } from './http-source.ts';

/** A source the config turns on (`sources.<name>`): its module is loaded on its route's first request. */
const optional = (name: string): HttpSource => {
  const route = OPTIONAL_SOURCE_ROUTES.find((r) => r.source === name)!;
  return { name, mount: (app, context) => mountOptionalRoute(app, context, route) };
};

/**
 * A source few deployments call (a drop-in for another tool's API): its routes are served from the API's rare
 * routes (`api/rare-routes.ts`), whose module is loaded on the first request to one of them.
 */
const rare = (name: 'bigpanda' | 'cdevents' | 'pipelines'): HttpSource => ({
  name,
  mount: (app, context) => mountRareRoutes(app, context, name),
});

/**
 * Every HTTP source beyond the native events API. Adding one is one line here plus its file (and, for one the
 * config turns on, its route in `api/optional-routes.ts`).
 */
export const HTTP_SOURCES: readonly HttpSource[] = [
  rare('bigpanda'),
  rare('cdevents'),
  optional('sns'),
  rare('pipelines'),
  optional('github'),
  optional('gitlab'),
  optional('pagerduty'),
];
