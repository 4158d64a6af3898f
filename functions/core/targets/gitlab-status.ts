import { answerOf } from '../http-client.ts';
import { stableHash } from '../ids.ts';
import type { Status } from '../status.ts';
import { cut, describeStatus, httpUrl, renderTemplate } from './github.ts';
import { gitlabClient, gitlabSecretNames, gitlabSubject, projectApi } from './gitlab.ts';
import type { GitLabStatusConfig } from './gitlab-status.schema.ts';
import { defineTarget } from './target.ts';

/** GitLab commit status per Shipcast status (GitLab's own words; docs.gitlab.com/api/commits#set-the-pipeline-status-of-a-commit). */
export const GITLAB_STATES: Record<Status, 'pending' | 'running' | 'success' | 'failed' | 'canceled'> = {
  queued: 'pending',
  in_progress: 'running',
  succeeded: 'success',
  failed: 'failed',
  stopped: 'canceled',
};

/** GitLab's answer to a status that is already in the state posted ("Cannot transition status via :run from :running"). */
const ALREADY = /Cannot transition status via :\w+ from :(\w+)/;

/**
 * A commit status on the deployed commit per transition (POST /projects/:id/statuses/:sha). A state is never
 * posted twice: the last one posted is kept in the delivery refs, and GitLab's refusal to move a status into the
 * state it already has counts as delivered.
 */
export const gitlabStatusTarget = defineTarget<GitLabStatusConfig>({
  type: 'gitlab-status',
  secretNames: gitlabSecretNames,
  async send({ deployment, transition, delivery }, context) {
    const { config, logger } = context;
    const subject = gitlabSubject(deployment, config.baseUrl);
    if ('skip' in subject) {
      logger.info(`no commit status: ${subject.skip}`, { target: context.name, deploymentId: deployment.id });
      return {};
    }
    const { project, commit } = subject;
    const state = GITLAB_STATES[transition.to];
    const values = {
      service: deployment.service ?? 'unknown',
      environment: deployment.environment ?? 'unknown',
    };
    const name = cut(renderTemplate(config.name, values), 255);
    const last = stableHash(project, commit, name, state).slice(0, 16);
    if (delivery?.refs?.lastStatus === last) {
      logger.info('commit status already in this state; not posted again', {
        target: context.name,
        state,
        name,
      });
      return {};
    }
    const targetUrl = config.targetUrl
      ? renderTemplate(
          config.targetUrl,
          { ...values, deploymentId: deployment.id, commit },
          encodeURIComponent,
        )
      : httpUrl(deployment.url);
    const ref = deployment.revision?.ref?.replace(/^refs\/(heads|tags)\//, '');
    const body = {
      state,
      name,
      description: cut(describeStatus(deployment, transition.to), 255),
      ...(targetUrl ? { target_url: targetUrl } : {}),
      ...(ref ? { ref } : {}),
    };
    try {
      await gitlabClient(context).post(
        `${projectApi(project)}/statuses/${encodeURIComponent(commit)}`,
        body,
        `post the ${state} status of ${commit.slice(0, 12)} in ${project}`,
      );
    } catch (error) {
      const answer = answerOf((error as { cause?: unknown }).cause);
      const from = answer?.status === 400 ? ALREADY.exec(answer.text)?.[1] : undefined;
      if (from !== state) throw error;
      logger.info('GitLab has the commit status in this state already', {
        target: context.name,
        state,
        name,
      });
    }
    return { refs: { lastStatus: last } };
  },
});
