import type { ApiContext } from '../core/api/app.ts';
import type { RareRoutesLoader } from '../core/api/context.ts';
import type { ShipcastConfig } from '../core/config.ts';
import type { DispatchContext } from '../core/dispatch.ts';
import type { HttpClient } from '../core/http-client.ts';
import type { IngestContext } from '../core/ingest.ts';
import type {
  Clock,
  DeploymentOperations,
  DeploymentStore,
  DispatchQueue,
  Enricher,
  EventBus,
  IngestQueue,
  RateLimiter,
  SecretSource,
  SesSender,
} from '../core/ports.ts';
import { systemClock } from '../core/ports.ts';
import { createLogger, createMetrics, type Logger, type Metrics } from '../core/telemetry.ts';

/** The adapters a runtime is built from: AWS ones in Lambda, local ones under `npm start` and in tests. */
export interface Adapters {
  config: ShipcastConfig;
  store: DeploymentStore;
  queue: DispatchQueue;
  secrets: SecretSource;
  /** Shared rate limits (the DynamoDB store implements it). */
  limiter: RateLimiter;
  enrichers?: Record<string, Enricher>;
  clock?: Clock;
  /**
   * Outbound HTTP: the dispatcher's targets need it (its entry point passes it); the API's Slack interactions make
   * their own without it. Not constructed here, so the API and ingest bundles do not carry the client.
   */
  http?: HttpClient;
  logger?: Logger;
  metrics?: Metrics;
  /** The ingest queue, for the API's SNS HTTP(S) subscriptions (see ApiContext.ingestQueue). */
  ingestQueue?: IngestQueue;
  /** The OpenAPI document the API serves (see ApiContext.openApi). */
  openApi?: () => Record<string, unknown>;
  /** The dispatcher's event bus (the `eventbridge` target). */
  eventBus?: EventBus;
  /** Amazon SES for the `email` target (the dispatcher only). */
  ses?: SesSender;
  /** CodeDeploy's StopDeployment (the API only, when operators may stop deployments). */
  operations?: DeploymentOperations;
  /** Loads the API's rare routes (see RouteContext.rareRoutes); the API needs it. */
  rareRoutes?: RareRoutesLoader;
}

/** Everything the handlers need, built once per process from the adapters. */
export interface Runtime {
  ingest: IngestContext;
  dispatch: DispatchContext;
  api: ApiContext;
}

/** Wires the same core to whichever adapters it is given. */
export function buildRuntime(adapters: Adapters): Runtime {
  const logger = adapters.logger ?? createLogger();
  const metrics = adapters.metrics ?? createMetrics();
  const clock = adapters.clock ?? systemClock;
  const base = {
    config: adapters.config,
    store: adapters.store,
    queue: adapters.queue,
    clock,
    logger,
    metrics,
  };
  const ingest: IngestContext = { ...base, enrichers: adapters.enrichers };
  const { http } = adapters;
  return {
    ingest,
    dispatch: {
      ...base,
      secrets: adapters.secrets,
      limiter: adapters.limiter,
      get http(): HttpClient {
        if (!http) throw new Error('the dispatcher has no HTTP client: pass adapters.http to buildRuntime');
        return http;
      },
      eventBus: adapters.eventBus,
      ses: adapters.ses,
    },
    api: {
      ...ingest,
      secrets: adapters.secrets,
      ingestQueue: adapters.ingestQueue,
      openApi: adapters.openApi,
      http,
      operations: adapters.operations,
      rareRoutes:
        adapters.rareRoutes ??
        (() =>
          Promise.reject(new Error('the API has no rare routes: pass adapters.rareRoutes to buildRuntime'))),
    },
  };
}
