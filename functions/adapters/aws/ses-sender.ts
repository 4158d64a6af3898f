import type { SESv2Client, SESv2ClientConfig } from '@aws-sdk/client-sesv2';
import { PermanentDeliveryError, RetryableDeliveryError } from '../../core/errors.ts';
import type { SesEmail, SesEndpoint, SesSender } from '../../core/ports.ts';
import { maskSecrets } from '../../core/telemetry.ts';

/**
 * SES answers a send may be retried after (SESv2 SendEmail errors): throttling (`TooManyRequestsException`, 429),
 * a sending quota reached (`LimitExceededException`) and SES's own failures (5xx).
 */
const RETRYABLE = new Set([
  'TooManyRequestsException',
  'LimitExceededException',
  'ThrottlingException',
  'InternalFailure',
  'ServiceUnavailable',
]);

/**
 * Amazon SES through the SESv2 API (`POST /v2/email/outbound-emails`). The SDK is imported on the first send only,
 * and makes one attempt: a throttled or failed send goes back to the queue, it never sleeps in the function.
 */
export class SesV2Sender implements SesSender {
  private readonly clients = new Map<string, Promise<SESv2Client>>();

  constructor(private readonly options: { credentials?: SESv2ClientConfig['credentials'] } = {}) {}

  async send(email: SesEmail, where: SesEndpoint): Promise<{ messageId?: string }> {
    const { SendEmailCommand } = await import('@aws-sdk/client-sesv2');
    const client = await this.clientFor(where);
    try {
      const answer = await client.send(
        new SendEmailCommand({
          FromEmailAddress: email.from,
          Destination: { ToAddresses: email.to },
          ...(email.replyTo ? { ReplyToAddresses: email.replyTo } : {}),
          ...(email.configurationSet ? { ConfigurationSetName: email.configurationSet } : {}),
          Content: {
            Simple: {
              Subject: { Data: email.subject, Charset: 'UTF-8' },
              Body: {
                Text: { Data: email.text, Charset: 'UTF-8' },
                Html: { Data: email.html, Charset: 'UTF-8' },
              },
              ...(email.headers
                ? { Headers: email.headers.map((h) => ({ Name: h.name, Value: h.value })) }
                : {}),
            },
          },
        }),
      );
      return { messageId: answer.MessageId };
    } catch (error) {
      throw sesFailure(error);
    }
  }

  private clientFor(where: SesEndpoint): Promise<SESv2Client> {
    const key = `${where.region ?? ''} ${where.endpoint ?? ''} ${where.timeoutMs ?? ''}`;
    let client = this.clients.get(key);
    if (!client) {
      client = import('@aws-sdk/client-sesv2').then(
        ({ SESv2Client }) =>
          new SESv2Client({
            ...(where.region ? { region: where.region } : {}),
            ...(where.endpoint ? { endpoint: where.endpoint } : {}),
            ...(this.options.credentials ? { credentials: this.options.credentials } : {}),
            maxAttempts: 1,
            requestHandler: {
              requestTimeout: where.timeoutMs ?? 10_000,
              connectionTimeout: where.timeoutMs ?? 10_000,
            },
          }),
      );
      this.clients.set(key, client);
    }
    return client;
  }
}

/** SES's verdict as a delivery error: its error name, HTTP status and message. */
function sesFailure(error: unknown): Error {
  const e = error as {
    name?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
    $retryable?: unknown;
  };
  const status = e.$metadata?.httpStatusCode;
  if (/region is missing/i.test(e.message ?? '')) {
    return new PermanentDeliveryError('Amazon SES: no region to send from (set transport.region)', {
      cause: error,
    });
  }
  const reason = maskSecrets(
    `${e.name ?? 'Error'}${status ? `, ${status}` : ''}: ${e.message ?? String(error)}`,
  );
  // No credentials to sign with (the SDK's chain found none or could not load them): no retry fixes that.
  if (e.name === 'CredentialsProviderError') {
    return new PermanentDeliveryError(
      `Amazon SES: no AWS credentials to sign the request (${reason}); give the function a role or credentials`,
      { cause: error },
    );
  }
  if (
    status === undefined ||
    status === 429 ||
    status >= 500 ||
    RETRYABLE.has(e.name ?? '') ||
    e.$retryable
  ) {
    return new RetryableDeliveryError(`Amazon SES did not take the message (${reason})`, undefined, {
      cause: error,
    });
  }
  return new PermanentDeliveryError(`Amazon SES refused the message (${reason})`, { cause: error });
}
