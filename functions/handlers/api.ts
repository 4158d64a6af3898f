import type { Hono } from 'hono';
import { createApi } from '../core/api/app.ts';
import { readDashboardFiles } from '../dashboard/files.ts';
import { awsRuntime } from './aws-runtime.ts';
import { type FunctionUrlEvent, type FunctionUrlResult, serveFunctionUrl } from './function-url.ts';
import { embeddedOpenApi } from './openapi-embedded.ts';

let app: Hono | undefined;

/** Lambda entry point of the HTTP API (function URL, payload format 2.0). */
export const handler = async (event: FunctionUrlEvent): Promise<FunctionUrlResult> => {
  app ??= createApi({
    ...(await awsRuntime({ ingestQueue: true, openApi: embeddedOpenApi })).api,
    // The construct copies the dashboard's files next to this bundle; read on the first request for them.
    dashboard: () => readDashboardFiles(new URL('./dashboard/', import.meta.url)),
  }) as unknown as Hono;
  return serveFunctionUrl(event, (request) => app!.fetch(request));
};
