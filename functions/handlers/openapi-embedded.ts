import { brotliCompressSync, brotliDecompressSync, constants } from 'node:zlib';
import { ENV } from './env.ts';

let document: Record<string, unknown> | undefined;

/**
 * The OpenAPI document embedded in the API function at synth (`embedOpenApi`), decoded on first request.
 * The JSON Schema generator that builds it (`core/api/openapi.ts`) stays out of the Lambda bundle.
 */
export function embeddedOpenApi(): Record<string, unknown> {
  if (document) return document;
  // esbuild replaces this expression with the compressed document; the other env vars are real ones.
  const embedded = process.env.SHIPCAST_OPENAPI_BR;
  if (!embedded) {
    throw new Error(`${ENV.openApi} is not set; deploy Shipcast with its CDK construct`);
  }
  document = JSON.parse(brotliDecompressSync(Buffer.from(embedded, 'base64')).toString('utf8')) as Record<
    string,
    unknown
  >;
  return document;
}

/** `document` as the API function embeds it: brotli at its best quality, base64 (about 1/6 of the JSON). */
export function embedOpenApi(document: Record<string, unknown>): string {
  const json = Buffer.from(JSON.stringify(document), 'utf8');
  return brotliCompressSync(json, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
      [constants.BROTLI_PARAM_SIZE_HINT]: json.length,
    },
  }).toString('base64');
}
