import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../functions/core/api/app.ts';
import { createHarness, type Harness } from '../support/harness.ts';

const TOKEN = 'tok-cdevents-incidents-7c2e';

type Json = Record<string, unknown>;

/**
 * An incident CDEvent with the fields of the spec's incident subject
 * (https://github.com/cdevents/spec/blob/main/continuous-operations.md): id, description, environment,
 * service, artifactId, and ticketURI for `reported`.
 */
const incidentEvent = (predicate: string, id: string, timestamp: string, content: Json = {}) => ({
  context: {
    version: '0.4.1',
    id: `${predicate}-${id}-${timestamp}`,
    source: '/monitoring/prod1',
    type: `dev.cdevents.incident.${predicate}.0.1.0`,
    timestamp,
  },
  subject: {
    id,
    source: '/monitoring/prod1',
    content: {
      description: 'Response time above 10ms',
      environment: { id: 'production', source: 'iaas-region-1' },
      service: { id: 'service/checkout' },
      artifactId: 'pkg:oci/checkout@sha256%3A0b31b1c0',
      ...content,
    },
  },
});

describe('CDEvents incident events', () => {
  let h: Harness;
  let api: ReturnType<typeof createApi>;

  beforeAll(async () => {
    h = await createHarness({
      config: {
        api: { tokens: [{ name: 'ops', secret: 'api-token' }] },
        targets: { console: { type: 'log' } },
        routes: [{ targets: ['console'] }],
      },
      env: { SHIPCAST_SECRET_API_TOKEN: TOKEN },
    });
    api = createApi(h.runtime.api);
  });
  afterAll(async () => {
    await h?.stop();
  });

  /** Structured mode: the CloudEvent as the body, the CDEvent as its data. */
  const send = async (event: ReturnType<typeof incidentEvent>) => {
    const response = await api.request('/v1/cdevents', {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/cloudevents+json' },
      body: JSON.stringify({
        specversion: '1.0',
        id: event.context.id,
        source: event.context.source,
        type: event.context.type,
        time: event.context.timestamp,
        data: event,
      }),
    });
    return { status: response.status, body: (await response.json()) as Json };
  };
  const incident = async (id: unknown) =>
    (
      (await (
        await api.request(`/v1/incidents/${id}`, { headers: { authorization: `Bearer ${TOKEN}` } })
      ).json()) as {
        incident: Json;
      }
    ).incident;

  it('opens an incident on detected, takes the ticket on reported and resolves it on resolved, linked to the running deployment', async () => {
    h.clock.advance(Date.parse('2026-05-01T09:00:00Z') - h.clock.now().getTime());
    const deployed = await api.request('/v1/events', {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        service: 'checkout',
        environment: 'production',
        status: 'succeeded',
        version: '3.1',
      }),
    });
    const { deploymentId } = (await deployed.json()) as { deploymentId: string };

    const detected = await send(incidentEvent('detected', 'inc-42', '2026-05-01T10:00:00Z'));
    const reported = await send(
      incidentEvent('reported', 'inc-42', '2026-05-01T10:05:00Z', {
        ticketURI: 'https://issues.example/ticket42',
      }),
    );
    const opened = await incident(detected.body.incidentId);
    const resolved = await send(
      incidentEvent('resolved', 'inc-42', '2026-05-01T11:00:00Z', { description: 'Response time restored' }),
    );

    expect(detected).toEqual({
      status: 202,
      body: { kind: 'incident', incidentId: expect.stringMatching(/^inc_/), status: 'open', created: true },
    });
    expect(reported.body).toMatchObject({ incidentId: detected.body.incidentId, created: false });
    expect(opened).toMatchObject({
      source: 'cdevents',
      service: 'checkout',
      environment: 'production',
      title: 'Response time above 10ms',
      url: 'https://issues.example/ticket42',
      status: 'open',
      openedAt: '2026-05-01T10:00:00.000Z',
      deploymentId,
      link: 'auto',
    });
    expect(resolved.body).toMatchObject({ status: 'resolved', created: false });
    expect(await incident(detected.body.incidentId)).toMatchObject({
      status: 'resolved',
      title: 'Response time above 10ms',
      openedAt: '2026-05-01T10:00:00.000Z',
      resolvedAt: '2026-05-01T11:00:00.000Z',
    });
  });

  it('keeps a resolved incident resolved when its detection arrives again', async () => {
    const first = await send(incidentEvent('detected', 'inc-43', '2026-05-02T10:00:00Z'));
    await send(incidentEvent('resolved', 'inc-43', '2026-05-02T10:30:00Z'));
    await send(incidentEvent('detected', 'inc-43', '2026-05-02T10:00:00Z'));

    expect(await incident(first.body.incidentId)).toMatchObject({
      status: 'resolved',
      resolvedAt: '2026-05-02T10:30:00.000Z',
    });
  });

  it('answers 400 naming the field for an incident without a service or environment, and stores nothing', async () => {
    const noService = incidentEvent('detected', 'inc-44', '2026-05-03T10:00:00Z');
    delete (noService.subject.content as Json).service;
    const noEnvironment = incidentEvent('detected', 'inc-45', '2026-05-03T10:00:00Z', {
      service: { id: 'lonely' },
    });
    delete (noEnvironment.subject.content as Json).environment;

    const a = await send(noService);
    const b = await send(noEnvironment);

    expect([a.status, b.status]).toEqual([400, 400]);
    expect((a.body.issues as { path: string }[]).map((i) => i.path)).toContain(
      'data.subject.content.service',
    );
    expect((b.body.issues as { path: string }[]).map((i) => i.path)).toContain(
      'data.subject.content.environment',
    );
    expect((await h.store.listIncidents({ service: 'lonely', limit: 5 })).items).toEqual([]);
  });
});
