import { githubClient, githubSecretNames, githubSubject } from './github.ts';
import type { GitHubCommentConfig } from './github-comment.schema.ts';
import { type CommentForge, cachedIdentity, commentOnChanges } from './pr-comment.ts';
import { defineTarget } from './target.ts';

/** Pull requests commented on per deployment at most (the first ones GitHub lists). */
export const MAX_PULL_REQUESTS = 10;
/** Pages of 100 comments searched for the marker on one pull request. */
const MAX_COMMENT_PAGES = 10;

interface IssueComment {
  id?: unknown;
  body?: unknown;
  user?: { id?: unknown } | null;
  performed_via_github_app?: { id?: unknown; client_id?: unknown } | null;
}

/**
 * Tells Shipcast's own comments from anyone else's (docs.github.com/rest/issues/comments: an issue comment has
 * `user` and `performed_via_github_app`, a nullable integration with `id` and `client_id`).
 * - A token: `GET /user` (docs.github.com/rest/users/users#get-the-authenticated-user) names the account,
 *   once per process and token; the comment's `user.id` must be it.
 * - A GitHub App: `GET /user` does not work with installation tokens, and the bot login (`<slug>[bot]`) would
 *   need another call as the App. The documented `performed_via_github_app` names the App that wrote the
 *   comment: its `id` (or `client_id`, when `appId` is a client id) must be the configured App's.
 */
async function authorCheck(
  context: Parameters<typeof githubClient>[0],
  gh: ReturnType<typeof githubClient>,
): Promise<(comment: IssueComment) => boolean> {
  const { config } = context;
  if (!config.token) {
    const appId = String(config.app?.appId);
    return (comment) => {
      const app = comment.performed_via_github_app;
      return !!app && (String(app.id) === appId || app.client_id === appId);
    };
  }
  const token = await context.secrets.get(config.token);
  const self = await cachedIdentity(`github:${config.baseUrl}`, token, async () => {
    const { data } = await gh.get<{ id?: unknown }>('/user', {}, 'find the account of the token (GET /user)');
    return typeof data?.id === 'number' ? String(data.id) : undefined;
  });
  return (comment) => self !== undefined && String(comment.user?.id) === self;
}

/**
 * One comment per pull request and service/environment on the pull requests that contain the deployed commit,
 * edited at each transition (REST: GET /repos/{o}/{r}/commits/{sha}/pulls, GET|POST
 * /repos/{o}/{r}/issues/{n}/comments, PATCH /repos/{o}/{r}/issues/comments/{id};
 * docs.github.com/rest/commits/commits#list-pull-requests-associated-with-a-commit and
 * docs.github.com/rest/issues/comments). Pull request comments are issue comments on GitHub.
 */
export const githubCommentTarget = defineTarget<GitHubCommentConfig>({
  type: 'github-comment',
  secretNames: githubSecretNames,
  async send({ deployment, transition, delivery }, context) {
    const { config, logger } = context;
    const subject = githubSubject(deployment, config.baseUrl);
    if ('skip' in subject) {
      logger.info(`no pull request comment: ${subject.skip}`, {
        target: context.name,
        deploymentId: deployment.id,
      });
      return {};
    }
    const { repo, commit } = subject;
    const gh = githubClient(context, repo);
    const base = `/repos/${repo.owner}/${repo.repo}`;
    const forge: CommentForge = {
      noun: 'pull request',
      async pullRequests() {
        const { data } = await gh.get<{ number?: unknown; state?: unknown }[]>(
          `${base}/commits/${encodeURIComponent(commit)}/pulls`,
          { per_page: 100 },
          `list the pull requests of ${commit.slice(0, 12)}`,
        );
        return (Array.isArray(data) ? data : [])
          .filter((pr) => typeof pr.number === 'number')
          .filter((pr) => config.pullRequests === 'all' || pr.state === 'open')
          .slice(0, MAX_PULL_REQUESTS)
          .map((pr) => String(pr.number));
      },
      async findComment(pr, marker) {
        const isShipcasts = await authorCheck(context, gh);
        for (let page = 1; page <= MAX_COMMENT_PAGES; page++) {
          const { data, headers } = await gh.get<IssueComment[]>(
            `${base}/issues/${pr}/comments`,
            { per_page: 100, page },
            `read the comments of pull request #${pr}`,
          );
          const found = (Array.isArray(data) ? data : []).find(
            (comment) =>
              typeof comment.body === 'string' && comment.body.startsWith(marker) && isShipcasts(comment),
          );
          if (found && typeof found.id === 'number')
            return { id: String(found.id), body: found.body as string };
          if (!/rel="next"/.test(headers.get('link') ?? '')) return undefined;
        }
        return undefined;
      },
      async readComment(pr, commentId) {
        const { data } = await gh.get<{ body?: unknown }>(
          `${base}/issues/comments/${encodeURIComponent(commentId)}`,
          {},
          `read comment ${commentId} on pull request #${pr}`,
        );
        return typeof data?.body === 'string' ? data.body : '';
      },
      async create(pr, body) {
        const { data } = await gh.post<{ id?: unknown }>(
          `${base}/issues/${pr}/comments`,
          { body },
          `comment on pull request #${pr}`,
        );
        return String(data?.id);
      },
      async update(pr, commentId, body) {
        await gh.patch(
          `${base}/issues/comments/${encodeURIComponent(commentId)}`,
          { body },
          `update comment ${commentId} on pull request #${pr}`,
        );
      },
    };
    return { refs: await commentOnChanges(forge, 'html', { deployment, transition, delivery }, context) };
  },
});
