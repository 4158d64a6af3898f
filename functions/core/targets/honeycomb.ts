import { PermanentDeliveryError } from '../errors.ts';
import { answerOf } from '../http-client.ts';
import type { Deployment, Transition } from '../schema.ts';
import { deploymentSpan, versionOf } from './bigpanda.ts';
import type { HoneycombConfig } from './honeycomb.schema.ts';
import { defineTarget, type TargetContext } from './target.ts';

/**
 * Honeycomb: one marker per deployment (Markers API, https://docs.honeycomb.io/api/markers/), created by
 * the first transition routed to it (`POST /1/markers/{dataset}`) with the deployment's start, and updated by
 * the later ones (`PUT /1/markers/{dataset}/{id}`): its message follows the status, and the end makes it a
 * region (`end_time`). The marker id is kept in the delivery's refs, so a retry updates and does not create.
 * The message ends with the deployment's id: a retry that has no marker id (the answer to its create was lost)
 * first lists the dataset's markers (`GET /1/markers/{dataset}`) and updates the one that carries it.
 */
export const honeycombTarget = defineTarget<HoneycombConfig>({
  type: 'honeycomb',
  secretNames: (config) => [config.apiKey],
  async send({ deployment, transition, delivery }, context) {
    const dataset = context.config.dataset ?? '__all__';
    const body = markerBody(deployment, transition, context.config);
    let markerId = delivery?.refs?.markerDataset === dataset ? delivery.refs.markerId : undefined;
    if (!markerId && delivery) markerId = await findMarker(context, dataset, deployment.id);
    if (markerId) {
      try {
        await call(
          context,
          'PUT',
          `/1/markers/${encodeURIComponent(dataset)}/${encodeURIComponent(markerId)}`,
          body,
        );
        return delivery?.refs?.markerId === markerId ? {} : { refs: { markerId, markerDataset: dataset } };
      } catch (error) {
        // Deleted in Honeycomb meanwhile: a new marker stands for the deployment.
        if (answerOf(error)?.status !== 404) throw error;
        context.logger.warn('Honeycomb marker not found; creating another', { markerId });
      }
    }
    const created = await call(context, 'POST', `/1/markers/${encodeURIComponent(dataset)}`, body);
    const id = (created as { id?: unknown } | undefined)?.id;
    if (typeof id !== 'string' || id === '') {
      throw new PermanentDeliveryError('Honeycomb created a marker but answered no id');
    }
    return { refs: { markerId: id, markerDataset: dataset } };
  },
});

/** The id of the dataset's marker whose message ends with the deployment's id, if there is one. */
async function findMarker(
  context: TargetContext<HoneycombConfig>,
  dataset: string,
  deploymentId: string,
): Promise<string | undefined> {
  const markers = await call(context, 'GET', `/1/markers/${encodeURIComponent(dataset)}`);
  if (!Array.isArray(markers)) return undefined;
  const mark = ` [${deploymentId}]`;
  const found = markers.find(
    (m: { id?: unknown; message?: unknown }) =>
      typeof m?.id === 'string' && typeof m.message === 'string' && m.message.endsWith(mark),
  ) as { id: string } | undefined;
  return found?.id;
}

/** The marker: the deployment's start (and end once it is over), what it is, and where to read more. */
function markerBody(deployment: Deployment, transition: Transition, config: HoneycombConfig) {
  const { start, end } = deploymentSpan(deployment, transition);
  const url = deployment.url && /^https?:\/\//i.test(deployment.url) ? deployment.url : undefined;
  return {
    ...(start !== undefined ? { start_time: start } : {}),
    ...(end !== undefined ? { end_time: end } : {}),
    message: markerMessage(deployment, transition),
    type: config.markerType ?? 'deploy',
    ...(url ? { url } : {}),
  };
}

/** `checkout 1.4.2 → production: succeeded (ana) [dep_…]`, cut to 255 characters (the id kept whole). */
export function markerMessage(deployment: Deployment, transition: Transition): string {
  const what = `${deployment.service ?? deployment.id} ${versionOf(deployment)}`;
  const where = deployment.environment ? ` → ${deployment.environment}` : '';
  const who = deployment.actor ? ` (${deployment.actor})` : '';
  const text = `${what}${where}: ${transition.to.replace('_', ' ')}${who}`;
  const mark = ` [${deployment.id}]`;
  const room = 255 - mark.length;
  return `${text.length > room ? `${text.slice(0, room - 1)}…` : text}${mark}`;
}

async function call(
  context: TargetContext<HoneycombConfig>,
  method: 'GET' | 'POST' | 'PUT',
  path: string,
  body?: unknown,
): Promise<unknown> {
  const { config, http, secrets } = context;
  const key = await secrets.get(config.apiKey);
  try {
    const response = await http.send({
      method,
      url: `${config.baseUrl.replace(/\/+$/, '')}${path}`,
      headers: {
        'x-honeycomb-team': key,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body }),
      timeoutMs: config.timeoutMs,
    });
    return response.json();
  } catch (error) {
    // A rotated key is read afresh next time.
    if (answerOf(error)?.status === 401) secrets.invalidate(config.apiKey);
    throw error;
  }
}
