import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_TITLE } from '../../functions/core/chat/template.ts';
import { chatView } from '../../functions/core/chat/view.ts';
import { parseConfig } from '../../functions/core/config.ts';
import { referencedSecrets } from '../../functions/core/config-secrets.ts';
import { ConfigError } from '../../functions/core/errors.ts';
import { HttpClient } from '../../functions/core/http-client.ts';
import { ingestEvent } from '../../functions/core/ingest.ts';
import type { DeploymentEvent } from '../../functions/core/schema.ts';
import { mattermostPayload } from '../../functions/core/targets/mattermost.ts';
import { chatFixture } from '../support/chat-fixtures.ts';
import { nativeEvent } from '../support/events.ts';
import { createHarness, type Harness, recordingRetries } from '../support/harness.ts';
import { type MattermostServer, startMattermostServer } from '../support/mattermost-server.ts';

// Mattermost webhook keys are 26 characters.
const HOOK_KEY = 'xq7mnb3kd9fj2w8rzt5ceuy4ha';
const HOOK_PATH = `/hooks/${HOOK_KEY}`;
const CALL = `webhook:${HOOK_PATH}`;

const HOSTILE =
  '@channel @here @all @everyone @alice <!channel> <!here> <!all> <@U123> <@&123> *bold* **strong** _x_ ' +
  '~town-square <b>x</b> [click](https://evil.example) <https://evil.example|docs> ' +
  '\u202Eevil\u2066 iso\u2069 zero\u200Bwidth';

interface Payload {
  text: string;
  channel?: string;
  username?: string;
  icon_url?: string;
  attachments: {
    fallback: string;
    color: string;
    title: string;
    title_link?: string;
    text: string;
    fields: { short: boolean; title: string; value: string }[];
  }[];
}

/** A Mattermost AppError as the server answers it. */
const appError = (status: number, id: string, message: string) => ({
  status,
  body: { id, message, detailed_error: '', request_id: 'tk3bx8pq1jgq5m7ud6ye9wz4oa', status_code: status },
});

describe('mattermost target', () => {
  let h: Harness;
  let mm: MattermostServer;
  const retryDelays: number[] = [];

  beforeAll(async () => {
    mm = await startMattermostServer();
    h = await createHarness({
      maxReceives: 5,
      http: new HttpClient({ timeoutMs: 10_000 }),
      queue: recordingRetries(retryDelays),
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: {
          mm: {
            type: 'mattermost',
            webhookUrl: 'mattermost-hook',
            channel: 'deployments',
            username: 'shipcast',
            iconUrl: 'https://shipcast.example.com/icon.png',
          },
          plain: {
            type: 'mattermost',
            webhookUrl: 'mattermost-hook',
            message: { title: '{{service}}: {{status}}' },
          },
        },
        routes: [
          { match: { service: 'mm-*' }, targets: ['mm'] },
          { match: { service: 'plain-*' }, targets: ['plain'] },
          { match: { service: 'route-*' }, targets: ['plain'], message: { title: 'Route: {{service}}' } },
        ],
        dispatch: { maxReceives: 5 },
      },
    });
    writeFileSync(join(h.secretsDir, 'mattermost-hook'), `${mm.url}${HOOK_PATH}`);
  });
  afterAll(async () => {
    await h.stop();
    await mm.stop();
  });
  beforeEach(() => {
    mm.reset();
    retryDelays.length = 0;
  });

  const ingest = (event: DeploymentEvent) => ingestEvent(event, h.runtime.ingest);
  const posts = (service: string) => mm.calls(CALL).filter((r) => r.body.includes(service));

  it('posts a message per transition: the title as text and an attachment with colour, fields and links', async () => {
    const started = nativeEvent('mm-1', 'in_progress', { service: 'mm-one', version: '2.0.1', actor: 'bob' });
    await ingest(started);
    await h.drainDispatch();
    await ingest(
      nativeEvent('mm-1', 'succeeded', {
        service: 'mm-one',
        version: '2.0.1',
        url: 'https://ci.example.com/runs/9',
        revision: { repository: 'acme/checkout', commit: 'a1b2c3d4e5f6' },
      }),
    );
    await h.drainDispatch();

    const sent = posts('mm-one');
    expect(sent).toHaveLength(2);
    expect(sent[0]?.headers['content-type']).toBe('application/json');
    const body = sent[1]?.json<Payload>();
    expect(body).toMatchObject({
      text: '✅ mm\\-one 2\\.0\\.1 → production succeeded',
      channel: 'deployments',
      username: 'shipcast',
      icon_url: 'https://shipcast.example.com/icon.png',
    });
    const [attachment] = body?.attachments ?? [];
    expect(attachment).toMatchObject({
      color: '#2eb67d',
      title: 'Deployment succeeded',
      title_link: 'https://ci.example.com/runs/9',
    });
    expect(attachment?.fields).toContainEqual({ short: true, title: 'Version', value: '2\\.0\\.1' });
    expect(attachment?.fields).toContainEqual({
      short: true,
      title: 'Commit',
      value: '[a1b2c3d](https://github.com/acme/checkout/commit/a1b2c3d4e5f6)',
    });
    expect(attachment?.text).toContain('[Open deployment](https://ci.example.com/runs/9)');
    expect((await h.store.getDelivery(started.deploymentId, 'mm'))?.refs).toBeUndefined();
  });

  it.each([
    [
      appError(400, 'web.incoming_webhook.invalid.app_error', 'Invalid webhook.'),
      'web.incoming_webhook.invalid.app_error: Invalid webhook.',
    ],
    [
      appError(404, 'web.incoming_webhook.channel.app_error', "Couldn't find the channel."),
      "web.incoming_webhook.channel.app_error: Couldn't find the channel.",
    ],
    [
      appError(403, 'web.incoming_webhook.permissions.app_error', 'Inappropriate channel permissions.'),
      'web.incoming_webhook.permissions.app_error: Inappropriate channel permissions.',
    ],
  ])(
    "fails permanently with Mattermost's reason (%#), never showing the webhook URL",
    async (answer, reason) => {
      const started = nativeEvent(`mm-2-${answer.status}`, 'in_progress', {
        service: `mm-err-${answer.status}`,
      });
      await ingest(started);
      mm.script(CALL, answer);
      const dlq = await h.dlqDepth();

      await h.drainDispatch();

      expect(await h.dlqDepth()).toBe(dlq + 1);
      const delivery = await h.store.getDelivery(started.deploymentId, 'mm');
      expect(delivery).toMatchObject({ state: 'failed', deliveredSeq: 0 });
      expect(delivery?.lastError).toBe(`Mattermost incoming webhook answered ${answer.status}: ${reason}`);
      expect(JSON.stringify(delivery)).not.toContain(HOOK_KEY);
      expect(h.logs.lines.join('\n')).not.toContain(HOOK_KEY);
    },
  );

  it('retries a 429 after its Retry-After and a 5xx later, through the queue', async () => {
    const started = nativeEvent('mm-3', 'in_progress', { service: 'mm-three' });
    await ingest(started);
    mm.script(CALL, {
      status: 429,
      headers: { 'retry-after': '12' },
      body: appError(429, 'api.context.rate_limited', 'Too many requests').body,
    });
    await h.drainDispatch();
    await h.queue.enqueue([{ v: 1, deploymentId: started.deploymentId, seq: 1, target: 'mm' }]);
    mm.script(CALL, { status: 502, body: 'Bad Gateway' });
    await h.drainDispatch();

    expect(retryDelays[0]).toBe(12);
    const delivery = await h.store.getDelivery(started.deploymentId, 'mm');
    expect(delivery).toMatchObject({ state: 'retrying', deliveredSeq: 0 });
    expect(delivery?.lastError).toBe('Mattermost incoming webhook answered 502: Bad Gateway');
    expect(h.logs.lines.join('\n')).not.toContain(HOOK_KEY);
  });

  it('leaves no mention, markup, spoofed link, script URL or invisible character active', async () => {
    await ingest(
      nativeEvent('mm-4', 'failed', {
        service: 'mm-hostile',
        version: '1.0 <https://evil.example|docs> [v](https://evil.example)',
        description: HOSTILE,
        actor: '<!here> @alice',
        url: 'javascript:alert(1)',
        error: { code: 'E_<b>', message: HOSTILE },
      }),
    );
    await h.drainDispatch();

    const [request] = posts('mm-hostile');
    expect(request?.body).not.toMatch(/[\u202a-\u202e\u2066-\u2069\u200b]/);
    expect(request?.body).not.toContain('javascript:');
    const body = request?.json<Payload>() as Payload;
    const attachment = body.attachments[0];
    // Every field Mattermost parses for mentions and Markdown (and its Slack `<…>` translation).
    const parsed = [body.text, attachment?.text ?? '', ...(attachment?.fields ?? []).map((f) => f.value)];
    for (const text of parsed) {
      expect(text).not.toMatch(/[<>]/);
      expect(text).not.toMatch(/@[\p{L}\p{N}]/u);
      // Outside Shipcast's own bold label, Markdown punctuation from the event is backslash-escaped.
      const own = text.replace(/^\*\*Error:\*\* /m, '');
      expect(own).not.toMatch(/(?<!\\)[*_[\]()~`]/);
    }
    expect(attachment?.title_link).toBeUndefined();
    expect(attachment?.fallback).not.toMatch(/@[\p{L}\p{N}]/u);
    expect(attachment?.fallback).not.toMatch(/<(?!\u2060)/);
  });

  it("uses the target's title template, and a route's template over it", async () => {
    await ingest(nativeEvent('mm-5', 'succeeded', { service: 'plain-five' }));
    await ingest(nativeEvent('mm-6', 'succeeded', { service: 'route-six' }));
    await h.drainDispatch();

    expect(posts('plain-five')[0]?.json<Payload>().text).toBe('plain\\-five: succeeded');
    expect(posts('route-six')[0]?.json<Payload>().text).toBe('Route: route\\-six');
    expect(posts('plain-five')[0]?.json<Payload>().channel).toBeUndefined();
  });

  it('names the webhook secret in the config, never the URL', () => {
    const config = (target: Record<string, unknown>) => ({
      api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
      targets: { m: { type: 'mattermost', ...target } },
      routes: [{ targets: ['m'] }],
    });
    expect(referencedSecrets(parseConfig(config({ webhookUrl: 'mm-hook' }), 'test'))).toContain('mm-hook');
    expect(() =>
      parseConfig(config({ webhookUrl: `https://mm.example.com/hooks/${HOOK_KEY}` }), 'test'),
    ).toThrow(ConfigError);
  });

  it.each(['started', 'succeeded', 'failed', 'rolled-back'] as const)(
    'renders the %s message as in its snapshot',
    async (kind) => {
      const { deployment, transition } = chatFixture(kind);
      const payload = mattermostPayload(chatView(deployment, transition), { title: DEFAULT_TITLE });
      await expect(`${JSON.stringify(payload, null, 2)}\n`).toMatchFileSnapshot(
        `./__snapshots__/mattermost/${kind}.json`,
      );
    },
  );
});
