/**
 * zod/mini with zod's English messages, for the modules on the Lambda functions' import graphs (sources, API).
 * Same parser and messages as `zod` (both are zod's core); its functional API (`z.optional(s)`,
 * `s.check(z.minLength(1))`) lets esbuild keep only what a bundle uses, where the classic API's methods keep
 * all of it. zod/mini loads no locale by itself, so every message would read "Invalid input": importing zod/mini
 * through this module sets English, as `import * as z from 'zod'` does.
 */
import { en } from 'zod/locales';
import { config } from 'zod/mini';

config(en());

export * from 'zod/mini';
