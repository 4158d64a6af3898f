import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A package directory with bin/shipcast.mjs, a dist/ and sources that say which of them ran. */
function packageDir(options: { git: boolean }): string {
  const dir = mkdtempSync(join(tmpdir(), 'shipcast-launcher-'));
  mkdirSync(join(dir, 'bin'));
  copyFileSync(join(ROOT, 'bin', 'shipcast.mjs'), join(dir, 'bin', 'shipcast.mjs'));
  mkdirSync(join(dir, 'dist', 'functions', 'cli'), { recursive: true });
  writeFileSync(
    join(dir, 'dist', 'functions', 'cli', 'entry.js'),
    "export async function main() { console.log('ran dist'); }\n",
  );
  mkdirSync(join(dir, 'functions', 'cli'), { recursive: true });
  writeFileSync(
    join(dir, 'functions', 'cli', 'entry.ts'),
    "export async function main(): Promise<void> { console.log('ran sources'); }\n",
  );
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  if (options.git) mkdirSync(join(dir, '.git'));
  return dir;
}

describe('the shipcast command', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  const run = (dir: string) =>
    execFileSync(process.execPath, [join(dir, 'bin', 'shipcast.mjs')], { cwd: dir, encoding: 'utf8' }).trim();

  it('runs the TypeScript sources in a git checkout, even with a (possibly stale) dist/ there', () => {
    const dir = packageDir({ git: true });
    dirs.push(dir);
    expect(run(dir)).toBe('ran sources');
  });

  it('runs dist/ in an installed package', () => {
    const dir = packageDir({ git: false });
    dirs.push(dir);
    expect(run(dir)).toBe('ran dist');
  });
});
