import { InvalidInputError } from '../errors.ts';

/** How deep a JSON body may nest. Deployment events are shallow; deeper input is an attack or a mistake. */
export const MAX_JSON_DEPTH = 32;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Parses an untrusted JSON body: not JSON, nested deeper than MAX_JSON_DEPTH, or carrying a
 * `__proto__` / `constructor` / `prototype` key anywhere is an InvalidInputError naming where.
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
  check(value, '', 0, where);
  return value;
}

function check(value: unknown, path: string, depth: number, where: string): void {
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
    check((value as Record<string, unknown>)[key], at, depth + 1, where);
  }
}
