/** Base of Shipcast's own errors: a message that says what to do, the cause kept. */
export class ShipcastError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** One problem in an input: where it is (a path such as `hosts[2]`) and what is wrong. */
export interface Issue {
  path: string;
  message: string;
}

/** External input (HTTP body, header, SNS message) that cannot be accepted. Nothing was stored. */
export class InvalidInputError extends ShipcastError {
  constructor(
    readonly where: string,
    readonly issues: Issue[],
  ) {
    super(`${where} is invalid: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`);
  }
}

/** The configuration file is invalid; names the path of each bad field. */
export class ConfigError extends ShipcastError {
  constructor(
    readonly file: string,
    readonly issues: Issue[],
  ) {
    super(
      `Invalid Shipcast config ${file}:\n${issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`).join('\n')}`,
    );
  }
}

/** The caller did not present a valid credential. */
export class UnauthorizedError extends ShipcastError {}

/** The same idempotency key was used with a different request. */
export class IdempotencyConflictError extends ShipcastError {}

/** A delivery failed in a way that may succeed later; `retryAfterSeconds` is how long to wait. */
export class RetryableDeliveryError extends ShipcastError {
  constructor(
    message: string,
    readonly retryAfterSeconds?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A delivery that will never succeed as it is (4xx, bad config): recorded, then dead-lettered. */
export class PermanentDeliveryError extends ShipcastError {}

/** Another writer changed the item first; the operation should re-read and try again. */
export class ConcurrentUpdateError extends ShipcastError {}

/** A secret could not be resolved. Never carries the secret's value. */
export class SecretUnavailableError extends ShipcastError {}

/** Turns a zod error into Shipcast issues with dotted/bracketed paths (`hosts[2]`). */
export function issuesFromZod(error: {
  issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>;
}): Issue[] {
  return error.issues.map((issue) => ({ path: formatPath(issue.path), message: issue.message }));
}

/** Formats a path like `routes[1].match.environment`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}
