import { type CapturedRequest, type ScriptedAnswer, startTargetServer } from './target-server.ts';

/** An annotation as the fake Grafana keeps it. */
export interface FakeAnnotation {
  id: number;
  dashboardUID?: string;
  panelId?: number;
  time: number;
  timeEnd: number;
  tags: string[];
  text: string;
  /** How many PATCHes changed it. */
  patches: number;
}

/** A local stand-in for Grafana's annotations HTTP API. */
export interface GrafanaServer {
  url: string;
  requests: CapturedRequest[];
  annotations: Map<number, FakeAnnotation>;
  /** Answers the next requests with these (nothing is stored), then behaves normally again. */
  script(...answers: ScriptedAnswer[]): void;
  /** Handles the next request as usual (it takes effect) but resets the connection instead of answering. */
  loseNextAnswer(): void;
  stop(): Promise<void>;
}

export interface GrafanaServerOptions {
  /** Service account tokens with the Editor role (annotations:create, write, read). */
  editorTokens: string[];
  /** Tokens with the Viewer role: they read, and get 403 on writes. */
  viewerTokens?: string[];
}

const message = (status: number, text: string, extra: object = {}): ScriptedAnswer => ({
  status,
  body: { message: text, ...extra },
});

/**
 * Starts a fake Grafana on 127.0.0.1 answering like its annotations API: `POST /api/annotations` → 200
 * `{"message":"Annotation added","id":n}`; `PATCH /api/annotations/:id` → 200 `{"message":"Annotation
 * patched"}` or 404 `{"message":"Annotation not found"}`; `GET /api/annotations` filtered by every `tags`
 * given (AND), `dashboardUID`, `type`, `limit`, newest first; 401 `{"message":"Unauthorized"}` for a missing
 * or unknown bearer token; 403 with the permission a Viewer token lacks; 400 for a body Grafana refuses
 * (no text, times that are not epoch milliseconds, tags that are not strings).
 */
export async function startGrafanaServer(options: GrafanaServerOptions): Promise<GrafanaServer> {
  const server = await startTargetServer();
  const annotations = new Map<number, FakeAnnotation>();
  let next = 1;
  let lose = false;
  const handle = (request: CapturedRequest): ScriptedAnswer => {
    const url = new URL(request.path, 'http://grafana.test');
    const match = /^\/api\/annotations(?:\/(\d+))?$/.exec(url.pathname);
    if (!match) return message(404, 'Not found');
    const token = /^Bearer (.+)$/.exec(String(request.headers.authorization ?? ''))?.[1] ?? '';
    const editor = options.editorTokens.includes(token);
    if (!editor && !(options.viewerTokens ?? []).includes(token)) {
      return message(401, 'Unauthorized', { messageId: 'auth.unauthorized', statusCode: 401 });
    }
    const id = match[1] ? Number(match[1]) : undefined;
    if (request.method === 'GET' && id === undefined) {
      const tags = url.searchParams.getAll('tags');
      const dashboardUID = url.searchParams.get('dashboardUID');
      const limit = Number(url.searchParams.get('limit') ?? 100);
      const found = [...annotations.values()]
        .filter((a) => tags.every((t) => a.tags.includes(t)))
        .filter((a) => !dashboardUID || a.dashboardUID === dashboardUID)
        .sort((a, b) => b.time - a.time)
        .slice(0, limit)
        .map(({ patches: _, ...a }) => ({
          ...a,
          dashboardUID: a.dashboardUID ?? '',
          panelId: a.panelId ?? 0,
        }));
      return { status: 200, body: found };
    }
    if (!editor) {
      const action = request.method === 'POST' ? 'annotations:create' : 'annotations:write';
      return message(
        403,
        `You'll need additional permissions to perform this action. Permissions needed: ${action}`,
        {
          title: 'Access denied',
          accessErrorId: 'ACE0123456789',
        },
      );
    }
    let body: Record<string, unknown>;
    try {
      body = request.json();
    } catch {
      return message(400, 'bad request data');
    }
    const problem = invalid(body, request.method === 'POST');
    if (problem) return message(400, problem);
    if (request.method === 'POST' && id === undefined) {
      const time = (body.time as number | undefined) ?? Date.now();
      const annotation: FakeAnnotation = {
        id: next++,
        time,
        timeEnd: (body.timeEnd as number | undefined) ?? time,
        tags: (body.tags as string[] | undefined) ?? [],
        text: body.text as string,
        patches: 0,
        ...(typeof body.dashboardUID === 'string' ? { dashboardUID: body.dashboardUID } : {}),
        ...(typeof body.panelId === 'number' ? { panelId: body.panelId } : {}),
      };
      annotations.set(annotation.id, annotation);
      return { status: 200, body: { message: 'Annotation added', id: annotation.id } };
    }
    if (request.method === 'PATCH' && id !== undefined) {
      const annotation = annotations.get(id);
      if (!annotation) return message(404, 'Annotation not found');
      for (const field of ['time', 'timeEnd', 'tags', 'text'] as const) {
        if (body[field] !== undefined)
          (annotation as unknown as Record<string, unknown>)[field] = body[field];
      }
      annotation.patches++;
      return { status: 200, body: { message: 'Annotation patched' } };
    }
    return message(405, 'Method Not Allowed');
  };
  server.fallback = (request) => {
    const answer = handle(request);
    if (!lose) return answer;
    lose = false;
    return { reset: true };
  };
  return {
    url: server.url,
    requests: server.requests,
    annotations,
    script: server.script,
    loseNextAnswer: () => {
      lose = true;
    },
    stop: server.stop,
  };
}

/** Why Grafana would answer 400 to this annotation body, or undefined. */
function invalid(body: Record<string, unknown>, creating: boolean): string | undefined {
  if (creating && (typeof body.text !== 'string' || body.text === ''))
    return 'Text field should not be empty';
  for (const field of ['time', 'timeEnd', 'panelId']) {
    if (body[field] !== undefined && !Number.isInteger(body[field])) return `bad request data: ${field}`;
  }
  if (body.tags !== undefined && !(Array.isArray(body.tags) && body.tags.every((t) => typeof t === 'string')))
    return 'bad request data: tags';
  return undefined;
}
