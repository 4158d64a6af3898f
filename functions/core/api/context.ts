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
}

/** How Shipcast reaches SNS for certificates and subscription confirmations. Only validated AWS URLs are passed. */
export interface SnsHttpPort {
  fetchCertificate(url: string): Promise<string>;
  confirmSubscription(url: string): Promise<void>;
}
