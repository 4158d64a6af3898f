import type { STSClient } from '@aws-sdk/client-sts';

/** Temporary credentials of an assumed role. */
export interface RoleCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
}

/** What `AssumedRoles` needs. */
export interface AssumedRolesOptions {
  /** The STS client; a default one (SDK credential chain, the function's region) is loaded on first use. */
  sts?: () => Promise<STSClient>;
  /** Milliseconds since the epoch (tests pass a fixed clock). */
  now?: () => number;
  /** Credentials are renewed this long before they expire; default 5 minutes. */
  refreshBeforeMs?: number;
  /** A failed AssumeRole is not tried again for the same role before this; default 60 s. */
  retryFailedAfterMs?: number;
  /** RoleSessionName of every session (shows in the member account's CloudTrail); default `shipcast-ingest`. */
  sessionName?: string;
}

/** AssumeRole could not give credentials for a role; the message says which role and why. */
export class AssumeRoleError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'AssumeRoleError';
  }
}

const DEFAULT_REFRESH_BEFORE_MS = 5 * 60_000;
const DEFAULT_RETRY_FAILED_AFTER_MS = 60_000;
/** One hour: the most a role assumed by another role's session may last (role chaining). */
const SESSION_SECONDS = 3600;

type Entry =
  | { kind: 'pending'; promise: Promise<RoleCredentials> }
  | { kind: 'ok'; credentials: RoleCredentials }
  | { kind: 'failed'; error: AssumeRoleError; at: number };

/**
 * Credentials of roles in other accounts (STS AssumeRole), kept per role until shortly before they expire.
 * Calls for the same role while one is under way share it; a failure is remembered for a short while so a
 * burst of events of an account without a role costs one STS call, not one per batch.
 * API: https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html
 */
export class AssumedRoles {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;
  private readonly refreshBeforeMs: number;
  private readonly retryFailedAfterMs: number;
  private readonly sessionName: string;
  private readonly sts: () => Promise<STSClient>;
  private client?: Promise<STSClient>;

  constructor(options: AssumedRolesOptions = {}) {
    this.now = options.now ?? Date.now;
    this.refreshBeforeMs = options.refreshBeforeMs ?? DEFAULT_REFRESH_BEFORE_MS;
    this.retryFailedAfterMs = options.retryFailedAfterMs ?? DEFAULT_RETRY_FAILED_AFTER_MS;
    this.sessionName = options.sessionName ?? 'shipcast-ingest';
    this.sts =
      options.sts ??
      (async () => {
        // Loaded on the first event of another account: single-account installations never parse it.
        const { STSClient: Client } = await import('@aws-sdk/client-sts');
        return new Client({});
      });
  }

  /** Valid credentials of `roleArn`, from the cache or a new AssumeRole; throws AssumeRoleError. */
  async credentialsFor(roleArn: string): Promise<RoleCredentials> {
    const entry = this.entries.get(roleArn);
    if (entry?.kind === 'pending') return entry.promise;
    if (entry?.kind === 'ok' && entry.credentials.expiration.getTime() - this.refreshBeforeMs > this.now()) {
      return entry.credentials;
    }
    if (entry?.kind === 'failed' && this.now() - entry.at < this.retryFailedAfterMs) throw entry.error;
    const promise = this.assume(roleArn).then(
      (credentials) => {
        this.entries.set(roleArn, { kind: 'ok', credentials });
        return credentials;
      },
      (error: AssumeRoleError) => {
        this.entries.set(roleArn, { kind: 'failed', error, at: this.now() });
        throw error;
      },
    );
    this.entries.set(roleArn, { kind: 'pending', promise });
    return promise;
  }

  private async assume(roleArn: string): Promise<RoleCredentials> {
    try {
      this.client ??= this.sts();
      const sts = await this.client;
      const { AssumeRoleCommand } = await import('@aws-sdk/client-sts');
      const output = await sts.send(
        new AssumeRoleCommand({
          RoleArn: roleArn,
          RoleSessionName: this.sessionName,
          DurationSeconds: SESSION_SECONDS,
        }),
      );
      const c = output.Credentials;
      if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration) {
        throw new Error('the answer has no complete Credentials');
      }
      return {
        accessKeyId: c.AccessKeyId,
        secretAccessKey: c.SecretAccessKey,
        sessionToken: c.SessionToken,
        expiration: c.Expiration,
      };
    } catch (error) {
      throw new AssumeRoleError(`AssumeRole ${roleArn} failed: ${describe(error)}`, { cause: error });
    }
  }
}

/** `Code: message` of an STS error (AccessDenied, RegionDisabledException, …), kept short. */
function describe(error: unknown): string {
  const text =
    error instanceof Error
      ? error.name && error.name !== 'Error'
        ? `${error.name}: ${error.message}`
        : error.message
      : String(error);
  return text.length > 300 ? `${text.slice(0, 299)}…` : text;
}
