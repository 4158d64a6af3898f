import type { SNSEvent, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { InvalidInputError } from '../core/errors.ts';
import { type BatchRecords, batchRecords, enrichEvents, ingestEvent } from '../core/ingest.ts';
import type { DeploymentEvent } from '../core/schema.ts';
import { parseCodeDeployMessage } from '../core/sources/codedeploy.ts';
import {
  eventBridgeToTriggerMessage,
  isCodeDeployEventBridgeEvent,
} from '../core/sources/codedeploy-eventbridge.ts';
import { type SnsMessage, unwrapSnsLambdaEvent, unwrapSnsSqsBody } from '../core/sources/sns.ts';
import type { Runtime } from './runtime.ts';

/**
 * The ingest function: CodeDeploy trigger messages as SNS→SQS bodies, or CodeDeploy's EventBridge events as
 * SQS bodies (partial batch failures reported), or as SNS→Lambda records (any failure fails the invocation,
 * so Lambda retries it).
 */
export function createIngestHandler(runtime: () => Promise<Runtime>) {
  return async (event: SQSEvent | SNSEvent): Promise<SQSBatchResponse | undefined> => {
    const { ingest } = await runtime();
    const receivedAt = ingest.clock.now().toISOString();
    const records = event.Records ?? [];
    if (records.length > 0 && 'Sns' in (records[0] as object)) {
      // Lambda retries a failed SNS invocation whole; ingest is idempotent, so good records are only
      // recorded once while a bad one is rejected again and finally lands in the function's DLQ.
      const messages = unwrapSnsLambdaEvent(event, 'SNS event');
      const events: DeploymentEvent[] = [];
      const rejected: string[] = [];
      messages.forEach((m, i) => {
        try {
          events.push(parse(m, receivedAt, `Records[${i}].Sns.Message`));
        } catch (error) {
          rejected.push((error as Error).message);
        }
      });
      const seen = batchRecords();
      await safeEnrich(events, runtime, seen);
      for (const e of events) await ingestEvent(e, ingest, {}, seen);
      if (rejected.length > 0)
        throw new InvalidInputError(
          'SNS event',
          rejected.map((message) => ({ path: '', message })),
        );
      return undefined;
    }

    const failures: SQSBatchResponse['batchItemFailures'] = [];
    const parsed: { messageId: string; event: DeploymentEvent }[] = [];
    for (const record of (event as SQSEvent).Records) {
      try {
        const where = `SQS message ${record.messageId}`;
        parsed.push({
          messageId: record.messageId,
          event: parse(unwrapSnsSqsBody(record.body, where), receivedAt, `${where} Message`),
        });
      } catch (error) {
        // Left on the queue: after the queue's maxReceiveCount it lands in the ingest DLQ, kept for a human.
        ingest.logger.error('ingest message rejected', {
          queueMessageId: record.messageId,
          error: error instanceof InvalidInputError ? error.message : (error as Error),
        });
        failures.push({ itemIdentifier: record.messageId });
      }
    }
    // One read per deployment per batch: a fleet's instance events come in batches of one deployment's.
    const seen = batchRecords();
    await safeEnrich(
      parsed.map((p) => p.event),
      runtime,
      seen,
    );
    const one = async ({ messageId, event: deploymentEvent }: (typeof parsed)[number]) => {
      try {
        const result = await ingestEvent(deploymentEvent, ingest, {}, seen);
        ingest.logger.info('ingested', { queueMessageId: messageId, ...result });
      } catch (error) {
        ingest.logger.error('ingest failed; the message will be received again', {
          queueMessageId: messageId,
          eventId: deploymentEvent.eventId,
          deploymentId: deploymentEvent.deploymentId,
          error: error as Error,
        });
        failures.push({ itemIdentifier: messageId });
      }
    };
    for (const run of instanceRuns(parsed)) {
      // A run of one deployment's instance events: the first may change the record (the first instance
      // makes the deployment in_progress); after it the others change nothing but their own history items,
      // so they are written at once. A record write among them is still conditional on its revision.
      const [first, ...rest] = run;
      await one(first as (typeof parsed)[number]);
      await Promise.all(rest.map(one));
    }
    return { batchItemFailures: failures };
  };
}

/** The batch in order, consecutive instance events of one deployment grouped; any other event alone. */
function instanceRuns<T extends { event: DeploymentEvent }>(items: T[]): T[][] {
  const runs: T[][] = [];
  for (const item of items) {
    const last = runs.at(-1)?.at(-1);
    const joins =
      last !== undefined &&
      item.event.kind === 'instance' &&
      last.event.kind === 'instance' &&
      last.event.deploymentId === item.event.deploymentId;
    if (joins) runs.at(-1)?.push(item);
    else runs.push([item]);
  }
  return runs;
}

function parse(message: SnsMessage, receivedAt: string, where: string): DeploymentEvent {
  // An EventBridge rule delivers CodeDeploy's events to the queue as they are (no SNS envelope).
  if (message.messageId === undefined && message.message.includes('aws.codedeploy')) {
    let body: unknown;
    try {
      body = JSON.parse(message.message);
    } catch {
      body = undefined;
    }
    if (isCodeDeployEventBridgeEvent(body)) {
      return parseCodeDeployMessage(eventBridgeToTriggerMessage(body, where), { receivedAt, where });
    }
  }
  return parseCodeDeployMessage(message.message, { receivedAt, where });
}

/** Enrichment never costs an event: if it throws, the events go in as they are. */
async function safeEnrich(events: DeploymentEvent[], runtime: () => Promise<Runtime>, seen: BatchRecords) {
  const { ingest } = await runtime();
  try {
    await enrichEvents(events, ingest, seen);
  } catch (error) {
    ingest.logger.warn('enrichment skipped', { error: error as Error });
  }
}
