import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { chatView } from '../../functions/core/chat/view.ts';
import { RetryableDeliveryError } from '../../functions/core/errors.ts';
import { HttpClient } from '../../functions/core/http-client.ts';
import { ingestEvent } from '../../functions/core/ingest.ts';
import type { DeploymentEvent } from '../../functions/core/schema.ts';
import { chooseTemplates } from '../../functions/core/targets/chat-webhook.ts';
import { fittingTeamsPayload, TEAMS_MAX_BYTES, teamsTarget } from '../../functions/core/targets/teams.ts';
import {
  HOSTILE,
  hostileScenario,
  INVISIBLE,
  SCENARIOS,
  scenario,
  strings,
} from '../support/chat-webhook-fixtures.ts';
import { nativeEvent } from '../support/events.ts';
import { createHarness, type Harness, recordingRetries } from '../support/harness.ts';
import { startTeamsServer, type TeamsServer, teamsThrottled } from '../support/teams-server.ts';

type Card = { body: { type: string; text?: string; facts?: { title: string; value: string }[] }[] };
type Body = { attachments: { content: Card & { actions?: { url: string }[] } }[] };

const render = (name: (typeof SCENARIOS)[number]) => {
  const { deployment, transition } = scenario(name);
  return JSON.parse(
    fittingTeamsPayload(chatView(deployment, transition), chooseTemplates(undefined, undefined)),
  );
};

/** Markdown links `[text](url)` a Teams TextBlock would render (not backslash-escaped). */
const activeLinks = (text: string) =>
  [...text.matchAll(/(?<!\\)\[(?:[^\]\\]|\\.)*(?<!\\)\]\(([^)]*)\)/g)].map((m) => m[1]);

describe('teams target', () => {
  let h: Harness;
  let teams: TeamsServer;
  const retries: number[] = [];

  beforeAll(async () => {
    teams = await startTeamsServer();
    h = await createHarness({
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: {
          teams: { type: 'teams', webhookUrl: 'teams-webhook' },
          templated: {
            type: 'teams',
            webhookUrl: 'teams-webhook',
            message: { title: 'Own title {{service}}', text: 'Own text {{version}}' },
          },
        },
        routes: [
          { match: { service: 'checkout' }, targets: ['teams'] },
          {
            match: { service: 'templated*' },
            targets: ['templated'],
            message: { title: 'Route says {{service}} is {{status}}' },
          },
        ],
      },
      queue: recordingRetries(retries),
    });
    writeFileSync(join(h.secretsDir, 'teams-webhook'), teams.webhookUrl);
  });
  afterAll(async () => {
    await h.stop();
    await teams.stop();
  });
  beforeEach(() => {
    teams.requests.length = 0;
    teams.cards.length = 0;
    retries.length = 0;
  });

  const event = (id: string, status: DeploymentEvent['status'], extra: Partial<DeploymentEvent> = {}) =>
    nativeEvent(id, status, { version: '1.4.2', ...extra });

  it('posts one Adaptive Card per transition to the workflow, which accepts it with 202', async () => {
    await ingestEvent(event('t1', 'in_progress'), h.runtime.ingest);
    await ingestEvent(event('t1', 'succeeded'), h.runtime.ingest);

    await h.drainDispatch();

    expect(teams.requests).toHaveLength(2);
    expect(teams.requests.every((r) => r.method === 'POST')).toBe(true);
    const bodies = teams.requests.map((r) => r.json<Body & { type: string }>());
    expect(bodies[0]).toMatchObject({
      type: 'message',
      attachments: [
        {
          contentType: 'application/vnd.microsoft.card.adaptive',
          contentUrl: null,
          content: { type: 'AdaptiveCard', version: '1.4' },
        },
      ],
    });
    expect(teams.cards.map((c) => (c as Card).body[0]?.text)).toEqual([
      '🚀 checkout 1\\.4\\.2 → production in progress',
      '✅ checkout 1\\.4\\.2 → production succeeded',
    ]);
    const delivery = await h.store.getDelivery(event('t1', 'queued').deploymentId, 'teams');
    expect(delivery).toMatchObject({ state: 'delivered', deliveredSeq: 2 });
  });

  it.each(SCENARIOS)('renders the %s card as in its snapshot', async (name) => {
    await expect(`${JSON.stringify(render(name), null, 2)}\n`).toMatchFileSnapshot(
      `./__snapshots__/teams/${name}.json`,
    );
  });

  it('shows the commit linked, the duration, the error of a failed deployment and link actions', () => {
    const body = render('failed') as Body;
    const card = body.attachments[0]?.content as Card & { actions: { url: string; title: string }[] };
    const facts = card.body.find((b) => b.type === 'FactSet')?.facts ?? [];
    expect(facts.find((f) => f.title === 'Commit')?.value).toBe(
      '[9fceb02](https://github.com/acme/checkout/commit/9fceb02d0ae598e95dc970b74767f19372d61af8)',
    );
    expect(facts.find((f) => f.title === 'Duration')?.value).toBe('6m 17s');
    expect(card.body.at(-1)).toMatchObject({ color: 'Attention' });
    expect(card.body.at(-1)?.text).toContain('HEALTH\\_CONSTRAINTS\\: The overall deployment failed');
    expect(card.actions.map((a) => a.title)).toEqual(['Open deployment', 'View commit']);
  });

  it('renders hostile event text inert: no mention, markup, spoofed link, script URL or invisible character', () => {
    const { deployment, transition } = hostileScenario();
    const serialized = fittingTeamsPayload(
      chatView(deployment, transition),
      chooseTemplates(undefined, undefined),
    );
    const body = JSON.parse(serialized) as Body;
    const card = body.attachments[0]?.content;
    const texts = strings(card?.body);

    expect(serialized).not.toContain('javascript:');
    expect(serialized).not.toMatch(INVISIBLE);
    for (const text of texts) {
      expect(text).not.toMatch(/@(?!\u2060)(channel|here|everyone|all)\b/);
      expect(text).not.toMatch(/(?<!\\)<(?!\\)/); // no `<at>`, `<!here>`, `<@U123>`, `<b>`, `<https://…|…>`
      expect(text.replace(/^\*\*Error:\*\* /, '')).not.toMatch(/(?<!\\)[*_~`]/);
      for (const url of activeLinks(text)) expect(url).toMatch(/^https:\/\/github\.com\//);
    }
    expect(texts.join('\n')).toContain('\\[click\\]\\(https\\://evil\\.example\\)');
    expect(texts.join('\n')).toContain('\\<at\\>x\\</at\\>');
    // The deployment's URL is javascript: and its commit is no hex id: no action at all.
    expect(card?.actions ?? []).toEqual([]);
    expect(HOSTILE.mentions).toContain('<at>x</at>');
  });

  it("uses a route's title template over the target's own, and the target's text", async () => {
    await ingestEvent(event('t2', 'in_progress', { service: 'templated_svc' }), h.runtime.ingest);

    await h.drainDispatch();

    const card = teams.cards[0] as Card;
    expect(card.body[0]?.text).toBe('Route says templated\\_svc is in progress');
    expect(card.body[1]?.text).toBe('Own text 1\\.4\\.2');
  });

  it('cuts long values until the serialized card fits under 28 KB', () => {
    const { deployment, transition } = scenario('failed');
    const huge = { ...deployment, description: '*'.repeat(300), error: { message: '_'.repeat(500) } };
    const template = '{{description}} {{error}} '.repeat(35);

    const serialized = fittingTeamsPayload(chatView(huge, transition), { title: template, text: template });

    expect(template.length).toBeLessThanOrEqual(1000);
    expect(Buffer.byteLength(serialized, 'utf8')).toBeLessThanOrEqual(TEAMS_MAX_BYTES);
    const title = (JSON.parse(serialized) as Body).attachments[0]?.content.body[0]?.text ?? '';
    expect(title).toContain('…');
    expect(title).toMatch(/^(\\\*)+…/);
  });

  it('puts a throttled card back on the queue for as long as Retry-After says', async () => {
    teams.script(teamsThrottled(17));
    await ingestEvent(event('t3', 'in_progress'), h.runtime.ingest);

    await h.drainDispatch();

    expect(retries).toEqual([17]);
    const delivery = await h.store.getDelivery(event('t3', 'queued').deploymentId, 'teams');
    expect(delivery).toMatchObject({ state: 'retrying', deliveredSeq: 0 });
    expect(delivery?.lastError).toContain('Teams workflow: answered 429: WorkflowTriggerIsThrottled');
  });

  it('waits through the queue when the shared limiter says the webhook had its 4 requests this second', async () => {
    const { deployment, transition } = scenario('started');
    const taken: [string, number, number][] = [];
    const error = await teamsTarget
      .send(
        { deployment, transition },
        {
          name: 'teams',
          config: { type: 'teams', webhookUrl: 'teams-webhook' },
          http: new HttpClient({ timeoutMs: 2_000 }),
          secrets: { get: async () => teams.webhookUrl, invalidate: () => {} },
          logger: h.logs.logger,
          clock: h.clock,
          limiter: {
            take: async (key, limit, window) => {
              taken.push([key, limit, window]);
              return 1;
            },
          },
          deliveryOf: async () => undefined,
        },
      )
      .then(
        () => undefined,
        (e: unknown) => e,
      );

    expect(error).toBeInstanceOf(RetryableDeliveryError);
    expect((error as RetryableDeliveryError).retryAfterSeconds).toBe(1);
    expect(taken).toEqual([[expect.stringMatching(/^teams:[0-9a-f]{24}$/), 4, 1]]);
    expect(teams.requests).toHaveLength(0);
  });

  it('fails permanently with the workflow reason, never showing the webhook URL or its signature', async () => {
    writeFileSync(
      join(h.secretsDir, 'teams-webhook'),
      teams.webhookUrl.replace(teams.sig, 'wrong-signature-0000'),
    );
    h.runtime.dispatch.secrets.invalidate('teams-webhook');
    try {
      await ingestEvent(event('t4', 'in_progress'), h.runtime.ingest);

      await h.drainDispatch();

      const delivery = await h.store.getDelivery(event('t4', 'queued').deploymentId, 'teams');
      expect(delivery).toMatchObject({ state: 'failed', deliveredSeq: 0 });
      expect(delivery?.lastError).toContain('Teams workflow: answered 401: DirectApiAuthorizationRequired');
      const everything = `${JSON.stringify(delivery)}\n${h.logs.lines.join('\n')}`;
      expect(everything).not.toContain('wrong-signature-0000');
      expect(everything).not.toContain(teams.sig);
      expect(everything).not.toContain('/workflows/');
    } finally {
      writeFileSync(join(h.secretsDir, 'teams-webhook'), teams.webhookUrl);
      h.runtime.dispatch.secrets.invalidate('teams-webhook');
    }
  });

  it('refuses a secret that does not hold a URL without showing its value', async () => {
    writeFileSync(join(h.secretsDir, 'teams-webhook'), 'not-a-url-but-a-secret-value');
    h.runtime.dispatch.secrets.invalidate('teams-webhook');
    try {
      await ingestEvent(event('t5', 'in_progress'), h.runtime.ingest);

      await h.drainDispatch();

      const delivery = await h.store.getDelivery(event('t5', 'queued').deploymentId, 'teams');
      expect(delivery?.state).toBe('failed');
      expect(delivery?.lastError).toBe(
        'the secret "teams-webhook" does not hold an http(s) Teams webhook URL',
      );
      expect(h.logs.lines.join('\n')).not.toContain('not-a-url-but-a-secret-value');
    } finally {
      writeFileSync(join(h.secretsDir, 'teams-webhook'), teams.webhookUrl);
      h.runtime.dispatch.secrets.invalidate('teams-webhook');
    }
  });
});
