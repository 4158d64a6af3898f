import type { Hono } from 'hono';
import { createApi } from '../core/api/app.ts';
import { awsRuntime } from './aws-runtime.ts';
import { embeddedDashboard } from './dashboard-embedded.ts';
import { type FunctionUrlEvent, type FunctionUrlResult, serveFunctionUrl } from './function-url.ts';
import { embeddedOpenApi } from './openapi-embedded.ts';

let app: Hono | undefined;

/** Lambda entry point of the HTTP API (function URL, payload format 2.0). */
export const handler = async (event: FunctionUrlEvent): Promise<FunctionUrlResult> => {
  app ??= createApi({
    ...(await awsRuntime({ ingestQueue: true, openApi: embeddedOpenApi })).api,
    dashboard: embeddedDashboard,
  }) as unknown as Hono;
  return serveFunctionUrl(event, (request) => app!.fetch(request));
};
