import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { CodeDeployEnricher } from '../adapters/aws/codedeploy-enricher.ts';
import { DynamoStore } from '../adapters/aws/dynamo-store.ts';
import { SecretsManagerSource } from '../adapters/aws/secrets-manager.ts';
import { SqsDispatchQueue } from '../adapters/aws/sqs-queue.ts';
import { parseConfig } from '../core/config.ts';
import { CODEDEPLOY_SOURCE } from '../core/sources/codedeploy.ts';
import { ENV } from './env.ts';
import { buildRuntime, type Runtime } from './runtime.ts';

let runtime: Promise<Runtime> | undefined;

/** The runtime of a Lambda function: AWS adapters, built on first invocation and kept for the container's life. */
export function awsRuntime(): Promise<Runtime> {
  runtime ??= Promise.resolve().then(build);
  return runtime;
}

function build(): Runtime {
  const config = parseConfig(JSON.parse(required(ENV.configJson)), 'embedded config');
  const dynamodb = new DynamoDBClient({});
  const sqs = new SQSClient({});
  const store = new DynamoStore(dynamodb, required(ENV.table));
  return buildRuntime({
    config,
    store,
    limiter: store,
    queue: new SqsDispatchQueue(sqs, required(ENV.dispatchQueueUrl), required(ENV.dispatchDlqUrl)),
    secrets: new SecretsManagerSource(new SecretsManagerClient({}), process.env[ENV.secretPrefix] ?? ''),
    enrichers: config.sources.codedeploy.enrich
      ? { [CODEDEPLOY_SOURCE]: new CodeDeployEnricher() }
      : undefined,
  });
}

function required(name: string): string {
  // esbuild replaces process.env.SHIPCAST_CONFIG_JSON with the config at synth; the rest are real env vars.
  const value = name === ENV.configJson ? process.env.SHIPCAST_CONFIG_JSON : process.env[name];
  if (!value)
    throw new Error(`environment variable ${name} is not set; deploy Shipcast with its CDK construct`);
  return value;
}
