import type { Context, Handler, Hono, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { ShipcastConfig } from '../config.ts';
import { notConfigured, webhookBodyLimit } from '../sources/webhook-signature.ts';
import type { RouteContext } from './context.ts';

/**
 * A POST route that only some configs turn on: a vendor's webhook, Slack's buttons. While the config turns it off,
 * it checks the body limit and answers `off`, as before; while on, it loads its handler's module on its first
 * request (`import()`). The construct leaves the modules of the routes a config turns off out of the API bundle
 * (lib/shipcast.ts `unusedOptionalModules` marks `module` external: esbuild matches it as written in `load`).
 */
export interface OptionalRoute {
  /** The source it belongs to (docs/sources/<name>.md), if any. */
  source?: string;
  path: string;
  /** The specifier `load` imports the handler's module with, exactly as written there. */
  module: string;
  enabled(config: ShipcastConfig): boolean;
  /** The body limit, checked first whether on or off. */
  limit(): MiddlewareHandler;
  /** The answer while the config turns the route off. */
  off(c: Context): Response;
  /** The handler's factory, from its module. */
  load(): Promise<(context: RouteContext) => Handler>;
}

type App = Hono<{ Variables: { token: string } }>;

/** Adds `route` to the app; its module is loaded on the first request while the route is on. */
export function mountOptionalRoute(app: App, context: RouteContext, route: OptionalRoute): void {
  let handler: Promise<Handler> | undefined;
  app.post(route.path, route.limit(), async (c, next) => {
    if (!route.enabled(context.config)) return route.off(c);
    handler ??= route.load().then((create) => create(context));
    return (await handler)(c, next);
  });
}

/** Largest SNS message body: SNS sends at most 256 KiB. */
const SNS_MAX_BODY_BYTES = 256 * 1024;

/** A vendor's signed webhook, `POST /v1/hooks/<name>` from `../sources/<name>.ts`, on while `sources.<name>` is set. */
function signedHook(name: 'github' | 'gitlab' | 'pagerduty', load: OptionalRoute['load']): OptionalRoute {
  return {
    source: name,
    path: `/v1/hooks/${name}`,
    module: `../sources/${name}.ts`,
    enabled: (config) => config.sources[name] !== undefined,
    limit: webhookBodyLimit,
    off: (c) => notConfigured(c, name),
    load,
  };
}

/** The webhook routes of the sources a config turns on (`sources.<name>`), in the order they are mounted. */
export const OPTIONAL_SOURCE_ROUTES: readonly OptionalRoute[] = [
  {
    source: 'sns',
    path: '/v1/hooks/sns',
    module: '../sources/sns-http.ts',
    enabled: (config) => Boolean(config.sources.sns?.topicArns),
    limit: () =>
      bodyLimit({
        maxSize: SNS_MAX_BODY_BYTES,
        onError: (c) =>
          c.json(
            { error: 'payload_too_large', message: `SNS messages are at most ${SNS_MAX_BODY_BYTES} bytes` },
            413,
          ),
      }),
    off: (c) => c.json({ error: 'not_found', message: 'SNS HTTP subscriptions are not configured' }, 404),
    load: () => import('../sources/sns-http.ts').then((m) => m.snsHook),
  },
  signedHook('github', () => import('../sources/github.ts').then((m) => m.githubHook)),
  signedHook('gitlab', () => import('../sources/gitlab.ts').then((m) => m.gitlabHook)),
  signedHook('pagerduty', () => import('../sources/pagerduty.ts').then((m) => m.pagerDutyHook)),
];

/** Slack's Interactivity request URL: on while a Slack target has `actions` (docs/targets/slack.md). */
export const SLACK_INTERACTIONS_ROUTE: OptionalRoute = {
  path: '/v1/hooks/slack/interactions',
  module: './slack-interactions.ts',
  enabled: (config) =>
    Object.values(config.targets).some(
      (target) => target.type === 'slack' && (target as { actions?: unknown }).actions,
    ),
  limit: webhookBodyLimit,
  off: (c) =>
    c.json(
      { error: 'not_found', message: 'no Slack target has actions configured (docs/targets/slack.md)' },
      404,
    ),
  load: () => import('./slack-interactions.ts').then((m) => m.slackInteractions),
};

/** Every optional route of the API. */
export const OPTIONAL_ROUTES: readonly OptionalRoute[] = [
  ...OPTIONAL_SOURCE_ROUTES,
  SLACK_INTERACTIONS_ROUTE,
];
