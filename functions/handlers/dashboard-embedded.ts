import { brotliDecompressSync } from 'node:zlib';
import type { DashboardFiles } from '../core/api/dashboard.ts';
import { ENV } from './env.ts';
import { embedOpenApi } from './openapi-embedded.ts';

/**
 * The dashboard's files embedded in the API function at synth (`embedDashboard`): one string constant,
 * decompressed on the first request for the dashboard, so the API's cold start never parses them.
 */
export function embeddedDashboard(): DashboardFiles {
  // esbuild replaces this expression with the compressed files; unset outside a synthesized bundle.
  const embedded = process.env.SHIPCAST_DASHBOARD_BR;
  if (!embedded) throw new Error(`${ENV.dashboard} is not set; deploy Shipcast with its CDK construct`);
  return JSON.parse(brotliDecompressSync(Buffer.from(embedded, 'base64')).toString('utf8')) as DashboardFiles;
}

/** `files` as the API function embeds them: JSON, brotli at its best quality, base64. */
export function embedDashboard(files: DashboardFiles): string {
  return embedOpenApi(files as unknown as Record<string, unknown>);
}
