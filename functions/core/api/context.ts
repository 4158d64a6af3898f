import type { ShipcastConfig } from '../config.ts';
import type { HttpClient } from '../http-client.ts';
import type { IngestContext } from '../ingest.ts';
import type { DeploymentOperations, IngestQueue, SecretSource } from '../ports.ts';

/**
 * What the modules that add routes to the API (the HTTP sources, the incident and metric routes) use of its
 * context. They depend on this interface, not on `app.ts`, which imports them and passes its `ApiContext`.
 */
export interface RouteContext extends IngestContext {
  secrets: SecretSource;
  config: ShipcastConfig;
  /** How the SNS HTTP source reaches SNS (certificates, confirmations); the real HTTPS calls by default. */
  sns?: SnsHttpPort;
  /** Where verified SNS HTTP(S) notifications go (`POST /v1/hooks/sns` answers 503 without it). */
  ingestQueue?: IngestQueue;
  /** Outbound HTTP of the API (Slack's user groups and response URLs); a default client when absent. */
  http?: HttpClient;
  /** CodeDeploy's StopDeployment for operators (Slack buttons, `POST /v1/deployments/{id}/actions`). */
  operations?: DeploymentOperations;
  /**
   * Loads the module of the routes few requests take (`api/rare-routes.ts`): the .ts module under `npm start` and
   * in tests, the file the construct builds next to the Lambda bundle in AWS. Called on the first request to one.
   */
  rareRoutes: RareRoutesLoader;
}

/** The app of the API's rare routes (`api/rare-routes-app.ts`), as the main app forwards requests to it. */
export interface RareRoutes {
  /** Answers a request to a rare route; `token` is the name of the API token its caller presented, if any. */
  fetch(request: Request, env: { token?: string }): Response | Promise<Response>;
}

/** Loads the module of the API's rare routes (see RouteContext.rareRoutes). */
export type RareRoutesLoader = () => Promise<{ createRareRoutes(context: RouteContext): RareRoutes }>;

/** How Shipcast reaches SNS for certificates and subscription confirmations. Only validated AWS URLs are passed. */
export interface SnsHttpPort {
  fetchCertificate(url: string): Promise<string>;
  confirmSubscription(url: string): Promise<void>;
}
