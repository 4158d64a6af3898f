import { createSign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../functions/core/api/app.ts';
import type { SnsHttpPort } from '../../functions/core/api/context.ts';
import { parseCodeDeployMessage } from '../../functions/core/sources/codedeploy.ts';
import {
  CERTIFICATE_FAILURE_SECONDS,
  isSnsUrl,
  SNS_MAX_AGE_SECONDS,
  stringToSign,
} from '../../functions/core/sources/sns-http.ts';
import { createHarness, type Harness } from '../support/harness.ts';
import { SNS_CERT_URL, SNS_TOPIC, selfSignedCertificate } from '../support/sns-signing.ts';

/** Unique ids per run without chance collisions. */
let uniqueCounter = 0;

const TOPIC = SNS_TOPIC;
const CERT_URL = SNS_CERT_URL;
const SUBSCRIBE_URL =
  'https://sns.eu-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:eu-west-2:123456789012:shipcast-codedeploy&Token=abc';

describe('CodeDeploy triggers through an SNS HTTPS subscription', () => {
  let h: Harness;
  let api: ReturnType<typeof createApi>;
  const sns = selfSignedCertificate('sns.amazonaws.com');
  const impostor = selfSignedCertificate('sns.amazonaws.com');
  const fetched: string[] = [];
  const confirmed: string[] = [];

  beforeAll(async () => {
    h = await createHarness({
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        sources: { sns: { topicArns: [TOPIC] } },
        targets: { console: { type: 'log' } },
        routes: [{ targets: ['console'] }],
      },
    });
    h.runtime.api.sns = {
      fetchCertificate: async (url) => {
        fetched.push(url);
        return sns.cert;
      },
      confirmSubscription: async (url) => {
        confirmed.push(url);
      },
    };
    api = createApi(h.runtime.api);
  });
  afterAll(() => h.stop());

  const message = readFileSync('test/fixtures/codedeploy/deployment-succeeded.real.message.json', 'utf8');

  function signed(
    fields: Record<string, string | undefined>,
    { version = '2', key = sns.key }: { version?: '1' | '2'; key?: string } = {},
  ) {
    const envelope = {
      Type: 'Notification',
      MessageId: `m-${++uniqueCounter}`,
      TopicArn: TOPIC,
      Subject: 'SUCCEEDED: AWS CodeDeploy d-4F2KQ8ZX1 in eu-west-2 to checkout',
      Message: message,
      Timestamp: h.clock.now().toISOString(),
      SignatureVersion: version,
      SigningCertURL: CERT_URL,
      ...fields,
    } as Record<string, string>;
    const signer = createSign(version === '1' ? 'RSA-SHA1' : 'RSA-SHA256');
    signer.update(stringToSign(envelope as never));
    return { ...envelope, Signature: signer.sign(key, 'base64') } as Record<string, string>;
  }

  const post = (body: unknown, type = 'Notification') =>
    api.request('/v1/hooks/sns', {
      method: 'POST',
      headers: { 'content-type': 'text/plain; charset=UTF-8', 'x-amz-sns-message-type': type },
      body: JSON.stringify(body),
    });

  it.each(['1', '2'] as const)(
    'queues a CodeDeploy trigger signed with signature version %s for the ingest function, which records it',
    async (version) => {
      const envelope = signed({}, { version });

      const answer = await post(envelope);

      expect(answer.status).toBe(202);
      expect(await answer.json()).toEqual({ queued: true, messageId: envelope.MessageId });
      expect(await h.drainIngest()).toEqual([{ batchItemFailures: [] }]);
      const { deploymentId } = parseCodeDeployMessage(message, {
        receivedAt: h.clock.now().toISOString(),
        where: 'fixture',
      });
      const recorded = await h.store.getDeployment(deploymentId);
      expect(recorded?.status).toBe('succeeded');
      expect(recorded?.service).toBe(parseCodeDeployMessage(message, { receivedAt: '', where: '' }).service);
    },
  );

  it('refuses a message signed by another key, a flipped byte, or an unknown topic, storing nothing', async () => {
    const before = await h.store.listDeployments({ limit: 100 });
    const other = JSON.stringify({ ...JSON.parse(message), deploymentId: 'd-OTHER0001' });

    const wrongKey = await post(signed({ Message: other }, { key: impostor.key }));
    const flipped = signed({ Message: other });
    flipped.Message = String(flipped.Message).replace('SUCCEEDED', 'SUCCEEDEE');
    const tampered = await post(flipped);
    const unknownTopic = await post(
      signed({ Message: other, TopicArn: 'arn:aws:sns:eu-west-2:123456789012:other' }),
    );

    expect([wrongKey.status, tampered.status, unknownTopic.status]).toEqual([401, 401, 401]);
    expect(await h.drainIngest()).toEqual([]);
    expect((await h.store.listDeployments({ limit: 100 })).items).toHaveLength(before.items.length);
  });

  it.each([
    'http://sns.eu-west-2.amazonaws.com/SimpleNotificationService-abc.pem',
    'https://sns.eu-west-2.amazonaws.com.evil.example/SimpleNotificationService-abc.pem',
    'https://s3.amazonaws.com/sns.eu-west-2.amazonaws.com/SimpleNotificationService-abc.pem',
    'https://sns-eu-west-2.amazonaws.com/SimpleNotificationService-abc.pem',
    'https://sns.eu-west-2.amazonaws.com/other.pem',
    'https://user@sns.eu-west-2.amazonaws.com/SimpleNotificationService-abc.pem',
    'https://sns.eu-west-2.amazonaws.com:8443/SimpleNotificationService-abc.pem',
  ])('never fetches a certificate from a look-alike URL: %s', async (url) => {
    const count = fetched.length;

    const answer = await post(signed({ SigningCertURL: url }));

    expect(answer.status).toBe(401);
    expect(fetched.length).toBe(count);
    expect(isSnsUrl(url, 'certificate')).toBe(false);
  });

  it('confirms a subscription only after its signature verifies', async () => {
    const confirmation = {
      Type: 'SubscriptionConfirmation',
      Message: 'You have chosen to subscribe to the topic…',
      SubscribeURL: SUBSCRIBE_URL,
      Token: 'abc',
      Subject: undefined,
    };

    const forged = await post(signed(confirmation, { key: impostor.key }), 'SubscriptionConfirmation');
    expect(forged.status).toBe(401);
    expect(confirmed).toEqual([]);

    const genuine = await post(signed(confirmation), 'SubscriptionConfirmation');
    expect(genuine.status).toBe(200);
    expect(confirmed).toEqual([SUBSCRIBE_URL]);
  });

  describe('certificate fetches', () => {
    /** A local server standing in for SNS's certificate host: counts requests per path, answers 500 on `failing`. */
    let certServer: Server;
    let certBase: string;
    const requests = new Map<string, number>();
    const failing = new Set<string>();
    let real: SnsHttpPort | undefined;
    let urls = 0;

    beforeAll(async () => {
      certServer = createServer((request, response) => {
        const path = request.url ?? '';
        requests.set(path, (requests.get(path) ?? 0) + 1);
        if (failing.has(path)) {
          response.writeHead(500).end('internal error');
          return;
        }
        response.writeHead(200, { 'content-type': 'text/plain' }).end(sns.cert);
      });
      await new Promise<void>((resolve) => certServer.listen(0, '127.0.0.1', resolve));
      certBase = `http://127.0.0.1:${(certServer.address() as AddressInfo).port}`;
      real = h.runtime.api.sns;
      // The SNS URL's path, fetched from the local server (the real port fetches it over https from SNS).
      h.runtime.api.sns = {
        fetchCertificate: async (url) => {
          const response = await fetch(`${certBase}${new URL(url).pathname}`, {
            signal: AbortSignal.timeout(10_000),
          });
          if (!response.ok) throw new Error(`certificate answered ${response.status}`);
          return response.text();
        },
        confirmSubscription: async () => {},
      };
    });
    afterAll(async () => {
      if (real) h.runtime.api.sns = real;
      await new Promise((resolve) => certServer.close(resolve));
    });

    /** A certificate URL no earlier message used (nothing cached for it), and its path on the server. */
    const newCertUrl = () => {
      const path = `/SimpleNotificationService-fetch${++urls}.pem`;
      return { url: `https://sns.eu-west-2.amazonaws.com${path}`, path };
    };

    it('refuses an old message without fetching its certificate', async () => {
      const cert = newCertUrl();
      const old = signed({
        SigningCertURL: cert.url,
        Timestamp: new Date(h.clock.now().getTime() - (SNS_MAX_AGE_SECONDS + 60) * 1000).toISOString(),
      });

      const answer = await post(old);

      expect(answer.status).toBe(401);
      expect(await answer.json()).toMatchObject({ message: expect.stringContaining('replay window') });
      expect(requests.get(cert.path)).toBeUndefined();
    });

    it('refuses a replayed MessageId without fetching the certificate it names', async () => {
      const first = newCertUrl();
      const envelope = signed({ SigningCertURL: first.url });
      expect((await post(envelope)).status).toBe(202);
      expect(requests.get(first.path)).toBe(1);
      await h.drainIngest();

      // The same signed message under another certificate URL (SigningCertURL is not signed).
      const other = newCertUrl();
      const replay = await post({ ...envelope, SigningCertURL: other.url });

      expect(replay.status).toBe(401);
      expect(await replay.json()).toMatchObject({ message: expect.stringContaining('already received') });
      expect(requests.get(other.path)).toBeUndefined();
    });

    it('does not fetch a certificate again for a while after its fetch failed, then does', async () => {
      const cert = newCertUrl();
      failing.add(cert.path);

      const answers = [await post(signed({ SigningCertURL: cert.url }))];
      answers.push(await post(signed({ SigningCertURL: cert.url })));
      h.clock.advance((CERTIFICATE_FAILURE_SECONDS - 1) * 1000);
      answers.push(await post(signed({ SigningCertURL: cert.url })));

      expect(answers.map((a) => a.status)).toEqual([401, 401, 401]);
      expect(requests.get(cert.path)).toBe(1);

      failing.delete(cert.path);
      h.clock.advance(2000);
      const later = await post(signed({ SigningCertURL: cert.url }));
      expect(later.status).toBe(202);
      expect(requests.get(cert.path)).toBe(2);
      await h.drainIngest();
    });
  });

  it('answers 400 with the field for a malformed envelope and 413 for an oversized one', async () => {
    const malformed = await post({ Type: 'Notification', TopicArn: TOPIC });
    expect(malformed.status).toBe(400);
    expect(JSON.stringify(await malformed.json())).toContain('Signature');

    const huge = await post(signed({ Message: 'x'.repeat(300 * 1024) }));
    expect(huge.status).toBe(413);
  });
});
