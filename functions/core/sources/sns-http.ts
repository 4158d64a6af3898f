import { createVerify, X509Certificate } from 'node:crypto';
import type { Handler } from 'hono';
import type { RouteContext, SnsHttpPort } from '../api/context.ts';
import { parseJsonBody, readUtf8Body } from '../api/json.ts';
import { InvalidInputError, issuesFromZod } from '../errors.ts';
import { stableHash } from '../ids.ts';
import { lazy } from '../lazy.ts';
import * as z from '../zod-mini.ts';

/** SigningCertURL and SubscribeURL must be https on an SNS regional endpoint (not look-alikes, not S3). */
const SNS_HOST = /^sns\.[a-z0-9-]{4,}\.amazonaws\.com(\.cn)?$/;
const CERT_PATH = /^\/SimpleNotificationService-[A-Za-z0-9]{1,64}\.pem$/;

/**
 * The replay window: a message whose `Timestamp` is older than this (or more than SNS_MAX_SKEW_SECONDS
 * ahead of Shipcast's clock) is refused, and every MessageId accepted is remembered for this long plus
 * the skew, so a captured message can be replayed neither inside the window nor after it.
 */
export const SNS_MAX_AGE_SECONDS = 3600;
export const SNS_MAX_SKEW_SECONDS = 300;
const REPLAY_SCOPE = 'sns:message';

const envelopeSchema = lazy(() =>
  z.object({
    Type: z.enum(['Notification', 'SubscriptionConfirmation', 'UnsubscribeConfirmation']),
    MessageId: z.string().check(z.minLength(1), z.maxLength(100)),
    TopicArn: z
      .string()
      .check(
        z.regex(/^arn:aws(-[a-z]+)*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}$/, 'not an SNS topic ARN'),
      ),
    Subject: z.nullish(z.string()),
    Message: z.string(),
    Timestamp: z.string().check(z.minLength(1)),
    SignatureVersion: z.enum(['1', '2'], { error: 'SignatureVersion must be "1" or "2"' }),
    // Empty is a signature that does not verify (401), like a missing or empty signature header elsewhere.
    Signature: z.string(),
    SigningCertURL: z.string().check(z.minLength(1)),
    SubscribeURL: z.optional(z.string()),
    Token: z.optional(z.string()),
    UnsubscribeURL: z.optional(z.string()),
  }),
);
type Envelope = z.infer<ReturnType<typeof envelopeSchema>>;

/** A URL Shipcast may fetch for SNS: https, an `sns.<region>.amazonaws.com` host, no credentials or port. */
export function isSnsUrl(value: string, kind: 'certificate' | 'subscribe'): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (url.protocol !== 'https:' || url.username || url.password || url.port) return false;
  if (!SNS_HOST.test(url.hostname)) return false;
  return kind === 'certificate' ? CERT_PATH.test(url.pathname) && url.search === '' : url.pathname === '/';
}

/** The string SNS signs: the named fields as `Name\nvalue\n`, in this order, Subject only when present. */
export function stringToSign(envelope: Envelope): string {
  const fields =
    envelope.Type === 'Notification'
      ? (['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type'] as const)
      : (['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'] as const);
  let text = '';
  for (const field of fields) {
    const value = envelope[field];
    if (value === undefined || value === null) continue;
    text += `${field}\n${value}\n`;
  }
  return text;
}

/** Verifies an SNS message signature (v1 SHA1withRSA, v2 SHA256withRSA) with the certificate's public key. */
export function verifySnsSignature(envelope: Envelope, certificatePem: string): boolean {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certificatePem);
  } catch {
    return false;
  }
  const verifier = createVerify(envelope.SignatureVersion === '1' ? 'RSA-SHA1' : 'RSA-SHA256');
  verifier.update(stringToSign(envelope), 'utf8');
  try {
    return verifier.verify(certificate.publicKey, envelope.Signature, 'base64');
  } catch {
    return false;
  }
}

/** Fetches over https only, with a timeout and a size cap; the caller has validated the URL. */
const defaultPort: SnsHttpPort = {
  async fetchCertificate(url) {
    const response = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(5000) });
    if (!response.ok) throw new Error(`certificate answered ${response.status}`);
    const text = await response.text();
    if (text.length > 16_384) throw new Error('certificate too large');
    return text;
  },
  async confirmSubscription(url) {
    const response = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(5000) });
    if (!response.ok) throw new Error(`SubscribeURL answered ${response.status}`);
  },
};

const certificates = new Map<string, string>();

/**
 * How long a certificate URL whose fetch failed is not fetched again: messages citing it meanwhile are
 * refused (401) at once, so a flood of them costs no outbound request each. SNS retries its deliveries.
 */
export const CERTIFICATE_FAILURE_SECONDS = 60;
/** Certificate URL → epoch milliseconds until which a failed fetch is not repeated. */
const failedCertificates = new Map<string, number>();

/** SQS's message size limit (256 KiB). */
const MAX_QUEUED_BYTES = 256 * 1024;

/**
 * JSON for an SQS message body. SQS accepts only #x9 #xA #xD, #x20–#xD7FF, #xE000–#xFFFD and #x10000–#x10FFFF
 * (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html), so U+FFFE,
 * U+FFFF and surrogates (pairs too: some emulators refuse them) are written as JSON escapes; the JSON is
 * the same value. JSON.stringify already escapes control characters and lone surrogates.
 */
export function queueSafeJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\ud800-\udfff\ufffe\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/**
 * CodeDeploy triggers through an SNS HTTP(S) subscription (`POST /v1/hooks/sns`), an alternative to
 * SNS→SQS: every message's signature is verified against a certificate from an SNS host, its topic must be
 * on the allowlist (`sources.sns.topicArns`), its Timestamp inside the replay window and its MessageId new,
 * and a SubscriptionConfirmation is confirmed only once verified. A verified notification is forwarded, as
 * received, to the ingest queue, where the ingest function parses and enriches it like one SNS delivered
 * there itself: one path for every CodeDeploy trigger, and the API carries no CodeDeploy parser or client.
 */
export function snsHook(context: RouteContext): Handler {
  return async (c) => {
    const allowed = context.config.sources.sns?.topicArns;
    if (!allowed)
      return c.json({ error: 'not_found', message: 'SNS HTTP subscriptions are not configured' }, 404);
    const parsed = envelopeSchema().safeParse(parseJsonBody(await readUtf8Body(c.req), 'SNS message'));
    if (!parsed.success) throw new InvalidInputError('SNS message', issuesFromZod(parsed.error));
    const envelope = parsed.data;
    const headerType = c.req.header('x-amz-sns-message-type');
    if (headerType && headerType !== envelope.Type) {
      throw new InvalidInputError('SNS message', [
        { path: 'Type', message: 'does not match x-amz-sns-message-type' },
      ]);
    }
    if (!allowed.includes(envelope.TopicArn)) {
      return unauthorized(c, 'the topic is not on the allowlist (sources.sns.topicArns)');
    }
    if (!isSnsUrl(envelope.SigningCertURL, 'certificate')) {
      return unauthorized(c, 'SigningCertURL is not an Amazon SNS certificate URL');
    }
    // Timestamp and replay first: an old or replayed message costs no certificate fetch.
    const sentAt = Date.parse(envelope.Timestamp);
    const now = context.clock.now().getTime();
    if (
      Number.isNaN(sentAt) ||
      now - sentAt > SNS_MAX_AGE_SECONDS * 1000 ||
      sentAt - now > SNS_MAX_SKEW_SECONDS * 1000
    ) {
      return unauthorized(
        c,
        `the message Timestamp is outside the replay window (older than ${SNS_MAX_AGE_SECONDS} seconds, or in the future)`,
      );
    }
    // Remembered only once handled, so SNS's retry of a delivery that failed here is still handled.
    const replayKey = `${envelope.TopicArn} ${envelope.MessageId}`;
    if (await context.store.getIdempotent(REPLAY_SCOPE, replayKey)) {
      return unauthorized(c, 'this MessageId was already received (a replay)');
    }
    if (!(await verified(envelope, context.sns ?? defaultPort, context)))
      return unauthorized(c, 'the signature does not verify');
    const remember = (response: Record<string, unknown>) =>
      context.store.putIdempotent(
        REPLAY_SCOPE,
        replayKey,
        { requestHash: stableHash(envelope.Signature), response },
        SNS_MAX_AGE_SECONDS + SNS_MAX_SKEW_SECONDS,
      );

    if (envelope.Type === 'SubscriptionConfirmation') {
      if (!envelope.SubscribeURL || !isSnsUrl(envelope.SubscribeURL, 'subscribe')) {
        return unauthorized(c, 'SubscribeURL is not an Amazon SNS URL');
      }
      await (context.sns ?? defaultPort).confirmSubscription(envelope.SubscribeURL);
      context.logger.info('confirmed the SNS subscription', { topicArn: envelope.TopicArn });
      await remember({ confirmed: true });
      return c.json({ confirmed: true });
    }
    if (envelope.Type === 'UnsubscribeConfirmation') {
      context.logger.warn('the SNS subscription was removed', { topicArn: envelope.TopicArn });
      await remember({ acknowledged: true });
      return c.json({ acknowledged: true });
    }
    if (!context.ingestQueue) {
      return c.json(
        {
          error: 'unavailable',
          message: 'this Shipcast runtime has no ingest queue for SNS notifications',
        },
        503,
      );
    }
    // The ingest function parses the CodeDeploy message; untrusted JSON (not JSON, nested too deep,
    // prototype keys) is refused here already, like every other body the API takes.
    parseJsonBody(envelope.Message, 'SNS Message');
    // Re-serialized from the verified fields only: what SNS→SQS would have delivered, nothing a sender added.
    const queued = queueSafeJson(envelope);
    if (Buffer.byteLength(queued) > MAX_QUEUED_BYTES) {
      return c.json(
        {
          error: 'payload_too_large',
          message: `the notification is over ${MAX_QUEUED_BYTES} bytes once escaped for the ingest queue`,
        },
        413,
      );
    }
    await context.ingestQueue.sendSnsNotification(queued);
    const response = { queued: true, messageId: envelope.MessageId };
    await remember(response);
    return c.json(response, 202);
  };
}

async function verified(envelope: Envelope, port: SnsHttpPort, context: RouteContext): Promise<boolean> {
  const url = envelope.SigningCertURL;
  let pem = certificates.get(url);
  if (!pem) {
    const now = context.clock.now().getTime();
    if ((failedCertificates.get(url) ?? 0) > now) return false;
    try {
      pem = await port.fetchCertificate(url);
    } catch (error) {
      context.logger.warn('could not fetch the SNS signing certificate', { error: (error as Error).message });
      if (failedCertificates.size > 32) failedCertificates.clear();
      failedCertificates.set(url, now + CERTIFICATE_FAILURE_SECONDS * 1000);
      return false;
    }
    failedCertificates.delete(url);
    if (certificates.size > 32) certificates.clear();
    certificates.set(envelope.SigningCertURL, pem);
  }
  return verifySnsSignature(envelope, pem);
}

function unauthorized(c: { json: (body: unknown, status: 401) => Response }, message: string) {
  return c.json({ error: 'unauthorized', message }, 401);
}
