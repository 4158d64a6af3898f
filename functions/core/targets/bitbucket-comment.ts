import { RetryableDeliveryError } from '../errors.ts';
import { bitbucketClient, bitbucketSecretNames, bitbucketSubject } from './bitbucket.ts';
import type { BitbucketCommentConfig } from './bitbucket-comment.schema.ts';
import { type CommentForge, cachedIdentity, commentOnChanges, statusBehind } from './pr-comment.ts';
import { defineTarget } from './target.ts';

/** Pull requests commented on per deployment at most. */
export const MAX_BITBUCKET_PULL_REQUESTS = 10;
/** How long to wait while Bitbucket indexes a repository's pull request commit links. */
const INDEXING_WAIT = 60;
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
        const { status, data } = await bb.request<Page<{ id?: unknown; state?: unknown }>>(
          'GET',
          `${base}/commit/${encodeURIComponent(commit)}/pullrequests`,
          `list the pull requests of ${commit.slice(0, 12)}`,
          { query: { pagelen: 50 } },
        );
        // 202: "the repository's pull requests are still being indexed" (the endpoint's documented answer).
        if (status === 202) {
          throw new RetryableDeliveryError(
            `Bitbucket is still indexing the pull requests of ${repo.owner}/${repo.slug}; retrying in ${INDEXING_WAIT} s`,
            INDEXING_WAIT,
          );
        }
        return (data?.values ?? [])
          .filter((pr) => typeof pr.id === 'number')
          .filter((pr) => config.pullRequests === 'all' || pr.state === 'OPEN')
          .slice(0, MAX_BITBUCKET_PULL_REQUESTS)
          .map((pr) => String(pr.id));
      },
      async findComment(pr, marker) {
        // Only Shipcast's own comments: GET /2.0/user names the credential's account (its `uuid`), once per
        // process and credential; a comment's `user.uuid` must be it. Access tokens (repository, project,
        // workspace) are their own "user" on comments, but Bitbucket may refuse them the user endpoint ("This
        // API is not accessible by this authentication mechanism", 403): then no comment is found by marker and
        // only the comment the delivery record names is edited (a later deployment posts a new one).
        const credential = config.token
          ? await context.secrets.get(config.token)
          : `${config.username}:${await context.secrets.get(config.password as string)}`;
        const self = await cachedIdentity(`bitbucket:${config.baseUrl}`, credential, async () => {
          try {
            const { data } = await bb.request<{ uuid?: unknown }>(
              'GET',
              '/2.0/user',
              'find the account of the credential (GET /2.0/user)',
            );
            return typeof data?.uuid === 'string' ? data.uuid : undefined;
          } catch (error) {
            if (statusBehind(error) === 403) return undefined;
            throw error;
          }
        });
        if (self === undefined) return undefined;
        for (let page = 1; page <= MAX_COMMENT_PAGES; page++) {
          const { data } = await bb.request<
            Page<{
              id?: unknown;
              content?: { raw?: unknown };
              deleted?: unknown;
              user?: { uuid?: unknown } | null;
            }>
          >('GET', `${base}/pullrequests/${pr}/comments`, `read the comments of pull request #${pr}`, {
            query: { pagelen: 100, page },
          });
          const found = (data?.values ?? []).find(
            (comment) =>
              comment.deleted !== true &&
              comment.user?.uuid === self &&
              typeof comment.content?.raw === 'string' &&
              comment.content.raw.startsWith(marker),
          );
          if (found && typeof found.id === 'number')
            return { id: String(found.id), body: found.content?.raw as string };
          if (!data?.next) return undefined;
        }
        return undefined;
      },
      async readComment(pr, commentId) {
        const { data } = await bb.request<{ content?: { raw?: unknown }; deleted?: unknown }>(
          'GET',
          `${base}/pullrequests/${pr}/comments/${encodeURIComponent(commentId)}`,
          `read comment ${commentId} on pull request #${pr}`,
        );
        // Bitbucket keeps a deleted comment, marked `deleted`.
        if (data?.deleted === true) return undefined;
        return typeof data?.content?.raw === 'string' ? data.content.raw : '';
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
        await bb.request(
          'PUT',
          `${base}/pullrequests/${pr}/comments/${encodeURIComponent(commentId)}`,
          `update comment ${commentId} on pull request #${pr}`,
          { body: { content: { raw: body } } },
        );
      },
    };
    return {
      refs: await commentOnChanges(forge, 'reference', { deployment, transition, delivery }, context),
    };
  },
});
