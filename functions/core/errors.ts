/** Base of Shipcast's own errors: a message that says what to do, the cause kept. */
export class ShipcastError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The kinds of error an error's class is, on its prototype: the same names in every copy of this module. */
const KINDS = Symbol.for('shipcast.errorKinds');

/**
 * Makes `instanceof cls` also true for an error of that class made by another copy of this module: the API's rare
 * routes run from a file of their own (`rare-routes.mjs`, docs/performance.md) with their own copy, and call a store
 * whose errors come from the main bundle's. Minification renames classes, so each is known by `kind`.
 */
function recognizedAcrossBundles(cls: abstract new (...args: never[]) => Error, kind: string): void {
  const inherited: readonly string[] = Object.getPrototypeOf(cls.prototype)[KINDS] ?? [];
  Object.defineProperty(cls.prototype, KINDS, { value: [...inherited, kind] });
  Object.defineProperty(cls, Symbol.hasInstance, {
    // A subclass inherits this static method: for it (`this !== cls`) only the ordinary check applies.
    value(this: typeof cls, value: unknown): boolean {
      if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
      const kinds = (value as { [KINDS]?: unknown } | null | undefined)?.[KINDS];
      return this === cls && Array.isArray(kinds) && kinds.includes(kind);
    },
  });
}

/** One problem in an input: where it is (a path such as `hosts[2]`) and what is wrong. */
export interface Issue {
  path: string;
  message: string;
}

/** External input (HTTP body, header, SNS message) that cannot be accepted. Nothing was stored. */
export class InvalidInputError extends ShipcastError {
  static {
    recognizedAcrossBundles(InvalidInputError, 'InvalidInputError');
  }

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

/** What a failed delivery can carry: its cause, and target ids learned before it failed (kept on the delivery). */
export interface DeliveryErrorOptions {
  cause?: unknown;
  /** E.g. the id of a GitHub deployment created before its status call failed: saved, so a retry reuses it. */
  refs?: Record<string, string>;
}

/** A delivery failed in a way that may succeed later; `retryAfterSeconds` is how long to wait. */
export class RetryableDeliveryError extends ShipcastError {
  readonly refs?: Record<string, string>;

  constructor(
    message: string,
    readonly retryAfterSeconds?: number,
    options?: DeliveryErrorOptions,
  ) {
    super(message, options);
    this.refs = options?.refs;
  }
}

/** A delivery that will never succeed as it is (4xx, bad config): recorded, then dead-lettered. */
export class PermanentDeliveryError extends ShipcastError {
  readonly refs?: Record<string, string>;

  constructor(message: string, options?: DeliveryErrorOptions) {
    super(message, options);
    this.refs = options?.refs;
  }
}

/** Another writer changed the item first; the operation should re-read and try again. */
export class ConcurrentUpdateError extends ShipcastError {
  static {
    recognizedAcrossBundles(ConcurrentUpdateError, 'ConcurrentUpdateError');
  }
}

/**
 * Runs `once` (a read, then a write conditional on what it read) again while it loses to a concurrent
 * writer (ConcurrentUpdateError), `attempts` times at most; any other error is thrown at once.
 */
export async function retryOnConflict<T>(once: () => Promise<T>, attempts = 8): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await once();
    } catch (error) {
      if (!(error instanceof ConcurrentUpdateError) || attempt >= attempts) throw error;
    }
  }
}

/** A secret could not be resolved. Never carries the secret's value. */
export class SecretUnavailableError extends ShipcastError {}

/** The parts of a zod issue Shipcast reads. */
interface ZodIssueLike {
  code?: string;
  path: ReadonlyArray<PropertyKey>;
  message: string;
  /** `unrecognized_keys`: the unknown keys of the object at `path`. */
  keys?: ReadonlyArray<string>;
  /** `invalid_key`: why a record key is invalid. */
  issues?: ReadonlyArray<{ message: string }>;
}

/**
 * Turns a zod error into Shipcast issues with dotted/bracketed paths (`hosts[2]`). An unknown key is
 * reported at its own path (`targets.x.colour`), not its parent's, so every issue names the bad field.
 */
export function issuesFromZod(error: { issues: ReadonlyArray<ZodIssueLike> }): Issue[] {
  return error.issues.flatMap((issue): Issue[] => {
    if (issue.code === 'unrecognized_keys' && issue.keys && issue.keys.length > 0) {
      return issue.keys.map((key) => ({
        path: formatPath([...issue.path, key]),
        message: 'unknown field (check its spelling, or remove it)',
      }));
    }
    if (issue.code === 'invalid_key' && issue.issues && issue.issues.length > 0) {
      return [
        {
          path: formatPath(issue.path),
          message: `invalid name: ${issue.issues.map((i) => i.message).join('; ')}`,
        },
      ];
    }
    return [{ path: formatPath(issue.path), message: issue.message }];
  });
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
