import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../functions/core/api/app.ts';
import { createHarness, type Harness } from '../support/harness.ts';

const TOKENS = {
  admin: 'incident-admin-0a1b2c',
  reader: 'incident-reader-3d4e5f',
  writer: 'incident-writer-6a7b8c',
};

type Json = Record<string, unknown>;

describe('incidents API', () => {
  let h: Harness;
  let api: ReturnType<typeof createApi>;

  beforeAll(async () => {
    h = await createHarness({
      config: {
        api: {
          tokens: [
            { name: 'admin', secret: 'admin' },
            { name: 'reader', secret: 'reader', scopes: ['read'] },
            { name: 'writer', secret: 'writer', scopes: ['events:write'] },
          ],
        },
        targets: { console: { type: 'log' } },
        routes: [{ targets: ['console'] }],
      },
      env: {
        SHIPCAST_SECRET_ADMIN: TOKENS.admin,
        SHIPCAST_SECRET_READER: TOKENS.reader,
        SHIPCAST_SECRET_WRITER: TOKENS.writer,
      },
    });
    api = createApi(h.runtime.api);
  });
  afterAll(async () => {
    await h?.stop();
  });

  const bearer = (who: keyof typeof TOKENS = 'admin') => ({ authorization: `Bearer ${TOKENS[who]}` });
  const at = (iso: string) => h.clock.advance(Date.parse(iso) - h.clock.now().getTime());

  /** Records a finished native deployment at `finishedAt`; answers its Shipcast id. */
  const deploy = async (
    service: string,
    environment: string,
    version: string,
    status: string,
    finishedAt: string,
  ) => {
    at(finishedAt);
    const response = await api.request('/v1/events', {
      method: 'POST',
      headers: { ...bearer(), 'content-type': 'application/json' },
      body: JSON.stringify({ service, environment, version, status, timestamp: finishedAt }),
    });
    expect(response.status).toBe(202);
    return ((await response.json()) as { deploymentId: string }).deploymentId;
  };
  const postIncident = (body: unknown, who: keyof typeof TOKENS = 'admin') =>
    api.request('/v1/incidents', {
      method: 'POST',
      headers: { ...bearer(who), 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const get = async (path: string, who: keyof typeof TOKENS = 'admin') => {
    const response = await api.request(path, { headers: bearer(who) });
    return { status: response.status, body: (await response.json()) as Json };
  };

  it('links an incident without a deployment id to the latest successful production deployment that finished before it opened', async () => {
    const older = await deploy('cart', 'production', '1.0', 'succeeded', '2026-04-01T10:00:00.000Z');
    const running = await deploy('cart', 'production', '1.1', 'succeeded', '2026-04-01T11:00:00.000Z');
    await deploy('cart', 'production', '1.2', 'failed', '2026-04-01T11:30:00.000Z');
    await deploy('cart', 'production', '1.3', 'succeeded', '2026-04-01T13:00:00.000Z');

    const response = await postIncident({
      id: 'PD-1',
      service: 'cart',
      environment: 'production',
      status: 'open',
      title: 'Checkout errors',
      severity: 'SEV2',
      openedAt: '2026-04-01T11:45:00Z',
    });

    expect(response.status).toBe(201);
    const { incident } = (await response.json()) as { incident: Json };
    expect(incident).toMatchObject({
      id: expect.stringMatching(/^inc_[0-9a-f]{24}$/),
      sourceId: 'PD-1',
      status: 'open',
      openedAt: '2026-04-01T11:45:00.000Z',
      resolvedAt: null,
      deploymentId: running,
      link: 'auto',
      causedByChange: true,
    });
    expect((await get(`/v1/deployments/${running}`)).body.incidents).toEqual([incident]);
    expect((await get(`/v1/deployments/${older}`)).body.incidents).toEqual([]);
  });

  it('links to the deployment that finished last, even when another was created after it', async () => {
    at('2026-04-04T10:00:00.000Z');
    const started = await api.request('/v1/events', {
      method: 'POST',
      headers: { ...bearer(), 'content-type': 'application/json' },
      body: JSON.stringify({
        service: 'slow',
        environment: 'production',
        version: 'long',
        status: 'started',
      }),
    });
    const { deploymentId: long } = (await started.json()) as { deploymentId: string };
    await deploy('slow', 'production', 'short', 'succeeded', '2026-04-04T10:40:00.000Z');
    expect(await deploy('slow', 'production', 'long', 'succeeded', '2026-04-04T11:00:00.000Z')).toBe(long);

    const response = await postIncident({
      id: 'LATE-1',
      service: 'slow',
      environment: 'production',
      status: 'open',
      title: 'Slow',
      openedAt: '2026-04-04T11:10:00Z',
    });

    expect(((await response.json()) as { incident: Json }).incident).toMatchObject({
      deploymentId: long,
      link: 'auto',
    });
  });

  it('updates and resolves the incident keyed by the caller id, keeping what the update does not say', async () => {
    const first = await postIncident({
      id: 'PD-2',
      service: 'cart',
      environment: 'staging',
      status: 'open',
      title: 'Slow search',
      url: 'https://pagerduty.example/incidents/PD-2',
      openedAt: '2026-04-02T08:00:00Z',
    });
    const { incident: opened } = (await first.json()) as { incident: Json };
    expect(opened.link).toBe('none'); // staging is not a production environment

    const resolved = await postIncident({
      id: 'PD-2',
      service: 'cart',
      environment: 'staging',
      status: 'resolved',
      resolvedAt: '2026-04-02T09:30:00Z',
    });

    expect(resolved.status).toBe(200);
    const { body } = await get(`/v1/incidents/${opened.id}`);
    expect(body.incident).toMatchObject({
      id: opened.id,
      title: 'Slow search',
      url: 'https://pagerduty.example/incidents/PD-2',
      status: 'resolved',
      openedAt: '2026-04-02T08:00:00.000Z',
      resolvedAt: '2026-04-02T09:30:00.000Z',
    });
  });

  it('links to the deployment the caller names and moves the link when it names another', async () => {
    const a = await deploy('pay', 'production', '2.0', 'succeeded', '2026-04-03T10:00:00.000Z');
    const b = await deploy('pay', 'production', '2.1', 'succeeded', '2026-04-03T11:00:00.000Z');
    const body = {
      id: 'PD-3',
      service: 'pay',
      environment: 'production',
      status: 'open',
      title: 'Refunds fail',
    };

    await postIncident({ ...body, deploymentId: a, openedAt: '2026-04-03T12:00:00Z' });
    const moved = (await (await postIncident({ ...body, deploymentId: b })).json()) as { incident: Json };

    expect(moved.incident).toMatchObject({ deploymentId: b, link: 'given' });
    expect((await get(`/v1/deployments/${a}`)).body.incidents).toEqual([]);
    expect((await get(`/v1/deployments/${b}`)).body.incidents).toEqual([moved.incident]);
  });

  it('lists incidents newest first, filtered by service, environment and status, page by page', async () => {
    for (const n of [1, 2, 3]) {
      await postIncident({
        id: `L-${n}`,
        service: 'listed',
        environment: 'production',
        status: n === 2 ? 'resolved' : 'open',
        title: `Incident ${n}`,
        openedAt: `2026-04-0${n}T00:00:00Z`,
      });
    }
    const first = await get('/v1/incidents?service=listed&environment=production&limit=2');
    const second = await get(
      `/v1/incidents?service=listed&environment=production&limit=2&cursor=${first.body.cursor}`,
    );
    const open = await get('/v1/incidents?service=listed&status=open');

    const titles = (page: Json) => (page.incidents as Json[]).map((i) => i.title);
    expect(titles(first.body)).toEqual(['Incident 3', 'Incident 2']);
    expect(titles(second.body)).toEqual(['Incident 1']);
    expect(second.body.cursor).toBeNull();
    expect(titles(open.body)).toEqual(['Incident 3', 'Incident 1']);
  });

  it('applies both of two concurrent writes of one incident: one opens it, the other updates it', async () => {
    const body = {
      id: 'C-1',
      service: 'racy',
      environment: 'staging',
      title: 'Race',
      openedAt: '2026-04-07T00:00:00Z',
    };

    const answers = await Promise.all([
      postIncident({ ...body, status: 'open', severity: 'SEV1' }),
      postIncident({ ...body, status: 'open', url: 'https://status.example/c1' }),
    ]);

    expect(answers.map((a) => a.status).sort()).toEqual([200, 201]);
    const [stored] = (await h.store.listIncidents({ service: 'racy', limit: 5 })).items;
    expect(stored).toMatchObject({ severity: 'SEV1', url: 'https://status.example/c1', rev: 2 });
  });

  it.each([
    ['a new incident without a title', { id: 'B-1', status: 'open' }, 'title'],
    ['neither id nor openedAt', { status: 'open', title: 'x' }, 'id'],
    ['an unknown status', { id: 'B-2', status: 'closed', title: 'x' }, 'status'],
    [
      'resolvedAt before openedAt',
      {
        id: 'B-3',
        status: 'resolved',
        title: 'x',
        openedAt: '2026-04-02T00:00:00Z',
        resolvedAt: '2026-04-01T00:00:00Z',
      },
      'resolvedAt',
    ],
    [
      'resolvedAt on an open incident',
      { id: 'B-4', status: 'open', title: 'x', resolvedAt: '2026-04-01T00:00:00Z' },
      'resolvedAt',
    ],
    [
      'a deployment that does not exist',
      { id: 'B-5', status: 'open', title: 'x', deploymentId: `dep_${'0'.repeat(24)}` },
      'deploymentId',
    ],
    [
      'a malformed deployment id',
      { id: 'B-6', status: 'open', title: 'x', deploymentId: 'd-123' },
      'deploymentId',
    ],
    ['a field it does not know', { id: 'B-7', status: 'open', title: 'x', priority: 1 }, 'priority'],
    ['a non-http url', { id: 'B-8', status: 'open', title: 'x', url: 'javascript:alert(1)' }, 'url'],
  ])('answers 400 naming the field for %s, and stores nothing', async (_case, extra, field) => {
    const response = await postIncident({ service: 'rejected', environment: 'production', ...extra });

    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: string; issues: { path: string }[] };
    expect(body.error).toBe('invalid_request');
    expect(body.issues.map((i) => i.path)).toContain(field);
    expect((await h.store.listIncidents({ service: 'rejected', limit: 10 })).items).toEqual([]);
  });

  it('answers 400 for a body that is not JSON and 404 for an incident that does not exist', async () => {
    expect((await postIncident('{not json')).status).toBe(400);
    expect((await get(`/v1/incidents/inc_${'0'.repeat(24)}`)).status).toBe(404);
    expect((await get('/v1/incidents/nope')).status).toBe(404);
    expect((await get('/v1/incidents?status=closed')).status).toBe(400);
  });

  it('lets a read token list incidents but answers 403 to its write, and 403 to a token without incident scopes', async () => {
    const body = {
      id: 'S-1',
      service: 'scoped',
      environment: 'production',
      status: 'open',
      title: 'x',
      openedAt: '2026-04-05T00:00:00Z',
    };

    const write = await postIncident(body, 'reader');
    const read = await get('/v1/incidents?service=scoped', 'reader');
    const other = await get('/v1/incidents', 'writer');
    const otherWrite = await postIncident(body, 'writer');

    expect([write.status, read.status, other.status, otherWrite.status]).toEqual([403, 200, 403, 403]);
    expect(((await write.json()) as Json).message).toContain('lacks the scope incidents:write');
    expect(other.body.message).toContain('lacks the scope incidents:read');
    expect((await h.store.listIncidents({ service: 'scoped', limit: 10 })).items).toEqual([]);
  });

  it('leaves incidents out of a deployment for a token that may not read them', async () => {
    const id = await deploy('hidden', 'production', '1', 'succeeded', '2026-04-06T00:00:00.000Z');
    const writer = createApi({
      ...h.runtime.api,
      config: {
        ...h.runtime.api.config,
        api: {
          ...h.runtime.api.config.api,
          tokens: [{ name: 'writer', secret: 'writer', scopes: ['deployments:read'] }],
        },
      },
    });

    const response = await writer.request(`/v1/deployments/${id}`, { headers: bearer('writer') });

    expect(response.status).toBe(200);
    expect(await response.json()).not.toHaveProperty('incidents');
  });
});
