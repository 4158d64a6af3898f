#!/usr/bin/env -S npx tsx
import { run } from '../functions/cli/main.ts';
import { processOutput } from '../functions/cli/output.ts';

/** `shipcast …` (`npx shipcast` in a clone): see `shipcast --help` and docs/cli.md. */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
run(process.argv.slice(2), {
  env: process.env,
  out: processOutput,
  json: false,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  now: () => Date.now(),
}).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`shipcast: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
