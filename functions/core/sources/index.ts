import { mountOptionalRoute, OPTIONAL_SOURCE_ROUTES } from '../api/optional-routes.ts';
import { bigPandaSource } from './bigpanda.ts';
import { cdEventsSource } from './cdevents.ts';
import type { HttpSource } from './http-source.ts';
import { pipelinesSource } from './pipelines.ts';

/** A source the config turns on (`sources.<name>`): its module is loaded on its route's first request. */
const optional = (name: string): HttpSource => {
  const route = OPTIONAL_SOURCE_ROUTES.find((r) => r.source === name)!;
  return { name, mount: (app, context) => mountOptionalRoute(app, context, route) };
};

/**
 * Every HTTP source beyond the native events API. Adding one is one line here plus its file (and, for one the
 * config turns on, its route in `api/optional-routes.ts`).
 */
export const HTTP_SOURCES: readonly HttpSource[] = [
  bigPandaSource,
  cdEventsSource,
  optional('sns'),
  pipelinesSource,
  optional('github'),
  optional('gitlab'),
  optional('pagerduty'),
];
