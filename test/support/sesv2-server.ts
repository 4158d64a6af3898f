import type { CapturedRequest, ScriptedAnswer, TargetServer } from './target-server.ts';
import { startTargetServer } from './target-server.ts';

/** A SendEmail request the fake accepted. */
export interface SesSentEmail {
  messageId: string;
  /** The access key id of the SigV4 signature. */
  accessKeyId: string;
  region: string;
  body: SendEmailBody;
}

/** The parts of the SendEmail request body the fake reads (SESv2 API reference, SendEmail "Request Syntax"). */
export interface SendEmailBody {
  FromEmailAddress?: string;
  Destination?: { ToAddresses?: string[]; CcAddresses?: string[]; BccAddresses?: string[] };
  ReplyToAddresses?: string[];
  ConfigurationSetName?: string;
  Content?: {
    Simple?: {
      Subject?: { Data?: string; Charset?: string };
      Body?: { Text?: { Data?: string; Charset?: string }; Html?: { Data?: string; Charset?: string } };
      Headers?: Array<{ Name: string; Value: string }>;
    };
  };
}

/** A local stand-in for Amazon SES's v2 API (`POST /v2/email/outbound-emails`), REST-JSON as SES speaks it. */
export interface SesV2Server extends TargetServer {
  sent: SesSentEmail[];
  /** Answers the next `count` sends with 429 TooManyRequestsException ("Maximum sending rate exceeded."). */
  throttleNext(count: number): void;
}

let messageCounter = 0;

/**
 * Starts the fake. A request must be SigV4-signed for the service `ses` with one of `accessKeyIds` (else 403
 * `UnrecognizedClientException`). The sender must be a verified identity (an address, or its domain) and,
 * with `sandbox`, so must every recipient (else 400 `MessageRejected`, SES's sandbox answer); at most 50
 * recipients; an unknown configuration set is 404 `NotFoundException`. Errors carry the error name in
 * `x-amzn-ErrorType` and `{"message"}` in the body.
 */
export async function startSesV2Server(options: {
  accessKeyIds: string[];
  verified: string[];
  sandbox?: boolean;
  configurationSets?: string[];
}): Promise<SesV2Server> {
  const server = (await startTargetServer()) as SesV2Server;
  server.sent = [];
  let throttled = 0;
  server.throttleNext = (count) => {
    throttled = count;
  };
  const error = (status: number, type: string, message: string): ScriptedAnswer => ({
    status,
    headers: { 'x-amzn-errortype': type, 'x-amzn-requestid': `req-${messageCounter}` },
    body: { message },
  });
  const verified = (address: string) => {
    const lower = address.toLowerCase();
    return options.verified.some(
      (id) => id.toLowerCase() === lower || id.toLowerCase() === lower.split('@')[1],
    );
  };

  server.fallback = (request: CapturedRequest): ScriptedAnswer => {
    if (request.method !== 'POST' || request.path !== '/v2/email/outbound-emails') {
      return error(404, 'NotFoundException', `No route for ${request.method} ${request.path}`);
    }
    const credential =
      /^AWS4-HMAC-SHA256 Credential=([^/]+)\/\d{8}\/([^/]+)\/ses\/aws4_request, SignedHeaders=[^,]+, Signature=[0-9a-f]{64}$/.exec(
        String(request.headers.authorization ?? ''),
      );
    if (!credential || !options.accessKeyIds.includes(credential[1] as string)) {
      return error(
        403,
        'UnrecognizedClientException',
        'The security token included in the request is invalid.',
      );
    }
    if (throttled > 0) {
      throttled--;
      return error(429, 'TooManyRequestsException', 'Maximum sending rate exceeded.');
    }
    let body: SendEmailBody;
    try {
      body = request.json<SendEmailBody>();
    } catch {
      return error(400, 'BadRequestException', 'The request body is not valid JSON.');
    }
    const from = /<([^>]+)>$/.exec(body.FromEmailAddress ?? '')?.[1] ?? body.FromEmailAddress ?? '';
    const to = [
      ...(body.Destination?.ToAddresses ?? []),
      ...(body.Destination?.CcAddresses ?? []),
      ...(body.Destination?.BccAddresses ?? []),
    ];
    const simple = body.Content?.Simple;
    if (!simple?.Subject?.Data || !(simple.Body?.Text?.Data || simple.Body?.Html?.Data)) {
      return error(400, 'BadRequestException', 'Simple email content requires a subject and a body.');
    }
    if (to.length === 0) return error(400, 'BadRequestException', 'Missing final recipients.');
    if (to.length > 50) return error(400, 'MessageRejected', 'Recipient count exceeds 50.');
    if (!verified(from)) {
      return error(
        400,
        'MessageRejected',
        `Email address is not verified. The following identities failed the check in region ${credential[2]?.toUpperCase()}: ${from}`,
      );
    }
    if (options.sandbox) {
      const unverified = to.filter((address) => !verified(address));
      if (unverified.length > 0) {
        return error(
          400,
          'MessageRejected',
          `Email address is not verified. The following identities failed the check in region ${credential[2]?.toUpperCase()}: ${unverified.join(', ')}`,
        );
      }
    }
    if (body.ConfigurationSetName && !(options.configurationSets ?? []).includes(body.ConfigurationSetName)) {
      return error(
        404,
        'NotFoundException',
        `Configuration set <${body.ConfigurationSetName}> does not exist.`,
      );
    }
    const messageId = `0100018e${String(++messageCounter).padStart(8, '0')}-shipcast-test-000000`;
    server.sent.push({
      messageId,
      accessKeyId: credential[1] as string,
      region: credential[2] as string,
      body,
    });
    return { status: 200, body: { MessageId: messageId } };
  };
  return server;
}
