import { InvalidInputError, issuesFromZod } from '../errors.ts';
import { lazy } from '../lazy.ts';
import * as z from '../zod-mini.ts';

/**
 * SNS envelope unwrapping, kept apart from payload parsing: these functions only find the
 * `Message` string; a source parser (e.g. `parseCodeDeployMessage`) decides what it means.
 *
 * Small local schemas rather than Powertools' `SnsSchema`/`SnsSqsNotificationSchema` (which do
 * work with zod 4): those also require `UnsubscribeUrl`/`SigningCertURL` URLs, an ISO `Timestamp`
 * and `EventSource: 'aws:sns'`, none of which Shipcast uses (it does not verify signatures), and
 * rejecting a deployment event over a missing unsubscribe link would lose it for nothing.
 */

/** One SNS notification, unwrapped: the message string and the envelope facts worth logging. */
export interface SnsMessage {
  /** SNS MessageId; undefined for a raw message delivery (no envelope). Not an event identity. */
  messageId?: string;
  topicArn?: string;
  /** CodeDeploy sets e.g. `SUCCEEDED: AWS CodeDeploy d-XXXX in us-east-1 to my-app`; may be null. */
  subject?: string;
  /** The payload exactly as published (CodeDeploy: a JSON string). */
  message: string;
  /** When SNS accepted the message (ISO 8601), if the envelope says. */
  timestamp?: string;
}

// Field names differ by delivery: SQS bodies spell `SigningCertURL`/`UnsubscribeURL`, Lambda
// records `SigningCertUrl`/`UnsubscribeUrl`. Neither is needed, so neither is required.
const notificationSchema = lazy(() =>
  z.looseObject({
    Type: z.literal('Notification', {
      error: 'expected "Notification" (only notifications carry a message)',
    }),
    MessageId: z.string().check(z.minLength(1)),
    TopicArn: z.string().check(z.minLength(1)),
    Subject: z.nullish(z.string()),
    Message: z.string(),
    Timestamp: z.optional(z.string()),
  }),
);

const lambdaEventSchema = lazy(() =>
  z.looseObject({
    Records: z
      .array(
        z.looseObject({
          EventSource: z.optional(z.string()),
          Sns: notificationSchema(),
        }),
      )
      .check(z.minLength(1, 'expected at least one record')),
  }),
);

function toMessage(n: z.infer<ReturnType<typeof notificationSchema>>): SnsMessage {
  return {
    messageId: n.MessageId,
    topicArn: n.TopicArn,
    subject: n.Subject ?? undefined,
    message: n.Message,
    timestamp: n.Timestamp,
  };
}

/**
 * Unwraps the body of an SQS message that SNS delivered: the JSON `Notification` envelope.
 * A body without a `Type` field (including non-JSON text) is taken as a raw message delivery
 * (the subscription's `RawMessageDelivery` attribute): the body itself is the message, and
 * `messageId`, `topicArn`, `subject` are undefined. Any other `Type` (`SubscriptionConfirmation`,
 * …) or a malformed envelope is an InvalidInputError.
 */
export function unwrapSnsSqsBody(body: string, where: string): SnsMessage {
  if (typeof body !== 'string') {
    throw new InvalidInputError(where, [{ path: '', message: 'expected the SQS message body as a string' }]);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { message: body };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed) || !('Type' in parsed)) {
    return { message: body };
  }
  const result = notificationSchema().safeParse(parsed);
  if (!result.success) throw new InvalidInputError(where, issuesFromZod(result.error));
  return toMessage(result.data);
}

/** Unwraps every `Records[i].Sns` of the event a Lambda subscribed to an SNS topic receives. */
export function unwrapSnsLambdaEvent(event: unknown, where = 'SNS event'): SnsMessage[] {
  const result = lambdaEventSchema().safeParse(event);
  if (!result.success) {
    throw new InvalidInputError(where, issuesFromZod(result.error));
  }
  return result.data.Records.map((record) => toMessage(record.Sns));
}
