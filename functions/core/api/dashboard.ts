import { createHash } from 'node:crypto';
import type { Hono } from 'hono/tiny';

/** The URL paths of the dashboard's files: the page, its one script module and its one stylesheet. */
export const DASHBOARD_PATHS = ['/', '/dashboard.js', '/dashboard.css'] as const;

/** The dashboard's files by URL path, as text. */
export type DashboardFiles = Record<(typeof DASHBOARD_PATHS)[number], string>;

/**
 * The dashboard's policy: its own script and stylesheet only, no inline script or style, data calls to
 * this origin only, never framed.
 */
export const DASHBOARD_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};

interface Asset {
  body: string;
  type: string;
  etag: string;
}

/**
 * Serves the dashboard at `/` with no token (the page is public; every data call it makes sends the
 * user's bearer token). `files` is called on the first request only, so the API's cold start never
 * parses the assets.
 */
export function mountDashboard(
  app: Hono<{ Variables: { token: string } }>,
  files: () => DashboardFiles | Promise<DashboardFiles>,
): void {
  let assets: Promise<Map<string, Asset>> | undefined;
  const load = async () => {
    const map = new Map<string, Asset>();
    for (const [path, body] of Object.entries(await files())) {
      const extension = path === '/' ? 'html' : (path.split('.').pop() ?? '');
      const hash = createHash('sha256').update(body).digest('base64url').slice(0, 27);
      map.set(path, { body, type: TYPES[extension] ?? 'text/plain; charset=utf-8', etag: `"${hash}"` });
    }
    return map;
  };
  for (const path of DASHBOARD_PATHS)
    app.get(path, async (c) => {
      assets ??= load().catch((error) => {
        assets = undefined;
        throw error;
      });
      const asset = (await assets).get(path)!;
      const headers = {
        'content-security-policy': DASHBOARD_CSP,
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
        // Revalidated on every load (the file names carry no version): a 304 costs no body.
        'cache-control': 'no-cache',
        etag: asset.etag,
      };
      const ifNoneMatch = c.req.header('if-none-match');
      if (ifNoneMatch?.split(',').some((tag) => tag.trim().replace(/^W\//, '') === asset.etag)) {
        return c.body(null, 304, headers);
      }
      return c.body(asset.body, 200, { ...headers, 'content-type': asset.type });
    });
}
