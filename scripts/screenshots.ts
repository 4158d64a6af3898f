/**
 * `npm run screenshots`: starts local mode on a fresh data directory, records a few sample deployments,
 * and writes a PNG of each dashboard page into docs/screenshots/ (Debian's chromium, /usr/bin/chromium).
 */
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { parseConfig } from '../functions/core/config.ts';
import { startLocal } from '../functions/local/local-shipcast.ts';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const OUT = new URL('../docs/screenshots/', import.meta.url);
const TOKEN = 'screenshots-token-0123456789abcdef';

if (!existsSync(CHROMIUM)) {
  throw new Error(
    `${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium) or set CHROMIUM`,
  );
}
mkdirSync(OUT, { recursive: true });

// Two webhook receivers: one that takes everything, one that is down (its deliveries wait to be retried).
const receiver = (status: number) =>
  new Promise<{ url: string; close: () => void }>((resolve) => {
    const server = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        response.writeHead(status, status === 503 ? { 'retry-after': '600' } : {});
        response.end(status === 503 ? 'down for maintenance' : 'ok');
      });
    });
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        close: () => server.close(),
      }),
    );
  });
const up = await receiver(200);
const down = await receiver(503);

const local = await startLocal({
  config: parseConfig({
    api: { tokens: [{ name: 'dev', secret: 'api-token' }] },
    targets: {
      'deploy-log': { type: 'webhook', url: `${up.url}/hook` },
      'audit-hook': { type: 'webhook', url: `${down.url}/hook` },
    },
    routes: [{ targets: ['deploy-log', 'audit-hook'] }],
  }),
  dataDir: mkdtempSync(join(tmpdir(), 'shipcast-screenshots-')),
  port: 0,
  queuePort: 0,
  env: { SHIPCAST_SECRET_API_TOKEN: TOKEN },
});

let key = 0;
const post = async (body: Record<string, unknown>) => {
  const response = await fetch(`${local.apiUrl}/v1/events`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${TOKEN}`,
      'content-type': 'application/json',
      'idempotency-key': `screenshot-${++key}`,
    },
    body: JSON.stringify(body),
  });
  if (response.status !== 202)
    throw new Error(`POST /v1/events answered ${response.status}: ${await response.text()}`);
  return ((await response.json()) as { deploymentId: string }).deploymentId;
};

const at = (minutesAgo: number) => new Date(Date.now() - minutesAgo * 60_000).toISOString();
const samples = [
  {
    service: 'checkout',
    environment: 'production',
    version: 'v2.14.0',
    actor: 'ada',
    end: 'succeeded',
    ago: 300,
  },
  { service: 'search', environment: 'staging', version: 'v0.9.3', actor: 'grace', end: 'failed', ago: 200 },
  {
    service: 'payments',
    environment: 'production',
    version: 'v5.2.1',
    actor: 'linus',
    end: 'succeeded',
    ago: 90,
  },
  { service: 'checkout', environment: 'staging', version: 'v2.15.0-rc.1', actor: 'ada', end: null, ago: 5 },
];
let featured = '';
for (const [i, sample] of samples.entries()) {
  const common = {
    service: sample.service,
    environment: sample.environment,
    deploymentId: `release-${i + 1}`,
    version: sample.version,
    actor: sample.actor,
    repository: `acme/${sample.service}`,
    commit: `${(i + 1).toString(16).repeat(8)}${'0'.repeat(32)}`,
    description: `Release ${sample.version} of ${sample.service}`,
  };
  const id = await post({ ...common, status: 'in_progress', timestamp: at(sample.ago) });
  if (sample.end) await post({ ...common, status: sample.end, timestamp: at(sample.ago - 7) });
  if (i === 0) featured = id;
}
// Four weeks of production history for the DORA page: a deployment every two days with its commit's time, one
// redeploy of an earlier version (a rollback), and an incident opened after one deployment and resolved later.
for (let day = 28, n = 1; day >= 2; day -= 2, n++) {
  const minutesAgo = day * 24 * 60;
  const version = n === 9 ? 'v1.7.0' : `v1.${n}.0`;
  const common = {
    service: 'orders',
    environment: 'production',
    deploymentId: `orders-${n}`,
    version,
    actor: n % 2 ? 'ada' : 'linus',
    commit: `${n.toString(16).padStart(2, '0').repeat(20)}`,
    commitTime: at(minutesAgo + 180 + n * 20),
  };
  await post({ ...common, status: 'in_progress', timestamp: at(minutesAgo) });
  await post({ ...common, status: n === 5 ? 'failed' : 'succeeded', timestamp: at(minutesAgo - 12) });
}
const incident = await fetch(`${local.apiUrl}/v1/incidents`, {
  method: 'POST',
  headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
  body: JSON.stringify({
    id: 'orders-latency',
    service: 'orders',
    environment: 'production',
    severity: 'SEV2',
    title: 'Checkout latency after the orders deploy',
    openedAt: at(16 * 24 * 60 - 60),
    resolvedAt: at(16 * 24 * 60 - 200),
    status: 'resolved',
  }),
});
if (!incident.ok) throw new Error(`POST /v1/incidents answered ${incident.status}`);
// Let the dispatcher deliver (and fail to deliver) the transitions.
await new Promise((resolve) => setTimeout(resolve, 4000));

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`${local.apiUrl}/`);
  await page.getByLabel('API token').fill(TOKEN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  const shots: [string, string, string][] = [
    ['deployments', '#/', 'table'],
    ['deployment', `#/deployments/${featured}`, 'table'],
    ['dora', '#/dora', '.card[data-metric]'],
    ['incidents', '#/incidents', 'main h1:has-text("Incidents")'],
    ['api', '#/api', 'details.operation'],
  ];
  for (const [name, hash, ready] of shots) {
    await page.goto(`${local.apiUrl}/${hash}`);
    await page.locator(ready).first().waitFor();
    await page.screenshot({ path: new URL(`${name}.png`, OUT).pathname, fullPage: name !== 'api' });
    console.log(`docs/screenshots/${name}.png`);
  }
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${local.apiUrl}/#/`);
  await page.locator('table').first().waitFor();
  await page.screenshot({ path: new URL('deployments-phone.png', OUT).pathname });
  console.log('docs/screenshots/deployments-phone.png');
} finally {
  await browser.close();
  await local.stop();
  up.close();
  down.close();
}
