import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CloudEvent, HTTP } from 'cloudevents';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../functions/core/api/app.ts';
import { parseConfig } from '../../functions/core/config.ts';
import { ConfigError } from '../../functions/core/errors.ts';
import { deploymentIdFor } from '../../functions/core/ids.ts';
import { ingestEvent } from '../../functions/core/ingest.ts';
import type { DeploymentEvent } from '../../functions/core/schema.ts';
import { signWebhook } from '../../functions/core/targets/webhook.ts';
import { cdeventProblems } from '../support/cdevents-schemas.ts';
import { nativeEvent } from '../support/events.ts';
import { createHarness, type Harness } from '../support/harness.ts';
import { type CapturedRequest, startTargetServer, type TargetServer } from '../support/target-server.ts';

const KEY = 'webhook-format-key-7Hq2Lx';
const API_TOKEN = 'webhook-format-api-token-3Jd8';

// biome-ignore lint/suspicious/noExplicitAny: the events are read field by field
type Json = Record<string, any>;

describe('webhook target formats', () => {
  let h: Harness;
  let server: TargetServer;

  beforeAll(async () => {
    server = await startTargetServer();
    const url = (path: string) => `${server.url}${path}`;
    h = await createHarness({
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: {
          ce: { type: 'webhook', url: url('/ce'), format: 'cloudevents', source: '/shipcast/test' },
          ceBinary: {
            type: 'webhook',
            url: url('/ce-binary'),
            format: 'cloudevents',
            mode: 'binary',
            secret: 'hook',
          },
          cd: { type: 'webhook', url: url('/cd'), format: 'cdevents', mode: 'binary' },
          cdStructured: { type: 'webhook', url: url('/cd-structured'), format: 'cdevents' },
        },
        routes: [
          { match: { service: 'ce-*' }, targets: ['ce', 'ceBinary'] },
          { match: { service: 'cd-*' }, targets: ['cd', 'cdStructured'] },
        ],
      },
    });
    writeFileSync(join(h.secretsDir, 'hook'), KEY);
  });
  afterAll(async () => {
    await h.stop();
    await server.stop();
  });

  const ingest = (event: DeploymentEvent) => ingestEvent(event, h.runtime.ingest);
  /** The events a path received about one deployment (by the event id: `<deploymentId>:<seq>`). */
  const at = (path: string, deploymentId: string) =>
    server.requests.filter((r) => {
      const id = String(r.headers['ce-id'] ?? JSON.parse(r.body).id);
      return r.path === path && id.startsWith(`${deploymentId}:`);
    });
  /** The request as the CloudEvents SDK reads it (it throws on an invalid event). */
  const asCloudEvent = (request: CapturedRequest) => {
    const event = HTTP.toEvent({ headers: request.headers as Record<string, string>, body: request.body });
    if (Array.isArray(event)) throw new Error('a batch');
    // Throws a ValidationError naming what is wrong.
    expect(event).toBeInstanceOf(CloudEvent);
    expect((event as CloudEvent).validate()).toBe(true);
    return event;
  };

  it('sends every transition as a structured CloudEvent of Shipcast type that the CloudEvents SDK accepts', async () => {
    const id = deploymentIdFor('native', 'ce-1');
    await ingest(nativeEvent('ce-1', 'in_progress', { service: 'ce-api', version: '2.0.0' }));
    await ingest(nativeEvent('ce-1', 'succeeded', { service: 'ce-api', version: '2.0.0' }));

    await h.drainDispatch();

    const sent = at('/ce', id);
    expect(sent).toHaveLength(2);
    expect(sent[0]?.headers['content-type']).toBe('application/cloudevents+json; charset=utf-8');
    const [started, finished] = sent.map(asCloudEvent);
    expect(started?.type).toBe('dev.shipcast.deployment.in_progress');
    expect(finished).toMatchObject({
      specversion: '1.0',
      id: `${id}:2`,
      source: '/shipcast/test',
      type: 'dev.shipcast.deployment.succeeded',
      subject: id,
      datacontenttype: 'application/json',
    });
    expect((finished?.data as Json | undefined)?.deployment).toMatchObject({
      service: 'ce-api',
      version: '2.0.0',
    });
    expect((finished?.data as Json | undefined)?.transition).toMatchObject({
      seq: 2,
      from: 'in_progress',
      to: 'succeeded',
    });
  });

  it('sends a binary CloudEvent: ce-* headers, the data as the body, signed over that body', async () => {
    const id = deploymentIdFor('native', 'ce-2');
    await ingest(nativeEvent('ce-2', 'failed', { service: 'ce-worker' }));

    await h.drainDispatch();

    const [request] = at('/ce-binary', id);
    expect(request?.headers).toMatchObject({
      'content-type': 'application/json',
      'ce-specversion': '1.0',
      'ce-id': `${id}:1`,
      'ce-source': 'shipcast',
      'ce-type': 'dev.shipcast.deployment.failed',
      'ce-subject': id,
      'shipcast-delivery': `${id}:1`,
    });
    const event = asCloudEvent(request as CapturedRequest);
    expect((event.data as Json).deployment.status).toBe('failed');
    const t = Number(/^t=(\d+),/.exec(String(request?.headers['shipcast-signature']))?.[1]);
    expect(request?.headers['shipcast-signature']).toBe(signWebhook(KEY, request?.body ?? '', t));
  });

  it('sends a CDEvent only when a deployment succeeds: deployed the first time, upgraded after', async () => {
    const first = deploymentIdFor('native', 'cd-1');
    const second = deploymentIdFor('native', 'cd-2');
    await ingest(nativeEvent('cd-1', 'in_progress', { service: 'cd-api', version: '1.0.0' }));
    await ingest(nativeEvent('cd-1', 'succeeded', { service: 'cd-api', version: '1.0.0' }));
    await h.drainDispatch();
    h.clock.advance(60_000);
    await ingest(nativeEvent('cd-2', 'queued', { service: 'cd-api', version: '1.1.0' }));
    await ingest(nativeEvent('cd-2', 'succeeded', { service: 'cd-api', version: '1.1.0' }));

    await h.drainDispatch();

    const [deployed] = at('/cd', first);
    const [upgraded] = at('/cd', second);
    expect(at('/cd', first)).toHaveLength(1);
    expect(at('/cd', second)).toHaveLength(1);
    const deployedEvent = asCloudEvent(deployed as CapturedRequest);
    expect(deployedEvent).toMatchObject({
      type: 'dev.cdevents.service.deployed.0.3.0',
      id: `${first}:2`,
      subject: 'cd-api',
    });
    const data = deployedEvent.data as Json;
    expect(cdeventProblems(data)).toEqual([]);
    expect(data.context).toMatchObject({ specversion: '0.5.1', id: `${first}:2`, source: 'shipcast' });
    expect(data.subject).toEqual({
      id: 'cd-api',
      source: 'shipcast',
      content: {
        environment: { id: 'production', source: 'shipcast' },
        artifactId: 'pkg:generic/cd-api@1.0.0',
      },
    });
    const upgradedEvent = asCloudEvent(upgraded as CapturedRequest);
    expect(upgradedEvent.type).toBe('dev.cdevents.service.upgraded.0.3.0');
    expect(cdeventProblems(upgradedEvent.data)).toEqual([]);
    expect((upgradedEvent.data as Json).subject.content.artifactId).toBe('pkg:generic/cd-api@1.1.0');
    // The same in structured mode.
    const [structured] = at('/cd-structured', second);
    expect(structured?.json<Json>()).toMatchObject({
      specversion: '1.0',
      type: 'dev.cdevents.service.upgraded.0.3.0',
      data: { context: { id: `${second}:2` } },
    });
  });

  it('sends a rollback as service.rolledback and a CDEvents removal as service.removed, both valid', async () => {
    const rollback = deploymentIdFor('native', 'cd-4');
    await ingest(nativeEvent('cd-3', 'succeeded', { service: 'cd-billing', version: '3.0.0' }));
    h.clock.advance(60_000);
    await ingest(
      nativeEvent('cd-4', 'succeeded', {
        service: 'cd-billing',
        version: '2.9.0',
        rollbackOfSourceId: 'cd-3',
      }),
    );
    const removal: DeploymentEvent = {
      ...nativeEvent('cd-5', 'succeeded', { service: 'cd-billing' }),
      source: 'cdevents',
      deploymentId: deploymentIdFor('cdevents', 'cd-5'),
      sourceStatus: 'removed',
      details: { action: 'removed', cdeventType: 'dev.cdevents.service.removed.0.3.0' },
    };
    await ingest(removal);

    await h.drainDispatch();

    const rolledBack = asCloudEvent(at('/cd', rollback)[0] as CapturedRequest);
    expect(rolledBack.type).toBe('dev.cdevents.service.rolledback.0.3.0');
    expect(cdeventProblems(rolledBack.data)).toEqual([]);
    const removed = asCloudEvent(at('/cd', removal.deploymentId)[0] as CapturedRequest);
    expect(removed.type).toBe('dev.cdevents.service.removed.0.3.0');
    expect(cdeventProblems(removed.data)).toEqual([]);
    expect((removed.data as Json).subject.content).toEqual({
      environment: { id: 'production', source: 'shipcast' },
    });
  });

  it("sends CDEvents that Shipcast's own CDEvents source takes back as the same deployment facts", async () => {
    const id = deploymentIdFor('native', 'cd-6');
    await ingest(
      nativeEvent('cd-6', 'succeeded', { service: 'cd-roundtrip', version: '8.1.0', environment: 'staging' }),
    );
    await h.drainDispatch();
    writeFileSync(join(h.secretsDir, 'api-token'), API_TOKEN);
    const api = createApi(h.runtime.api);

    for (const path of ['/cd', '/cd-structured']) {
      const request = at(path, id)[0] as CapturedRequest;
      const answer = await api.request('/v1/cdevents', {
        method: 'POST',
        headers: {
          ...(Object.fromEntries(
            Object.entries(request.headers).filter(
              ([name]) => name === 'content-type' || name.startsWith('ce-'),
            ),
          ) as Record<string, string>),
          authorization: `Bearer ${API_TOKEN}`,
        },
        body: request.body,
      });
      expect(answer.status).toBe(202);
      const { deploymentId, kind, status } = (await answer.json()) as Json;
      expect({ kind, status }).toEqual({ kind: 'deployment', status: 'succeeded' });
      expect(await h.store.getDeployment(deploymentId)).toMatchObject({
        source: 'cdevents',
        service: 'cd-roundtrip',
        environment: 'staging',
        version: '8.1.0',
      });
    }
  });

  it('sends the same event id again when a transition is retried', async () => {
    const id = deploymentIdFor('native', 'ce-3');
    const answer = server.fallback;
    let failed = false;
    server.fallback = (request) => {
      if (request.path !== '/ce' || failed) return answer(request);
      failed = true;
      return { status: 503, body: 'unavailable' };
    };
    await ingest(nativeEvent('ce-3', 'succeeded', { service: 'ce-retry' }));
    await h.drainDispatch();
    server.fallback = answer;

    // The queue hands the message out again.
    await h.queue.enqueue([{ v: 1, deploymentId: id, seq: 1, target: 'ce' }]);
    await h.drainDispatch();

    const ids = at('/ce', id).map((r) => r.json<Json>().id);
    expect(ids).toEqual([`${id}:1`, `${id}:1`]);
    expect((await h.store.getDelivery(id, 'ce'))?.state).toBe('delivered');
  });

  it('rejects a CloudEvents mode on a webhook in Shipcast format, naming the field', () => {
    const config = {
      api: { tokens: [] },
      targets: { hook: { type: 'webhook', url: 'https://example.com/hook', mode: 'binary' } },
      routes: [],
    };
    expect(() => parseConfig(config, 'test')).toThrow(ConfigError);
    expect(() => parseConfig(config, 'test')).toThrow(/targets\.hook\.mode: mode applies to format/);
  });
});
