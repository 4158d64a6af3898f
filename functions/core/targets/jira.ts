import { PermanentDeliveryError } from '../errors.ts';
import { answerOf, type HttpResponse } from '../http-client.ts';
import { stableHash } from '../ids.ts';
import { globToRegExp } from '../routing.ts';
import type { CiEvent, Deployment, Transition } from '../schema.ts';
import type { Status } from '../status.ts';
import { registerSecret } from '../telemetry.ts';
import { versionOf } from './bigpanda.ts';
import type { JIRA_ENVIRONMENT_TYPES, JiraConfig } from './jira.schema.ts';
import { defineTarget, type TargetContext } from './target.ts';

type EnvironmentType = (typeof JIRA_ENVIRONMENT_TYPES)[number];

/** At most this many issue keys go with one deployment. */
export const JIRA_MAX_ISSUE_KEYS = 500;

/** A Jira issue key: project key (a capital letter, then capitals, digits or _), a dash, a number. */
const ISSUE_KEY = /\b[A-Z][A-Z0-9_]{1,9}-[1-9]\d{0,8}\b/g;

/** CI event fields whose text can name issues: commit messages, pull-request titles, branches, refs. */
const TEXT_FIELD = /message|title|branch|ref|description|name/i;

const STATES: Record<Status, 'pending' | 'in_progress' | 'successful' | 'failed' | 'cancelled'> = {
  queued: 'pending',
  in_progress: 'in_progress',
  succeeded: 'successful',
  failed: 'failed',
  stopped: 'cancelled',
};

type Context = TargetContext<JiraConfig>;

/**
 * Jira Software Cloud's deployments API (https://developer.atlassian.com/cloud/jira/software/rest/api-group-deployments/,
 * on-premises OAuth 2.0 integration: https://developer.atlassian.com/cloud/jira/software/integrate-jsw-cloud-with-onpremises-tools/):
 * one Jira deployment per Shipcast deployment, associated with the issue keys found in what Shipcast knows of
 * it (branch, description, the commit's push messages, pull-request titles and builds), submitted again at
 * each transition. Its key (pipeline = service, environment, `deploymentSequenceNumber` = creation time) never
 * changes; `updateSequenceNumber` is the transition's seq, so Jira keeps the newest state and ignores a repeat.
 */
export const jiraTarget = defineTarget<JiraConfig>({
  type: 'jira',
  secretNames: (config) => [config.clientId, config.clientSecret],
  async send({ deployment, transition }, context) {
    // A failed read of the CI events fails the send (retried): the keys they hold must not be left out.
    const keys = issueKeys(deployment, await context.ciEvents?.());
    if (keys.length === 0) {
      context.logger.info(
        'no Jira issue key in the deployment, its branch or its commit; nothing sent to Jira',
      );
      return {};
    }
    const body = {
      deployments: [jiraDeployment(deployment, transition, keys, context.config)],
      providerMetadata: { product: 'Shipcast' },
    };
    const response = await submit(context, body);
    const answer = response.json<SubmitAnswer>() ?? {};
    if (answer.unknownIssueKeys?.length) {
      context.logger.warn('Jira does not know some issue keys', {
        unknownIssueKeys: answer.unknownIssueKeys,
      });
    }
    for (const rejected of answer.rejectedDeployments ?? []) {
      context.logger.warn('Jira rejected the deployment', {
        errors: (rejected.errors ?? []).map((e) => e.message).join('; '),
      });
    }
    const deploymentKey = body.deployments[0];
    return {
      refs: {
        pipelineId: deploymentKey?.pipeline.id ?? '',
        environmentId: deploymentKey?.environment.id ?? '',
        deploymentSequenceNumber: String(deploymentKey?.deploymentSequenceNumber),
      },
    };
  },
});

interface SubmitAnswer {
  acceptedDeployments?: unknown[];
  rejectedDeployments?: { errors?: { message?: string }[] }[];
  unknownIssueKeys?: string[];
}

/** The issue keys in the deployment's own text and in the CI events of its commit, first seen first. */
export function issueKeys(deployment: Deployment, ciEvents: Omit<CiEvent, 'rev'>[] = []): string[] {
  const texts = [
    deployment.revision?.ref,
    deployment.description,
    deployment.details?.branch,
    deployment.details?.title,
    deployment.details?.commitMessage,
    ...ciEvents.flatMap((event) => [
      event.branch,
      ...Object.entries(event.fields ?? {})
        .filter(([field, value]) => TEXT_FIELD.test(field) && typeof value === 'string')
        .map(([, value]) => value as string),
    ]),
  ];
  const keys = new Set<string>();
  for (const text of texts) {
    for (const match of (text ?? '').matchAll(ISSUE_KEY)) keys.add(match[0]);
  }
  return [...keys].slice(0, JIRA_MAX_ISSUE_KEYS);
}

/** A Jira environment type from the config's globs, else from the environment's name. */
export function environmentType(
  environment: string,
  config: Pick<JiraConfig, 'environmentTypes'>,
): EnvironmentType {
  for (const [pattern, type] of Object.entries(config.environmentTypes ?? {})) {
    if (globToRegExp(pattern).test(environment)) return type;
  }
  const name = environment.toLowerCase();
  if (/\bprod|production|\blive\b/.test(name)) return 'production';
  if (/stag|preprod|uat/.test(name)) return 'staging';
  if (/test|\bqa\b/.test(name)) return 'testing';
  if (/\bdev|development|sandbox/.test(name)) return 'development';
  return 'unmapped';
}

/** The deployment as Jira's bulk API takes it. */
function jiraDeployment(deployment: Deployment, transition: Transition, keys: string[], config: JiraConfig) {
  const service = deployment.service ?? deployment.source;
  const environment = deployment.environment ?? 'default';
  const version = versionOf(deployment);
  const url = linkOf(deployment, config);
  const state =
    (transition.to === 'failed' || transition.to === 'stopped') && deployment.rolledBackBy
      ? 'rolled_back'
      : STATES[transition.to];
  const triggeredBy =
    deployment.actor && /^[^\s@]+@[^\s@]+$/.test(deployment.actor) ? { email: deployment.actor } : undefined;
  return {
    schemaVersion: '1.0',
    deploymentSequenceNumber: deploymentSequenceNumber(deployment),
    updateSequenceNumber: transition.seq,
    associations: [{ associationType: 'issueIdOrKeys', values: keys }],
    displayName: cut(`${service} ${version}`, 255),
    url,
    description: cut(
      deployment.description ?? `${service} ${version} to ${environment}: ${transition.to.replace('_', ' ')}`,
      255,
    ),
    lastUpdated: transition.at,
    label: cut(version, 255),
    state,
    pipeline: { id: cut(service, 255), displayName: cut(service, 255), url },
    environment: {
      id: cut(environment, 255),
      displayName: cut(environment, 255),
      type: environmentType(environment, config),
    },
    ...(triggeredBy ? { triggeredBy } : {}),
  };
}

/**
 * The deployment's number in its pipeline and environment: Jira wants it unique there and growing with
 * time, and it must never change. Its creation time in microseconds-like units: milliseconds × 1000 plus
 * three digits of the deployment id's hash, so two deployments created in the same millisecond differ.
 */
export function deploymentSequenceNumber(deployment: Deployment): number {
  return (
    Date.parse(deployment.createdAt) * 1000 +
    (Number.parseInt(stableHash(deployment.id).slice(0, 8), 16) % 1000)
  );
}

/** The deployment's link, else the configured one, else the GitHub commit: Jira requires a URL. */
function linkOf(deployment: Deployment, config: JiraConfig): string {
  if (deployment.url && /^https?:\/\//i.test(deployment.url)) return deployment.url;
  if (config.url) {
    return config.url
      .replaceAll('{deploymentId}', encodeURIComponent(deployment.id))
      .replaceAll('{service}', encodeURIComponent(deployment.service ?? ''))
      .replaceAll('{environment}', encodeURIComponent(deployment.environment ?? ''));
  }
  const repository = deployment.revision?.repository;
  const commit = deployment.revision?.commit;
  if (repository && commit && /^[\w.-]+\/[\w.-]+$/.test(repository)) {
    return `https://github.com/${repository}/commit/${commit}`;
  }
  throw new PermanentDeliveryError(
    `Jira needs a link for deployment ${deployment.id}, which has none: send a url with the deployment, or set the target's url`,
  );
}

// ---------------------------------------------------------------------------------------------------
// OAuth 2.0 client credentials, cached until shortly before they expire

const tokens = new Map<string, { token: string; expiresAt: number }>();

/** Submits the deployments; a 401 (the token expired or was revoked) gets a new token and one more try. */
async function submit(context: Context, body: unknown): Promise<HttpResponse> {
  const { config, http } = context;
  const url = `${base(config)}/jira/deployments/0.1/cloud/${encodeURIComponent(config.cloudId)}/bulk`;
  const post = async (token: string) =>
    http.send({
      method: 'POST',
      url,
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        accept: 'application/json',
      },
      body,
      timeoutMs: config.timeoutMs,
    });
  try {
    return await post(await accessToken(context));
  } catch (error) {
    if (answerOf(error)?.status !== 401) throw error;
    tokens.delete(await tokenKey(context));
    return post(await accessToken(context));
  }
}

/** Tokens are cached per API host and client credentials (hashed: the key holds no secret). */
async function tokenKey({ config, secrets }: Context): Promise<string> {
  return stableHash(base(config), await secrets.get(config.clientId), await secrets.get(config.clientSecret));
}

/** A token for the client credentials, from the cache unless it expires within a minute. */
async function accessToken(context: Context): Promise<string> {
  const { config, http, secrets, clock } = context;
  const key = await tokenKey(context);
  const cached = tokens.get(key);
  const now = clock.now().getTime();
  if (cached && cached.expiresAt - 60_000 > now) return cached.token;
  let response: HttpResponse;
  try {
    response = await http.send({
      method: 'POST',
      url: `${base(config)}/oauth/token`,
      headers: { 'content-type': 'application/json' },
      body: {
        audience: 'api.atlassian.com',
        grant_type: 'client_credentials',
        client_id: await secrets.get(config.clientId),
        client_secret: await secrets.get(config.clientSecret),
      },
      timeoutMs: config.timeoutMs,
    });
  } catch (error) {
    if (answerOf(error)?.status === 401 || answerOf(error)?.status === 403) {
      secrets.invalidate(config.clientId);
      secrets.invalidate(config.clientSecret);
      throw new PermanentDeliveryError(
        `Atlassian refused the OAuth client credentials in secrets "${config.clientId}" and "${config.clientSecret}": check them and their Deployments permission`,
        { cause: error },
      );
    }
    throw error;
  }
  const { access_token: token, expires_in: expiresIn } =
    response.json<{ access_token?: string; expires_in?: number }>() ?? {};
  if (!token)
    throw new PermanentDeliveryError('Atlassian answered no access_token for the client credentials');
  registerSecret(token);
  tokens.set(key, { token, expiresAt: now + (typeof expiresIn === 'number' ? expiresIn : 3600) * 1000 });
  return token;
}

function base(config: JiraConfig): string {
  return config.baseUrl.replace(/\/+$/, '');
}

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
