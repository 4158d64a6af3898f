import { createHash, timingSafeEqual } from 'node:crypto';
import type { ShipcastConfig } from '../config.ts';
import type { SecretSource } from '../ports.ts';
import { type Logger, registerSecret } from '../telemetry.ts';

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

/** Constant-time equality of two secrets of any length (compares their SHA-256 digests). */
export function secretsEqual(presented: string, expected: string): boolean {
  return timingSafeEqual(sha256(presented), sha256(expected));
}

function sha256(value: string | Buffer): Buffer {
  return createHash('sha256').update(value).digest();
}
