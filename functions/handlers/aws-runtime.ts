import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoStore } from '../adapters/aws/dynamo-store.ts';
import { SecretsManagerSource } from '../adapters/aws/secrets-manager.ts';
import { SqsDispatchQueue, SqsIngestQueue } from '../adapters/aws/sqs-queue.ts';
import type { RareRoutesLoader } from '../core/api/context.ts';
import type { ShipcastConfig } from '../core/config.ts';
import { readValidatedConfig } from '../core/config-reader.ts';
import type { HttpClient } from '../core/http-client.ts';
import type { DeploymentOperations, Enricher, EventBus, SesSender } from '../core/ports.ts';
import { createMetrics } from '../core/telemetry.ts';
import { ENV } from './env.ts';
import { buildRuntime, type Runtime } from './runtime.ts';

/**
 * What one function adds to the shared AWS wiring. Each entry point passes only what it uses, so a function's
 * bundle holds only its own import graph (the dispatcher's has no source parser and no CodeDeploy client).
 */
export interface AwsRuntimeOptions {
  /** Enrichers by source name (ingest and API: CodeDeploy's BatchGetDeployments). */
  enrichers?: (config: ShipcastConfig) => Record<string, Enricher> | undefined;
  /** API only: forward SNS HTTP(S) notifications to the ingest queue (`SHIPCAST_INGEST_QUEUE_URL`). */
  ingestQueue?: boolean;
  /** The OpenAPI document (API only: the one embedded at synth). */
  openApi?: () => Record<string, unknown>;
  /** Dispatcher only: the targets' outbound HTTP client. */
  http?: () => HttpClient;
  /** Dispatcher only: the event bus of the `eventbridge` target. */
  eventBus?: () => EventBus;
  /** Dispatcher only: Amazon SES for the `email` target. */
  ses?: () => SesSender;
  /** API only: CodeDeploy's StopDeployment for operators (undefined: stops are refused). */
  operations?: () => DeploymentOperations | undefined;
  /** API only: loads its rare routes from the file next to its bundle. */
  rareRoutes?: RareRoutesLoader;
}

let runtime: Promise<Runtime> | undefined;

/** The runtime of a Lambda function: AWS adapters, built on first invocation and kept for the container's life. */
export function awsRuntime(options: AwsRuntimeOptions = {}): Promise<Runtime> {
  runtime ??= Promise.resolve().then(() => build(options));
  return runtime;
}

function build(options: AwsRuntimeOptions): Runtime {
  // Validated at synth (the construct's parseConfig) and baked in: trusted here, only its shape is checked.
  const config = readValidatedConfig(required(ENV.configJson), 'embedded config');
  const dynamodb = new DynamoDBClient({});
  const sqs = new SQSClient({});
  const store = new DynamoStore(dynamodb, required(ENV.table));
  return buildRuntime({
    config,
    store,
    limiter: store,
    queue: new SqsDispatchQueue(sqs, required(ENV.dispatchQueueUrl), required(ENV.dispatchDlqUrl)),
    secrets: new SecretsManagerSource(new SecretsManagerClient({}), process.env[ENV.secretPrefix] ?? ''),
    enrichers: options.enrichers?.(config),
    ingestQueue: options.ingestQueue ? new SqsIngestQueue(sqs, required(ENV.ingestQueueUrl)) : undefined,
    openApi: options.openApi,
    metrics: createMetrics(process.env[ENV.metricsService] || undefined),
    http: options.http?.(),
    eventBus: options.eventBus?.(),
    ses: options.ses?.(),
    operations: options.operations?.(),
    rareRoutes: options.rareRoutes,
  });
}

function required(name: string): string {
  // esbuild replaces process.env.SHIPCAST_CONFIG_JSON with the config at synth; the rest are real env vars.
  const value = name === ENV.configJson ? process.env.SHIPCAST_CONFIG_JSON : process.env[name];
  if (!value)
    throw new Error(`environment variable ${name} is not set; deploy Shipcast with its CDK construct`);
  return value;
}
