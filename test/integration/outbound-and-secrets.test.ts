import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApi } from '../../functions/core/api/app.ts';
import { type BigPandaServer, startBigPandaServer } from '../support/bigpanda-server.ts';
import type { Json } from '../support/fuzz.ts';
import { type GitHubServer, startGitHubServer } from '../support/github-server.ts';
import { createHarness, type Harness } from '../support/harness.ts';
import { type SlackServer, startSlackServer } from '../support/slack-server.ts';
import { SNS_CERT_URL, SNS_TOPIC, selfSignedCertificate, signedSnsEnvelope } from '../support/sns-signing.ts';
import { startTargetServer, type TargetServer } from '../support/target-server.ts';
import { startTelegramServer, type TelegramServer } from '../support/telegram-server.ts';

const nonce = randomBytes(6).toString('hex');
/** Sentinel secret values: any appearance where it does not belong is a leak. */
const SECRET = {
  api: `SENTINEL-api-${nonce}`,
  webhookSigning: `SENTINEL-webhook-${nonce}`,
  githubToken: `SENTINEL-github-${nonce}`,
  slackToken: `xoxb-SENTINEL-slack-${nonce}`,
  telegramToken: `123456:SENTINEL-telegram-${nonce}`,
  bigpandaToken: `SENTINEL-bigpanda-${nonce}`,
  githubWebhook: `SENTINEL-ghhook-${nonce}`,
  gitlabToken: `SENTINEL-gitlab-${nonce}`,
};
const SENTINELS = Object.values(SECRET);
const COMMIT = '9fceb02d0ae598e95dc970b74767f19372d61af8';
const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const fixture = (path: string): Json => JSON.parse(readFileSync(join(FIXTURES, path), 'utf8'));

/**
 * Every TCP connection this process opens goes through net.Socket#connect (http, https, fetch, the AWS SDK):
 * the guard records each one and refuses any to a place not on the allowlist before a name is even looked up.
 */
function guardConnections(allowed: () => Set<string>) {
  const seen: string[] = [];
  const refused: string[] = [];
  const originalConnect = net.Socket.prototype.connect;
  const originalFetch = globalThis.fetch;
  const allowedHost = (host: string, port: string) =>
    ['127.0.0.1', 'localhost', '::1'].includes(host) && allowed().has(port);
  net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
    const first = Array.isArray(args[0]) ? args[0][0] : args[0];
    const options = (
      typeof first === 'object' && first !== null
        ? first
        : { port: first, host: typeof args[1] === 'string' ? args[1] : 'localhost' }
    ) as { host?: string; port?: unknown; path?: string };
    if (options.path) return originalConnect.apply(this, args as never); // IPC, not the network
    const where = `${options.host ?? 'localhost'}:${String(options.port)}`;
    seen.push(where);
    if (!allowedHost(options.host ?? 'localhost', String(options.port))) {
      refused.push(where);
      process.nextTick(() => this.destroy(new Error(`the test refused a connection to ${where}`)));
      return this;
    }
    return originalConnect.apply(this, args as never);
  } as typeof net.Socket.prototype.connect;
  globalThis.fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (!allowedHost(url.hostname.replace(/^\[|\]$/g, ''), url.port)) {
      refused.push(`fetch ${url.host}`);
      throw new TypeError(`the test refused fetch ${url.origin}`);
    }
    return originalFetch(input, init);
  }) as typeof fetch;
  return {
    seen,
    refused,
    restore() {
      net.Socket.prototype.connect = originalConnect;
      globalThis.fetch = originalFetch;
    },
  };
}

describe('representative flows: Shipcast fetches no URL from an event, and no secret leaks', () => {
  let h: Harness;
  let api: ReturnType<typeof createApi>;
  let canary: TargetServer;
  let webhook: TargetServer;
  let github: GitHubServer;
  let slack: SlackServer;
  let telegram: TelegramServer;
  let bigpanda: BigPandaServer;
  let guard: ReturnType<typeof guardConnections>;
  const sns = selfSignedCertificate();
  const snsCalls: string[] = [];
  /** Every answer the API gave, as text. */
  const answers: string[] = [];

  const portOf = (url: string) => new URL(url).port;

  beforeAll(async () => {
    canary = await startTargetServer();
    webhook = await startTargetServer();
    github = await startGitHubServer({ tokens: [SECRET.githubToken] });
    slack = await startSlackServer({ tokens: [SECRET.slackToken], channels: { deploys: 'C0DEPLOYS1' } });
    telegram = await startTelegramServer({ tokens: [SECRET.telegramToken], chats: ['-1001234567890'] });
    bigpanda = await startBigPandaServer({ tokens: [SECRET.bigpandaToken] });
    h = await createHarness({
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        sources: {
          github: { secret: 'github-webhook' },
          gitlab: { token: 'gitlab-token' },
          sns: { topicArns: [SNS_TOPIC] },
        },
        targets: {
          hook: { type: 'webhook', url: `${webhook.url}/shipcast`, secret: 'webhook-signing' },
          'gh-deployments': { type: 'github-deployment', token: 'github-token', baseUrl: github.url },
          'gh-statuses': { type: 'github-status', token: 'github-token', baseUrl: github.url },
          slack: { type: 'slack', token: 'slack-token', channel: 'C0DEPLOYS1', baseUrl: `${slack.apiUrl}` },
          telegram: {
            type: 'telegram',
            token: 'telegram-token',
            chatId: '-1001234567890',
            baseUrl: telegram.url,
          },
          bigpanda: { type: 'bigpanda', token: 'bigpanda-token', url: bigpanda.url },
        },
        routes: [
          { match: { service: 'checkout' }, targets: ['hook', 'gh-deployments', 'gh-statuses', 'slack'] },
          { match: { service: 'checkout' }, targets: ['telegram', 'bigpanda'] },
          { match: { source: 'codedeploy' }, targets: ['hook', 'telegram'] },
          { match: { source: 'github' }, targets: ['hook'] },
        ],
      },
      env: {
        SHIPCAST_SECRET_API_TOKEN: SECRET.api,
        SHIPCAST_SECRET_WEBHOOK_SIGNING: SECRET.webhookSigning,
        SHIPCAST_SECRET_GITHUB_TOKEN: SECRET.githubToken,
        SHIPCAST_SECRET_SLACK_TOKEN: SECRET.slackToken,
        SHIPCAST_SECRET_TELEGRAM_TOKEN: SECRET.telegramToken,
        SHIPCAST_SECRET_BIGPANDA_TOKEN: SECRET.bigpandaToken,
      },
    });
    writeFileSync(join(h.secretsDir, 'github-webhook'), SECRET.githubWebhook);
    writeFileSync(join(h.secretsDir, 'gitlab-token'), SECRET.gitlabToken);
    // The SNS port is where Shipcast fetches certificates and confirms subscriptions: record what it is asked.
    h.runtime.api.sns = {
      fetchCertificate: async (url) => {
        snsCalls.push(url);
        return sns.cert;
      },
      confirmSubscription: async (url) => {
        snsCalls.push(url);
      },
    };
    api = createApi(h.runtime.api);
    const allowed = new Set(
      [
        inject('dynamodbEndpoint'),
        h.queues.endpoint,
        webhook.url,
        github.url,
        slack.url,
        telegram.url,
        bigpanda.url,
      ].map(portOf),
    );
    guard = guardConnections(() => allowed);

    // A target that fails once, echoing the credential it was sent (as some APIs do in their errors).
    bigpanda.script({
      status: 500,
      headers: { 'retry-after': '0' },
      body: { status: 'failure', error: `bad token Bearer ${SECRET.bigpandaToken}` },
    });
    await runFlows();
    for (let round = 0; round < 5 && (await h.drainDispatch()) > 0; round++) {}
  }, 60_000);
  afterAll(async () => {
    guard?.restore();
    await h?.stop();
    await Promise.all([canary, webhook, github, slack, telegram, bigpanda].map((s) => s?.stop()));
  });

  async function call(path: string, init: RequestInit) {
    const response = await api.request(path, init);
    const text = await response.text();
    answers.push(text);
    expect(response.status, `${path}: ${text}`).toBeLessThan(500);
    return { status: response.status, text };
  }
  const bearer = { authorization: `Bearer ${SECRET.api}` };
  const here = (what: string) => `${canary.url}/from-event/${what}`;

  /** Events full of URLs (pointing at the canary, at other hosts, at the cloud metadata address). */
  async function runFlows() {
    for (const status of ['in_progress', 'succeeded']) {
      await call('/v1/events', {
        method: 'POST',
        headers: bearer,
        body: JSON.stringify({
          service: 'checkout',
          environment: 'production',
          status,
          version: '2.0.0',
          repository: 'acme/checkout',
          commit: COMMIT,
          ref: 'refs/heads/main',
          url: here('native'),
          description: `see ${here('description')}, https://evil.example/x and http://169.254.169.254/latest/meta-data/`,
          actor: 'mona',
        }),
      });
    }
    await call('/v1/events', {
      method: 'POST',
      headers: bearer,
      body: JSON.stringify({
        service: 'checkout',
        environment: 'staging',
        status: 'failed',
        repository: here('acme/checkout.git'),
        commit: COMMIT,
        url: 'http://169.254.169.254/latest/meta-data/iam/',
      }),
    });

    // GitHub webhooks (real payloads are full of api.github.com URLs), links pointed at the canary too.
    const githubHook = async (event: string, payload: Json) => {
      const body = JSON.stringify(payload);
      await call('/v1/hooks/github', {
        method: 'POST',
        headers: {
          'x-github-event': event,
          'x-github-delivery': randomUUID(),
          'x-hub-signature-256': `sha256=${createHmac('sha256', SECRET.githubWebhook).update(body).digest('hex')}`,
        },
        body,
      });
    };
    await githubHook('deployment', fixture('github/deployment/created.json'));
    const status = fixture('github/deployment_status/created.json');
    status.deployment_status.log_url = here('log');
    status.deployment_status.target_url = here('target');
    await githubHook('deployment_status', status);
    await githubHook('workflow_run', fixture('github/workflow_run/completed.json'));
    const push = fixture('github/push/push.json');
    push.compare = here('compare');
    await githubHook('push', push);

    const gitlab = fixture('gitlab/deployment/success.json');
    gitlab.deployable_url = here('gitlab-job');
    gitlab.environment_external_url = here('gitlab-env');
    for (const body of [gitlab, fixture('gitlab/pipeline/success.json')]) {
      await call('/v1/hooks/gitlab', {
        method: 'POST',
        headers: { 'x-gitlab-token': SECRET.gitlabToken },
        body: JSON.stringify(body),
      });
    }

    const run = fixture('cdevents/pipelinerun_finished.0.2.0.json');
    run.subject.content.url = here('cdevents-run');
    for (const data of [run, fixture('cdevents/service_deployed.0.1.1.json')]) {
      await call('/v1/cdevents', {
        method: 'POST',
        headers: { ...bearer, 'content-type': 'application/cloudevents+json' },
        body: JSON.stringify({
          specversion: '1.0',
          id: randomUUID(),
          source: '/ci',
          type: data.context.type,
          data,
        }),
      });
    }

    await call(`/acme/apps/checkout/events/buildEvent?apiToken=${SECRET.api}`, {
      method: 'PUT',
      body: JSON.stringify({
        build_status: 'Success',
        build_url: here('build'),
        commit_url: here('commit'),
        repo_url: here('acme/checkout'),
        commit_id: COMMIT,
      }),
    });
    await call(`/acme/apps/checkout/events?apiToken=${SECRET.api}`, {});
    await call('/data/events/deployments/start', {
      method: 'POST',
      headers: bearer,
      body: JSON.stringify({
        component: 'billing',
        version: '7',
        hosts: [here('host')],
        description: here('d'),
      }),
    });

    // CodeDeploy through SNS: the certificate URL is an SNS one; a canary SigningCertURL is refused unfetched.
    const message = readFileSync(join(FIXTURES, 'codedeploy/deployment-succeeded.real.message.json'), 'utf8');
    await call('/v1/hooks/sns', {
      method: 'POST',
      body: JSON.stringify(signedSnsEnvelope(message, sns.key, h.clock.now().toISOString())),
    });
    const lure = signedSnsEnvelope(message, sns.key, h.clock.now().toISOString(), {
      SigningCertURL: here('SimpleNotificationService-x.pem'),
    });
    expect((await call('/v1/hooks/sns', { method: 'POST', body: JSON.stringify(lure) })).status).toBe(401);

    const deployment = JSON.parse(answers[1] as string).deploymentId as string;
    await call(`/v1/deployments/${deployment}`, { headers: bearer });
  }

  it('contacts only the configured target servers: no URL taken from an event is ever fetched', () => {
    expect(canary.requests.map((r) => `${r.method} ${r.path}`)).toEqual([]);
    expect(guard.refused).toEqual([]);
    // The flows reached every target, so "nothing else was contacted" says something.
    expect(webhook.requests.length).toBeGreaterThan(0);
    expect(github.requests.length).toBeGreaterThan(0);
    expect(slack.requests.length).toBeGreaterThan(0);
    expect(telegram.requests.length).toBeGreaterThan(0);
    expect(bigpanda.requests.length).toBeGreaterThan(1);
    // The SNS port was asked only for the SNS certificate URL.
    expect(new Set(snsCalls)).toEqual(new Set([SNS_CERT_URL]));
  });

  it('the guard does refuse other hosts (so the test above can fail)', async () => {
    const refusedBefore = guard.refused.length;
    await expect(fetch('https://example.com/')).rejects.toThrow(/refused/);
    await expect(fetch(here('probe'))).rejects.toThrow(/refused/);
    expect(guard.refused.length).toBe(refusedBefore + 2);
    guard.refused.length = refusedBefore;
  });

  it('keeps every sentinel secret out of logs, answers, stored items and the bodies of outbound calls', async () => {
    const leaks = (where: string, text: string) =>
      SENTINELS.filter((s) => text.includes(s)).map((s) => `${where}: ${s}`);
    const found: string[] = [];

    found.push(...h.logs.lines.flatMap((line) => leaks('log', line)));
    // The target that echoed its credential in an error was logged, masked.
    expect(h.logs.lines.join('\n')).toContain('bad token Bearer ****');
    found.push(...answers.flatMap((answer) => leaks('API answer', answer)));

    const items: Record<string, unknown>[] = [];
    const documents = DynamoDBDocumentClient.from(h.dynamodb);
    let start: Record<string, unknown> | undefined;
    do {
      const page = await documents.send(
        new ScanCommand({ TableName: h.resources.tableName, ExclusiveStartKey: start }),
      );
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    expect(items.length).toBeGreaterThan(10);
    found.push(...items.flatMap((item) => leaks(`stored ${item.pk} ${item.sk}`, JSON.stringify(item))));

    const { Messages = [] } = await h.queues.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: h.resources.dispatchDlqUrl,
        MaxNumberOfMessages: 10,
        MessageAttributeNames: ['All'],
      }),
    );
    found.push(...Messages.flatMap((m) => leaks('dead letter', JSON.stringify(m))));

    /** A credential may travel only where its own API needs it: this header, or (Telegram) the URL path. */
    const outbound = (
      server: string,
      requests: { path: string; headers: Record<string, unknown>; body: string }[],
      own?: { secret: string; in: 'authorization' | 'path' },
    ) => {
      for (const request of requests) {
        found.push(...leaks(`${server} body`, request.body));
        for (const [name, value] of Object.entries(request.headers)) {
          const allowed = own?.in === 'authorization' && name === 'authorization' ? [own.secret] : [];
          found.push(
            ...leaks(`${server} header ${name}`, String(value)).filter(
              (l) => !allowed.some((a) => l.endsWith(a)),
            ),
          );
        }
        const allowedInPath = own?.in === 'path' ? [own.secret] : [];
        found.push(
          ...leaks(`${server} path`, request.path).filter((l) => !allowedInPath.some((a) => l.endsWith(a))),
        );
      }
      if (own) {
        // The sentinel was really used where it belongs (else this test would prove nothing).
        const carried = requests.some((r) =>
          own.in === 'path'
            ? r.path.includes(own.secret)
            : String(r.headers.authorization).includes(own.secret),
        );
        expect(carried, `${server} never received its credential`).toBe(true);
      }
    };
    outbound('webhook target', webhook.requests as never);
    outbound('GitHub', github.requests as never, { secret: SECRET.githubToken, in: 'authorization' });
    outbound('Slack', slack.requests as never, { secret: SECRET.slackToken, in: 'authorization' });
    outbound('Telegram', telegram.requests as never, { secret: SECRET.telegramToken, in: 'path' });
    outbound('BigPanda', bigpanda.requests as never, { secret: SECRET.bigpandaToken, in: 'authorization' });
    // The signed webhook carries an HMAC made with its secret, never the secret.
    expect(webhook.requests.some((r) => String(r.headers['shipcast-signature']).includes('v1='))).toBe(true);

    expect(found).toEqual([]);
  });
});
