import { cut, escapeAngles } from '../chat/sanitize.ts';
import type { HttpAnswer } from '../http-client.ts';
import type { Deployment, Transition } from '../schema.ts';
import { isTerminal } from '../status.ts';
import {
  type ChangeFacts,
  changeFacts,
  epochMs,
  type VendorErrors,
  vendorAnswer,
  vendorCall,
} from './change-event.ts';
import type { GrafanaConfig } from './grafana.schema.ts';
import { defineTarget, type Notification, type SendResult, type TargetContext } from './target.ts';

type Context = TargetContext<GrafanaConfig>;

/**
 * Grafana: one annotation per deployment, created when Shipcast first hears of it and patched at each
 * transition; when the deployment ends it becomes a region (`time` → `timeEnd`) so graphs show the whole
 * rollout. Its id is kept in the delivery's refs (`annotationId`).
 *
 * Grafana HTTP API, Annotations (grafana/grafana docs/sources/developers/http_api/annotations.md):
 * `POST /api/annotations` {dashboardUID?, panelId?, time, timeEnd?, tags, text} → 200
 * `{"message":"Annotation added","id":1}`; `PATCH /api/annotations/:id` {time, timeEnd, text, tags} → 200
 * `{"message":"Annotation patched"}`; `GET /api/annotations?tags=…&type=annotation&limit=…` finds them.
 * Times are epoch milliseconds. Errors answer `{"message": …}`. Auth: `Authorization: Bearer <service
 * account token>`. Grafana itself sets no rate limit; Grafana Cloud may answer 429.
 */
export const grafanaTarget = defineTarget<GrafanaConfig>({
  type: 'grafana',
  secretNames: (config) => [config.token],
  send: sendAnnotation,
});

async function sendAnnotation({ deployment, transition, delivery }: Notification, context: Context) {
  const facts = changeFacts(deployment, transition);
  const annotation = annotationOf(deployment, transition, facts, context.config);
  let id = delivery?.refs?.annotationId;
  // A call that timed out may have created the annotation: a retry looks for it by its tag first.
  if (!id && (delivery?.attempts ?? 0) > 0) id = await findAnnotation(deployment.id, context);
  if (id) {
    const patched = await patchAnnotation(id, annotation, context);
    if (patched) return { refs: { annotationId: id } };
    context.logger.info('Grafana annotation gone (deleted?); creating it again', { annotationId: id });
  }
  return createAnnotation(annotation, context);
}

/** What the annotation holds as of this transition. */
interface Annotation {
  time: number;
  timeEnd?: number;
  tags: string[];
  text: string;
}

function annotationOf(
  deployment: Deployment,
  transition: Transition,
  { view, summary, links }: ChangeFacts,
  config: GrafanaConfig,
): Annotation {
  const time =
    epochMs(deployment.startedAt) ?? epochMs(deployment.createdAt) ?? (epochMs(transition.at) as number);
  const end = isTerminal(transition.to)
    ? (epochMs(deployment.finishedAt) ?? epochMs(transition.at) ?? time)
    : undefined;
  const tag = (key: string, value: string | undefined) => (value ? [cut(`${key}:${value}`, 100)] : []);
  const tags = [
    'deploy',
    ...tag('service', view.service),
    ...tag('environment', view.environment),
    ...tag('version', view.version),
    ...tag('status', transition.to),
    `shipcast:${deployment.id}`,
    ...config.tags,
  ];
  const lines = [
    `<b>${escapeAngles(summary)}</b>`,
    [
      view.commit ? `commit ${escapeAngles(view.commit.short)}` : '',
      view.duration ? `took ${view.duration}` : '',
    ]
      .filter(Boolean)
      .join(', '),
    escapeAngles(view.error),
    escapeAngles(view.description),
    links.map((link) => `<a href="${attribute(link.href)}">${escapeAngles(link.text)}</a>`).join(' · '),
  ].filter(Boolean);
  return {
    time,
    ...(end !== undefined ? { timeEnd: Math.max(end, time) } : {}),
    tags: [...new Set(tags)],
    text: lines.join('<br>'),
  };
}

function attribute(value: string): string {
  return escapeAngles(value).replace(/"/g, '&quot;');
}

async function createAnnotation(annotation: Annotation, context: Context): Promise<SendResult> {
  const { dashboardUID, panelId } = context.config;
  const response = await call(context, 'create the Grafana annotation', 'POST', '/api/annotations', {
    ...(dashboardUID ? { dashboardUID } : {}),
    ...(panelId !== undefined ? { panelId } : {}),
    ...annotation,
  });
  const id = response.json<{ id?: unknown }>()?.id;
  if (typeof id !== 'number' && typeof id !== 'string') {
    context.logger.warn('Grafana created the annotation without saying its id; it cannot be updated');
    return {};
  }
  return { refs: { annotationId: String(id) } };
}

/** Patches the annotation; false when Grafana no longer has it (404). */
async function patchAnnotation(id: string, annotation: Annotation, context: Context): Promise<boolean> {
  try {
    await call(
      context,
      `update Grafana annotation ${id}`,
      'PATCH',
      `/api/annotations/${encodeURIComponent(id)}`,
      annotation,
      { annotationId: id },
    );
    return true;
  } catch (error) {
    if (vendorAnswer(error)?.status === 404) return false;
    throw error;
  }
}

/** The id of the annotation Shipcast made for this deployment (by its `shipcast:<id>` tag), if any. */
async function findAnnotation(deploymentId: string, context: Context): Promise<string | undefined> {
  const query = new URLSearchParams({ tags: `shipcast:${deploymentId}`, type: 'annotation', limit: '1' });
  if (context.config.dashboardUID) query.set('dashboardUID', context.config.dashboardUID);
  const response = await call(context, 'look up the Grafana annotation', 'GET', `/api/annotations?${query}`);
  const found = response.json<{ id?: unknown }[]>();
  const id = Array.isArray(found) ? found[0]?.id : undefined;
  return typeof id === 'number' || typeof id === 'string' ? String(id) : undefined;
}

async function call(
  context: Context,
  what: string,
  method: 'GET' | 'POST' | 'PATCH',
  path: string,
  body?: unknown,
  refs?: Record<string, string>,
) {
  const { config, secrets, http, clock } = context;
  const token = await secrets.get(config.token);
  return vendorCall(
    what,
    () =>
      http.send({
        method,
        url: `${config.url.replace(/\/+$/, '')}${path}`,
        headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
        body,
        timeoutMs: config.timeoutMs,
      }),
    { errors: GRAFANA_ERRORS, secrets, secretNames: [config.token], refs, nowMs: clock.now().getTime() },
  );
}

/** Grafana's error body: `{"message": "…"}` (403 adds `title` and `accessErrorId`). */
const GRAFANA_ERRORS: VendorErrors = {
  message(answer: HttpAnswer) {
    const message = answer.json<{ message?: unknown }>()?.message;
    return typeof message === 'string' && message ? message : undefined;
  },
};
