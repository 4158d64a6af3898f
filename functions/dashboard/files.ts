import { readFileSync } from 'node:fs';
import type { DashboardFiles } from '../core/api/dashboard.ts';

const DIR = new URL('./', import.meta.url);
const read = (name: string) => readFileSync(new URL(name, DIR), 'utf8');

/** Reads the dashboard's files from this directory (local mode on first request, the construct at synth). */
export function readDashboardFiles(): DashboardFiles {
  return {
    '/': read('index.html'),
    '/dashboard.js': read('dashboard.js'),
    '/dashboard.css': read('dashboard.css'),
  };
}
