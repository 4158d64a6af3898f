import type { EventBridgeClient, EventBridgeClientConfig } from '@aws-sdk/client-eventbridge';
import type { EventBus, EventBusEntry, EventBusEntryResult } from '../../core/ports.ts';

/** How to reach EventBridge. */
export interface EventBridgeBusOptions {
  /** Endpoint override for every region (a local stand-in in tests, `SHIPCAST_EVENTBRIDGE_ENDPOINT` locally). */
  endpoint?: string;
  /** Credentials; the SDK's default chain when absent. */
  credentials?: EventBridgeClientConfig['credentials'];
  /** Region of a bus given by name; the SDK's default (AWS_REGION in Lambda) when absent. */
  region?: string;
}

/** The region of a bus ARN (`arn:aws:events:<region>:<account>:event-bus/<name>`). */
const ARN_REGION = /^arn:aws[a-z-]*:events:([a-z0-9-]+):\d{12}:event-bus\//;

/**
 * EventBridge's PutEvents behind the EventBus port. The SDK is imported on the first put, so a dispatcher
 * without an `eventbridge` target never loads it; one client per region (a bus ARN names its region).
 */
export class EventBridgeBus implements EventBus {
  private readonly clients = new Map<string, Promise<EventBridgeClient>>();

  constructor(private readonly options: EventBridgeBusOptions = {}) {}

  async putEvents(bus: string, entries: EventBusEntry[]): Promise<EventBusEntryResult[]> {
    const { PutEventsCommand } = await import('@aws-sdk/client-eventbridge');
    const client = await this.client(ARN_REGION.exec(bus)?.[1] ?? this.options.region ?? '');
    const output = await client.send(
      new PutEventsCommand({
        Entries: entries.map((entry) => ({
          EventBusName: bus,
          Source: entry.source,
          DetailType: entry.detailType,
          Detail: entry.detail,
          ...(entry.time ? { Time: entry.time } : {}),
        })),
      }),
    );
    // One result per entry, in order (PutEvents: "The response Entries array always includes the same number
    // of entries as the request array").
    return entries.map((_, index): EventBusEntryResult => {
      const result = output.Entries?.[index];
      if (result?.EventId) return { eventId: result.EventId };
      return {
        errorCode: result?.ErrorCode ?? 'InternalFailure',
        ...(result?.ErrorMessage ? { errorMessage: result.ErrorMessage } : {}),
      };
    });
  }

  /** The client of a region ('' for the SDK's default), created on first use and kept. */
  private client(region: string): Promise<EventBridgeClient> {
    let client = this.clients.get(region);
    if (!client) {
      client = import('@aws-sdk/client-eventbridge').then(
        ({ EventBridgeClient }) =>
          new EventBridgeClient({
            // Retries go through the dispatch queue (with the backoff and the circuit), never a sleep here.
            maxAttempts: 1,
            ...(region ? { region } : {}),
            ...(this.options.endpoint ? { endpoint: this.options.endpoint } : {}),
            ...(this.options.credentials ? { credentials: this.options.credentials } : {}),
          }),
      );
      this.clients.set(region, client);
    }
    return client;
  }
}
