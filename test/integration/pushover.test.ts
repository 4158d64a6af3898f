import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/core/config.ts';
import { ConfigError } from '../../functions/core/errors.ts';
import { ingestEvent } from '../../functions/core/ingest.ts';
import type { DeploymentEvent } from '../../functions/core/schema.ts';
import { nativeEvent } from '../support/events.ts';
import { createHarness, type Harness, recordingRetries } from '../support/harness.ts';
import { type PushoverServer, startPushoverServer } from '../support/pushover-server.ts';

const APP_TOKEN = 'azGDORePK8gMaC0QOYAMyEEuzJnyUi';
const USER_KEY = 'uQiRzpo4DXghDmr9QzzfQu27cmVRsG';
const OTHER_USER = 'gznej3rKEVAvPUxu9vvNnqpmZpokzF';

describe('pushover target', () => {
  let h: Harness;
  let pushover: PushoverServer;
  const retryDelays: number[] = [];

  beforeAll(async () => {
    pushover = await startPushoverServer({ apps: [APP_TOKEN], users: [USER_KEY] });
    h = await createHarness({
      queue: recordingRetries(retryDelays),
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: {
          phone: {
            type: 'pushover',
            token: 'pushover-app',
            user: 'pushover-user',
            baseUrl: pushover.url,
            priorities: { failed: 2 },
            emergency: { retry: 120, expire: 1800 },
            sound: 'siren',
          },
          stranger: {
            type: 'pushover',
            token: 'pushover-app',
            user: 'pushover-other',
            baseUrl: pushover.url,
          },
        },
        routes: [
          { match: { service: 'app-*' }, targets: ['phone'] },
          {
            match: { service: 'routed-*' },
            targets: ['phone'],
            message: {
              title: 'Route: {{service}}',
              text: '{{description}} {{description}} {{description}} {{description}}',
            },
          },
          { match: { service: 'stranger-*' }, targets: ['stranger'] },
        ],
        dispatch: { maxReceives: 5 },
      },
    });
    writeFileSync(join(h.secretsDir, 'pushover-app'), APP_TOKEN);
    writeFileSync(join(h.secretsDir, 'pushover-user'), USER_KEY);
    writeFileSync(join(h.secretsDir, 'pushover-other'), OTHER_USER);
  });
  afterAll(async () => {
    await h.stop();
    await pushover.stop();
  });
  beforeEach(() => {
    retryDelays.length = 0;
    pushover.remaining = 7500;
  });

  const event = (id: string, status: DeploymentEvent['status'], extra: Partial<DeploymentEvent> = {}) =>
    nativeEvent(id, status, { service: id, version: '2.1.0', ...extra });
  const sent = (service: string) =>
    pushover.messages.filter((m) => m.fields.message?.includes(`Service: ${service}\n`));

  it('sends one notification per transition, its priority chosen by the status moved to', async () => {
    await ingestEvent(event('app-flow', 'in_progress'), h.runtime.ingest);
    await h.drainDispatch();
    await ingestEvent(
      event('app-flow', 'succeeded', { url: 'https://deploys.example.com/42' }),
      h.runtime.ingest,
    );
    await h.drainDispatch();

    const [started, succeeded, ...more] = sent('app-flow');
    expect(more).toHaveLength(0);
    expect(started).toMatchObject({ token: APP_TOKEN, user: USER_KEY });
    expect(started?.fields).toMatchObject({
      title: '🚀 app-flow 2.1.0 → production in progress',
      priority: '-1',
      sound: 'siren',
    });
    expect(succeeded?.fields).toMatchObject({
      title: '✅ app-flow 2.1.0 → production succeeded',
      priority: '0',
      url: 'https://deploys.example.com/42',
      url_title: 'Open deployment',
    });
    expect(succeeded?.fields.message).toContain(
      'Status: ✅ succeeded\nService: app-flow\nEnvironment: production',
    );
    expect(succeeded?.fields).not.toHaveProperty('retry');
  });

  it('sends an emergency-priority failure with the retry and expire Pushover requires', async () => {
    await ingestEvent(
      event('app-broken', 'failed', { error: { code: 'HEALTH', message: 'health checks failed' } }),
      h.runtime.ingest,
    );
    await h.drainDispatch();

    const [failed] = sent('app-broken');
    expect(failed?.fields).toMatchObject({ priority: '2', retry: '120', expire: '1800' });
    expect(failed?.fields.message).toContain('Error: HEALTH: health checks failed');
  });

  it("uses the route's title template, and keeps a long text within Pushover's 1024 characters", async () => {
    await ingestEvent(
      event('routed-long', 'in_progress', { description: 'x'.repeat(300), actor: 'y'.repeat(90) }),
      h.runtime.ingest,
    );
    await h.drainDispatch();

    const [message] = sent('routed-long');
    expect(message?.fields.title).toBe('Route: routed-long');
    expect([...(message?.fields.message ?? '')].length).toBeLessThanOrEqual(1024);
  });

  it("fails permanently with Pushover's own errors when the user key is not valid", async () => {
    const started = event('stranger-one', 'in_progress');
    await ingestEvent(started, h.runtime.ingest);
    const dlqBefore = await h.dlqDepth();

    await h.drainDispatch();

    const delivery = await h.store.getDelivery(started.deploymentId, 'stranger');
    expect(delivery).toMatchObject({ state: 'failed', deliveredSeq: 0 });
    expect(delivery?.lastError).toBe(
      'Pushover refused the message (400): user identifier is not a valid user, group, or subscribed user key',
    );
    expect(await h.dlqDepth()).toBe(dlqBefore + 1);
  });

  it("waits until X-Limit-App-Reset when the application's monthly messages are used up (429)", async () => {
    pushover.remaining = 0;
    pushover.resetAt = Math.floor(h.clock.now().getTime() / 1000) + 5400;
    const started = event('app-limited', 'in_progress');
    await ingestEvent(started, h.runtime.ingest);

    await h.drainDispatch();

    expect(retryDelays).toEqual([5400]);
    const delivery = await h.store.getDelivery(started.deploymentId, 'phone');
    expect(delivery).toMatchObject({ state: 'retrying', deliveredSeq: 0 });
    expect(delivery?.lastError).toContain("the application's monthly message limit is used up");
    expect(delivery?.lastError).toContain('X-Limit-App-Remaining: 0');
  });

  it('warns in the log when the monthly messages are nearly used up', async () => {
    pushover.remaining = 300;
    await ingestEvent(event('app-nearly', 'in_progress'), h.runtime.ingest);

    await h.drainDispatch();

    expect(sent('app-nearly')).toHaveLength(1);
    const warning = h.logs.lines.find((line) => line.includes('monthly messages are nearly used up'));
    expect(warning).toBeDefined();
    expect(JSON.parse(warning as string)).toMatchObject({ limit: 10_000, remaining: 299 });
  });

  it('retries a 5xx through the queue and sends once it is answered', async () => {
    pushover.script({ status: 503, body: 'Service Unavailable' });
    const started = event('app-down', 'in_progress');
    await ingestEvent(started, h.runtime.ingest);
    await h.drainDispatch();
    expect(await h.store.getDelivery(started.deploymentId, 'phone')).toMatchObject({ state: 'retrying' });

    await h.queue.enqueue([{ v: 1, deploymentId: started.deploymentId, seq: 1, target: 'phone' }]);
    await h.drainDispatch();

    expect(sent('app-down')).toHaveLength(1);
    expect(await h.store.getDelivery(started.deploymentId, 'phone')).toMatchObject({ state: 'delivered' });
  });

  it('never lets the app token or the user keys reach logs, errors or the stored delivery', async () => {
    const failed = event('stranger-secret', 'in_progress');
    await ingestEvent(failed, h.runtime.ingest);
    await h.drainDispatch();

    const delivery = await h.store.getDelivery(failed.deploymentId, 'stranger');
    const everything = [...h.logs.lines, JSON.stringify(delivery)].join('\n');
    for (const secret of [APP_TOKEN, USER_KEY, OTHER_USER]) expect(everything).not.toContain(secret);
  });

  it('rejects a config with a priority outside -2…2 or an unknown placeholder, naming the field', () => {
    const config = (target: Record<string, unknown>) => ({
      api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
      targets: { phone: { type: 'pushover', token: 'a', user: 'u', ...target } },
      routes: [],
    });
    expect(() => parseConfig(config({ priorities: { failed: 3 } }))).toThrow(ConfigError);
    expect(() => parseConfig(config({ priorities: { failed: 3 } }))).toThrow(
      /targets\.phone\.priorities\.failed/,
    );
    expect(() => parseConfig(config({ message: { title: '{{nope}}' } }))).toThrow(
      /unknown placeholder \{\{nope\}\}/,
    );
    expect(() => parseConfig(config({ baseUrl: 'http://pushover.example.com' }))).toThrow(
      /targets\.phone\.baseUrl/,
    );
  });
});
