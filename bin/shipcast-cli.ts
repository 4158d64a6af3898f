#!/usr/bin/env -S npx tsx
import { main } from '../functions/cli/entry.ts';

/** `shipcast …` from TypeScript sources (tests, `npx tsx bin/shipcast-cli.ts`); `bin/shipcast.mjs` is the installed command. */
await main();
