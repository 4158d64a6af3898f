import { PermanentDeliveryError, RetryableDeliveryError } from '../errors.ts';
import type { Deployment, Transition } from '../schema.ts';
import { isTerminal, type Status } from '../status.ts';
import { renderTemplate } from '../template.ts';
import type { BigPandaConfig } from './bigpanda.schema.ts';
import { defineTarget, type Notification, type SendResult, type TargetContext } from './target.ts';

/** BigPanda accepts at most this many changes a minute per account; more get 429. */
export const BIGPANDA_CHANGES_PER_MINUTE = 400;

type Context = TargetContext<BigPandaConfig>;

/**
 * BigPanda: the deployments API (start once, then an end with the very component/version/hosts the start
 * sent, kept in the delivery's refs) or the Changes API (one change per deployment, upserted on each
 * transition).
 */
export const bigpandaTarget = defineTarget<BigPandaConfig>({
  type: 'bigpanda',
  secretNames: (config) => (config.appKey ? [config.token, config.appKey] : [config.token]),
  async send(notification, context) {
    return context.config.api === 'changes'
      ? sendChange(notification, context)
      : sendDeployment(notification, context);
  },
});

// ---------------------------------------------------------------------------------------------------
// Deployments API

/** What identifies a BigPanda deployment: the end must repeat exactly what the start sent. */
export interface BigPandaDeploymentKey {
  component: string;
  version: string;
  hosts: string[];
}

async function sendDeployment(
  { deployment, transition, delivery }: Notification,
  context: Context,
): Promise<SendResult> {
  const started = startedFrom(delivery?.refs);
  if (!isTerminal(transition.to)) {
    if (started) {
      context.logger.debug('BigPanda start already sent; nothing to send for this transition', {
        to: transition.to,
      });
      return {};
    }
    const key = deploymentKey(deployment, context.config);
    await post(context, 'deployments/start', startBody(key, deployment, context.config));
    return { refs: refsOf(key) };
  }

  // The end. No start yet (first seen finished, or routed only for outcomes): send it first, and keep
  // what it sent even if the end then fails, so a retry sends only the end.
  let key = started;
  let learned: Record<string, string> = {};
  if (!key) {
    key = deploymentKey(deployment, context.config);
    await post(context, 'deployments/start', startBody(key, deployment, context.config));
    learned = refsOf(key);
  }
  try {
    await post(context, 'deployments/end', endBody(key, deployment, transition.to));
  } catch (error) {
    throw withRefs(error, learned);
  }
  return { refs: learned };
}

/** The start's component/version/hosts as saved in the delivery refs, if a start was sent. */
function startedFrom(refs: Record<string, string> | undefined): BigPandaDeploymentKey | undefined {
  if (!refs?.component || !refs.version || !refs.hosts) return undefined;
  try {
    const hosts: unknown = JSON.parse(refs.hosts);
    if (Array.isArray(hosts) && hosts.length > 0 && hosts.every((h) => typeof h === 'string')) {
      return { component: refs.component, version: refs.version, hosts };
    }
  } catch {
    // not ours: treat as no start
  }
  return undefined;
}

function refsOf(key: BigPandaDeploymentKey): Record<string, string> {
  return { component: key.component, version: key.version, hosts: JSON.stringify(key.hosts) };
}

/** component, version and hosts for a start, from the deployment as it is now. */
function deploymentKey(deployment: Deployment, config: BigPandaConfig): BigPandaDeploymentKey {
  const component = renderComponent(config.component, deployment);
  return { component, version: versionOf(deployment), hosts: hostsOf(deployment, component) };
}

/** `version`, else the commit (short sha), else the Shipcast deployment id. */
export function versionOf(deployment: Deployment): string {
  if (deployment.version?.trim()) return deployment.version.trim();
  const commit = deployment.revision?.commit?.trim();
  if (commit) return /^[0-9a-f]{8,}$/i.test(commit) ? commit.slice(0, 7) : commit;
  return deployment.id;
}

/** `hosts`, else the CodeDeploy deployment group, else the environment, else the component: never empty. */
function hostsOf(deployment: Deployment, component: string): string[] {
  const hosts = [...new Set((deployment.hosts ?? []).map((h) => h.trim()).filter(Boolean))];
  if (hosts.length > 0) return hosts;
  const fallback = deployment.details?.deploymentGroup?.trim() || deployment.environment?.trim() || component;
  return [fallback];
}

function renderComponent(template: string, deployment: Deployment): string {
  const details = deployment.details ?? {};
  const rendered = renderTemplate(template, (name) => {
    if (name === 'service') return deployment.service;
    if (name === 'environment') return deployment.environment;
    if (name === 'source') return deployment.source;
    const key = name.slice('details.'.length);
    return name.startsWith('details.') && Object.hasOwn(details, key) ? details[key] : undefined;
  }).trim();
  if (!rendered) {
    throw new PermanentDeliveryError(
      `the BigPanda component template "${template}" is empty for deployment ${deployment.id}: the deployment has none of the values it uses`,
    );
  }
  return rendered;
}

function startBody(key: BigPandaDeploymentKey, deployment: Deployment, config: BigPandaConfig) {
  return {
    component: key.component,
    version: key.version,
    hosts: key.hosts,
    source_system: config.sourceSystem,
    ...(deployment.environment ? { env: deployment.environment } : {}),
    ...(deployment.actor ? { owner: deployment.actor } : {}),
    ...(deployment.description ? { description: deployment.description } : {}),
  };
}

/** The end carries only what identifies the start, the status and (on failure) the error. */
function endBody(key: BigPandaDeploymentKey, deployment: Deployment, to: Status) {
  const succeeded = to === 'succeeded';
  return {
    component: key.component,
    version: key.version,
    hosts: key.hosts,
    status: succeeded ? 'success' : 'failure',
    ...(succeeded ? {} : { errorMessage: errorMessageOf(deployment, to) }),
  };
}

function errorMessageOf(deployment: Deployment, to: Status): string {
  const { code, message } = deployment.error ?? {};
  if (message && code && !message.includes(code)) return `${code}: ${message}`;
  if (message) return message;
  if (code) return code;
  return to === 'stopped' ? 'deployment stopped' : 'deployment failed';
}

// ---------------------------------------------------------------------------------------------------
// Changes API

const CHANGE_STATUS: Record<Status, 'Planned' | 'In Progress' | 'Done' | 'Canceled'> = {
  queued: 'Planned',
  in_progress: 'In Progress',
  succeeded: 'Done',
  failed: 'Done',
  stopped: 'Canceled',
};

async function sendChange({ deployment, transition }: Notification, context: Context): Promise<SendResult> {
  const { config, limiter } = context;
  const wait = await limiter.take(`bigpanda:${baseUrl(config.url)}`, BIGPANDA_CHANGES_PER_MINUTE, 60);
  if (wait > 0) {
    throw new RetryableDeliveryError(
      `BigPanda accepts ${BIGPANDA_CHANGES_PER_MINUTE} changes a minute; this one waits ${wait}s`,
      wait,
    );
  }
  await post(context, 'changes', changeBody(deployment, transition, config));
  return { refs: { identifier: deployment.id } };
}

function changeBody(deployment: Deployment, transition: Transition, config: BigPandaConfig) {
  const component = renderComponent(config.component, deployment);
  const version = versionOf(deployment);
  const { start, end } = deploymentSpan(deployment, transition);
  const url = deployment.url && /^https?:\/\//i.test(deployment.url) ? deployment.url : undefined;
  return {
    identifier: deployment.id,
    status: CHANGE_STATUS[transition.to],
    summary: deployment.environment
      ? `${component} ${version} → ${deployment.environment}`
      : `${component} ${version}`,
    start,
    ...(end !== undefined ? { end } : {}),
    ...(url ? { ticket_url: url } : {}),
    tags: strings({
      service: deployment.service,
      environment: deployment.environment,
      version,
      outcome: transition.to,
      source: deployment.source,
      source_system: config.sourceSystem,
    }),
    metadata: strings({
      shipcastDeploymentId: deployment.id,
      sourceDeploymentId: deployment.sourceDeploymentId,
      commit: deployment.revision?.commit,
      repository: deployment.revision?.repository,
      actor: deployment.actor,
    }),
  };
}

function epochSeconds(iso: string | undefined): number | undefined {
  if (!iso) return undefined;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? undefined : Math.floor(ms / 1000);
}

/**
 * When the deployment ran, in epoch seconds: its start (else its creation, else this transition), and once it is
 * over its end (never before the start).
 */
export function deploymentSpan(
  deployment: Deployment,
  transition: Transition,
): { start?: number; end?: number } {
  const start = epochSeconds(deployment.startedAt ?? deployment.createdAt) ?? epochSeconds(transition.at);
  if (!isTerminal(transition.to)) return { start };
  const end = epochSeconds(deployment.finishedAt ?? transition.at);
  return { start, end: end !== undefined && start !== undefined && end < start ? start : end };
}

function strings(values: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(values).filter((entry): entry is [string, string] => Boolean(entry[1])),
  );
}

// ---------------------------------------------------------------------------------------------------
// HTTP

const PATHS = {
  'deployments/start': '/data/events/deployments/start',
  'deployments/end': '/data/events/deployments/end',
  changes: '/data/changes',
} as const;

/** POSTs to BigPanda; any 2xx is success. Errors say which call failed; the HttpClient decides retry or not. */
async function post(context: Context, call: keyof typeof PATHS, body: unknown): Promise<void> {
  const { config, http, secrets } = context;
  const token = await secrets.get(config.token);
  const headers: Record<string, string> = {
    authorization: `Bearer ${token}`,
    'content-type': 'application/json',
  };
  if (call === 'changes' && config.appKey) headers['x-bp-app-key'] = await secrets.get(config.appKey);
  try {
    await http.send({
      method: 'POST',
      url: `${baseUrl(config.url)}${PATHS[call]}`,
      headers,
      body,
      timeoutMs: config.timeoutMs,
    });
  } catch (error) {
    if (/ answered 40[13]\b/.test(error instanceof Error ? error.message : '')) {
      // A rotated credential is read afresh next time.
      secrets.invalidate(config.token);
      if (config.appKey) secrets.invalidate(config.appKey);
    }
    throw withRefs(error, {}, `BigPanda ${call.replace('deployments/', 'deployment ')}`);
  }
}

function baseUrl(url: string): string {
  return url.replace(/\/+$/, '');
}

/** The same kind of delivery error, with context in its message and the refs learned so far. */
function withRefs(error: unknown, refs: Record<string, string>, what?: string): Error {
  const message = (error instanceof Error ? error.message : String(error)).trim();
  const text = what ? `${what}: ${message}` : message;
  const learned = Object.keys(refs).length > 0 ? { ...readRefs(error), ...refs } : readRefs(error);
  if (error instanceof PermanentDeliveryError) {
    return what || learned ? new PermanentDeliveryError(text, { cause: error, refs: learned }) : error;
  }
  const retryAfter = error instanceof RetryableDeliveryError ? error.retryAfterSeconds : undefined;
  if (error instanceof RetryableDeliveryError && !what && !learned) return error;
  return new RetryableDeliveryError(text, retryAfter, { cause: error, refs: learned });
}

function readRefs(error: unknown): Record<string, string> | undefined {
  return error instanceof RetryableDeliveryError || error instanceof PermanentDeliveryError
    ? error.refs
    : undefined;
}
