import { bitbucketClient, bitbucketSecretNames, bitbucketSubject } from './bitbucket.ts';
import type { BitbucketCommentConfig } from './bitbucket-comment.schema.ts';
import {
  type CommentForge,
  commentMarker,
  renderComment,
  statusBehind,
  upsertComments,
} from './pr-comment.ts';
import { defineTarget } from './target.ts';

/** Pull requests commented on per deployment at most. */
export const MAX_BITBUCKET_PULL_REQUESTS = 10;
/** Pages of 100 comments searched for the marker on one pull request. */
const MAX_COMMENT_PAGES = 10;

interface Page<T> {
  values?: T[];
  next?: string;
}

/**
 * Bitbucket Cloud: one comment per pull request and service/environment on the pull requests that contain the
 * deployed commit, edited at each transition (GET /2.0/repositories/{w}/{r}/commit/{sha}/pullrequests, GET|POST
 * …/pullrequests/{id}/comments, PUT …/pullrequests/{id}/comments/{comment_id};
 * developer.atlassian.com/cloud/bitbucket/rest/api-group-pullrequests). Bitbucket shows HTML comments as text,
 * so the marker is an unused Markdown link reference definition, which renders as nothing.
 */
export const bitbucketCommentTarget = defineTarget<BitbucketCommentConfig>({
  type: 'bitbucket-comment',
  secretNames: (config) => bitbucketSecretNames({ ...config, api: 'cloud' }),
  async send({ deployment, transition, delivery }, context) {
    const { config, logger } = context;
    const subject = bitbucketSubject(deployment, { ...config, api: 'cloud' });
    if ('skip' in subject) {
      logger.info(`no pull request comment: ${subject.skip}`, {
        target: context.name,
        deploymentId: deployment.id,
      });
      return {};
    }
    const { repo, commit } = subject;
    const bb = bitbucketClient({ ...context, config: { ...config, api: 'cloud' } });
    const base = `/2.0/repositories/${encodeURIComponent(repo.owner)}/${encodeURIComponent(repo.slug)}`;
    const forge: CommentForge = {
      noun: 'pull request',
      async pullRequests() {
        const { data } = await bb.request<Page<{ id?: unknown; state?: unknown }>>(
          'GET',
          `${base}/commit/${encodeURIComponent(commit)}/pullrequests`,
          `list the pull requests of ${commit.slice(0, 12)}`,
          { query: { pagelen: 50 } },
        );
        return (data?.values ?? [])
          .filter((pr) => typeof pr.id === 'number')
          .filter((pr) => config.pullRequests === 'all' || pr.state === 'OPEN')
          .slice(0, MAX_BITBUCKET_PULL_REQUESTS)
          .map((pr) => String(pr.id));
      },
      async findComment(pr, marker) {
        for (let page = 1; page <= MAX_COMMENT_PAGES; page++) {
          const { data } = await bb.request<
            Page<{ id?: unknown; content?: { raw?: unknown }; deleted?: unknown }>
          >('GET', `${base}/pullrequests/${pr}/comments`, `read the comments of pull request #${pr}`, {
            query: { pagelen: 100, page },
          });
          const found = (data?.values ?? []).find(
            (comment) =>
              comment.deleted !== true &&
              typeof comment.content?.raw === 'string' &&
              comment.content.raw.startsWith(marker),
          );
          if (found && typeof found.id === 'number') return String(found.id);
          if (!data?.next) return undefined;
        }
        return undefined;
      },
      async create(pr, body) {
        const { data } = await bb.request<{ id?: unknown }>(
          'POST',
          `${base}/pullrequests/${pr}/comments`,
          `comment on pull request #${pr}`,
          { body: { content: { raw: body } } },
        );
        return String(data?.id);
      },
      async update(pr, commentId, body) {
        try {
          await bb.request(
            'PUT',
            `${base}/pullrequests/${pr}/comments/${encodeURIComponent(commentId)}`,
            `update comment ${commentId} on pull request #${pr}`,
            { body: { content: { raw: body } } },
          );
          return true;
        } catch (error) {
          if (statusBehind(error) === 404) return false;
          throw error;
        }
      },
    };
    const marker = commentMarker(deployment, 'reference');
    const refs = await upsertComments(forge, {
      marker,
      body: renderComment(deployment, transition, marker),
      refs: delivery?.refs,
      logger,
    });
    return { refs };
  },
});
