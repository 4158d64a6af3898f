import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Runs the CDK app the way `cdk synth` does (cdk.json "app"), with SHIPCAST_CONFIG pointing at `config`. */
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function runApp(config: string) {
  const dir = mkdtempSync(join(tmpdir(), 'shipcast-bin-'));
  dirs.push(dir);
  const file = join(dir, 'shipcast.config.json');
  writeFileSync(file, config);
  const result = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bin/shipcast.ts')], {
    cwd: ROOT,
    env: { ...process.env, SHIPCAST_CONFIG: file, CDK_OUTDIR: join(dir, 'cdk.out') },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { ...result, file };
}

describe('bin/shipcast.ts', () => {
  it('fails a bad config with the ConfigError message only, naming the field path', () => {
    const bad = {
      api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
      targets: { console: { type: 'log' } },
      routes: [{ targets: ['console', 'missing'] }],
    };
    const { status, stderr, stdout, file } = runApp(JSON.stringify(bad));
    expect(status).toBe(1);
    expect(stderr.trim()).toBe(
      `Invalid Shipcast config ${file}:\n  - routes[0].targets[1]: no target named "missing" (targets: console)`,
    );
    expect(stdout).toBe('');
  });

  it('fails unparsable JSON the same way', () => {
    const { status, stderr, file } = runApp('{ not json');
    expect(status).toBe(1);
    expect(stderr).toContain(`Invalid Shipcast config ${file}:`);
    expect(stderr).toContain('not valid JSON');
    expect(stderr).not.toMatch(/^\s+at /m);
  });
});
