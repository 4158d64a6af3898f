import {
  type CapturedRequest,
  type ScriptedAnswer,
  startTargetServer,
  type TargetServer,
} from './target-server.ts';

/** A marker as the fake Honeycomb keeps it. */
export interface FakeMarker {
  id: string;
  dataset: string;
  start_time: number;
  end_time?: number;
  message?: string;
  type?: string;
  url?: string;
  created_at: string;
  updated_at: string;
}

/** A local stand-in for Honeycomb's Markers API. */
export interface HoneycombServer {
  url: string;
  requests: CapturedRequest[];
  /** Markers by id. */
  markers: Map<string, FakeMarker>;
  /** Answers the next requests with these, then behaves normally again. */
  script(...answers: ScriptedAnswer[]): void;
  /** Creates the next `count` markers asked for but resets the connection instead of answering. */
  loseCreateAnswers(count: number): void;
  stop(): Promise<void>;
}

type Answer = { status: number; body?: unknown; headers?: Record<string, string> };

const MARKER_PATH = /^\/1\/markers\/([^/?]+)(?:\/([^/?]+))?$/;
const FIELDS = {
  start_time: 'integer',
  end_time: 'integer',
  message: 'string',
  type: 'string',
  url: 'string',
};

/**
 * Starts a fake Honeycomb on 127.0.0.1, answering as the Markers API documents
 * (https://docs.honeycomb.io/api/markers/): `POST /1/markers/{dataset}` 201 with the marker and its 6-hex
 * `id` (start_time defaults to now), `PUT /1/markers/{dataset}/{id}` 200 with the marker, both only with an
 * `X-Honeycomb-Team` key it knows, and `GET /1/markers/{dataset}` 200 with the dataset's markers as a list (401 `{"error": …}` otherwise); 404 for a dataset the key's environment
 * does not have (`__all__` is every environment's) or an unknown marker; 400 for a field of the wrong type.
 */
export async function startHoneycombServer(options: {
  /** API key → the datasets of its environment. */
  keys: Record<string, string[]>;
}): Promise<HoneycombServer> {
  const server: TargetServer = await startTargetServer();
  const markers = new Map<string, FakeMarker>();
  let counter = 0;
  let lost = 0;
  server.fallback = (request) => {
    const answered = answer(request);
    if (request.method === 'POST' && answered.status === 201 && lost > 0) {
      lost--;
      return { reset: true };
    }
    return answered;
  };

  function answer(request: CapturedRequest): Answer {
    const key = String(request.headers['x-honeycomb-team'] ?? '');
    const datasets = options.keys[key];
    if (!datasets) return { status: 401, body: { error: 'unknown API key - check your credentials' } };
    const match = MARKER_PATH.exec(request.path);
    if (!match) return { status: 404, body: { error: 'not found' } };
    const dataset = decodeURIComponent(match[1] as string);
    const id = match[2] ? decodeURIComponent(match[2]) : undefined;
    if (dataset !== '__all__' && !datasets.includes(dataset)) {
      return { status: 404, body: { error: 'dataset not found' } };
    }
    if (request.method === 'GET' && !id) {
      const listed = [...markers.values()].filter((m) => m.dataset === dataset).map(publicMarker);
      return { status: 200, body: listed };
    }
    let body: Record<string, unknown>;
    try {
      body = request.json<Record<string, unknown>>();
    } catch {
      return { status: 400, body: { error: 'request body should be a JSON object' } };
    }
    for (const [field, type] of Object.entries(FIELDS)) {
      const value = body[field];
      if (value === undefined) continue;
      if (type === 'integer' ? !Number.isInteger(value) : typeof value !== 'string') {
        return { status: 400, body: { error: `${field} must be of type ${type}` } };
      }
    }
    const now = new Date().toISOString();
    if (request.method === 'POST' && !id) {
      counter++;
      const marker: FakeMarker = {
        ...(body as Partial<FakeMarker>),
        id: counter.toString(16).padStart(6, '0'),
        dataset,
        start_time: (body.start_time as number | undefined) ?? Math.floor(Date.now() / 1000),
        created_at: now,
        updated_at: now,
      };
      markers.set(marker.id, marker);
      return { status: 201, body: publicMarker(marker) };
    }
    if (request.method === 'PUT' && id) {
      const marker = markers.get(id);
      if (!marker || marker.dataset !== dataset) return { status: 404, body: { error: 'marker not found' } };
      Object.assign(marker, body, { updated_at: now });
      return { status: 200, body: publicMarker(marker) };
    }
    return { status: 405, body: { error: 'method not allowed' } };
  }

  return {
    get url() {
      return server.url;
    },
    requests: server.requests,
    markers,
    script: (...answers) => server.script(...answers),
    loseCreateAnswers: (count) => {
      lost = count;
    },
    stop: () => server.stop(),
  };
}

function publicMarker(marker: FakeMarker): Omit<FakeMarker, 'dataset'> {
  const { dataset: _dataset, ...rest } = marker;
  return rest;
}
