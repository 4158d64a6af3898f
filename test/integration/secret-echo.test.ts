import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../functions/core/api/app.ts';
import { ingestEvent } from '../../functions/core/ingest.ts';
import { nativeEvent } from '../support/events.ts';
import { createHarness, type Harness } from '../support/harness.ts';
import { type CapturedRequest, startTargetServer, type TargetServer } from '../support/target-server.ts';

/**
 * A target (or a proxy in front of it) whose error page echoes everything it received: the request line as
 * sent and decoded, every header (its JSON with `/` escaped, as PHP writes it) and the body. Every target
 * whose credential is a URL, a header or HTTP Basic auth is sent one deployment and fails permanently on
 * that page; no run of 8 characters of a credential may reach the logs, the table, the API or the DLQ.
 */
const API_TOKEN = 'api-Tk7Qz0Lp4Ws9Xe2R';
const SLACK_HOOK = 'Wh00kS3cr3tK3yAbCdEfGhIj';
const MATTERMOST_KEY = 'q8w9e1r2t3y4u5i6o7p0a1s2d3';
const TEAMS_SIG = 'Tm5SigA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S';
const CHAT_KEY = 'AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI';
const CHAT_TOKEN = 'Xy7Rk2Vb9Nq4Lm1Pz8Wc3Jd6Hf0Gs5Ta==';
const DISCORD_ID = '112233445566778899';
const DISCORD_TOKEN = 'dIsCoRdToKeN_0123456789-abcdefghijKLMNOPQRSTUVWXYZabcdefghij0123456789';
const SECRET = {
  slackBot: 'xoxb-2024-8888-BotEchoToken9f3a',
  github: 'ghp_EchoGitHubToken0123456789abcdefXYZ',
  bigpanda: 'bp-Echo7Token3Value9Abcdef012',
  telegram: '987654321:AAq7Zx0Kp3Wm9Rt2Vb5Ny8Lc1Hd4Gf6Js',
  zulip: 'ZuLiPaPiKeY0123456789abcdef',
  datadog: 'dd0123456789abcdefABCDEF01234567',
  grafana: 'glsa_EchoGrafana0123456789abcdefXYZ_0a1b2c3d',
  honeycomb: 'hcEchoKey0123456789ABCDEFxyz',
  pagerduty: 'R0uT1nGkEy0123456789abcdefABCDEF',
  sentry: 'sntrys_EchoSentryToken0123456789abcdefXYZ',
};

const TARGETS = 15;

describe('a target whose error page echoes the request: no credential reaches what Shipcast writes', () => {
  let h: Harness;
  let echo: TargetServer;
  let api: ReturnType<typeof createApi>;
  const answers: string[] = [];
  const deadLetters: string[] = [];
  const deploymentIds: string[] = [];
  /** Runs that must appear nowhere: every 8 characters of every credential and of its Basic encoding. */
  const forbidden: string[] = [];

  const runsOf = (secret: string) =>
    Array.from({ length: secret.length - 7 }, (_, i) => secret.slice(i, i + 8));

  /** Everything a request carried, as one text (what the echo page shows). */
  const echoed = (r: CapturedRequest) => {
    let decoded = r.path;
    try {
      decoded = decodeURIComponent(r.path);
    } catch {}
    const headers = JSON.stringify(r.headers).replaceAll('/', '\\/');
    return `ECHO ${r.method} ${r.path} | ${decoded} | authorization: ${String(r.headers.authorization)} | ${headers} | ${r.body}`;
  };

  beforeAll(async () => {
    echo = await startTargetServer();
    echo.fallback = (r) => ({ status: 400, headers: { 'content-type': 'text/plain' }, body: echoed(r) });
    const hookUrls = {
      slack: `${echo.url}/services/T0ECHO0001/B0ECHO0002/${SLACK_HOOK}`,
      mattermost: `${echo.url}/hooks/${MATTERMOST_KEY}`,
      teams: `${echo.url}/workflows/0f1e2d3c4b5a69788796a5b4c3d2e1f0/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=${TEAMS_SIG}`,
      chat: `${echo.url}/v1/spaces/AAAAechoSpace/messages?key=${CHAT_KEY}&token=${encodeURIComponent(CHAT_TOKEN)}`,
      discord: `${echo.url}/api/webhooks/${DISCORD_ID}/${DISCORD_TOKEN}`,
    };
    h = await createHarness({
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: {
          'slack-hook': { type: 'slack', webhookUrl: 'slack-hook' },
          'slack-bot': { type: 'slack', token: 'slack-bot', channel: 'C0ECHO', baseUrl: echo.url },
          mattermost: { type: 'mattermost', webhookUrl: 'mattermost-hook' },
          teams: { type: 'teams', webhookUrl: 'teams-hook' },
          'google-chat': { type: 'google-chat', webhookUrl: 'chat-hook' },
          discord: { type: 'discord', webhookUrl: 'discord-hook' },
          github: { type: 'github-deployment', token: 'github-token', baseUrl: echo.url },
          bigpanda: { type: 'bigpanda', token: 'bigpanda-token', url: echo.url },
          telegram: { type: 'telegram', token: 'telegram-token', chatId: '-100123', baseUrl: echo.url },
          zulip: {
            type: 'zulip',
            site: echo.url,
            email: 'echo-bot@example.zulipchat.com',
            apiKey: 'zulip-key',
            stream: 'deploys',
          },
          datadog: { type: 'datadog', apiKey: 'datadog-key', baseUrl: echo.url },
          grafana: { type: 'grafana', url: echo.url, token: 'grafana-token' },
          honeycomb: { type: 'honeycomb', apiKey: 'honeycomb-key', dataset: 'deploys', baseUrl: echo.url },
          pagerduty: { type: 'pagerduty', routingKey: 'pagerduty-key', url: echo.url },
          sentry: {
            type: 'sentry',
            url: echo.url,
            organization: 'acme',
            projects: ['shop'],
            token: 'sentry-token',
          },
        },
        routes: [
          { match: { service: 'echo-*' }, targets: ['slack-hook', 'slack-bot', 'mattermost', 'teams'] },
          { match: { service: 'echo-*' }, targets: ['google-chat', 'discord', 'github', 'bigpanda'] },
          { match: { service: 'echo-*' }, targets: ['telegram', 'zulip'] },
          {
            match: { service: 'echo-*' },
            targets: ['datadog', 'grafana', 'honeycomb', 'pagerduty', 'sentry'],
          },
        ],
      },
      env: {
        SHIPCAST_SECRET_API_TOKEN: API_TOKEN,
        SHIPCAST_SECRET_SLACK_HOOK: hookUrls.slack,
        SHIPCAST_SECRET_SLACK_BOT: SECRET.slackBot,
        SHIPCAST_SECRET_MATTERMOST_HOOK: hookUrls.mattermost,
        SHIPCAST_SECRET_TEAMS_HOOK: hookUrls.teams,
        SHIPCAST_SECRET_CHAT_HOOK: hookUrls.chat,
        SHIPCAST_SECRET_DISCORD_HOOK: hookUrls.discord,
        SHIPCAST_SECRET_GITHUB_TOKEN: SECRET.github,
        SHIPCAST_SECRET_BIGPANDA_TOKEN: SECRET.bigpanda,
        SHIPCAST_SECRET_TELEGRAM_TOKEN: SECRET.telegram,
        SHIPCAST_SECRET_ZULIP_KEY: SECRET.zulip,
        SHIPCAST_SECRET_DATADOG_KEY: SECRET.datadog,
        SHIPCAST_SECRET_GRAFANA_TOKEN: SECRET.grafana,
        SHIPCAST_SECRET_HONEYCOMB_KEY: SECRET.honeycomb,
        SHIPCAST_SECRET_PAGERDUTY_KEY: SECRET.pagerduty,
        SHIPCAST_SECRET_SENTRY_TOKEN: SECRET.sentry,
      },
    });
    api = createApi(h.runtime.api);
    const basic = Buffer.from(`echo-bot@example.zulipchat.com:${SECRET.zulip}`).toString('base64');
    for (const secret of [
      ...Object.values(SECRET),
      SLACK_HOOK,
      MATTERMOST_KEY,
      TEAMS_SIG,
      CHAT_KEY,
      CHAT_TOKEN,
      encodeURIComponent(CHAT_TOKEN),
      DISCORD_ID,
      DISCORD_TOKEN,
      basic,
    ])
      forbidden.push(...runsOf(secret));

    // Finished, so that every target has something to send (some announce only outcomes).
    const event = nativeEvent('echo-1', 'succeeded', {
      service: 'echo-one',
      environment: 'production',
      version: '1.2.3',
      revision: { repository: 'acme/shop', commit: '9fceb02d0ae598e95dc970b74767f19372d61af8' },
    });
    deploymentIds.push(event.deploymentId);
    await ingestEvent(event, h.runtime.ingest);
    for (let round = 0; round < 3 && (await h.drainDispatch()) > 0; round++) {}

    for (const id of deploymentIds) {
      const response = await api.request(`/v1/deployments/${id}`, {
        headers: { authorization: `Bearer ${API_TOKEN}` },
      });
      answers.push(await response.text());
    }
    for (;;) {
      const { Messages = [] } = await h.queues.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: h.resources.dispatchDlqUrl,
          MaxNumberOfMessages: 10,
          MessageAttributeNames: ['All'],
        }),
      );
      if (Messages.length === 0) break;
      deadLetters.push(...Messages.map((m) => JSON.stringify(m)));
    }
  }, 60_000);
  afterAll(async () => {
    await h?.stop();
    await echo?.stop();
  });

  const leaks = (where: string, text: string) =>
    [...new Set(forbidden.filter((run) => text.includes(run)))].map((run) => `${where}: ${run}`);

  it('sent every credential where it belongs, and every target got the echo page back', () => {
    const seen = echo.requests.map(echoed).join('\n');
    for (const secret of [SLACK_HOOK, MATTERMOST_KEY, TEAMS_SIG, CHAT_KEY, DISCORD_TOKEN, SECRET.telegram])
      expect(seen).toContain(secret);
    for (const secret of Object.values(SECRET)) if (secret !== SECRET.zulip) expect(seen).toContain(secret);
    expect(seen).toContain('Basic ');
    expect(deadLetters).toHaveLength(TARGETS);
  });

  it('keeps the echoed credentials out of the logs', () => {
    expect(h.logs.lines.length).toBeGreaterThan(0);
    expect(h.logs.lines.flatMap((line) => leaks('log', line))).toEqual([]);
  });

  it("keeps them out of the delivery items, whose lastError still shows the target's answer", async () => {
    const documents = DynamoDBDocumentClient.from(h.dynamodb);
    const { Items = [] } = await documents.send(new ScanCommand({ TableName: h.resources.tableName }));
    // One deliveries item per deployment, an attribute `t:<target>` per target.
    const deliveries = Items.filter((item) => item.sk === 'DLV').flatMap((item) =>
      Object.entries(item)
        .filter(([name]) => name.startsWith('t:'))
        .map(([, delivery]) => delivery as { lastError?: unknown })
        .filter((delivery) => typeof delivery.lastError === 'string'),
    );
    expect(deliveries).toHaveLength(TARGETS);
    // The echo page itself made it into lastError (masked) for the targets that quote the answer.
    expect(deliveries.filter((d) => String(d.lastError).includes('ECHO')).length).toBeGreaterThanOrEqual(6);
    expect(Items.flatMap((item) => leaks(`item ${item.pk} ${item.sk}`, JSON.stringify(item)))).toEqual([]);
  });

  it("keeps them out of the API's answer", () => {
    expect(answers.join('')).toContain('ECHO');
    expect(answers.flatMap((answer) => leaks('API answer', answer))).toEqual([]);
  });

  it("keeps them out of the dead letters' shipcast-reason attribute", () => {
    expect(deadLetters.join('')).toContain('shipcast-reason');
    expect(deadLetters.flatMap((message) => leaks('dead letter', message))).toEqual([]);
  });
});
