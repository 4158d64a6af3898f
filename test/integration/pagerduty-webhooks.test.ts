import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApi } from '../../functions/core/api/app.ts';
import { parseConfig } from '../../functions/core/config.ts';
import { placePagerDutyService } from '../../functions/core/sources/pagerduty.ts';
import { type LocalShipcast, startLocal } from '../../functions/local/local-shipcast.ts';
import { captureLogs } from '../support/capture-logger.ts';
import { createHarness, TestClock } from '../support/harness.ts';
import { FakePagerDuty, incidentData, pagerDutySignature } from '../support/pagerduty-webhooks.ts';

const TOKEN = 'pd-hooks-api-token-5e1f';
const SIGNING_SECRET = 'pd-signing-secret-7Hq2WxY9';
const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'pagerduty');

type Json = Record<string, unknown>;

const fixture = (path: string): Json => JSON.parse(readFileSync(join(FIXTURES, path), 'utf8'));

/** PagerDuty's services in these tests: `PF9KMXH` is mapped; `Payments API` by name; the rest are not. */
const CHECKOUT = { id: 'PF9KMXH', summary: 'API Service' };
const PAYMENTS = { id: 'PPAY001', summary: 'Payments API' };

describe('PagerDuty V3 webhooks (POST /v1/hooks/pagerduty) in local mode', () => {
  const clock = new TestClock();
  const logs = captureLogs();
  let local: LocalShipcast;
  let pagerduty: FakePagerDuty;
  let tables = 0;

  beforeAll(async () => {
    local = await startLocal({
      config: parseConfig({
        api: { tokens: [{ name: 'ops', secret: 'api-token' }] },
        sources: {
          pagerduty: {
            secret: 'pagerduty-webhook',
            services: {
              PF9KMXH: { service: 'checkout', environment: 'production' },
              'Payments API': { service: 'payments' },
            },
          },
        },
        targets: { console: { type: 'log' } },
        routes: [{ targets: ['console'] }],
      }),
      dataDir: mkdtempSync(join(tmpdir(), 'shipcast-pagerduty-')),
      port: 0,
      queuePort: 0,
      dynamodbEndpoint: inject('dynamodbEndpoint'),
      tableName: `pagerduty-${process.pid}-${++tables}`,
      clock,
      env: { SHIPCAST_SECRET_API_TOKEN: TOKEN, SHIPCAST_SECRET_PAGERDUTY_WEBHOOK: SIGNING_SECRET },
      logger: logs.logger,
    });
    pagerduty = new FakePagerDuty({ url: `${local.apiUrl}/v1/hooks/pagerduty`, secret: SIGNING_SECRET });
  });
  afterAll(async () => {
    await local?.stop();
    logs.restore();
  });

  const at = (iso: string) => clock.advance(Date.parse(iso) - clock.now().getTime());
  const get = async (path: string) => {
    const response = await fetch(`${local.apiUrl}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    return { status: response.status, body: (await response.json()) as Json };
  };
  const incidentsOf = async (service: string) =>
    (await get(`/v1/incidents?service=${service}`)).body.incidents as Json[];
  /** Records a finished native deployment; answers its Shipcast id. */
  const deploy = async (service: string, version: string, finishedAt: string) => {
    at(finishedAt);
    const response = await fetch(`${local.apiUrl}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        service,
        environment: 'production',
        version,
        status: 'succeeded',
        timestamp: finishedAt,
      }),
    });
    expect(response.status).toBe(202);
    return ((await response.json()) as { deploymentId: string }).deploymentId;
  };
  /** Posts a body signed with the configured secret (or as `headers` say), as PagerDuty would. */
  const post = async (body: string, headers: Record<string, string> = {}) => {
    const response = await fetch(`${local.apiUrl}/v1/hooks/pagerduty`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-pagerduty-signature': pagerDutySignature(body, [SIGNING_SECRET]),
        ...headers,
      },
      body,
    });
    return { status: response.status, body: (await response.json()) as Json };
  };

  it('turns triggered → acknowledged → resolved into one incident linked to the latest successful production deployment, and the DORA recovery time once resolved', async () => {
    // Prepare: two successful production deployments of checkout.
    await deploy('checkout', '1.0', '2026-03-02T10:00:00.000Z');
    const latest = await deploy('checkout', '1.1', '2026-03-03T10:00:00.000Z');
    const dora = async () =>
      (
        await get(
          '/v1/metrics/dora?service=checkout&environment=production&from=2026-03-01T00:00:00Z&to=2026-03-08T00:00:00Z',
        )
      ).body;

    // Act: PagerDuty opens, acknowledges and resolves an incident on the mapped service.
    at('2026-03-03T11:30:05.000Z');
    const triggered = await pagerduty.trigger({
      title: 'Checkout error rate above 5%',
      service: CHECKOUT,
      priority: 'P1',
      createdAt: '2026-03-03T11:30:00Z',
    });
    const id = triggered.incidentId as string;
    at('2026-03-03T11:40:05.000Z');
    const acknowledged = await pagerduty.acknowledge(id, '2026-03-03T11:40:00.000Z');
    const whileOpen = await dora();
    at('2026-03-03T12:30:05.000Z');
    const resolved = await pagerduty.resolve(id, '2026-03-03T12:30:00.000Z');

    // Assess: each delivery was accepted at the first attempt and all three are the same incident.
    for (const delivery of [triggered, acknowledged, resolved]) {
      expect(delivery.attempts).toEqual([202]);
    }
    expect(triggered.answer).toEqual({
      kind: 'incident',
      incidentId: expect.stringMatching(/^inc_[0-9a-f]{24}$/),
      status: 'open',
      created: true,
      deploymentId: latest,
      link: 'auto',
    });
    const incidentId = triggered.answer?.incidentId;
    expect(acknowledged.answer).toMatchObject({ incidentId, status: 'open', created: false });
    expect(resolved.answer).toMatchObject({
      incidentId,
      status: 'resolved',
      created: false,
      deploymentId: latest,
    });

    const stored = (await get(`/v1/incidents/${incidentId}`)).body.incident;
    expect(stored).toEqual({
      id: incidentId,
      source: 'pagerduty',
      sourceId: id,
      service: 'checkout',
      environment: 'production',
      severity: 'P1',
      title: 'Checkout error rate above 5%',
      url: `https://acme.pagerduty.com/incidents/${id}`,
      status: 'resolved',
      openedAt: '2026-03-03T11:30:00.000Z',
      resolvedAt: '2026-03-03T12:30:00.000Z',
      deploymentId: latest,
      link: 'auto',
      causedByChange: true,
      createdAt: '2026-03-03T11:30:05.000Z',
      updatedAt: '2026-03-03T12:30:05.000Z',
    });
    expect(await incidentsOf('checkout')).toEqual([stored]);
    expect((await get(`/v1/deployments/${latest}`)).body.incidents).toEqual([stored]);

    // The incident made 1.1 a failure; its resolution, 2.5 hours after 1.1 finished, is the recovery.
    expect(whileOpen.changeFailRate).toMatchObject({ failed: 1, basedOn: 2 });
    expect(whileOpen.recoveryTime).toMatchObject({ value: null, unrecovered: 1 });
    expect((await dora()).recoveryTime).toMatchObject({ value: 9000, basedOn: 1, unrecovered: 0 });
  });

  it('answers 401 and stores nothing when X-PagerDuty-Signature does not verify', async () => {
    const body = JSON.stringify(
      pagerduty.payload('incident.triggered', '2026-03-04T09:00:00Z', {
        ...incidentData({
          id: 'PBADSIG1',
          number: 901,
          title: 'Forged',
          status: 'triggered',
          urgency: 'high',
          priority: null,
          service: { id: 'PFORGED', summary: 'forged' },
          createdAt: '2026-03-04T09:00:00Z',
        }),
      }),
    );
    const cases: [string, Record<string, string>][] = [
      [
        'signed with another secret',
        { 'x-pagerduty-signature': pagerDutySignature(body, ['not-the-secret']) },
      ],
      [
        'signature of another body',
        { 'x-pagerduty-signature': pagerDutySignature(`${body} `, [SIGNING_SECRET]) },
      ],
      ['an empty header', { 'x-pagerduty-signature': '' }],
      [
        'a signature without its v1= version',
        { 'x-pagerduty-signature': pagerDutySignature(body, [SIGNING_SECRET]).slice(3) },
      ],
      [
        'a version Shipcast does not know',
        { 'x-pagerduty-signature': pagerDutySignature(body, [SIGNING_SECRET]).replace('v1=', 'v2=') },
      ],
    ];
    for (const [what, headers] of cases) {
      const answer = await post(body, headers);
      expect(answer, what).toEqual({
        status: 401,
        body: {
          error: 'unauthorized',
          message: 'X-PagerDuty-Signature does not verify with the configured secret',
        },
      });
    }
    const unsigned = await fetch(`${local.apiUrl}/v1/hooks/pagerduty`, { method: 'POST', body });
    expect(unsigned.status).toBe(401);
    // The signature is checked before the body is read: not even JSON, it is still a 401.
    expect((await post('{"event":', { 'x-pagerduty-signature': 'v1=00' })).status).toBe(401);
    expect(await incidentsOf('forged')).toEqual([]);
    expect(logs.lines.join('\n')).not.toContain(SIGNING_SECRET);
  });

  it('accepts a delivery signed during a secret rotation, where one of the signatures is under the configured secret', async () => {
    const rotating = new FakePagerDuty({ url: `${local.apiUrl}/v1/hooks/pagerduty`, secret: SIGNING_SECRET });
    rotating.rotateSecret('the-next-signing-secret');

    const delivery = await rotating.trigger({
      title: 'Rotation',
      service: { id: 'PROTATE', summary: 'rotation' },
      createdAt: '2026-03-04T10:00:00Z',
    });

    expect(delivery.headers['x-pagerduty-signature']).toMatch(/^v1=[0-9a-f]{64},v1=[0-9a-f]{64}$/);
    expect(delivery.attempts).toEqual([202]);
    expect(await incidentsOf('rotation')).toHaveLength(1);
  });

  it('answers a redelivery (same X-Webhook-Id) with the first answer and still has one incident', async () => {
    at('2026-03-05T08:00:05.000Z');
    const first = await pagerduty.trigger({
      title: 'Queue backlog',
      service: PAYMENTS,
      urgency: 'low',
      createdAt: '2026-03-05T08:00:00Z',
    });
    at('2026-03-05T08:05:00.000Z');
    const again = await pagerduty.redeliver(first);
    const afterRedelivery = (await get(`/v1/incidents/${first.answer?.incidentId}`)).body.incident as Json;
    // The same signed event under a new webhook id (a resend, or a replay) is answered as the first time.
    const resent = await pagerduty.deliver(JSON.parse(first.body) as Json);

    expect(again.webhookId).toBe(first.webhookId);
    expect(again.answer).toEqual(first.answer);
    expect(afterRedelivery.updatedAt).toBe('2026-03-05T08:00:05.000Z'); // the redelivery wrote nothing
    expect(resent.answer).toEqual(first.answer);
    const incidents = await incidentsOf('payments');
    expect(incidents).toHaveLength(1);
    expect(incidents[0]).toMatchObject({
      environment: 'production',
      severity: 'low',
      status: 'open',
      openedAt: '2026-03-05T08:00:00.000Z',
    });
  });

  it('answers 202 with the reason and stores nothing for event types it does not record', async () => {
    const deliveries = [
      await pagerduty.deliver(fixture('pagey/ping.json')),
      await pagerduty.deliver(fixture('incident/annotated.json')),
      await pagerduty.deliver(
        pagerduty.payload('service.updated', '2026-03-05T09:00:00Z', { id: 'PF9KMXH', type: 'service' }),
      ),
    ];

    expect(deliveries.map((d) => [d.status, d.answer?.ignored])).toEqual([
      [202, 'pagey.ping'],
      [202, 'incident.annotated'],
      [202, 'service.updated'],
    ]);
    expect(deliveries[1]?.answer?.reason).toMatch(/incident\.triggered.*this event was not stored/);
    // The documented example names incident PGR0VU2 of PF9KMXH: nothing of it was stored.
    expect((await incidentsOf('checkout')).map((i) => i.sourceId)).not.toContain('PGR0VU2');
  });

  it.each([
    ['event.data.service.id', (d: Json) => ({ ...d, service: { summary: 'API Service' } })],
    ['event.data.status', (d: Json) => ({ ...d, status: 'snoozed' })],
    ['event.data.title', (d: Json) => ({ ...d, title: '' })],
    ['event.data.id', (d: Json) => ({ ...d, id: 'has spaces' })],
    ['event.data.created_at', (d: Json) => ({ ...d, created_at: 'yesterday' })],
    ['event.data.urgency', (d: Json) => ({ ...d, urgency: 'urgent' })],
  ])(
    'answers 400 naming %s and stores nothing for an incident that lacks it or has it malformed',
    async (path, edit) => {
      const event = fixture('incident/priority_updated.json').event as Json;
      const body = JSON.stringify({
        event: { ...event, data: edit({ ...(event.data as Json), id: 'PMALFORM1' }) },
      });

      const answer = await post(body);

      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({ error: 'invalid_request' });
      expect((answer.body.issues as { path: string }[]).map((i) => i.path)).toEqual([path]);
      const all = (await get('/v1/incidents?limit=100')).body.incidents as Json[];
      expect(all.map((i) => i.sourceId)).not.toContain('PMALFORM1');
    },
  );

  it.each([
    ['event', '{"messages":[]}'],
    ['event.event_type', '{"event":{"id":"01X","occurred_at":"2026-03-05T09:00:00Z"}}'],
    [
      'event.occurred_at',
      '{"event":{"id":"01Y","event_type":"incident.triggered","occurred_at":"soon","data":{}}}',
    ],
    ['', '{"event":'],
  ])('answers 400 naming "%s" for a malformed envelope', async (path, body) => {
    const answer = await post(body);

    expect(answer.status).toBe(400);
    expect((answer.body.issues as { path: string }[]).map((i) => i.path)).toContain(path);
  });

  it('reopens a resolved incident on incident.reopened, keeps it resolved on a late trigger, and takes a new priority as its severity', async () => {
    const service = { id: 'PREOPEN', summary: 'reopening' };
    const triggered = await pagerduty.trigger({
      title: 'Flapping',
      service,
      createdAt: '2026-03-06T10:00:00Z',
    });
    const id = triggered.incidentId as string;
    await pagerduty.resolve(id, '2026-03-06T10:10:00Z');
    // The trigger event again (a replay of its signed body): answered as before, the incident stays resolved.
    await pagerduty.deliver(JSON.parse(triggered.body) as Json);
    const lateStatus = ((await get(`/v1/incidents/${triggered.answer?.incidentId}`)).body.incident as Json)
      .status;

    const reopened = await pagerduty.reopen(id, '2026-03-06T10:20:00Z');
    const prioritized = await pagerduty.setPriority(id, 'P2', '2026-03-06T10:25:00Z');

    expect(lateStatus).toBe('resolved');
    expect(reopened.answer).toMatchObject({ status: 'open', created: false });
    expect(prioritized.answer).toMatchObject({ status: 'open' });
    expect(await incidentsOf('reopening')).toEqual([
      expect.objectContaining({
        status: 'open',
        resolvedAt: null,
        severity: 'P2',
        openedAt: '2026-03-06T10:00:00.000Z',
      }),
    ]);
  });
});

describe('PagerDuty webhooks without sources.pagerduty', () => {
  it('answers 404 naming sources.pagerduty, as if the route were not there', async () => {
    const h = await createHarness({
      config: {
        api: { tokens: [{ name: 'ops', secret: 'api-token' }] },
        targets: { console: { type: 'log' } },
        routes: [{ targets: ['console'] }],
      },
    });
    try {
      const body = JSON.stringify(fixture('incident/priority_updated.json'));
      const response = await createApi(h.runtime.api).request('/v1/hooks/pagerduty', {
        method: 'POST',
        headers: { 'x-pagerduty-signature': pagerDutySignature(body, [SIGNING_SECRET]) },
        body,
      });

      expect(response.status).toBe(404);
      expect(await response.json()).toMatchObject({ message: expect.stringContaining('sources.pagerduty') });
    } finally {
      await h.stop();
    }
  });
});

describe('placing a PagerDuty service', () => {
  const config = {
    secret: 'pd',
    services: {
      PF9KMXH: { service: 'checkout', environment: 'production' },
      'Payments API': { service: 'payments' },
    },
    environment: 'prod',
    unmapped: 'service-name' as const,
  };

  it('finds a service by its id first, then by its name, with the default environment when the entry has none', () => {
    expect(placePagerDutyService({ id: 'PF9KMXH', summary: 'Payments API' }, config)).toEqual({
      service: 'checkout',
      environment: 'production',
    });
    expect(placePagerDutyService({ id: 'POTHER1', summary: 'Payments API' }, config)).toEqual({
      service: 'payments',
      environment: 'prod',
    });
  });

  it('takes the PagerDuty name of a service without an entry, or ignores it with unmapped: ignore', () => {
    expect(placePagerDutyService({ id: 'PNEW001', summary: 'search' }, config)).toEqual({
      service: 'search',
      environment: 'prod',
    });
    expect(
      placePagerDutyService({ id: 'PNEW001', summary: 'search' }, { ...config, unmapped: 'ignore' }),
    ).toBeUndefined();
  });

  it('does not take an inherited property name for a service entry', () => {
    expect(placePagerDutyService({ id: 'constructor', summary: 'toString' }, config)).toEqual({
      service: 'toString',
      environment: 'prod',
    });
  });
});
