import type { Hono } from 'hono';
import { CodeDeployOperations } from '../adapters/aws/codedeploy-operations.ts';
import { createApi } from '../core/api/app.ts';
import { readDashboardFiles } from '../dashboard/files.ts';
import { awsRuntime } from './aws-runtime.ts';
import { ENV } from './env.ts';
import { type FunctionUrlEvent, type FunctionUrlResult, serveFunctionUrl } from './function-url.ts';
import { embeddedOpenApi } from './openapi-embedded.ts';
import { rareRoutesBeside } from './rare-routes-file.ts';

let app: Hono | undefined;

/** Lambda entry point of the HTTP API (function URL, payload format 2.0). */
export const handler = async (event: FunctionUrlEvent): Promise<FunctionUrlResult> => {
  app ??= createApi({
    ...(
      await awsRuntime({
        ingestQueue: true,
        // Written next to this bundle by the construct, like the dashboard; read on the first request for it.
        openApi: () => embeddedOpenApi(new URL('./', import.meta.url)),
        operations: () => {
          const account = process.env[ENV.stopAccount];
          return account ? new CodeDeployOperations({ accounts: [account] }) : undefined;
        },
        // Built next to this bundle by the construct; imported on the first request to one of the rare routes.
        rareRoutes: rareRoutesBeside(new URL('./', import.meta.url)),
      })
    ).api,
    // The construct copies the dashboard's files next to this bundle; read on the first request for them.
    dashboard: () => readDashboardFiles(new URL('./dashboard/', import.meta.url)),
  }) as unknown as Hono;
  return serveFunctionUrl(event, (request) => app!.fetch(request));
};
