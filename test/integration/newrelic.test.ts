import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/core/config.ts';
import { HttpClient } from '../../functions/core/http-client.ts';
import { deploymentIdFor } from '../../functions/core/ids.ts';
import { ingestEvent } from '../../functions/core/ingest.ts';
import type { DeploymentEvent } from '../../functions/core/schema.ts';
import { nativeEvent } from '../support/events.ts';
import { createHarness, type Harness } from '../support/harness.ts';
import { type NewRelicServer, startNewRelicServer } from '../support/newrelic-server.ts';

const KEY = 'NRAK-7QF2Z9EXAMPLEKEY0000000AB';
const REVOKED = 'NRAK-REVOKEDKEY55555555555555XY';
const CHECKOUT = 'MXxBUE18QVBQTElDQVRJT058MTAwMQ';
const CHECKOUT_CANARY = 'MXxBUE18QVBQTElDQVRJT058MTAwMg';
const BROWSER = 'MXxCUk9XU0VSfEFQUExJQ0FUSU9OfDE';

describe('newrelic target', () => {
  let h: Harness;
  let newrelic: NewRelicServer;
  const euCalls: string[] = [];

  beforeAll(async () => {
    newrelic = await startNewRelicServer({
      keys: [KEY],
      entities: [
        { guid: CHECKOUT, name: 'checkout-svc', domain: 'APM' },
        { guid: CHECKOUT_CANARY, name: 'checkout-svc-canary', domain: 'APM' },
        { guid: BROWSER, name: 'checkout-svc', domain: 'BROWSER' },
      ],
    });
    const base = { type: 'newrelic', apiKey: 'newrelic-key', baseUrl: newrelic.url };
    h = await createHarness({
      maxReceives: 5,
      // NerdGraph's EU host is answered by the stand-in too: the test sees which URL the target called.
      http: new HttpClient({
        timeoutMs: 10_000,
        fetch: (input, init) => {
          const url = String(input);
          if (url.startsWith('https://api.eu.newrelic.com/')) {
            euCalls.push(url);
            return fetch(newrelic.url, init);
          }
          return fetch(input, init);
        },
      }),
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: {
          byGuid: { ...base, entityGuid: CHECKOUT },
          byName: { ...base, entityName: 'checkout-svc', deploymentType: 'canary' },
          unknown: { ...base, entityName: 'no-such-app' },
          revoked: { ...base, apiKey: 'newrelic-revoked', entityGuid: CHECKOUT },
          eu: { type: 'newrelic', apiKey: 'newrelic-key', region: 'EU', entityGuid: CHECKOUT },
        },
        routes: [
          { match: { service: 'nr-*' }, targets: ['byGuid'] },
          { match: { service: 'name-*' }, targets: ['byName'] },
          { match: { service: 'unknown-*' }, targets: ['unknown'] },
          { match: { service: 'revoked-*' }, targets: ['revoked'] },
          { match: { service: 'eu-*' }, targets: ['eu'] },
        ],
        dispatch: { maxReceives: 5 },
      },
    });
    writeFileSync(join(h.secretsDir, 'newrelic-key'), KEY);
    writeFileSync(join(h.secretsDir, 'newrelic-revoked'), REVOKED);
  });
  afterAll(async () => {
    await h.stop();
    await newrelic.stop();
  });

  const ingest = (event: DeploymentEvent) => ingestEvent(event, h.runtime.ingest);
  const eventsOf = (deploymentId: string) => newrelic.events.filter((e) => e.event.groupId === deploymentId);
  const callsOf = (deploymentId: string) =>
    newrelic.requests.filter((r) => r.body.includes(deploymentId)).length;

  it('creates one change event on the entity when a deployment ends, dated at its start, with what changed', async () => {
    const id = deploymentIdFor('native', 'nr-1');
    const facts = {
      service: 'nr-api',
      version: '1.4.2',
      actor: 'ana',
      description: 'release 1.4.2',
      url: 'https://ci.example.com/runs/42',
      revision: { repository: 'acme/checkout', commit: '9fceb02d0ae598e95dc970b74767f19372d61af8' },
      startedAt: '2026-03-01T10:00:00.000Z',
    };
    await ingest(nativeEvent('nr-1', 'in_progress', facts));
    await h.drainDispatch();
    expect(callsOf(id)).toBe(0);

    await ingest(nativeEvent('nr-1', 'succeeded', facts));
    await h.drainDispatch();

    const [change] = eventsOf(id);
    expect(eventsOf(id)).toHaveLength(1);
    expect(change?.entityGuid).toBe(CHECKOUT);
    expect(change?.event).toEqual({
      categoryAndTypeData: {
        kind: { category: 'deployment', type: 'basic' },
        categoryFields: {
          deployment: { version: '1.4.2', commit: facts.revision.commit, deepLink: facts.url },
        },
      },
      entitySearch: { query: `id = '${CHECKOUT}'` },
      shortDescription: 'nr-api 1.4.2 → production: succeeded',
      description: `Shipcast deployment ${id} (native nr-1) succeeded\nrelease 1.4.2\nrepository: acme/checkout`,
      groupId: id,
      user: 'ana',
      timestamp: Date.parse(facts.startedAt),
    });
    const request = newrelic.requests.find((r) => r.body.includes(id));
    expect(request?.headers['api-key']).toBe(KEY);
    expect(await h.store.getDelivery(id, 'byGuid')).toMatchObject({
      state: 'delivered',
      refs: { changeTrackingId: change?.changeTrackingId },
    });
  });

  it('finds the entity by its exact name once, keeps the GUID, and retries a NerdGraph TIMEOUT without searching again', async () => {
    const id = deploymentIdFor('native', 'name-1');
    const searches = () => newrelic.requests.filter((r) => r.body.includes('entitySearch(query')).length;
    const before = searches();
    newrelic.scriptMutations({
      status: 200,
      body: { errors: [{ message: 'Request timed out', extensions: { errorClass: 'TIMEOUT' } }], data: null },
    });
    await ingest(
      nativeEvent('name-1', 'failed', {
        service: 'name-api',
        version: '2.0.0',
        error: { message: 'health check failed' },
      }),
    );
    await h.drainDispatch();

    const retrying = await h.store.getDelivery(id, 'byName');
    expect(retrying).toMatchObject({ state: 'retrying', refs: { entityGuid: CHECKOUT } });
    expect(retrying?.lastError).toContain('Request timed out (TIMEOUT)');

    await h.queue.enqueue([{ v: 1, deploymentId: id, seq: 1, target: 'byName' }]);
    await h.drainDispatch();

    expect(searches() - before).toBe(1);
    const [change] = eventsOf(id);
    expect(change?.entityGuid).toBe(CHECKOUT);
    expect(change?.event.categoryAndTypeData.kind).toEqual({ category: 'deployment', type: 'canary' });
    expect(change?.event.shortDescription).toBe('name-api 2.0.0 → production: failed');
    expect(change?.event.description).toContain('error: health check failed');
    expect((await h.store.getDelivery(id, 'byName'))?.state).toBe('delivered');
  });

  it('retries a 429 and never creates a second change event for a deployment once one exists', async () => {
    const id = deploymentIdFor('native', 'nr-2');
    newrelic.script({
      status: 429,
      headers: { 'retry-after': '7' },
      body: { errors: [{ message: 'Too many requests' }] },
    });
    await ingest(nativeEvent('nr-2', 'stopped', { service: 'nr-worker' }));
    await h.drainDispatch();
    expect(await h.store.getDelivery(id, 'byGuid')).toMatchObject({ state: 'retrying' });

    await h.queue.enqueue([{ v: 1, deploymentId: id, seq: 1, target: 'byGuid' }]);
    await h.drainDispatch();
    // A copy of the delivered transition comes again (a redrive): nothing is sent.
    await h.queue.enqueue([{ v: 1, deploymentId: id, seq: 1, target: 'byGuid' }]);
    await h.drainDispatch();

    expect(eventsOf(id)).toHaveLength(1);
    expect(callsOf(id)).toBe(2);
  });

  it("gives up on a GraphQL error that is not worth retrying, with NerdGraph's message", async () => {
    const id = deploymentIdFor('native', 'nr-3');
    newrelic.script({
      status: 200,
      body: {
        errors: [{ message: 'shortDescription is too long', extensions: { errorClass: 'BAD_USER_INPUT' } }],
        data: null,
      },
    });
    await ingest(nativeEvent('nr-3', 'succeeded', { service: 'nr-bad' }));

    await h.drainDispatch();

    const delivery = await h.store.getDelivery(id, 'byGuid');
    expect(delivery?.state).toBe('failed');
    expect(delivery?.lastError).toContain(
      'NerdGraph answered errors: shortDescription is too long (BAD_USER_INPUT)',
    );
  });

  it('gives up on an unknown key and on a name no entity has, saying which, the key in no error or log', async () => {
    await ingest(nativeEvent('revoked-1', 'succeeded', { service: 'revoked-api' }));
    await ingest(nativeEvent('unknown-1', 'succeeded', { service: 'unknown-api' }));

    await h.drainDispatch();

    const revoked = await h.store.getDelivery(deploymentIdFor('native', 'revoked-1'), 'revoked');
    expect(revoked?.state).toBe('failed');
    expect(revoked?.lastError).toContain('answered 401');
    const unknown = await h.store.getDelivery(deploymentIdFor('native', 'unknown-1'), 'unknown');
    expect(unknown?.state).toBe('failed');
    expect(unknown?.lastError).toContain('New Relic has no APM entity named "no-such-app"');
    const logged = JSON.stringify(h.logs.lines);
    for (const key of [KEY, REVOKED]) {
      expect(revoked?.lastError).not.toContain(key);
      expect(logged).not.toContain(key);
    }
  });

  it("calls NerdGraph's EU endpoint for an account in the EU region", async () => {
    const id = deploymentIdFor('native', 'eu-1');
    await ingest(nativeEvent('eu-1', 'succeeded', { service: 'eu-api', version: '9.0.0' }));

    await h.drainDispatch();

    expect(euCalls).toEqual(['https://api.eu.newrelic.com/graphql']);
    expect(eventsOf(id)).toHaveLength(1);
  });

  it('rejects a config with both or neither of entityGuid and entityName, naming the field', () => {
    const config = (target: Record<string, unknown>) => ({
      api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
      targets: { nr: { type: 'newrelic', apiKey: 'k', ...target } },
      routes: [],
    });
    expect(() => parseConfig(config({}), 't')).toThrow(/targets\.nr\.entityGuid: set exactly one/);
    expect(() => parseConfig(config({ entityGuid: CHECKOUT, entityName: 'checkout-svc' }), 't')).toThrow(
      /targets\.nr\.entityGuid: set exactly one/,
    );
    expect(() => parseConfig(config({ entityGuid: CHECKOUT, region: 'APAC' }), 't')).toThrow(
      /targets\.nr\.region/,
    );
  });
});
