import { mkdtempSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/core/config.ts';
import { type LocalShipcast, startLocal } from '../../functions/local/local-shipcast.ts';
import { captureLogs } from '../support/capture-logger.ts';
import { waitFor } from '../support/emulators.ts';
import { startTargetServer, type TargetServer } from '../support/target-server.ts';

const TOKEN = 'local-mode-token-0123456789';

describe('local mode (npm start)', () => {
  let hook: TargetServer;
  let dataDir: string;
  let local: LocalShipcast | undefined;
  const logs = captureLogs();

  const start = async () =>
    startLocal({
      config: parseConfig({
        api: { tokens: [{ name: 'dev', secret: 'api-token' }] },
        targets: { console: { type: 'log' }, hook: { type: 'webhook', url: `${hook.url}/hook` } },
        routes: [{ targets: ['console', 'hook'] }],
      }),
      dataDir,
      port: 0,
      queuePort: 0,
      env: { SHIPCAST_SECRET_API_TOKEN: TOKEN },
      logger: logs.logger,
    });

  const api = async (path: string, init: RequestInit = {}) => {
    const response = await fetch(`${local?.apiUrl}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...init.headers },
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  beforeAll(async () => {
    hook = await startTargetServer();
    dataDir = mkdtempSync(join(tmpdir(), 'shipcast-local-'));
    local = await start();
  });
  afterAll(async () => {
    await local?.stop();
    await hook.stop();
    logs.restore();
  });

  it('takes a CodeDeploy message published to its SNS topic through ingest and dispatch to the targets', async () => {
    const sns = new SNSClient({
      region: 'us-east-1',
      endpoint: local?.sqsSnsEndpoint,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const message = readFileSync('test/fixtures/codedeploy/deployment-created.real.message.json', 'utf8');

    await sns.send(new PublishCommand({ TopicArn: local?.resources.topicArn, Message: message }));
    sns.destroy();

    const call = await waitFor(() => hook.requests[0], { message: 'webhook call', timeoutMs: 15_000 });
    const { deployment } = call.json<{ deployment: { id: string; service: string; status: string } }>();
    expect(deployment).toMatchObject({ service: 'checkout', status: 'queued' });
    const detail = await waitFor(async () => {
      const answer = await api(`/v1/deployments/${deployment.id}`);
      const states = (answer.body.deliveries as { state: string }[] | undefined) ?? [];
      return states.length === 2 && states.every((d) => d.state === 'delivered') && answer;
    });
    expect(detail.status).toBe(200);
    expect((detail.body.events as unknown[]).length).toBe(1);
  });

  it('keeps a delivery that is waiting to be retried across a restart, and delivers it after', async () => {
    hook.fallback = () => ({ status: 503, headers: { 'retry-after': '600' }, body: 'down for maintenance' });
    const calls = hook.requests.length;
    const posted = await api('/v1/events', {
      method: 'POST',
      body: JSON.stringify({
        service: 'search',
        environment: 'production',
        status: 'succeeded',
        version: '3',
      }),
    });
    await waitFor(() => hook.requests.length > calls, { message: 'the failing webhook call' });

    await local?.stop();
    hook.fallback = () => ({ status: 200, body: { ok: true } });
    local = await start();

    const callsFor = () =>
      hook.requests.filter(
        (r) => r.json<{ deployment: { id: string } }>().deployment.id === posted.body.deploymentId,
      );
    await waitFor(() => callsFor().length >= 2, {
      message: 'the webhook call after the restart',
      timeoutMs: 15_000,
    });
    const detail = await waitFor(async () => {
      const answer = await api(`/v1/deployments/${posted.body.deploymentId}`);
      const hookState = (answer.body.deliveries as { target: string; state: string }[]).find(
        (d) => d.target === 'hook',
      );
      return hookState?.state === 'delivered' && answer;
    });
    expect(detail.status).toBe(200);
    expect(callsFor()).toHaveLength(2);
  });

  it('links an incident to its deployment and counts both in the DORA metrics (dynalite)', async () => {
    const finishedAt = new Date(Date.now() - 3600_000).toISOString();
    const posted = await api('/v1/events', {
      method: 'POST',
      body: JSON.stringify({
        service: 'ledger',
        environment: 'production',
        status: 'succeeded',
        version: '1',
        timestamp: finishedAt,
        commit: 'a1b2c3',
        commitTime: new Date(Date.parse(finishedAt) - 1800_000).toISOString(),
      }),
    });
    const openedAt = new Date(Date.now() + 1000).toISOString();
    const incident = await api('/v1/incidents', {
      method: 'POST',
      body: JSON.stringify({
        id: 'L-1',
        service: 'ledger',
        environment: 'production',
        status: 'open',
        title: 'Ledger down',
        openedAt,
      }),
    });

    const deployment = await api(`/v1/deployments/${posted.body.deploymentId}`);
    const to = new Date(Date.now() + 86_400_000).toISOString(); // the incident opened a second from now
    const dora = await api(`/v1/metrics/dora?service=ledger&environment=production&to=${to}`);

    expect(incident.status).toBe(201);
    expect(incident.body.incident).toMatchObject({ deploymentId: posted.body.deploymentId, link: 'auto' });
    expect(deployment.body.incidents).toEqual([incident.body.incident]);
    expect(dora.status).toBe(200);
    expect(dora.body.deploymentFrequency).toMatchObject({ deployments: 1 });
    expect(dora.body.changeFailRate).toMatchObject({ failed: 1, basedOn: 1 });
  });

  it('accepts an event over HTTP and keeps the data across a restart', async () => {
    const posted = await api('/v1/events', {
      method: 'POST',
      body: JSON.stringify({ service: 'billing', environment: 'staging', status: 'succeeded', version: '7' }),
    });
    expect(posted.status).toBe(202);

    await local?.stop();
    local = await start();

    const listed = await api('/v1/deployments?service=billing');
    expect(listed.body.deployments).toEqual([
      expect.objectContaining({ id: posted.body.deploymentId, status: 'succeeded', version: '7' }),
    ]);
  });

  /** POSTs `size` bytes with node:http, as a CI script would: the whole body is written before reading. */
  const postLarge = (path: string, size: number, chunked: boolean) =>
    new Promise<{ status?: number; body: string }>((resolve, reject) => {
      const url = new URL(`${local?.apiUrl}${path}`);
      const body = Buffer.alloc(size, 'x');
      const request = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          headers: {
            authorization: `Bearer ${TOKEN}`,
            'content-type': 'application/json',
            ...(chunked ? {} : { 'content-length': String(size) }),
          },
        },
        (response) => {
          let text = '';
          response.on('data', (chunk) => {
            text += chunk;
          });
          response.on('end', () => resolve({ status: response.statusCode, body: text }));
        },
      );
      request.on('error', reject);
      if (chunked) {
        // Several writes: the server has refused the body long before the last one.
        for (let at = 0; at < size; at += 64 * 1024) request.write(body.subarray(at, at + 64 * 1024));
        request.end();
      } else {
        request.end(body);
      }
    });

  it.each([
    ['a 2 MB chunked body', 2 * 1024 * 1024, true, 'limited to 65536 bytes'],
    ['an 8 MB body with its length (over the function URL limit)', 8 * 1024 * 1024, false, '6291456 bytes'],
  ])(
    'answers %s with a 413 the client reads, not a reset connection',
    async (_what, size, chunked, message) => {
      const answer = await postLarge('/v1/events', size, chunked);

      expect(answer.status).toBe(413);
      expect(JSON.parse(answer.body)).toMatchObject({
        error: 'payload_too_large',
        message: expect.stringContaining(message),
      });
    },
  );
});
