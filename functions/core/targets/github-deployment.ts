import { RetryableDeliveryError } from '../errors.ts';
import { globToRegExp } from '../routing.ts';
import type { Deployment } from '../schema.ts';
import type { Status } from '../status.ts';
import {
  cut,
  describeStatus,
  type GitHubClient,
  type GitHubRepo,
  githubClient,
  githubSecretNames,
  githubSubject,
  httpUrl,
  isFullSha,
  parseRepository,
  renderTemplate,
  withRefs,
} from './github.ts';
import type { GitHubDeploymentConfig } from './github-deployment.schema.ts';
import { defineTarget } from './target.ts';

/** Marks the GitHub deployments Shipcast creates (in `payload.shipcast.marker`). */
export const SHIPCAST_MARKER = 'shipcast';

/**
 * GitHub deployment state per Shipcast status. `stopped` → `error`: the deployment was halted before it
 * finished (by a person or an alarm), which says nothing about the code, whereas `failure` means the
 * deployment itself failed.
 */
export const DEPLOYMENT_STATES: Record<Status, 'queued' | 'in_progress' | 'success' | 'failure' | 'error'> = {
  queued: 'queued',
  in_progress: 'in_progress',
  succeeded: 'success',
  failed: 'failure',
  stopped: 'error',
};

/** Pages of 100 looked through for a deployment an earlier attempt created. */
const LOOKUP_PAGES = 3;

/** One GitHub deployment per Shipcast deployment, with a deployment status per transition. */
export const githubDeploymentTarget = defineTarget<GitHubDeploymentConfig>({
  type: 'github-deployment',
  secretNames: githubSecretNames,
  async send({ deployment, transition, delivery }, context) {
    const { config, logger } = context;
    const subject = githubSubject(deployment, config.baseUrl);
    const environment =
      deployment.environment && githubEnvironment(deployment.environment, config.environments);
    if ('skip' in subject || !environment) {
      const reason = 'skip' in subject ? subject.skip : 'the deployment names no environment';
      logger.info(`no GitHub deployment: ${reason}`, { target: context.name, deploymentId: deployment.id });
      return {};
    }
    const original = originalGitHubDeployment(deployment, subject.repo);
    if (original && !config.statusesOnGitHubDeployments) {
      logger.info(
        `no GitHub deployment: it already is GitHub deployment ${original} of ${subject.repo.owner}/${subject.repo.repo} (statusesOnGitHubDeployments is off)`,
        { target: context.name, deploymentId: deployment.id },
      );
      return {};
    }
    // A deployment that came from GitHub gets its statuses on the original, never a deployment of its own.
    const known = original
      ? {
          ...delivery?.refs,
          githubDeploymentId: original,
          githubRepository: `${subject.repo.owner}/${subject.repo.repo}`,
        }
      : (delivery?.refs ?? {});
    const refs: Record<string, string> = {};
    let gh: GitHubClient;
    let id: string;
    const recorded = known.githubRepository ? parseRepository(known.githubRepository) : undefined;
    if (known.githubDeploymentId && recorded) {
      gh = githubClient(context, recorded);
      id = known.githubDeploymentId;
    } else {
      gh = githubClient(context, subject.repo);
      // The write budget first: when it is spent the delivery waits without reading anything, so a burst of
      // new deployments costs GitHub one look-up each, not one per minute of waiting.
      await gh.reserveWrite();
      // Two dispatchers sending transitions of one deployment at once would both find nothing and both
      // create: only one may look-and-create per attempt (the shared limiter as a one-minute lease).
      const lease = `github:create:${context.name}:${deployment.id}:${delivery?.attempts ?? 0}`;
      const wait = await context.limiter.take(lease, 1, 60);
      if (wait > 0) {
        throw new RetryableDeliveryError(
          `another dispatcher is creating the GitHub deployment of ${deployment.id}; retrying in ${wait} s`,
          wait,
        );
      }
      const lookup = { commit: subject.commit, environment, task: config.task, deploymentId: deployment.id };
      id =
        (await findCreated(gh, lookup)) ??
        (await create(gh, deployment, subject.commit, environment, config));
      refs.githubDeploymentId = id;
      refs.githubRepository = `${gh.repo.owner}/${gh.repo.repo}`;
      refs.githubEnvironment = environment;
      // GitHub announces the new deployment by webhook at once: Shipcast's record must already say it made it.
      await context.keep?.(refs);
    }

    try {
      if (deployment.rollbackOf && transition.to === 'succeeded' && !known.replacedInactive) {
        const replaced = await markReplacedInactive(deployment, context);
        if (replaced) refs.replacedInactive = replaced;
      }
      const state = DEPLOYMENT_STATES[transition.to];
      const logUrl = httpUrl(deployment.url);
      const environmentUrl = config.environmentUrl
        ? renderTemplate(
            config.environmentUrl,
            {
              service: deployment.service ?? '',
              environment: deployment.environment ?? '',
              githubEnvironment: environment,
              version: deployment.version ?? '',
              deploymentId: deployment.id,
            },
            encodeURIComponent,
          )
        : undefined;
      await gh.post(
        `/repos/${gh.repo.owner}/${gh.repo.repo}/deployments/${id}/statuses`,
        {
          state,
          description: describeStatus(deployment, transition.to),
          ...(logUrl ? { log_url: logUrl } : {}),
          ...(environmentUrl ? { environment_url: environmentUrl } : {}),
          // Only a success may retire earlier deployments; a queued or failed one must not.
          auto_inactive: state === 'success' ? config.autoInactive : false,
        },
        `post the ${state} status of deployment ${id}`,
      );
    } catch (error) {
      // Keep what was created (and done) so the retry continues instead of starting over.
      throw withRefs(error, refs);
    }
    return { refs };
  },
});

/**
 * The id of the GitHub deployment this deployment already is (it came from a `deployment` webhook of the same
 * repository), if it is one. Shipcast's answer to it (a status) comes back as a `deployment_status` webhook of
 * that same deployment, whose status it already has: recorded as a duplicate, no transition, nothing sent.
 */
export function originalGitHubDeployment(deployment: Deployment, repo: GitHubRepo): string | undefined {
  const id = deployment.details?.githubDeploymentId;
  const repository = deployment.details?.githubRepository;
  if (deployment.source !== 'github' || !id || !repository) return undefined;
  return repository.toLowerCase() === `${repo.owner}/${repo.repo}`.toLowerCase() ? id : undefined;
}

/** The GitHub environment for a Shipcast environment: exact key first, then the first matching glob. */
export function githubEnvironment(environment: string, mapping: Record<string, string> | undefined): string {
  if (!mapping) return environment;
  if (Object.hasOwn(mapping, environment)) return mapping[environment] as string;
  for (const [pattern, target] of Object.entries(mapping)) {
    if (globToRegExp(pattern).test(environment)) return target;
  }
  return environment;
}

interface GitHubDeployment {
  id: number;
  payload?: unknown;
}

/** Is this GitHub deployment the one Shipcast created for `deploymentId`? */
export function isShipcastDeployment(candidate: GitHubDeployment, deploymentId: string): boolean {
  let payload = candidate.payload;
  if (typeof payload === 'string') {
    try {
      payload = JSON.parse(payload);
    } catch {
      return false;
    }
  }
  const shipcast = (payload as { shipcast?: { marker?: unknown; deploymentId?: unknown } } | null)?.shipcast;
  return shipcast?.marker === SHIPCAST_MARKER && shipcast.deploymentId === deploymentId;
}

/** A deployment an earlier attempt created (whose answer or record was lost), found by its payload. */
async function findCreated(
  gh: GitHubClient,
  lookup: { commit: string; environment: string; task: string; deploymentId: string },
): Promise<string | undefined> {
  // GitHub stores the resolved SHA: filter by `sha` only when the commit is a full one, else by `ref`.
  const byCommit: Record<string, string> = { [isFullSha(lookup.commit) ? 'sha' : 'ref']: lookup.commit };
  for (let page = 1; page <= LOOKUP_PAGES; page++) {
    const { data } = await gh.get<GitHubDeployment[]>(
      `/repos/${gh.repo.owner}/${gh.repo.repo}/deployments`,
      { ...byCommit, environment: lookup.environment, task: lookup.task, per_page: 100, page },
      'look for a deployment created earlier',
    );
    if (!Array.isArray(data)) return undefined;
    const match = data.find((candidate) => isShipcastDeployment(candidate, lookup.deploymentId));
    if (match) return String(match.id);
    if (data.length < 100) return undefined;
  }
  return undefined;
}

async function create(
  gh: GitHubClient,
  deployment: Deployment,
  commit: string,
  environment: string,
  config: {
    task: string;
    requiredContexts: string[];
    transientEnvironment?: boolean;
    productionEnvironment?: boolean;
  },
): Promise<string> {
  const label = [deployment.service, deployment.version].filter(Boolean).join(' ') || 'deployment';
  const { status, data } = await gh.post<{ id?: unknown; message?: unknown }>(
    `/repos/${gh.repo.owner}/${gh.repo.repo}/deployments`,
    {
      ref: commit,
      task: config.task,
      auto_merge: false,
      required_contexts: config.requiredContexts,
      payload: {
        shipcast: {
          marker: SHIPCAST_MARKER,
          deploymentId: deployment.id,
          source: deployment.source,
          sourceDeploymentId: deployment.sourceDeploymentId,
        },
      },
      environment,
      description: cut(deployment.description ?? `${label} via Shipcast`),
      ...(config.transientEnvironment !== undefined
        ? { transient_environment: config.transientEnvironment }
        : {}),
      ...(config.productionEnvironment !== undefined
        ? { production_environment: config.productionEnvironment }
        : {}),
    },
    'create the deployment',
  );
  if (status === 202) {
    // "Merged branch response": GitHub merged the default branch instead of creating (auto_merge is off,
    // so this is unexpected); asking again creates it.
    throw new RetryableDeliveryError(
      `GitHub merged instead of creating the deployment (202: ${String(data?.message ?? '')}); will ask again`,
    );
  }
  if (typeof data?.id !== 'number') {
    throw new RetryableDeliveryError(`GitHub answered ${status} to create the deployment, without an id`);
  }
  return String(data.id);
}

/**
 * A rollback that succeeded retires the deployment it replaced: `inactive` on that deployment's GitHub
 * deployment (found in its delivery record). Returns the id marked, or undefined when there is none.
 */
async function markReplacedInactive(
  deployment: Deployment,
  context: Parameters<typeof githubDeploymentTarget.send>[1],
): Promise<string | undefined> {
  const replaced = await context.deliveryOf(deployment.rollbackOf as string, context.name);
  const id = replaced?.refs?.githubDeploymentId;
  const repo = replaced?.refs?.githubRepository ? parseRepository(replaced.refs.githubRepository) : undefined;
  if (!id || !repo) {
    context.logger.info('the deployment this rollback replaced has no GitHub deployment to retire', {
      target: context.name,
      deploymentId: deployment.id,
      rollbackOf: deployment.rollbackOf,
    });
    return undefined;
  }
  const gh = githubClient(context, repo);
  await gh.post(
    `/repos/${repo.owner}/${repo.repo}/deployments/${id}/statuses`,
    { state: 'inactive', description: cut(`Replaced by rollback ${deployment.id}`) },
    `mark the replaced deployment ${id} inactive`,
  );
  return id;
}
