import type { RareRoutesLoader } from '../core/api/context.ts';

/** The file the construct builds the API's rare routes into, next to the API bundle (lib/shipcast.ts). */
export const RARE_ROUTES_FILE_NAME = 'rare-routes.mjs';

/** The module that file is built from. */
export const RARE_ROUTES_ENTRY = 'functions/core/api/rare-routes-app.ts';

/**
 * Imports the rare routes' file in `dir` (the bundle's own directory), once per container. The URL is computed at
 * run time, so esbuild leaves this `import()` alone instead of inlining the module into the bundle.
 */
export function rareRoutesBeside(dir: URL): RareRoutesLoader {
  const url = new URL(RARE_ROUTES_FILE_NAME, dir).href;
  return () => import(url);
}
