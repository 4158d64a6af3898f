import type { Hono } from 'hono';
import { handle } from 'hono/aws-lambda';
import { createApi } from '../core/api/app.ts';
import { awsRuntime } from './aws-runtime.ts';
import { awsEnrichers } from './enrichers.ts';

let app: Hono | undefined;

/** Lambda entry point of the HTTP API (function URL / API Gateway HTTP API payload 2.0). */
export const handler = async (
  event: Parameters<ReturnType<typeof handle>>[0],
  context: Parameters<ReturnType<typeof handle>>[1],
) => {
  app ??= createApi((await awsRuntime({ enrichers: awsEnrichers })).api) as unknown as Hono;
  return handle(app)(event, context);
};
