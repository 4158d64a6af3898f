import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DASHBOARD_CSP } from '../../functions/core/api/dashboard.ts';
import { parseConfig } from '../../functions/core/config.ts';
import { deploymentIdFor } from '../../functions/core/ids.ts';
import { codeDeploySourceId } from '../../functions/core/sources/codedeploy.ts';
import { type LocalShipcast, startLocal } from '../../functions/local/local-shipcast.ts';
import { captureLogs } from '../support/capture-logger.ts';
import { waitFor } from '../support/emulators.ts';
import { startTargetServer, type TargetServer } from '../support/target-server.ts';

const CHROMIUM = '/usr/bin/chromium';
const ADMIN = 'dashboard-admin-token-0123456789';
const READER = 'dashboard-reader-token-0123456789';
const WRITER = 'dashboard-writer-token-0123456789';

/** The text of the first element `locator` finds, once it is shown and its text contains `expected`. */
async function textOf(locator: Locator, expected: string, timeoutMs = 15_000): Promise<string> {
  return waitFor(
    async () => {
      const text = (await locator.first().isVisible()) ? await locator.first().textContent() : null;
      return text?.includes(expected) ? text : undefined;
    },
    { timeoutMs, message: `text "${expected}"` },
  );
}

/** Chromium is Debian's package (`apt-get install chromium`, as .ci/run does); never a downloaded browser. */
function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium) to run this test`,
    );
  }
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}

describe('web dashboard in a real browser (local mode)', () => {
  let hook: TargetServer;
  let local: LocalShipcast;
  let browser: Browser;
  let page: Page;
  const outside: string[] = [];
  const dialogs: string[] = [];
  const logs = captureLogs();
  let posted = 0;

  const post = async (body: Record<string, unknown>) => {
    const response = await fetch(`${local.apiUrl}/v1/events`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${ADMIN}`,
        'content-type': 'application/json',
        'idempotency-key': `dashboard-${++posted}`,
      },
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(202);
    return (await response.json()) as { deploymentId: string };
  };

  const signIn = async (token: string) => {
    await page.goto(`${local.apiUrl}/`);
    await page.getByLabel('API token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
  };

  beforeAll(async () => {
    hook = await startTargetServer();
    local = await startLocal({
      config: parseConfig({
        api: {
          tokens: [
            { name: 'admin', secret: 'admin' },
            { name: 'reader', secret: 'reader', scopes: ['read'] },
            { name: 'writer', secret: 'writer', scopes: ['events:write'] },
          ],
        },
        targets: { hook: { type: 'webhook', url: `${hook.url}/hook` } },
        routes: [{ targets: ['hook'] }],
      }),
      dataDir: mkdtempSync(join(tmpdir(), 'shipcast-dashboard-')),
      port: 0,
      queuePort: 0,
      env: { SHIPCAST_SECRET_ADMIN: ADMIN, SHIPCAST_SECRET_READER: READER, SHIPCAST_SECRET_WRITER: WRITER },
      logger: logs.logger,
    });
    browser = await launchChromium();
    page = await browser.newPage();
    page.on('request', (request) => {
      const url = new URL(request.url());
      if (url.protocol !== 'data:' && url.hostname !== '127.0.0.1') outside.push(request.url());
    });
    page.on('dialog', async (dialog) => {
      dialogs.push(dialog.message());
      await dialog.dismiss();
    });
  });
  afterAll(async () => {
    await browser?.close();
    await local?.stop();
    await hook?.stop();
    logs.restore();
  });

  it('serves the page without a token, under a strict CSP, with nosniff and a revalidating ETag', async () => {
    const first = await fetch(`${local.apiUrl}/`);
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(first.headers.get('content-security-policy')).toBe(DASHBOARD_CSP);
    expect(DASHBOARD_CSP).toContain("default-src 'self'");
    expect(DASHBOARD_CSP).not.toContain('unsafe-inline');
    expect(first.headers.get('x-content-type-options')).toBe('nosniff');
    expect(first.headers.get('cache-control')).toBe('no-cache');
    const etag = first.headers.get('etag')!;
    expect(etag).toMatch(/^"[\w-]+"$/);
    const again = await fetch(`${local.apiUrl}/`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    const script = await fetch(`${local.apiUrl}/dashboard.js`);
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await script.text()).not.toContain('innerHTML');
    expect((await fetch(`${local.apiUrl}/dashboard.css`)).headers.get('content-type')).toBe(
      'text/css; charset=utf-8',
    );
  });

  it('says so when the token is wrong, or may not read', async () => {
    await signIn('not-a-configured-token');
    await textOf(page.getByRole('alert'), 'did not accept this token');
    await signIn(WRITER);
    await textOf(page.getByRole('alert'), 'Use a token with read access');
    expect(await page.evaluate("sessionStorage.getItem('shipcast.token')")).toBeNull();
  });

  it('shows a deployment appear, refreshes while it runs, and opens it with its deliveries', async () => {
    await post({ service: 'search', environment: 'staging', status: 'in_progress', deploymentId: 'rel-0' });
    await signIn(READER);
    await textOf(page.getByRole('link', { name: 'search' }), 'search');
    await textOf(page.getByRole('status'), 'Refreshing every few seconds');

    const { deploymentId } = await post({
      service: 'checkout',
      environment: 'production',
      status: 'in_progress',
      deploymentId: 'rel-1',
      version: 'v1.4.0',
      repository: 'acme/checkout',
      commit: '0123456789abcdef0123456789abcdef01234567',
      actor: 'ada',
    });
    // No reload: the page refreshes itself while a deployment it shows runs.
    await textOf(page.getByRole('link', { name: 'checkout' }), 'checkout');
    await post({
      service: 'checkout',
      environment: 'production',
      status: 'succeeded',
      deploymentId: 'rel-1',
    });
    await textOf(page.locator('tbody tr', { hasText: 'checkout' }).locator('.status'), 'succeeded');

    await page.getByRole('link', { name: 'checkout' }).click();
    await textOf(page.getByRole('heading', { level: 1 }), 'checkout → production');
    expect(page.url()).toBe(`${local.apiUrl}/#/deployments/${deploymentId}`);
    const commit = page.getByRole('link', { name: '0123456789abcdef0123456789abcdef01234567' });
    expect(await commit.getAttribute('href')).toBe(
      'https://github.com/acme/checkout/commit/0123456789abcdef0123456789abcdef01234567',
    );
    // The delivery of the last transition may still be on its way: the page refreshes until it is done.
    const hookRow = page.locator('table', { hasText: 'Delivery state per target' }).locator('tbody tr');
    expect(await textOf(hookRow, 'delivered')).toContain('hook');

    const csp = (await page.goto(`${local.apiUrl}/`))!.headers()['content-security-policy'];
    expect(csp).toBe(DASHBOARD_CSP);
    expect(outside).toEqual([]);
  });

  it('filters by status, source and creation day through the API, not in the page', async () => {
    const broken = await post({
      service: 'filter-broken',
      environment: 'qa',
      status: 'failed',
      deploymentId: 'flt-1',
    });
    await post({ service: 'filter-fine', environment: 'qa', status: 'succeeded', deploymentId: 'flt-2' });
    const asked: string[] = [];
    const listen = (request: { url(): string }) => {
      if (request.url().includes('/v1/deployments?')) asked.push(new URL(request.url()).search);
    };
    page.on('request', listen);
    await page.goto(`${local.apiUrl}/#/`);
    await page.getByLabel('API token').or(page.getByLabel('Status')).first().waitFor();
    if (await page.getByLabel('API token').isVisible()) await signIn(READER);
    await page.getByLabel('Status').selectOption('failed');
    await page.getByLabel('Source').fill('native');
    // The day it was created (not the clock's: a run across midnight UTC must not change the filter).
    const created = await fetch(`${local.apiUrl}/v1/deployments/${broken.deploymentId}`, {
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    const today = (
      (await created.json()) as { deployment: { createdAt: string } }
    ).deployment.createdAt.slice(0, 10);
    await page.getByLabel('Created from (UTC)').fill(today);
    await page.getByLabel('Created until (UTC, inclusive)').fill(today);
    await page.getByRole('button', { name: 'Filter' }).click();

    await textOf(page.getByRole('link', { name: 'filter-broken' }), 'filter-broken');
    // filter-broken was listed before the filter too: wait for the filtered list to replace the whole one.
    await expect
      .poll(() => page.getByRole('link', { name: 'filter-fine' }).count(), { timeout: 30_000 })
      .toBe(0);
    page.off('request', listen);
    const filtered = new URLSearchParams(asked.at(-1));
    expect(Object.fromEntries(filtered)).toMatchObject({
      status: 'failed',
      source: 'native',
      from: `${today}T00:00:00.000Z`,
      to: new Date(Date.parse(`${today}T00:00:00Z`) + 86_400_000).toISOString(),
    });

    await page.goto(`${local.apiUrl}/#/?source=codedeploy`);
    await textOf(page.getByRole('status'), 'No deployments match.');
  });

  it('shows the AWS account and region a CodeDeploy deployment ran in', async () => {
    const event = readFileSync(
      'test/fixtures/codedeploy/eventbridge-deployment-start.documented.json',
      'utf8',
    ).replaceAll('d-4F2KQ8ZX1', 'd-DASHACCT1');
    await local.sqs.send(
      new SendMessageCommand({ QueueUrl: local.resources.ingestQueueUrl, MessageBody: event }),
    );
    const id = deploymentIdFor('codedeploy', codeDeploySourceId('123456789012', 'eu-west-2', 'd-DASHACCT1'));
    await waitFor(
      async () =>
        (
          await fetch(`${local.apiUrl}/v1/deployments/${id}`, {
            headers: { authorization: `Bearer ${READER}` },
          })
        ).status === 200,
      { timeoutMs: 20_000, message: `deployment ${id} recorded` },
    );
    // Signed in by the tests above, as the "not found" test below is.
    await page.goto(`${local.apiUrl}/#/deployments/${id}`);

    const facts = page.locator('dl.facts');
    await textOf(facts, 'Account123456789012');
    expect(await facts.first().textContent()).toContain('Regioneu-west-2');
  });

  it('shows "not found" for an unknown deployment id', async () => {
    await page.goto(`${local.apiUrl}/#/deployments/dep_doesnotexist0000000000`);
    await textOf(page.getByRole('alert'), 'Not found: Shipcast has no deployment');
  });

  it('renders event text as text: no script runs and no javascript: link exists', async () => {
    const payload = '<img src=x onerror="window.__xss=1;alert(1)">';
    const rejected = await fetch(`${local.apiUrl}/v1/events`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${ADMIN}`,
        'content-type': 'application/json',
        'idempotency-key': 'xss-0',
      },
      body: JSON.stringify({ service: 's', environment: 'e', status: 'queued', url: 'javascript:alert(1)' }),
    });
    expect(rejected.status).toBe(400);
    const { deploymentId } = await post({
      service: payload,
      environment: 'javascript:alert(2)',
      status: 'failed',
      deploymentId: 'xss-1',
      version: payload,
      actor: '<script>window.__xss=2</script>',
      description: `see javascript:alert(3) ${payload}`,
      repository: 'https://github.com/acme/app',
      commit: 'javascript:alert(4)',
    });

    await page.goto(`${local.apiUrl}/#/`);
    await textOf(page.getByRole('link', { name: payload }), payload);
    await page.goto(`${local.apiUrl}/#/deployments/${deploymentId}`);
    await textOf(
      page.locator('dd', { hasText: 'see javascript:alert(3)' }),
      `see javascript:alert(3) ${payload}`,
    );

    expect(await page.locator('img').count()).toBe(0);
    expect(await page.locator('a[href^="javascript:" i]').count()).toBe(0);
    expect(await page.evaluate('window.__xss')).toBeUndefined();
    expect(dialogs).toEqual([]);
    expect(outside).toEqual([]);
  });

  // The DORA and incidents routes come with their own change: until they are there, each page must say so.
  it('shows the five DORA numbers the API answers, or says the route is not there', async () => {
    const answered = page.waitForResponse((r) => new URL(r.url()).pathname === '/v1/metrics/dora');
    await page.goto(`${local.apiUrl}/#/dora`);
    const response = await answered;
    if (response.status() === 404) {
      await textOf(page.getByRole('alert'), 'DORA metrics are not available on this Shipcast yet');
      return;
    }
    expect(response.status()).toBe(200);
    const result = (await response.json()) as Record<string, { value: number | null }>;
    await textOf(page.locator('.card'), 'Deployment frequency');
    for (const key of [
      'deploymentFrequency',
      'changeLeadTime',
      'changeFailRate',
      'recoveryTime',
      'reworkRate',
    ]) {
      const figure = page.locator(`.card[data-metric="${key}"] .figure`);
      expect(await figure.getAttribute('data-value')).toBe(JSON.stringify(result[key]!.value));
    }
  });

  it('lists the incidents the API answers, or says the route is not there', async () => {
    const answered = page.waitForResponse((r) => new URL(r.url()).pathname === '/v1/incidents');
    await page.goto(`${local.apiUrl}/#/incidents`);
    const response = await answered;
    if (response.status() === 404) {
      await textOf(page.getByRole('alert'), 'Incidents are not available on this Shipcast yet');
    } else {
      expect(response.status()).toBe(200);
      await textOf(page.locator('main'), 'ncidents');
      expect(await page.getByRole('alert').count()).toBe(0);
    }
  });

  it('renders the OpenAPI document as HTML', async () => {
    await page.goto(`${local.apiUrl}/#/api`);
    const operation = page.locator('details.operation', { hasText: '/v1/deployments/{id}' }).first();
    await operation.locator('summary').click();
    await textOf(operation, 'Responses');
    expect(await page.locator('details.operation summary', { hasText: 'POST' }).count()).toBeGreaterThan(0);
  });
});
