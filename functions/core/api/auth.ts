import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { ShipcastConfig } from '../config.ts';
import type { SecretSource } from '../ports.ts';
import { type Logger, registerSecret } from '../telemetry.ts';
import type { RouteScope, Scope } from './scopes.ts';

/** What checking a credential needs. */
export interface AuthContext {
  config: ShipcastConfig;
  secrets: SecretSource;
  logger: Logger;
}

/** The name of the API token an `Authorization: Bearer …` header carries, or undefined. */
export async function bearerToken(
  header: string | undefined,
  context: AuthContext,
): Promise<string | undefined> {
  const match = /^Bearer ([\x21-\x7e]{1,512})$/.exec(header ?? '');
  return match ? apiTokenName(match[1] as string, context) : undefined;
}

/**
 * The name of the configured API token equal to `presented`, or undefined. Every token is compared
 * (no early exit) in constant time, so timing tells nothing about which one matched.
 */
export async function apiTokenName(presented: string, context: AuthContext): Promise<string | undefined> {
  const digest = sha256(presented);
  let found: string | undefined;
  for (const token of context.config.api.tokens) {
    let value: string;
    try {
      value = await context.secrets.get(token.secret);
    } catch (error) {
      // One unreadable token must not lock out the callers of the others.
      context.logger.error('an API token secret cannot be read; that token is refused', {
        token: token.name,
        error: (error as Error).message,
      });
      continue;
    }
    registerSecret(value);
    if (timingSafeEqual(digest, sha256(value)) && !found) found = token.name;
  }
  return found;
}

/** The scopes of the configured token named `name` (`admin` when it lists none). */
export function scopesOf(config: ShipcastConfig, name: string): readonly Scope[] {
  return config.api.tokens.find((token) => token.name === name)?.scopes ?? ['admin'];
}

/** Whether `scopes` grant `needed`, directly or through `read`, `write` or `admin`. */
export function grants(scopes: readonly Scope[], needed: RouteScope): boolean {
  return (
    scopes.includes(needed) ||
    scopes.includes('admin') ||
    scopes.includes(needed.endsWith(':read') ? 'read' : 'write')
  );
}

/**
 * The 403 answer for a token without the scope a route needs, or undefined when it has it. Names the token
 * (its config name, never its value) and the scope to add.
 */
export function missingScope(
  config: ShipcastConfig,
  tokenName: string,
  needed: RouteScope,
): { error: string; message: string } | undefined {
  const scopes = scopesOf(config, tokenName);
  if (grants(scopes, needed)) return undefined;
  const broader = needed.endsWith(':read') ? 'read' : 'write';
  return {
    error: 'forbidden',
    message: `the API token "${tokenName}" lacks the scope ${needed} this route needs (${broader} or admin grant it too); its scopes: ${scopes.join(', ')}`,
  };
}

/**
 * Hono middleware answering 403 unless the caller's token (set by the authentication before it) has `needed`,
 * and 401 when no authentication ran before it (fails closed: a route mounted without it grants nothing).
 */
export function requireScope(
  config: ShipcastConfig,
  needed: RouteScope,
): MiddlewareHandler<{ Variables: { token: string } }> {
  return async (c, next) => {
    const token = c.get('token') as string | undefined;
    if (token === undefined) {
      return c.json(
        { error: 'unauthorized', message: 'this route needs Authorization: Bearer <token>' },
        401,
      );
    }
    const forbidden = missingScope(config, token, needed);
    if (forbidden) return c.json(forbidden, 403);
    await next();
  };
}

/** Constant-time equality of two secrets of any length (compares their SHA-256 digests). */
export function secretsEqual(presented: string, expected: string): boolean {
  return timingSafeEqual(sha256(presented), sha256(expected));
}

function sha256(value: string | Buffer): Buffer {
  return createHash('sha256').update(value).digest();
}
