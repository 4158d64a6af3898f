import { PermanentDeliveryError } from '../errors.ts';
import { stableHash } from '../ids.ts';
import type { Status } from '../status.ts';
import { bitbucketClient, bitbucketSecretNames, bitbucketSubject, statusKey } from './bitbucket.ts';
import type { BitbucketStatusConfig } from './bitbucket-status.schema.ts';
import { cut, describeStatus, httpUrl, renderTemplate } from './github.ts';
import { defineTarget } from './target.ts';

type BuildState = 'INPROGRESS' | 'SUCCESSFUL' | 'FAILED' | 'STOPPED' | 'CANCELLED';

/**
 * Build state per Shipcast status and API. Cloud knows STOPPED; Data Center's builds endpoint knows CANCELLED
 * instead; the legacy build-status endpoint only INPROGRESS, SUCCESSFUL and FAILED.
 */
export const BITBUCKET_STATES: Record<'cloud' | 'builds' | 'build-status', Record<Status, BuildState>> = {
  cloud: {
    queued: 'INPROGRESS',
    in_progress: 'INPROGRESS',
    succeeded: 'SUCCESSFUL',
    failed: 'FAILED',
    stopped: 'STOPPED',
  },
  builds: {
    queued: 'INPROGRESS',
    in_progress: 'INPROGRESS',
    succeeded: 'SUCCESSFUL',
    failed: 'FAILED',
    stopped: 'CANCELLED',
  },
  'build-status': {
    queued: 'INPROGRESS',
    in_progress: 'INPROGRESS',
    succeeded: 'SUCCESSFUL',
    failed: 'FAILED',
    stopped: 'FAILED',
  },
};

/**
 * A build status on the deployed commit per transition, under one key per service/environment (Bitbucket keeps
 * the latest per key). Cloud: POST /2.0/repositories/{workspace}/{repo}/commit/{sha}/statuses/build
 * (developer.atlassian.com/cloud/bitbucket/rest/api-group-commit-statuses). Data Center: POST
 * /rest/api/latest/projects/{key}/repos/{slug}/commits/{sha}/builds, or the legacy
 * /rest/build-status/1.0/commits/{sha} (developer.atlassian.com/server/bitbucket/how-tos/updating-build-status-for-commits).
 * A status the commit already shows (same key, state and text) is not posted again.
 */
export const bitbucketStatusTarget = defineTarget<BitbucketStatusConfig>({
  type: 'bitbucket-status',
  secretNames: bitbucketSecretNames,
  async send({ deployment, transition, delivery }, context) {
    const { config, logger } = context;
    const legacy = config.api === 'server' && config.serverEndpoint === 'build-status';
    const subject = bitbucketSubject(deployment, config);
    if ('skip' in subject && !(legacy && deployment.revision?.commit)) {
      logger.info(`no build status: ${subject.skip}`, { target: context.name, deploymentId: deployment.id });
      return {};
    }
    const commit = (deployment.revision?.commit ?? '').trim();
    const values = {
      service: deployment.service ?? 'unknown',
      environment: deployment.environment ?? 'unknown',
    };
    const url = config.targetUrl
      ? renderTemplate(
          config.targetUrl,
          { ...values, deploymentId: deployment.id, commit },
          encodeURIComponent,
        )
      : httpUrl(deployment.url);
    if (!url) {
      throw new PermanentDeliveryError(
        'Bitbucket requires a link on every build status: set targetUrl, or send the deployment with a url',
      );
    }
    const state = BITBUCKET_STATES[config.api === 'cloud' ? 'cloud' : config.serverEndpoint][transition.to];
    const key = statusKey(renderTemplate(config.key, values));
    const body = {
      key,
      state,
      name: cut(renderTemplate(config.name, values), 255),
      description: cut(describeStatus(deployment, transition.to), 255),
      url,
    };
    const fingerprint = stableHash(config.api, commit, key, state, body.description).slice(0, 16);
    if (delivery?.refs?.lastStatus === fingerprint) {
      logger.info('build status unchanged; not posted again', { target: context.name, state, key });
      return {};
    }
    const ref = deployment.revision?.ref;
    const bb = bitbucketClient(context);
    const what = `post the ${state} build status of ${commit.slice(0, 12)}`;
    const sha = encodeURIComponent(commit);
    if (legacy) {
      await bb.request('POST', `/rest/build-status/1.0/commits/${sha}`, what, { body });
    } else if ('repo' in subject) {
      const { owner, slug } = subject.repo;
      const [o, s] = [encodeURIComponent(owner), encodeURIComponent(slug)];
      if (config.api === 'cloud') {
        const refname = ref?.replace(/^refs\/(heads|tags)\//, '');
        await bb.request('POST', `/2.0/repositories/${o}/${s}/commit/${sha}/statuses/build`, what, {
          body: { ...body, ...(refname ? { refname } : {}) },
        });
      } else {
        await bb.request('POST', `/rest/api/latest/projects/${o}/repos/${s}/commits/${sha}/builds`, what, {
          body: { ...body, ...(ref ? { ref: ref.startsWith('refs/') ? ref : `refs/heads/${ref}` } : {}) },
        });
      }
    }
    return { refs: { lastStatus: fingerprint } };
  },
});
