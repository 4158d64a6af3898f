/**
 * vitest globalSetup: one DynamoDB Local for the whole run. Tests read its endpoint with
 * `inject('dynamodbEndpoint')` (see test/support/emulators.ts for clients and per-file tables).
 */
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { startDynamoDbLocal } from './dynamodb-local.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `http://127.0.0.1:<port>` of the run's DynamoDB Local (in memory, shared DB). */
    dynamodbEndpoint: string;
  }
}

/** Starts DynamoDB Local, provides its endpoint, and returns the teardown that kills the JVM. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dynamodbLocal = await startDynamoDbLocal();
  project.provide('dynamodbEndpoint', dynamodbLocal.endpoint);
  return () => dynamodbLocal.stop();
}
