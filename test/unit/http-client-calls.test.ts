import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CallOutcome, HttpClient } from '../../functions/core/http-client.ts';
import { startTargetServer, type TargetServer } from '../support/target-server.ts';

describe('HttpClient telling what became of each call', () => {
  let server: TargetServer;

  beforeAll(async () => {
    server = await startTargetServer();
  });
  afterAll(() => server.stop());

  it('reports every call of an observed client (each attempt of a retried one), answered, failed or refused', async () => {
    const outcomes: CallOutcome[] = [];
    const client = new HttpClient({ timeoutMs: 10_000 }).observed((outcome) => outcomes.push(outcome));
    server.script(
      { status: 200, body: { ok: true } },
      { status: 503 },
      { status: 429, headers: { 'retry-after': '3' } },
      { status: 404, body: { message: 'Not Found' } },
      // A reset GET is tried again at once (connectionRetries 1): two calls, two outcomes.
      { reset: true },
      { status: 200, body: { ok: true } },
    );

    await client.send({ method: 'POST', url: `${server.url}/a` });
    for (const path of ['b', 'c', 'd'])
      await client.send({ method: 'POST', url: `${server.url}/${path}` }).catch(() => undefined);
    await client.send({ method: 'GET', url: `${server.url}/e` });

    expect(outcomes).toEqual(['answered', 'failed', 'failed', 'refused', 'failed', 'answered']);
  });

  it('leaves the client it came from unobserved', async () => {
    const outcomes: CallOutcome[] = [];
    const base = new HttpClient({ timeoutMs: 10_000 });
    base.observed((outcome) => outcomes.push(outcome));
    server.script({ status: 200, body: { ok: true } });

    await base.send({ method: 'POST', url: `${server.url}/f` });

    expect(outcomes).toEqual([]);
  });
});
