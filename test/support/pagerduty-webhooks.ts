import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A local stand-in for PagerDuty's V3 webhook deliveries: it keeps incidents as PagerDuty does (id, number,
 * status, urgency, priority, service), builds each event's payload in the documented shape (the documented
 * example in test/fixtures/pagerduty/incident/priority_updated.json, with the incident's current state),
 * signs the exact bytes it sends with every signing secret it holds (`v1=<hex HMAC-SHA256>`, comma-separated
 * while a secret is rotated), and POSTs them over HTTP to a receiver URL (Shipcast's local mode).
 *
 * Delivery as PagerDuty's docs describe it (github.com/PagerDuty/developer-docs, docs/webhooks/02-Behavior.md):
 * one event per request; `X-Webhook-Id` unique per webhook and repeated on every attempt; a 5xx, a 429 or a
 * failed connection is retried, up to 5 attempts in all; any other 4xx drops the webhook without a retry.
 * PagerDuty spaces its retries over about 20 minutes; this stand-in retries at once (tests do not wait).
 */

type Json = Record<string, unknown>;

/** PagerDuty's documented example delivery, the template of every incident event built here. */
const TEMPLATE: Json = JSON.parse(
  readFileSync(
    join(import.meta.dirname, '..', 'fixtures', 'pagerduty', 'incident', 'priority_updated.json'),
    'utf8',
  ),
);

/** Ids of incidents, events and webhooks, unique across every stand-in of a test file (as PagerDuty's are). */
let ids = 0;

/** Attempts PagerDuty makes at one webhook (the first and 4 retries). */
export const PAGERDUTY_MAX_ATTEMPTS = 5;

/** An incident as the stand-in keeps it. */
export interface FakeIncident {
  id: string;
  number: number;
  title: string;
  status: 'triggered' | 'acknowledged' | 'resolved';
  urgency: 'high' | 'low';
  /** The priority's name (`P1`…), or null for an incident without a priority. */
  priority: string | null;
  service: { id: string; summary: string };
  createdAt: string;
}

/** One webhook: what was sent (the same on every attempt) and how each attempt was answered. */
export interface FakeDelivery {
  webhookId: string;
  eventType: string;
  /** The PagerDuty incident an incident event is about. */
  incidentId?: string;
  body: string;
  headers: Record<string, string>;
  /** Each attempt's HTTP status, or 0 when the connection failed. */
  attempts: number[];
  /** `delivered` (2xx), `dropped` (a 4xx other than 429: no retry) or `failed` (every attempt failed). */
  outcome: 'delivered' | 'dropped' | 'failed';
  /** The last answer's status and JSON body (undefined when it was not JSON). */
  status: number;
  answer: Record<string, unknown> | undefined;
}

/** The `X-PagerDuty-Signature` value of `body` under each secret. */
export function pagerDutySignature(body: string | Uint8Array, secrets: string[]): string {
  return secrets.map((secret) => `v1=${createHmac('sha256', secret).update(body).digest('hex')}`).join(',');
}

/** Options of the stand-in. */
export interface FakePagerDutyOptions {
  /** Where the webhook subscription delivers (e.g. `${local.apiUrl}/v1/hooks/pagerduty`). */
  url: string;
  /** The subscription's signing secret. */
  secret: string;
  /** The webhook subscription's id (sent in `X-Webhook-Subscription`). */
  subscriptionId?: string;
}

/** PagerDuty's side of a V3 webhook subscription. */
export class FakePagerDuty {
  readonly deliveries: FakeDelivery[] = [];
  private readonly incidents = new Map<string, FakeIncident>();
  private secrets: string[];

  constructor(private readonly options: FakePagerDutyOptions) {
    this.secrets = [options.secret];
  }

  /** Starts rotating the signing secret: deliveries carry a signature under each (old first). */
  rotateSecret(next: string): void {
    this.secrets = [this.secrets[this.secrets.length - 1] as string, next];
  }

  /** The incident as PagerDuty holds it now. */
  incident(id: string): FakeIncident {
    const incident = this.incidents.get(id);
    if (!incident) throw new Error(`the fake PagerDuty has no incident ${id}`);
    return incident;
  }

  /** Opens an incident on a service and delivers `incident.triggered` (occurred when it was created). */
  async trigger(
    incident: Partial<Omit<FakeIncident, 'status'>> & Pick<FakeIncident, 'title' | 'service' | 'createdAt'>,
  ): Promise<FakeDelivery> {
    const n = this.next();
    const opened: FakeIncident = {
      id: `Q${String(n).padStart(6, '0')}PD`,
      number: n,
      urgency: 'high',
      priority: null,
      ...incident,
      status: 'triggered',
    };
    this.incidents.set(opened.id, opened);
    return this.event('incident.triggered', opened.id, opened.createdAt);
  }

  /** Acknowledges the incident and delivers `incident.acknowledged`. */
  acknowledge(id: string, at: string): Promise<FakeDelivery> {
    this.incident(id).status = 'acknowledged';
    return this.event('incident.acknowledged', id, at);
  }

  /** Resolves the incident and delivers `incident.resolved`. */
  resolve(id: string, at: string): Promise<FakeDelivery> {
    this.incident(id).status = 'resolved';
    return this.event('incident.resolved', id, at);
  }

  /** Reopens a resolved incident (it is triggered again) and delivers `incident.reopened`. */
  reopen(id: string, at: string): Promise<FakeDelivery> {
    this.incident(id).status = 'triggered';
    return this.event('incident.reopened', id, at);
  }

  /** Changes the incident's priority and delivers `incident.priority_updated`. */
  setPriority(id: string, priority: string | null, at: string): Promise<FakeDelivery> {
    this.incident(id).priority = priority;
    return this.event('incident.priority_updated', id, at);
  }

  /** Delivers an incident event of the given type with the incident's current state as its data. */
  event(eventType: string, id: string, at: string): Promise<FakeDelivery> {
    return this.deliver(this.payload(eventType, at, incidentData(this.incident(id))));
  }

  /** Delivers any payload as a new webhook (its own X-Webhook-Id), signed, with PagerDuty's retries. */
  async deliver(payload: Json | string): Promise<FakeDelivery> {
    const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
    const event = typeof payload === 'string' ? undefined : (payload.event as Json | undefined);
    const incidentId = (event?.data as Json | undefined)?.id;
    const delivery: FakeDelivery = {
      webhookId: `00000000-0000-4000-8000-${String(this.next()).padStart(12, '0')}`,
      eventType: String(event?.event_type ?? ''),
      ...(event?.resource_type === 'incident' && typeof incidentId === 'string' ? { incidentId } : {}),
      body,
      headers: {
        'content-type': 'application/json; charset=utf-8',
        'user-agent': 'PagerDuty-Webhook/V3.0',
        'x-pagerduty-signature': pagerDutySignature(body, this.secrets),
        'x-webhook-subscription': this.options.subscriptionId ?? 'PSUB000',
      },
      attempts: [],
      outcome: 'failed',
      status: 0,
      answer: undefined,
    };
    delivery.headers['x-webhook-id'] = delivery.webhookId;
    this.deliveries.push(delivery);
    return this.attempt(delivery);
  }

  /** Sends a webhook again exactly as before (same X-Webhook-Id, body and signature): at-least-once delivery. */
  redeliver(delivery: FakeDelivery): Promise<FakeDelivery> {
    const again: FakeDelivery = {
      ...delivery,
      attempts: [],
      outcome: 'failed',
      status: 0,
      answer: undefined,
    };
    this.deliveries.push(again);
    return this.attempt(again);
  }

  /** A V3 envelope around `data`, with a new event id. */
  payload(eventType: string, occurredAt: string, data: Json): Json {
    const template = TEMPLATE.event as Json;
    return {
      event: {
        ...template,
        id: `01PD${String(this.next()).padStart(22, '0')}`,
        event_type: eventType,
        resource_type: eventType.split('.')[0],
        occurred_at: occurredAt,
        data,
      },
    };
  }

  private async attempt(delivery: FakeDelivery): Promise<FakeDelivery> {
    for (let attempt = 1; attempt <= PAGERDUTY_MAX_ATTEMPTS; attempt++) {
      let status = 0;
      try {
        const response = await fetch(this.options.url, {
          method: 'POST',
          headers: delivery.headers,
          body: delivery.body,
          signal: AbortSignal.timeout(10_000),
        });
        status = response.status;
        const text = await response.text();
        delivery.answer = parsed(text);
      } catch {
        delivery.answer = undefined;
      }
      delivery.attempts.push(status);
      delivery.status = status;
      if (status >= 200 && status < 300) {
        delivery.outcome = 'delivered';
        return delivery;
      }
      if (status >= 400 && status < 500 && status !== 429) {
        delivery.outcome = 'dropped';
        return delivery;
      }
    }
    delivery.outcome = 'failed';
    return delivery;
  }

  private next(): number {
    ids += 1;
    return ids;
  }
}

/** The `incident` data of a V3 event: the documented example's shape with this incident's state. */
export function incidentData(incident: FakeIncident): Json {
  const template = (TEMPLATE.event as Json).data as Json;
  const account = 'https://acme.pagerduty.com';
  return {
    ...template,
    id: incident.id,
    self: `https://api.pagerduty.com/incidents/${incident.id}`,
    html_url: `${account}/incidents/${incident.id}`,
    number: incident.number,
    status: incident.status,
    incident_key: `key-${incident.id}`,
    created_at: incident.createdAt,
    title: incident.title,
    service: {
      html_url: `${account}/services/${incident.service.id}`,
      id: incident.service.id,
      self: `https://api.pagerduty.com/services/${incident.service.id}`,
      summary: incident.service.summary,
      type: 'service_reference',
    },
    priority: incident.priority
      ? {
          ...(template.priority as Json),
          summary: incident.priority,
        }
      : null,
    urgency: incident.urgency,
    resolve_reason: null,
  };
}

function parsed(text: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
