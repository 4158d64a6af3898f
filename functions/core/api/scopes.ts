/**
 * What an API token may do. A route family's scope (`events:write`, …) grants its routes; `read` grants every
 * `…:read` scope, `write` every `…:write` scope, `admin` everything. A token configured without `scopes`
 * has `admin`: every route, as before scopes existed.
 */
export const SCOPES = [
  'events:write',
  'deployments:read',
  'deployments:write',
  'pipelines:read',
  'pipelines:write',
  'incidents:read',
  'incidents:write',
  'metrics:read',
  'read',
  'write',
  'admin',
] as const;
export type Scope = (typeof SCOPES)[number];
/** A scope a route needs (the shorthands `read`, `write` and `admin` only grant). */
export type RouteScope = Exclude<Scope, 'read' | 'write' | 'admin'>;
