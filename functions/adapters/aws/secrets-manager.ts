import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SecretUnavailableError } from '../../core/errors.ts';
import type { SecretSource } from '../../core/ports.ts';
import { registerSecret } from '../../core/telemetry.ts';

/** Secrets from AWS Secrets Manager (`<prefix><name>`), cached for a bounded time. */
export class SecretsManagerSource implements SecretSource {
  private readonly cache = new Map<string, { value: string; until: number }>();

  constructor(
    private readonly client: SecretsManagerClient,
    private readonly prefix: string,
    private readonly maxAgeMs = 5 * 60_000,
  ) {}

  async get(name: string): Promise<string> {
    const cached = this.cache.get(name);
    if (cached && cached.until > Date.now()) return cached.value;
    let value: string | undefined;
    try {
      const result = await this.client.send(new GetSecretValueCommand({ SecretId: this.prefix + name }));
      // Trimmed, as local secret files are: a secret created from a file (`--secret-string file://…`)
      // keeps its trailing newline, which no token, key or URL has.
      value = result.SecretString?.trim();
    } catch (error) {
      throw new SecretUnavailableError(
        `secret "${name}" could not be read from Secrets Manager (${(error as Error).name})`,
        { cause: error },
      );
    }
    if (!value) throw new SecretUnavailableError(`secret "${name}" has no string value`);
    registerSecret(value);
    this.cache.set(name, { value, until: Date.now() + this.maxAgeMs });
    return value;
  }

  invalidate(name: string): void {
    this.cache.delete(name);
  }
}
