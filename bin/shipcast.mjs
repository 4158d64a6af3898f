#!/usr/bin/env node
// The `shipcast` command. A git checkout with tsx installed runs its TypeScript sources (a dist/ left there by a
// build or `npm pack` may be stale); an installed package runs its compiled JavaScript (dist/) with plain node;
// anything else without a build runs the sources through tsx (a dependency).
import { existsSync } from 'node:fs';

const here = (path) => new URL(`../${path}`, import.meta.url);
const sources = here('functions/cli/entry.ts');
const compiled = here('dist/functions/cli/entry.js');

function tsxResolvable() {
  try {
    import.meta.resolve('tsx/esm/api');
    return true;
  } catch {
    return false;
  }
}

const checkout = existsSync(here('.git')) && existsSync(sources) && tsxResolvable();
if (!checkout && existsSync(compiled)) {
  const { main } = await import(compiled.href);
  await main();
} else {
  const { register } = await import('tsx/esm/api');
  register();
  const { main } = await import(sources.href);
  await main();
}
