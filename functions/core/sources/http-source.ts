import type { Hono } from 'hono';
import type { RouteContext } from '../api/context.ts';

/**
 * A source that arrives over HTTP (vendor webhooks, compatible APIs). Each lives in its own file with its
 * status table, its verification and its routes; registering it is one line in `sources/index.ts`.
 * Routes verify the caller before parsing or storing anything, answer a clear 4xx naming the problem,
 * and store nothing for a rejected request.
 */
export interface HttpSource {
  name: string;
  /** Adds the source's routes to the API app (the same app serves Lambda and local mode). */
  mount(app: Hono<{ Variables: { token: string } }>, context: RouteContext): void;
}
