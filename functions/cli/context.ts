import { ShipcastApi } from './api-client.ts';
import { UsageError } from './args.ts';
import type { Output } from './output.ts';

/** Exit codes of every command (documented in docs/cli.md). */
export const EXIT = {
  ok: 0,
  /** The deployment failed (`wait`), or the command could not do its work (an API or AWS error). */
  failed: 1,
  /** The deployment was stopped (`wait`). */
  stopped: 2,
  /** The command line was wrong, or URL/token are missing. */
  usage: 64,
  /** Shipcast could not be reached after every retry. */
  unavailable: 69,
  /** `--timeout` ran out (`wait`, `codedeploy stop`), as `timeout(1)` does. */
  timeout: 124,
} as const;

/** What a command runs with; tests inject their own. */
export interface CliContext {
  env: Readonly<Record<string, string | undefined>>;
  out: Output;
  json: boolean;
  /** `--url` / `--token` given on the command line (they win over SHIPCAST_URL / SHIPCAST_TOKEN). */
  url?: string;
  token?: string;
  sleep(ms: number): Promise<void>;
  now(): number;
  /** Overrides for the API client (tests: a short backoff). */
  apiOptions?: { backoffMs?: number; attempts?: number };
}

/** The API client, configured from flags or the environment; a UsageError says what to set. */
export function apiOf(context: CliContext): ShipcastApi {
  const url = context.url ?? context.env.SHIPCAST_URL;
  const token = context.token ?? context.env.SHIPCAST_TOKEN;
  if (!url)
    throw new UsageError("set SHIPCAST_URL (or --url) to Shipcast's API URL, e.g. the stack output ApiUrl");
  if (!token) throw new UsageError('set SHIPCAST_TOKEN (or --token) to an API token of api.tokens');
  return new ShipcastApi({
    url,
    token,
    sleep: (ms) => context.sleep(ms),
    onRetry: (message) => context.out.stderr(`shipcast: ${message}\n`),
    ...context.apiOptions,
  });
}
