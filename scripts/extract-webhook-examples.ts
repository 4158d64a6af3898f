/**
 * Writes test/fixtures/github/<event>/<action>.json: real GitHub webhook payloads, one per event and
 * action Shipcast's GitHub source supports, taken from the `@octokit/webhooks-examples` npm package
 * (the examples GitHub's own documentation and octokit/webhooks collect).
 *
 *   npx tsx scripts/extract-webhook-examples.ts [version]     (default: latest)
 *
 * Fetches the tarball with `npm pack` (the npm registry only) and extracts it with `tar`. Each pick
 * names the example by what it is (event, action, state), never by its position alone, so a new
 * package version that reorders the examples still yields the same fixtures or fails loudly.
 * Payloads are written unchanged (pretty-printed); the package version goes to `_source.json`.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// biome-ignore lint/suspicious/noExplicitAny: examples are untyped JSON, matched by shape
type Example = Record<string, any>;

interface Pick {
  /** Fixture path under test/fixtures/github. */
  file: string;
  event: string;
  /** Which example of the event: the first one this accepts. */
  matches: (example: Example) => boolean;
}

const PICKS: Pick[] = [
  { file: 'ping/ping.json', event: 'ping', matches: (e) => typeof e.zen === 'string' && !!e.repository },
  {
    file: 'deployment/created.json',
    event: 'deployment',
    matches: (e) => e.action === 'created' && !e.workflow_run,
  },
  {
    file: 'deployment_status/created.json',
    event: 'deployment_status',
    matches: (e) => e.action === 'created' && e.deployment_status?.state === 'success' && !e.workflow_run,
  },
  {
    file: 'deployment_status/created.in_progress.json',
    event: 'deployment_status',
    matches: (e) => e.action === 'created' && e.deployment_status?.state === 'in_progress',
  },
  {
    file: 'workflow_run/requested.json',
    event: 'workflow_run',
    matches: (e) => e.action === 'requested' && e.workflow_run?.status === 'queued',
  },
  {
    file: 'workflow_run/completed.json',
    event: 'workflow_run',
    matches: (e) =>
      e.action === 'completed' &&
      e.workflow_run?.status === 'completed' &&
      e.workflow_run?.conclusion === 'success',
  },
  {
    file: 'push/push.json',
    event: 'push',
    matches: (e) => typeof e.ref === 'string' && e.ref.startsWith('refs/heads/') && e.deleted === false,
  },
  { file: 'push/deleted.json', event: 'push', matches: (e) => e.deleted === true },
];

const OUTPUT = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'fixtures', 'github');

function main() {
  const version = process.argv[2] ?? 'latest';
  const work = mkdtempSync(join(tmpdir(), 'webhooks-examples-'));
  try {
    execFileSync('npm', ['pack', `@octokit/webhooks-examples@${version}`, '--pack-destination', work], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const tarball = readdirSync(work).find((name) => name.endsWith('.tgz'));
    if (!tarball) throw new Error('npm pack produced no tarball');
    execFileSync('tar', ['xzf', join(work, tarball), '-C', work]);
    const pkg = JSON.parse(readFileSync(join(work, 'package', 'package.json'), 'utf8')) as {
      version: string;
    };
    const index = JSON.parse(readFileSync(join(work, 'package', 'api.github.com', 'index.json'), 'utf8')) as {
      name: string;
      examples: Example[];
    }[];
    for (const pick of PICKS) {
      const examples = index.find((entry) => entry.name === pick.event)?.examples ?? [];
      const example = examples.find(pick.matches);
      if (!example) throw new Error(`no ${pick.event} example matches ${pick.file}`);
      const path = join(OUTPUT, pick.file);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, `${JSON.stringify(example, null, 2)}\n`);
      console.log(`wrote ${pick.file}`);
    }
    writeFileSync(
      join(OUTPUT, '_source.json'),
      `${JSON.stringify({ package: '@octokit/webhooks-examples', version: pkg.version, files: PICKS.map((p) => p.file) }, null, 2)}\n`,
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main();
