import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SecretUnavailableError } from '../../core/errors.ts';
import type { SecretSource } from '../../core/ports.ts';
import { registerSecret } from '../../core/telemetry.ts';

/** The environment variable that holds secret `name` locally: `SHIPCAST_SECRET_` + upper snake case. */
export function secretEnvName(name: string): string {
  return `SHIPCAST_SECRET_${name.replace(/[^A-Za-z0-9]/g, '_').toUpperCase()}`;
}

/**
 * Local secrets: the environment variable `SHIPCAST_SECRET_<NAME>` first, else the file
 * `<directory>/<name>`. Values are re-read after `maxAgeMs`, so a rotated file is picked up.
 */
export class EnvFileSecretSource implements SecretSource {
  private readonly cache = new Map<string, { value: string; until: number }>();

  constructor(
    private readonly directory: string,
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly maxAgeMs = 60_000,
  ) {}

  async get(name: string): Promise<string> {
    return this.getSync(name);
  }

  /** Like `get`, for start-up code that cannot wait. */
  getSync(name: string): string {
    const cached = this.cache.get(name);
    if (cached && cached.until > Date.now()) return cached.value;
    let value = this.env[secretEnvName(name)]?.trim();
    if (!value) {
      if (name.split('/').includes('..'))
        throw new SecretUnavailableError(`secret name "${name}" is not allowed`);
      try {
        value = readFileSync(join(this.directory, name), 'utf8').trim();
      } catch {
        throw new SecretUnavailableError(
          `secret "${name}" is not set: export ${secretEnvName(name)} or write it to ${join(this.directory, name)}`,
        );
      }
    }
    if (!value) throw new SecretUnavailableError(`secret "${name}" is empty`);
    registerSecret(value);
    this.cache.set(name, { value, until: Date.now() + this.maxAgeMs });
    return value;
  }

  invalidate(name: string): void {
    this.cache.delete(name);
  }
}
