#!/usr/bin/env node
// The `shipcast` command. An installed package runs its compiled JavaScript (dist/) with plain node; a clone
// without a build runs the TypeScript sources through tsx (a dependency), so `npx shipcast` works in both.
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/functions/cli/entry.js', import.meta.url);
if (existsSync(compiled)) {
  const { main } = await import(compiled.href);
  await main();
} else {
  const { register } = await import('tsx/esm/api');
  register();
  const { main } = await import(new URL('../functions/cli/entry.ts', import.meta.url).href);
  await main();
}
