import { PermanentDeliveryError, RetryableDeliveryError } from '../errors.ts';
import { cloudEventFor, historyOf } from './event-formats.ts';
import type { EventBridgeConfig } from './eventbridge.schema.ts';
import { EVENT_BUS_ARN } from './eventbridge-bus.ts';
import { defineTarget } from './target.ts';

/** PutEvents takes at most 256 KB per entry (Source, DetailType, Detail and Resources together). */
export const EVENTBRIDGE_ENTRY_LIMIT_BYTES = 256 * 1024;

/**
 * Entry and call error codes worth another try (PutEventsResultEntry: "Retryable errors include
 * InternalFailure, ThrottlingException"; the common errors add ServiceUnavailable and InternalException).
 * https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEventsResultEntry.html
 */
const RETRYABLE_CODES = new Set([
  'InternalFailure',
  'InternalException',
  'ThrottlingException',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'RequestTimeout',
  'RequestTimeoutException',
]);

/** The ARN of a bus given by name or ARN, a name taken as the dispatcher's own account and region. */
export function eventBusArn(
  bus: string,
  own: { partition: string; region: string; account: string },
): string {
  if (EVENT_BUS_ARN.test(bus)) return bus;
  return `arn:${own.partition}:events:${own.region}:${own.account}:event-bus/${bus}`;
}

/**
 * EventBridge: each transition put on a bus as a CloudEvent of Shipcast's type (`detail-type` is its type,
 * `detail` the structured CloudEvent), or, with `format: "cdevents"`, each successful deployment as a
 * CDEvent in its CloudEvent. The CloudEvent `id` is `<deploymentId>:<seq>`, the same on every retry, for
 * subscribers to drop repeats (EventBridge assigns its own id on every put). Through the EventBus port:
 * the SDK stays in the adapter.
 */
export const eventbridgeTarget = defineTarget<EventBridgeConfig>({
  type: 'eventbridge',
  secretNames: () => [],
  lazyModules: { all: ['@aws-sdk/client-eventbridge'], needed: () => ['@aws-sdk/client-eventbridge'] },
  async send({ deployment, transition }, context) {
    const { config, eventBus, logger } = context;
    if (!eventBus) {
      throw new PermanentDeliveryError(
        'this Shipcast runtime has no EventBridge adapter: run the dispatcher built by the Shipcast construct or npm start',
      );
    }
    const format = config.format ?? 'cloudevents';
    const source = config.source ?? 'shipcast';
    const built = await cloudEventFor(format, deployment, transition, source, historyOf(context));
    if ('skipped' in built) {
      logger.info('nothing to put on the bus in this format', { format, reason: built.skipped });
      return {};
    }
    const detail = JSON.stringify(built.event);
    const size = Buffer.byteLength(source) + Buffer.byteLength(built.event.type) + Buffer.byteLength(detail);
    if (size > EVENTBRIDGE_ENTRY_LIMIT_BYTES) {
      throw new PermanentDeliveryError(
        `the event of ${deployment.id} is ${size} bytes, over EventBridge's ${EVENTBRIDGE_ENTRY_LIMIT_BYTES} per entry`,
      );
    }
    let results: Awaited<ReturnType<typeof eventBus.putEvents>>;
    try {
      results = await eventBus.putEvents(config.bus, [
        { source, detailType: built.event.type, detail, time: new Date(transition.at) },
      ]);
    } catch (error) {
      throw callError(error, config.bus);
    }
    const [result] = results;
    if (!result) throw new RetryableDeliveryError(`PutEvents to ${config.bus} answered no entry`);
    if ('errorCode' in result) {
      const message = `PutEvents to ${config.bus} failed the entry: ${result.errorCode}${
        result.errorMessage ? ` (${result.errorMessage})` : ''
      }`;
      throw RETRYABLE_CODES.has(result.errorCode)
        ? new RetryableDeliveryError(message)
        : new PermanentDeliveryError(message);
    }
    return { refs: { eventId: result.eventId, cloudEventId: built.event.id } };
  },
});

/** A failed PutEvents call as a delivery error: throttling, 5xx and connection failures retry, the rest do not. */
function callError(error: unknown, bus: string): Error {
  const { name, message, $metadata } = (error ?? {}) as {
    name?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
  };
  const status = $metadata?.httpStatusCode;
  const text = `PutEvents to ${bus} failed: ${name ?? 'Error'}${message ? `: ${message}` : ''}`;
  // No HTTP status: the call never got an answer (connection refused, reset, timeout), unless the SDK found
  // no credentials to sign it with, which no retry fixes.
  const retryable =
    name !== 'CredentialsProviderError' &&
    (status === undefined || status >= 500 || status === 429 || RETRYABLE_CODES.has(name ?? ''));
  return retryable
    ? new RetryableDeliveryError(text, undefined, { cause: error })
    : new PermanentDeliveryError(text, { cause: error });
}
