import { stableHash } from '../ids.ts';
import type { Status } from '../status.ts';
import {
  cut,
  describeStatus,
  githubClient,
  githubSecretNames,
  githubSubject,
  httpUrl,
  renderTemplate,
} from './github.ts';
import type { GitHubStatusConfig } from './github-status.schema.ts';
import { defineTarget } from './target.ts';

/** Commit status state per Shipcast status (commit statuses know only these four). */
export const COMMIT_STATES: Record<Status, 'pending' | 'success' | 'failure' | 'error'> = {
  queued: 'pending',
  in_progress: 'pending',
  succeeded: 'success',
  failed: 'failure',
  stopped: 'error',
};

/** A commit status on the deployed commit per transition; the same state and text is never posted twice. */
export const githubStatusTarget = defineTarget<GitHubStatusConfig>({
  type: 'github-status',
  secretNames: githubSecretNames,
  async send({ deployment, transition, delivery }, context) {
    const { config, logger } = context;
    const subject = githubSubject(deployment, config.baseUrl);
    if ('skip' in subject) {
      logger.info(`no commit status: ${subject.skip}`, { target: context.name, deploymentId: deployment.id });
      return {};
    }
    const state = COMMIT_STATES[transition.to];
    const description = describeStatus(deployment, transition.to);
    const statusContext = cut(
      renderTemplate(config.context, {
        service: deployment.service ?? 'unknown',
        environment: deployment.environment ?? 'unknown',
      }),
      255,
    );
    const { repo, commit } = subject;
    // GitHub keeps every status (at most 1000 per commit and context): skip one that changes nothing.
    const fingerprint = stableHash(repo.owner, repo.repo, commit, statusContext, state, description).slice(
      0,
      16,
    );
    if (delivery?.refs?.lastStatus === fingerprint) {
      logger.info('commit status unchanged; not posted again', {
        target: context.name,
        state,
        context: statusContext,
      });
      return {};
    }
    const targetUrl = httpUrl(deployment.url);
    const gh = githubClient(context, repo);
    await gh.post(
      `/repos/${repo.owner}/${repo.repo}/statuses/${encodeURIComponent(commit)}`,
      { state, context: statusContext, description, ...(targetUrl ? { target_url: targetUrl } : {}) },
      `post the ${state} commit status of ${commit.slice(0, 12)}`,
    );
    return { refs: { lastStatus: fingerprint } };
  },
});
