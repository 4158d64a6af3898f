import { readFileSync } from 'node:fs';
import type { DashboardFiles } from '../core/api/dashboard.ts';

/**
 * Reads the dashboard's files (local mode on first request, the construct at synth) from `dir`: this
 * directory by default; the construct passes the package's `functions/dashboard/`, which is where they are
 * when this module runs compiled from `dist/`.
 */
export function readDashboardFiles(dir: URL = new URL('./', import.meta.url)): DashboardFiles {
  const read = (name: string) => readFileSync(new URL(name, dir), 'utf8');
  return {
    '/': read('index.html'),
    '/dashboard.js': read('dashboard.js'),
    '/dashboard.css': read('dashboard.css'),
  };
}
