import { type CapturedRequest, type ScriptedAnswer, startTargetServer } from './target-server.ts';

/** A DORA deployment as the fake Datadog keeps it: the attributes of the latest send under its id. */
export type FakeDoraDeployment = Record<string, unknown>;

/** An event as the fake Datadog accepted it. */
export interface FakeDatadogEvent {
  id: number;
  title: string;
  text: string;
  tags: string[];
  alert_type?: string;
  aggregation_key?: string;
  date_happened?: number;
}

/** A local stand-in for Datadog's DORA deployment and v1 events intake. */
export interface DatadogServer {
  url: string;
  requests: CapturedRequest[];
  /** DORA deployments by their `id`, the latest send kept (what Datadog does with a repeated id is not documented). */
  doraDeployments: Map<string, FakeDoraDeployment>;
  /** Every DORA send accepted, in order. */
  doraSends: FakeDoraDeployment[];
  events: FakeDatadogEvent[];
  /** Answers the next requests with these (nothing is accepted), then behaves normally again. */
  script(...answers: ScriptedAnswer[]): void;
  stop(): Promise<void>;
}

/** Datadog's 429: the rate-limit headers, `X-RateLimit-Reset` being seconds until the window resets. */
export function datadogRateLimited(resetSeconds: number, name = 'dora_deployment'): ScriptedAnswer {
  return {
    status: 429,
    headers: {
      'x-ratelimit-limit': '500',
      'x-ratelimit-period': '60',
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset': String(resetSeconds),
      'x-ratelimit-name': name,
    },
    body: { errors: ['Too many requests'] },
  };
}

const jsonApiError = (detail: string): ScriptedAnswer => ({
  status: 400,
  body: { errors: [{ status: '400', title: 'Bad Request', detail }] },
});
const v1Error = (status: number, ...errors: string[]): ScriptedAnswer => ({ status, body: { errors } });

const ALERT_TYPES = ['error', 'warning', 'info', 'success', 'user_update', 'recommendation', 'snapshot'];

/**
 * Starts a fake Datadog API on 127.0.0.1 answering like `POST /api/v2/dora/deployment` (202
 * `{data: {id, type: "dora_deployment"}}`, 400 JSON:API errors for a missing service, times that are not
 * integers or end before they start, an id outside 16-128 `[A-Za-z0-9_.:-]`, a `git` without both fields,
 * custom tags not `key:value` or over 100) and `POST /api/v1/events` (202 `{status: "ok", event}`, 400
 * `{errors: [..]}` without a title or text, with a bad `alert_type` or an aggregation key over 100). A
 * missing or unknown `DD-API-KEY` answers 403 `{"errors": ["Forbidden"]}`; other paths 404. Event age
 * (≤ 18 h) is not checked: the tests' clock is not the server's.
 */
export async function startDatadogServer(options: { apiKeys: string[] }): Promise<DatadogServer> {
  const server = await startTargetServer();
  const doraDeployments = new Map<string, FakeDoraDeployment>();
  const doraSends: FakeDoraDeployment[] = [];
  const events: FakeDatadogEvent[] = [];
  let nextEvent = 7_000_000_000;
  const dora = (body: Record<string, unknown>): ScriptedAnswer => {
    const attributes = (body.data as { attributes?: Record<string, unknown> } | undefined)?.attributes;
    if (!attributes) return jsonApiError('data.attributes is required');
    if (typeof attributes.service !== 'string' || !attributes.service)
      return jsonApiError('service is required');
    const { started_at: started, finished_at: finished } = attributes;
    if (!(typeof started === 'number' && Number.isInteger(started)))
      return jsonApiError('started_at must be an integer');
    if (!(typeof finished === 'number' && Number.isInteger(finished)))
      return jsonApiError('finished_at must be an integer');
    if ((finished as number) < (started as number))
      return jsonApiError('finished_at must not be before started_at');
    const id = attributes.id;
    if (id !== undefined && (typeof id !== 'string' || !/^[A-Za-z0-9_.:-]{16,128}$/.test(id)))
      return jsonApiError('id must be 16-128 characters of [A-Za-z0-9_.:-]');
    const git = attributes.git as Record<string, unknown> | undefined;
    if (git !== undefined && (typeof git.repository_url !== 'string' || typeof git.commit_sha !== 'string'))
      return jsonApiError('git.repository_url and git.commit_sha are required');
    const tags = attributes.custom_tags;
    if (tags !== undefined) {
      if (!Array.isArray(tags) || tags.length > 100) return jsonApiError('custom_tags: at most 100 tags');
      if (!tags.every((t) => typeof t === 'string' && /^[^:]+:.+$/.test(t)))
        return jsonApiError('custom_tags must follow the key:value pattern');
    }
    const key = typeof id === 'string' ? id : `generated-${doraSends.length}`;
    doraDeployments.set(key, attributes);
    doraSends.push(attributes);
    return { status: 202, body: { data: { id: key, type: 'dora_deployment' } } };
  };
  const event = (body: Record<string, unknown>): ScriptedAnswer => {
    if (typeof body.title !== 'string' || !body.title) return v1Error(400, 'Event title is required');
    if (typeof body.text !== 'string' || !body.text) return v1Error(400, 'Event text is required');
    if (body.alert_type !== undefined && !ALERT_TYPES.includes(String(body.alert_type)))
      return v1Error(400, `Invalid alert_type: ${String(body.alert_type)}`);
    if (body.aggregation_key !== undefined && String(body.aggregation_key).length > 100)
      return v1Error(400, 'aggregation_key is longer than 100 characters');
    if (
      body.tags !== undefined &&
      !(Array.isArray(body.tags) && body.tags.every((t) => typeof t === 'string'))
    )
      return v1Error(400, 'tags must be a list of strings');
    if (body.date_happened !== undefined && !Number.isInteger(body.date_happened))
      return v1Error(400, 'date_happened must be an integer (epoch seconds)');
    const stored: FakeDatadogEvent = {
      id: nextEvent++,
      title: body.title,
      text: body.text,
      tags: (body.tags as string[] | undefined) ?? [],
      ...(typeof body.alert_type === 'string' ? { alert_type: body.alert_type } : {}),
      ...(typeof body.aggregation_key === 'string' ? { aggregation_key: body.aggregation_key } : {}),
      ...(typeof body.date_happened === 'number' ? { date_happened: body.date_happened } : {}),
    };
    events.push(stored);
    return {
      status: 202,
      body: {
        status: 'ok',
        event: {
          ...stored,
          id_str: String(stored.id),
          url: `https://app.datadoghq.com/event/event?id=${stored.id}`,
        },
      },
    };
  };
  server.fallback = (request) => {
    const route = { '/api/v2/dora/deployment': dora, '/api/v1/events': event }[request.path];
    if (request.method !== 'POST' || !route) return v1Error(404, 'Not found');
    if (!options.apiKeys.includes(String(request.headers['dd-api-key'] ?? '')))
      return v1Error(403, 'Forbidden');
    let body: Record<string, unknown>;
    try {
      body = request.json();
    } catch {
      return v1Error(400, 'Payload is not in the expected format: invalid JSON');
    }
    return route(body);
  };
  return {
    url: server.url,
    requests: server.requests,
    doraDeployments,
    doraSends,
    events,
    script: server.script,
    stop: server.stop,
  };
}
