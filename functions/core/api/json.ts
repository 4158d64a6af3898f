import { InvalidInputError } from '../errors.ts';

/** How deep a JSON body may nest. Deployment events are shallow; deeper input is an attack or a mistake. */
export const MAX_JSON_DEPTH = 32;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
/** A UTF-16 surrogate without its pair: JSON's `\ud800` escape allows it, Unicode text (and UTF-8) does not. */
const UNPAIRED_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** The body's bytes as text, or an InvalidInputError when they are not UTF-8 (never a silent U+FFFD). */
export function decodeUtf8(raw: Uint8Array, where = 'request body'): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch (error) {
    throw new InvalidInputError(where, [
      { path: '', message: `not valid UTF-8 (${(error as Error).message})` },
    ]);
  }
}

/** Reads a request's body as UTF-8 text (see decodeUtf8). */
export async function readUtf8Body(request: { arrayBuffer(): Promise<ArrayBuffer> }): Promise<string> {
  return decodeUtf8(new Uint8Array(await request.arrayBuffer()));
}

/**
 * A Content-Type header's media type, lower case and without parameters (`Application/JSON; charset=UTF-8`
 * is `application/json`): RFC 9110 §8.3.1, type and subtype are case-insensitive and parameters follow `;`.
 */
export function mediaType(header: string | undefined): string {
  return (header ?? '').split(';', 1)[0]?.trim().toLowerCase() ?? '';
}

/**
 * Parses an untrusted JSON body: not JSON, nested deeper than MAX_JSON_DEPTH, carrying a
 * `__proto__` / `constructor` / `prototype` key anywhere, or a string that is not Unicode text (an
 * unpaired surrogate escape) is an InvalidInputError naming where.
 * (JSON.parse itself never pollutes a prototype, but code that later merges or copies the value could.)
 */
export function parseJsonBody(raw: string, where = 'request body'): unknown {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    throw new InvalidInputError(where, [
      { path: '', message: `not valid JSON (${(error as Error).message})` },
    ]);
  }
  assertSafeJson(value, where);
  return value;
}

/** The checks of `parseJsonBody` on a value some other code parsed (a JSON document inside a JSON string). */
export function assertSafeJson(value: unknown, where: string): void {
  check(value, '', 0, where);
}

function check(value: unknown, path: string, depth: number, where: string): void {
  if (typeof value === 'string') {
    if (UNPAIRED_SURROGATE.test(value)) {
      throw new InvalidInputError(where, [
        { path, message: 'not valid Unicode text (an unpaired surrogate escape)' },
      ]);
    }
    return;
  }
  if (value === null || typeof value !== 'object') return;
  if (depth >= MAX_JSON_DEPTH) {
    throw new InvalidInputError(where, [{ path, message: `nested deeper than ${MAX_JSON_DEPTH} levels` }]);
  }
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) check(item, `${path}[${i}]`, depth + 1, where);
    return;
  }
  for (const key of Object.keys(value)) {
    const at = path ? `${path}.${key}` : key;
    if (FORBIDDEN_KEYS.has(key))
      throw new InvalidInputError(where, [{ path: at, message: 'this key is not allowed' }]);
    if (UNPAIRED_SURROGATE.test(key)) {
      throw new InvalidInputError(where, [
        {
          path: at.replace(new RegExp(UNPAIRED_SURROGATE, 'g'), '\ufffd'),
          message: 'not valid Unicode text (an unpaired surrogate escape)',
        },
      ]);
    }
    check((value as Record<string, unknown>)[key], at, depth + 1, where);
  }
}
