import {
  type AwsJsonAnswer,
  awsError,
  type CapturedAwsRequest,
  startAwsJsonServer,
} from './aws-json-server.ts';

/**
 * A local stand-in for Amazon EventBridge's PutEvents, speaking its wire protocol (AWS JSON 1.1,
 * `x-amz-target: AWSEvents.PutEvents`, see aws-json-server.ts), so a real EventBridgeClient can be pointed
 * at it with `endpoint`. As EventBridge (API reference, PutEvents and PutEventsResultEntry): 1 to 10
 * entries, 256 KB in all; each entry's Source, DetailType and Detail (a JSON object) are checked on their
 * own, a bad one answers its own `ErrorCode` (InvalidArgument, MalformedDetail) while the others are put;
 * `FailedEntryCount` counts them. The bus is `EventBusName`, a name (of the signing region's account) or
 * an ARN; an unknown bus fails the call with ResourceNotFoundException. A request without SigV4 is refused.
 */

/** An event the bus accepted. */
export interface PutEvent {
  eventId: string;
  bus: string;
  source: string;
  detailType: string;
  detail: Record<string, unknown>;
  time?: unknown;
}

/** What the next calls answer instead: a whole-call error, or error codes for their entries. */
export type ScriptedPutEvents =
  | { callError: AwsJsonAnswer }
  | { entryErrors: ({ code: string; message: string } | null)[] };

/** A running fake EventBridge. */
export interface EventBridgeServer {
  endpoint: string;
  requests: CapturedAwsRequest[];
  /** Events accepted, in order. */
  events: PutEvent[];
  /** Answers the next calls with these, in order; afterwards it behaves normally again. */
  script(...answers: ScriptedPutEvents[]): void;
  close(): Promise<void>;
}

/** The account a bus given by name belongs to. */
export const EVENTBRIDGE_ACCOUNT = '123456789012';

const MAX_ENTRIES = 10;
const MAX_BYTES = 256 * 1024;

/** Starts the fake on 127.0.0.1; `buses` are the ARNs of the buses that exist. */
export async function startEventBridgeServer(buses: string[]): Promise<EventBridgeServer> {
  const scripted: ScriptedPutEvents[] = [];
  let counter = 0;
  const state: Omit<EventBridgeServer, 'endpoint' | 'close'> = {
    requests: [],
    events: [],
    script: (...answers) => scripted.push(...answers),
  };
  const server = await startAwsJsonServer({
    target: 'AWSEvents.PutEvents',
    internalError: 'InternalException',
    requests: state.requests,
    operation: putEvents,
  });
  return Object.assign(state, server);

  function putEvents(body: Record<string, unknown>): AwsJsonAnswer {
    const request = state.requests.at(-1);
    if (!request?.signed) {
      return awsError('MissingAuthenticationTokenException', 'Missing Authentication Token', 403);
    }
    const region = request.region;
    const entries = body.Entries;
    if (!Array.isArray(entries) || entries.length < 1 || entries.length > MAX_ENTRIES) {
      return awsError(
        'ValidationException',
        `1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and ${MAX_ENTRIES}`,
      );
    }
    if (Buffer.byteLength(JSON.stringify(entries)) > MAX_BYTES) {
      return awsError('ValidationException', 'Total size of the entries in the request is over the limit.');
    }
    for (const entry of entries as Record<string, unknown>[]) {
      const bus = busArn(entry.EventBusName, region);
      if (!buses.includes(bus)) {
        return awsError(
          'ResourceNotFoundException',
          `Event bus ${String(entry.EventBusName)} does not exist.`,
        );
      }
    }
    const script = scripted.shift();
    if (script && 'callError' in script) return script.callError;
    const results = (entries as Record<string, unknown>[]).map((entry, index) => {
      const forced = script?.entryErrors[index];
      if (forced) return { ErrorCode: forced.code, ErrorMessage: forced.message };
      const problem = entryProblem(entry);
      if (problem) return problem;
      counter++;
      const eventId = `00000000-0000-4000-8000-${String(counter).padStart(12, '0')}`;
      state.events.push({
        eventId,
        bus: busArn(entry.EventBusName, region),
        source: entry.Source as string,
        detailType: entry.DetailType as string,
        detail: JSON.parse(entry.Detail as string),
        time: entry.Time,
      });
      return { EventId: eventId };
    });
    return {
      status: 200,
      body: { FailedEntryCount: results.filter((r) => 'ErrorCode' in r).length, Entries: results },
    };
  }
}

/** The ARN of `EventBusName` (a name is the default account's bus in the signing region; absent: `default`). */
function busArn(name: unknown, region: string | undefined): string {
  const value = typeof name === 'string' && name ? name : 'default';
  return value.startsWith('arn:')
    ? value
    : `arn:aws:events:${region ?? 'us-east-1'}:${EVENTBRIDGE_ACCOUNT}:event-bus/${value}`;
}

function entryProblem(
  entry: Record<string, unknown>,
): { ErrorCode: string; ErrorMessage: string } | undefined {
  for (const field of ['Source', 'DetailType', 'Detail']) {
    if (typeof entry[field] !== 'string' || entry[field] === '') {
      return {
        ErrorCode: 'InvalidArgument',
        ErrorMessage: `Parameter ${field} is not valid. Reason: ${field} is a required argument.`,
      };
    }
  }
  if ((entry.Source as string).startsWith('aws.')) {
    return {
      ErrorCode: 'NotAuthorizedForSourceException',
      ErrorMessage: 'Not authorized for the source.',
    };
  }
  try {
    const detail: unknown = JSON.parse(entry.Detail as string);
    if (detail === null || typeof detail !== 'object' || Array.isArray(detail))
      throw new Error('not an object');
  } catch {
    return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
  }
  return undefined;
}
