import { readFileSync } from 'node:fs';
import type { DashboardFiles } from '../core/api/dashboard.ts';

/** The dashboard's files in this directory; the construct copies them next to the API function's bundle. */
export const DASHBOARD_FILE_NAMES = ['index.html', 'dashboard.js', 'dashboard.css'] as const;

/**
 * Reads the dashboard's files from `dir` (this directory by default, as local mode does on its first request
 * for them; the API function passes the `dashboard/` directory next to its bundle).
 */
export function readDashboardFiles(dir: URL = new URL('./', import.meta.url)): DashboardFiles {
  const [page, script, style] = DASHBOARD_FILE_NAMES.map((name) => readFileSync(new URL(name, dir), 'utf8'));
  return { '/': page!, '/dashboard.js': script!, '/dashboard.css': style! };
}
