import { readFileSync } from 'node:fs';
import { brotliCompressSync, brotliDecompressSync, constants } from 'node:zlib';

/** The file the construct writes the API's OpenAPI document to, next to the API bundle (`embedOpenApi`'s form). */
export const OPENAPI_FILE_NAME = 'openapi.json.br.b64';

let document: Record<string, unknown> | undefined;

/**
 * The OpenAPI document the construct wrote next to the API bundle at synth, read and decoded on first request:
 * neither the JSON Schema generator that builds it (`core/api/openapi.ts`) nor the document is in the bundle.
 */
export function embeddedOpenApi(dir: URL): Record<string, unknown> {
  if (document) return document;
  const embedded = readFileSync(new URL(OPENAPI_FILE_NAME, dir), 'utf8');
  document = JSON.parse(brotliDecompressSync(Buffer.from(embedded, 'base64')).toString('utf8')) as Record<
    string,
    unknown
  >;
  return document;
}

/** `document` as the construct writes it: brotli at its best quality, base64 (about 1/6 of the JSON). */
export function embedOpenApi(document: Record<string, unknown>): string {
  const json = Buffer.from(JSON.stringify(document), 'utf8');
  return brotliCompressSync(json, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
      [constants.BROTLI_PARAM_SIZE_HINT]: json.length,
    },
  }).toString('base64');
}
