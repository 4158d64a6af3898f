import type { RareRoutesLoader } from '../core/api/context.ts';

/** The API's rare routes under `npm start` and in tests: their .ts module, imported on first use as in Lambda. */
export const importRareRoutes: RareRoutesLoader = () => import('../core/api/rare-routes-app.ts');
