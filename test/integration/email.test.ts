import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SesV2Sender } from '../../functions/adapters/aws/ses-sender.ts';
import { parseConfig } from '../../functions/core/config.ts';
import { PermanentDeliveryError } from '../../functions/core/errors.ts';
import { ingestEvent } from '../../functions/core/ingest.ts';
import type { DeploymentEvent } from '../../functions/core/schema.ts';
import { maskSecrets } from '../../functions/core/telemetry.ts';
import { nativeEvent } from '../support/events.ts';
import { createHarness, type Harness, recordingRetries } from '../support/harness.ts';
import { type SesV2Server, startSesV2Server } from '../support/sesv2-server.ts';
import { type SmtpTestServer, startSmtpServer, TEST_TLS } from '../support/smtp-server.ts';

const SMTP_PASSWORD = 'q8Vn2LxT5wRz7Kc4Hy9Md3Pf';
const WRONG_PASSWORD = 'Jx7Qm2Wd9Kv4Tz8Rb5Ny3Lc6';
const ACCESS_KEY_ID = 'AKIASHIPCASTTEST0001';

describe('email target', () => {
  let h: Harness;
  let starttls: SmtpTestServer;
  let smtps: SmtpTestServer;
  let plaintext: SmtpTestServer;
  let ses: SesV2Server;
  const retryDelays: number[] = [];

  beforeAll(async () => {
    starttls = await startSmtpServer({ tls: 'starttls', users: { shipcast: SMTP_PASSWORD } });
    smtps = await startSmtpServer({ tls: 'tls', users: { shipcast: SMTP_PASSWORD } });
    plaintext = await startSmtpServer({
      tls: 'starttls',
      users: { shipcast: SMTP_PASSWORD },
      hideStartTls: true,
    });
    ses = await startSesV2Server({
      accessKeyIds: [ACCESS_KEY_ID],
      verified: ['example.com', 'oncall@corp.example'],
      sandbox: true,
    });
    const smtp = (server: SmtpTestServer, extra: Record<string, unknown> = {}) => ({
      type: 'smtp',
      host: server.host,
      port: server.port,
      username: 'shipcast',
      password: 'smtp-password',
      caCertificate: 'smtp-ca',
      ...extra,
    });
    const mail = { type: 'email', from: 'Shipcast <deploys@example.com>' };
    h = await createHarness({
      queue: recordingRetries(retryDelays),
      ses: new SesV2Sender({
        credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: 'ses-test-secret-key' },
      }),
      config: {
        api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
        targets: {
          team: {
            ...mail,
            to: ['team@example.com', 'ops@example.com'],
            lookup: { jdoe: 'jane.doe@example.com' },
            allowedDomains: ['corp.example'],
            transport: smtp(starttls),
          },
          byDomain: { ...mail, lookup: 'corp.example', transport: smtp(starttls) },
          secure: { ...mail, to: ['team@example.com'], transport: smtp(smtps, { tls: 'tls' }) },
          untrusted: {
            ...mail,
            to: ['team@example.com'],
            transport: smtp(starttls, { caCertificate: undefined }),
          },
          wrongLogin: {
            ...mail,
            to: ['team@example.com'],
            transport: smtp(starttls, { password: 'smtp-wrong' }),
          },
          noStartTls: { ...mail, to: ['team@example.com'], transport: smtp(plaintext) },
          ses: {
            ...mail,
            to: ['oncall@corp.example'],
            replyTo: 'platform@example.com',
            interestedUsers: false,
            transport: { type: 'ses', region: 'eu-west-1', endpoint: ses.url },
          },
          sesSandboxed: {
            ...mail,
            to: ['someone@elsewhere.example'],
            transport: { type: 'ses', region: 'eu-west-1', endpoint: ses.url },
          },
        },
        routes: [
          { match: { service: 'team-*' }, targets: ['team'] },
          { match: { service: 'domain-*' }, targets: ['byDomain'] },
          {
            match: { service: 'routed-*' },
            targets: ['team'],
            message: { title: 'Deploy of {{service}}: {{status}}', text: 'Hello <team>, {{description}}' },
          },
          { match: { service: 'smtps-*' }, targets: ['secure'] },
          { match: { service: 'untrusted-*' }, targets: ['untrusted'] },
          { match: { service: 'login-*' }, targets: ['wrongLogin'] },
          { match: { service: 'cleartext-*' }, targets: ['noStartTls'] },
          { match: { service: 'ses-*' }, targets: ['ses'] },
          { match: { service: 'sandbox-*' }, targets: ['sesSandboxed'] },
        ],
        dispatch: { maxReceives: 5 },
      },
    });
    writeFileSync(join(h.secretsDir, 'smtp-password'), SMTP_PASSWORD);
    writeFileSync(join(h.secretsDir, 'smtp-wrong'), WRONG_PASSWORD);
    writeFileSync(join(h.secretsDir, 'smtp-ca'), TEST_TLS.cert);
  });
  afterAll(async () => {
    await h.stop();
    await Promise.all([starttls.stop(), smtps.stop(), plaintext.stop(), ses.stop()]);
  });
  beforeEach(() => {
    retryDelays.length = 0;
  });

  const event = (id: string, status: DeploymentEvent['status'], extra: Partial<DeploymentEvent> = {}) =>
    nativeEvent(id, status, { service: id, version: '1.4.2', ...extra });
  const mailsOf = (server: SmtpTestServer, service: string) =>
    server.messages.filter((m) => m.parsed.text?.includes(`Service: ${service}\n`));

  describe('over SMTP', () => {
    it('mails one message per transition over STARTTLS after logging in, with a text and an HTML part', async () => {
      const started = event('team-flow', 'in_progress', { actor: 'jdoe' });
      await ingestEvent(started, h.runtime.ingest);
      await h.drainDispatch();
      await ingestEvent(event('team-flow', 'succeeded', { actor: 'jdoe' }), h.runtime.ingest);
      await h.drainDispatch();

      const [running, succeeded, ...more] = mailsOf(starttls, 'team-flow');
      expect(more).toHaveLength(0);
      expect(running).toMatchObject({
        from: 'deploys@example.com',
        to: ['team@example.com', 'ops@example.com', 'jane.doe@example.com'],
        secure: true,
        user: 'shipcast',
      });
      expect(running?.parsed.subject).toBe('[Shipcast] team-flow 1.4.2 → production in progress');
      expect(succeeded?.parsed.subject).toBe('[Shipcast] team-flow 1.4.2 → production succeeded');
      expect(succeeded?.parsed.headers.from).toBe('Shipcast <deploys@example.com>');
      expect(succeeded?.parsed.headers['x-shipcast-deployment']).toBe(started.deploymentId);
      expect(succeeded?.parsed.text).toContain(
        'Status: ✅ succeeded\nService: team-flow\nEnvironment: production',
      );
      expect(succeeded?.parsed.html).toContain(
        '<th align="left" style="padding:2px 12px 2px 0">Service</th><td>team-flow</td>',
      );
      expect(starttls.logins.filter((l) => l.user === 'shipcast').every((l) => l.secure && l.ok)).toBe(true);
      expect(await h.store.getDelivery(started.deploymentId, 'team')).toMatchObject({
        state: 'delivered',
        deliveredSeq: 2,
        refs: { mailedSeq: '2', mailedTo: 'team@example.com,ops@example.com,jane.doe@example.com' },
      });
    });

    it('escapes every value from the event (and the template) in the HTML part', async () => {
      await ingestEvent(
        event('routed-hostile', 'failed', {
          version: '<script>alert(1)</script>',
          description: '<img src=x onerror="alert(2)"> & "quotes"',
          url: 'javascript:alert(3)',
          error: { code: '<b>E1</b>', message: '<a href="https://evil.example">fix</a>' },
        }),
        h.runtime.ingest,
      );
      await h.drainDispatch();

      const [mail] = mailsOf(starttls, 'routed-hostile');
      const html = mail?.parsed.html ?? '';
      expect(mail?.parsed.subject).toBe('Deploy of routed-hostile: failed');
      expect(html).not.toMatch(/<script|<img|<b>E1|href="https:\/\/evil|javascript:/i);
      expect(html).toContain(
        'Hello &lt;team&gt;, &lt;img src=x onerror=&quot;alert(2)&quot;&gt; &amp; &quot;quotes&quot;',
      );
      expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
      expect(html).toContain(
        '<strong>Error:</strong> &lt;b&gt;E1&lt;/b&gt;: &lt;a href=&quot;https://evil.example&quot;&gt;fix&lt;/a&gt;',
      );
      // Every tag in the HTML part is one of Shipcast's own.
      for (const tag of html.match(/<[a-z!][^>]*>/gi) ?? []) {
        expect(tag).toMatch(
          /^<(!DOCTYPE html|html|head|meta charset="utf-8"|body style="[^"]*"|h2 style="[^"]*"|p( style="[^"]*")?|br|table|tr|th align="left" style="[^"]*"|td|strong)>$/,
        );
      }
      expect(mail?.parsed.text).toContain('Hello <team>, <img src=x onerror="alert(2)"> & "quotes"');
    });

    it('mails interested users by lookup domain, and an address from the event only within allowedDomains', async () => {
      await ingestEvent(event('domain-user', 'succeeded', { actor: 'asmith' }), h.runtime.ingest);
      await ingestEvent(event('team-allowed', 'succeeded', { actor: 'lee@corp.example' }), h.runtime.ingest);
      await ingestEvent(
        event('team-outsider', 'succeeded', { actor: 'mallory@evil.example' }),
        h.runtime.ingest,
      );

      await h.drainDispatch();

      expect(mailsOf(starttls, 'domain-user')[0]?.to).toEqual(['asmith@corp.example']);
      expect(mailsOf(starttls, 'team-allowed')[0]?.to).toEqual([
        'team@example.com',
        'ops@example.com',
        'lee@corp.example',
      ]);
      expect(mailsOf(starttls, 'team-outsider')[0]?.to).toEqual(['team@example.com', 'ops@example.com']);
      expect(
        h.logs.lines.some((l) =>
          l.includes('the address \\"mallory@evil.example\\" is not in allowedDomains'),
        ),
      ).toBe(true);
    });

    it("fails permanently with the server's answer when it refuses an address, and mails only that one on a redrive", async () => {
      starttls.refuseRecipient.set(
        'ops@example.com',
        '550 5.1.1 <ops@example.com>: Recipient address rejected: User unknown',
      );
      const failed = event('team-bounce', 'failed');
      await ingestEvent(failed, h.runtime.ingest);
      const dlqBefore = await h.dlqDepth();

      await h.drainDispatch();

      const delivery = await h.store.getDelivery(failed.deploymentId, 'team');
      expect(delivery).toMatchObject({
        state: 'failed',
        refs: { mailedSeq: '1', mailedTo: 'team@example.com' },
      });
      expect(delivery?.lastError).toBe(
        'the SMTP server refused ops@example.com: 550 5.1.1 <ops@example.com>: Recipient address rejected: User unknown (mailed team@example.com)',
      );
      expect(await h.dlqDepth()).toBe(dlqBefore + 1);

      // The address is fixed and the message redriven: only the refused recipient gets it now.
      starttls.refuseRecipient.delete('ops@example.com');
      await h.queue.enqueue([{ v: 1, deploymentId: failed.deploymentId, seq: 1, target: 'team' }]);
      await h.drainDispatch();
      expect(mailsOf(starttls, 'team-bounce').map((m) => m.to)).toEqual([
        ['team@example.com'],
        ['ops@example.com'],
      ]);
      expect(await h.store.getDelivery(failed.deploymentId, 'team')).toMatchObject({ state: 'delivered' });
    });

    it('retries a 4xx answer to an address (a busy mailbox) and mails only that address on the retry', async () => {
      starttls.refuseRecipient.set('team@example.com', '450 4.2.1 Mailbox busy, try again later');
      const started = event('team-busy', 'in_progress');
      await ingestEvent(started, h.runtime.ingest);

      await h.drainDispatch();
      const delivery = await h.store.getDelivery(started.deploymentId, 'team');
      expect(delivery).toMatchObject({ state: 'retrying', refs: { mailedTo: 'ops@example.com' } });
      expect(delivery?.lastError).toContain('450 4.2.1 Mailbox busy');

      starttls.refuseRecipient.delete('team@example.com');
      await h.queue.enqueue([{ v: 1, deploymentId: started.deploymentId, seq: 1, target: 'team' }]);
      await h.drainDispatch();
      expect(mailsOf(starttls, 'team-busy').map((m) => m.to)).toEqual([
        ['ops@example.com'],
        ['team@example.com'],
      ]);
    });

    it('retries when the server answers 421 to MAIL FROM', async () => {
      starttls.refuseNextMail.push('421 4.3.2 Service not available, closing transmission channel');
      const started = event('team-421', 'in_progress');
      await ingestEvent(started, h.runtime.ingest);

      await h.drainDispatch();

      const delivery = await h.store.getDelivery(started.deploymentId, 'team');
      expect(delivery?.state).toBe('retrying');
      expect(delivery?.lastError).toContain('421 4.3.2 Service not available');
      expect(mailsOf(starttls, 'team-421')).toHaveLength(0);
    });

    it('speaks TLS from the first byte to an SMTPS server', async () => {
      await ingestEvent(event('smtps-one', 'succeeded'), h.runtime.ingest);
      await h.drainDispatch();

      expect(mailsOf(smtps, 'smtps-one')).toMatchObject([
        { secure: true, user: 'shipcast', to: ['team@example.com'] },
      ]);
    });

    it('never sends the password to a server that does not offer STARTTLS', async () => {
      const started = event('cleartext-one', 'in_progress');
      await ingestEvent(started, h.runtime.ingest);

      await h.drainDispatch();

      expect(plaintext.logins).toEqual([]);
      expect(plaintext.messages).toEqual([]);
      const delivery = await h.store.getDelivery(started.deploymentId, 'noStartTls');
      expect(delivery?.state).toBe('failed');
      expect(delivery?.lastError).toContain('the server offers no STARTTLS');
    });

    it('fails permanently on a certificate it cannot trust, saying which setting to look at', async () => {
      const started = event('untrusted-one', 'in_progress');
      await ingestEvent(started, h.runtime.ingest);

      await h.drainDispatch();

      const delivery = await h.store.getDelivery(started.deploymentId, 'untrusted');
      expect(delivery?.state).toBe('failed');
      expect(delivery?.lastError).toContain('see caCertificate');
    });

    it('fails permanently on a refused login, and the password shows nowhere', async () => {
      const started = event('login-wrong', 'in_progress');
      await ingestEvent(started, h.runtime.ingest);

      await h.drainDispatch();

      const delivery = await h.store.getDelivery(started.deploymentId, 'wrongLogin');
      expect(delivery?.state).toBe('failed');
      expect(delivery?.lastError).toContain('535');
      expect(delivery?.lastError).toContain('check the SMTP username and password');
      const everything = [...h.logs.lines, JSON.stringify(delivery)].join('\n');
      for (const secret of [
        SMTP_PASSWORD,
        WRONG_PASSWORD,
        Buffer.from(`\u0000shipcast\u0000${WRONG_PASSWORD}`).toString('base64'),
        Buffer.from(WRONG_PASSWORD).toString('base64'),
      ]) {
        expect(everything).not.toContain(secret);
      }
    });
    it('masks the AUTH PLAIN and AUTH LOGIN forms of the password once it has logged in', async () => {
      const started = event('team-auth-forms', 'in_progress');
      await ingestEvent(started, h.runtime.ingest);
      await h.drainDispatch();

      const plain = Buffer.from(`\u0000shipcast\u0000${SMTP_PASSWORD}`).toString('base64');
      const login = Buffer.from(SMTP_PASSWORD).toString('base64');
      const masked = maskSecrets(`AUTH PLAIN ${plain} / ${login}`);
      expect(masked).not.toContain(plain);
      expect(masked).not.toContain(login);
    });
  });

  describe('through Amazon SES', () => {
    it('gives up at once when there are no AWS credentials to sign with', async () => {
      const noCredentials = new SesV2Sender({
        credentials: async () => {
          // What the SDK's default chain throws when no provider has credentials.
          throw Object.assign(new Error('Could not load credentials from any providers'), {
            name: 'CredentialsProviderError',
          });
        },
      });

      const failure = await noCredentials
        .send(
          {
            from: 'deploys@example.com',
            to: ['oncall@corp.example'],
            subject: 's',
            text: 't',
            html: '<p>t</p>',
          },
          { region: 'eu-west-1', endpoint: ses.url },
        )
        .catch((error: unknown) => error);

      expect(failure).toBeInstanceOf(PermanentDeliveryError);
      expect((failure as Error).message).toContain('no AWS credentials');
    });

    it('sends one SESv2 SendEmail per transition, signed, with the text and HTML parts', async () => {
      await ingestEvent(event('ses-flow', 'in_progress'), h.runtime.ingest);
      await h.drainDispatch();
      await ingestEvent(event('ses-flow', 'succeeded'), h.runtime.ingest);
      await h.drainDispatch();

      const sent = ses.sent.filter((s) =>
        s.body.Content?.Simple?.Body?.Text?.Data?.includes('Service: ses-flow\n'),
      );
      expect(sent).toHaveLength(2);
      expect(sent[1]).toMatchObject({
        accessKeyId: ACCESS_KEY_ID,
        region: 'eu-west-1',
        body: {
          FromEmailAddress: 'Shipcast <deploys@example.com>',
          Destination: { ToAddresses: ['oncall@corp.example'] },
          ReplyToAddresses: ['platform@example.com'],
          Content: {
            Simple: {
              Subject: { Data: '[Shipcast] ses-flow 1.4.2 → production succeeded', Charset: 'UTF-8' },
              Body: { Html: { Charset: 'UTF-8' } },
            },
          },
        },
      });
      expect(sent[1]?.body.Content?.Simple?.Body?.Html?.Data).toContain('<td>ses-flow</td>');
    });

    it('retries when SES throttles (429 TooManyRequestsException)', async () => {
      ses.throttleNext(1);
      const started = event('ses-throttled', 'in_progress');
      await ingestEvent(started, h.runtime.ingest);

      await h.drainDispatch();

      const delivery = await h.store.getDelivery(started.deploymentId, 'ses');
      expect(delivery?.state).toBe('retrying');
      expect(delivery?.lastError).toBe(
        'Amazon SES did not take the message (TooManyRequestsException, 429: Maximum sending rate exceeded.)',
      );
      await h.queue.enqueue([{ v: 1, deploymentId: started.deploymentId, seq: 1, target: 'ses' }]);
      await h.drainDispatch();
      expect(await h.store.getDelivery(started.deploymentId, 'ses')).toMatchObject({ state: 'delivered' });
    });

    it("fails permanently with SES's MessageRejected when the sandbox refuses a recipient", async () => {
      const started = event('sandbox-one', 'succeeded');
      await ingestEvent(started, h.runtime.ingest);

      await h.drainDispatch();

      const delivery = await h.store.getDelivery(started.deploymentId, 'sesSandboxed');
      expect(delivery?.state).toBe('failed');
      expect(delivery?.lastError).toBe(
        'Amazon SES refused the message (MessageRejected, 400: Email address is not verified. The following identities failed the check in region EU-WEST-1: someone@elsewhere.example)',
      );
    });
  });

  describe('config', () => {
    const config = (target: Record<string, unknown>) => ({
      api: { tokens: [{ name: 'ci', secret: 'api-token' }] },
      targets: {
        mail: {
          type: 'email',
          from: 'deploys@example.com',
          to: ['team@example.com'],
          transport: { type: 'smtp', host: 'smtp.example.com' },
          ...target,
        },
      },
      routes: [],
    });

    it('rejects header injection, a password without TLS and a half login, naming each field', () => {
      expect(() => parseConfig(config({ from: 'Shipcast <a@example.com>\r\nBcc: x@evil.example' }))).toThrow(
        /targets\.mail\.from/,
      );
      expect(() =>
        parseConfig(
          config({
            transport: { type: 'smtp', host: 'smtp.example.com', tls: 'none', username: 'u', password: 'p' },
          }),
        ),
      ).toThrow(/targets\.mail\.transport\.tls: a password is never sent without TLS/);
      expect(() =>
        parseConfig(config({ transport: { type: 'smtp', host: 'smtp.example.com', username: 'u' } })),
      ).toThrow(/targets\.mail\.transport\.password: username and password go together/);
      expect(() => parseConfig(config({ subject: '{{nope}}' }))).toThrow(
        /targets\.mail\.subject: unknown placeholder/,
      );
      expect(() => parseConfig(config({ to: ['not an address'] }))).toThrow(/targets\.mail\.to\[0\]/);
    });
  });
});
