/**
 * The API's rare routes as Lambda serves them: from `rare-routes.mjs`, built by the construct's esbuild command
 * (lib/rare-routes-bundle.ts) and imported by the Lambda's loader (`rareRoutesBeside`), with the store, config and
 * clock of the API's context (DynamoDB Local). That file has its own copy of every module it uses: these tests
 * show it answers as the .ts modules do (`npm start`, the other tests), errors of the main copy included.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../functions/core/api/app.ts';
import { RARE_ROUTE_FAMILIES } from '../../functions/core/api/rare-routes.ts';
import { createRareRoutes } from '../../functions/core/api/rare-routes-app.ts';
import {
  RARE_ROUTES_ENTRY,
  RARE_ROUTES_FILE_NAME,
  rareRoutesBeside,
} from '../../functions/handlers/rare-routes-file.ts';
import { esbuildExecutable, rareRoutesEsbuildArgs } from '../../lib/rare-routes-bundle.ts';
import { createHarness, type Harness } from '../support/harness.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TOKEN = 'rare-routes-token-5d1c9e';

type Json = Record<string, unknown>;

describe('rare routes served from rare-routes.mjs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'shipcast-rare-routes-'));
  let h: Harness;
  let lambda: ReturnType<typeof createApi>;
  let local: ReturnType<typeof createApi>;
  let loads = 0;

  beforeAll(async () => {
    execFileSync(
      esbuildExecutable(),
      rareRoutesEsbuildArgs(`${ROOT}${RARE_ROUTES_ENTRY}`, join(dir, RARE_ROUTES_FILE_NAME), 'node22'),
      { stdio: 'inherit' },
    );
    h = await createHarness({
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: { console: { type: 'log' } },
        routes: [{ targets: ['console'] }],
      },
      env: { SHIPCAST_SECRET_API_TOKEN: TOKEN },
    });
    const beside = rareRoutesBeside(pathToFileURL(`${dir}/`));
    lambda = createApi({
      ...h.runtime.api,
      rareRoutes: () => {
        loads++;
        return beside();
      },
    });
    local = createApi(h.runtime.api);
  }, 60_000);
  afterAll(async () => {
    await h?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const bearer = { authorization: `Bearer ${TOKEN}` };
  const send = (api: ReturnType<typeof createApi>, path: string, body: unknown, method = 'POST') =>
    api.request(path, {
      method,
      headers: { ...bearer, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('answers GET /v1/metrics/dora from the file with what the .ts modules answer', async () => {
    const finished = ['2026-02-02T10:00:00Z', '2026-02-03T10:00:00Z', '2026-02-04T10:00:00Z'];
    for (const [i, finishedAt] of finished.entries()) {
      const response = await send(lambda, '/v1/events', {
        deploymentId: `rare-dora-${i}`,
        service: 'rare-dora',
        environment: 'production',
        version: `1.0.${i}`,
        status: i === 1 ? 'failed' : 'succeeded',
        timestamp: finishedAt,
      });
      expect(response.status).toBe(202);
    }
    const query = '/v1/metrics/dora?service=rare-dora&from=2026-02-01T00:00:00Z&to=2026-02-08T00:00:00Z';

    const fromFile = await lambda.request(query, { headers: bearer });
    const fromModules = await local.request(query, { headers: bearer });

    expect(fromFile.status).toBe(200);
    const answer = (await fromFile.json()) as Json;
    expect(answer).toMatchObject({
      services: ['rare-dora'],
      deploymentFrequency: { deployments: 2 },
      changeFailRate: { failed: 1 },
    });
    expect(answer).toEqual(await fromModules.json());
  });

  it('records a Pipelines build and finishes it through the file, with the apiToken query parameter', async () => {
    const events = `/acme/apps/rare-pipelines/events`;
    const build = JSON.parse(readFileSync(`${ROOT}test/fixtures/pipelines/build-event.json`, 'utf8')) as Json;
    const created = await send(
      lambda,
      `${events}/buildEvent?apiToken=${TOKEN}`,
      { ...build, build_status: 'Running' },
      'PUT',
    );
    expect(created.status).toBe(200);
    const { event_id: eventId } = (await created.json()) as { event_id: string };

    const finished = await send(lambda, `${events}/${eventId}?apiToken=${TOKEN}`, {
      build_status: 'Success',
    });
    const again = await send(lambda, `${events}/${eventId}?apiToken=${TOKEN}`, { build_status: 'Failed' });

    expect(finished.status).toBe(200);
    expect(await h.store.getCiEvent(eventId)).toMatchObject({
      source: 'pipelines',
      app: 'rare-pipelines',
      status: 'succeeded',
      final: true,
      rev: 2,
    });
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ error: 'event_immutable' });
    const listed = await lambda.request(`${events}?apiToken=${TOKEN}`);
    expect(listed.status).toBe(200);
    expect(JSON.stringify(await listed.json())).toContain(eventId);
  });

  it('records a CDEvents service.deployed CloudEvent through the file as a deployment in DynamoDB', async () => {
    const cdEvent = JSON.parse(
      readFileSync(`${ROOT}test/fixtures/cdevents/service_deployed.0.3.0.json`, 'utf8'),
    ) as { context: Json & { id: string; source: string; type: string; timestamp: string } };
    const response = await lambda.request('/v1/cdevents', {
      method: 'POST',
      headers: { ...bearer, 'content-type': 'application/cloudevents+json; charset=utf-8' },
      body: JSON.stringify({
        specversion: '1.0',
        id: cdEvent.context.id,
        source: cdEvent.context.source,
        type: cdEvent.context.type,
        time: cdEvent.context.timestamp,
        datacontenttype: 'application/json',
        data: cdEvent,
      }),
    });

    expect(response.status).toBe(202);
    const answer = (await response.json()) as { deploymentId: string };
    expect(answer).toMatchObject({ kind: 'deployment', status: 'succeeded', disposition: 'applied' });
    expect(await h.store.getDeployment(answer.deploymentId)).toMatchObject({
      source: 'cdevents',
      service: 'mySubject123',
      environment: 'test123',
      status: 'succeeded',
    });
  });

  it("answers 400 naming the cursor when the main copy's store rejects it", async () => {
    const response = await lambda.request('/v1/incidents?cursor=not-a-cursor', { headers: bearer });

    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({
      error: 'invalid_request',
      issues: [{ path: 'cursor', message: 'not a cursor this API returned' }],
    });
  });

  it("answers an invalid query with zod's English messages, as the .ts modules do", async () => {
    const query = '/v1/incidents?limit=lots&status=gone';

    const fromFile = await lambda.request(query, { headers: bearer });
    const fromModules = await local.request(query, { headers: bearer });

    expect(fromFile.status).toBe(400);
    const answer = (await fromFile.json()) as { issues: { path: string; message: string }[] };
    expect(answer.issues.map((issue) => issue.path).sort()).toEqual(['limit', 'status']);
    expect(answer.issues.find((issue) => issue.path === 'limit')?.message).toMatch(
      /^Invalid input: expected number/,
    );
    expect(answer).toEqual(await fromModules.json());
  });

  it("answers 401 without a token before the file is asked, and 404 in the API's form for a method a family lacks", async () => {
    const anonymous = await lambda.request('/v1/metrics/dora');
    expect(anonymous.status).toBe(401);
    const unknownMethod = await lambda.request('/v1/metrics/dora', { method: 'DELETE', headers: bearer });
    expect(unknownMethod.status).toBe(404);
    expect(await unknownMethod.json()).toEqual({
      error: 'not_found',
      message: 'no route for DELETE /v1/metrics/dora',
    });
  });

  it('lists in RARE_ROUTE_FAMILIES every path the rare routes app serves, so that the main app forwards each', () => {
    const rare = createRareRoutes(h.runtime.api) as unknown as { routes: { method: string; path: string }[] };
    const forwarded: readonly string[] = Object.values(RARE_ROUTE_FAMILIES).flat();
    const covered = (path: string) =>
      forwarded.some((p) => p === path || (p.endsWith('/*') && path.startsWith(p.slice(0, -1))));

    const served = rare.routes.filter((route) => route.method !== 'ALL').map((route) => route.path);

    expect(served).toContain('/v1/metrics/dora');
    expect(served.filter((path) => !covered(path))).toEqual([]);
  });

  it('loaded the file once for all the requests above', () => {
    expect(loads).toBe(1);
  });

  it('answers 503 naming the file when it is missing, and loads it on a later request once it is there', async () => {
    const missing = mkdtempSync(join(tmpdir(), 'shipcast-rare-routes-missing-'));
    let tries = 0;
    const api = createApi({
      ...h.runtime.api,
      rareRoutes: () => {
        tries++;
        return rareRoutesBeside(pathToFileURL(`${tries === 1 ? missing : dir}/`))();
      },
    });
    const query = '/v1/metrics/dora?service=rare-dora&from=2026-02-01T00:00:00Z&to=2026-02-08T00:00:00Z';

    const first = await api.request(query, { headers: bearer });
    const second = await api.request(query, { headers: bearer });
    rmSync(missing, { recursive: true, force: true });

    expect(first.status).toBe(503);
    expect(await first.json()).toEqual({
      error: 'unavailable',
      message:
        "this route's code could not be loaded (rare-routes.mjs next to the API function's bundle); " +
        "see the function's log, and deploy the stack again",
    });
    expect(second.status).toBe(200);
    expect(tries).toBe(2);
  });
});
