import { gitlabClient, gitlabSecretNames, gitlabSubject, projectApi } from './gitlab.ts';
import type { GitLabCommentConfig } from './gitlab-comment.schema.ts';
import { type CommentForge, cachedIdentity, commentOnChanges } from './pr-comment.ts';
import { defineTarget } from './target.ts';

/** Merge requests commented on per deployment at most. */
export const MAX_MERGE_REQUESTS = 10;
/** Pages of 100 notes searched for the marker on one merge request. */
const MAX_NOTE_PAGES = 10;

interface MergeRequest {
  iid?: unknown;
  project_id?: unknown;
  state?: unknown;
}

/**
 * One note per merge request and service/environment on the merge requests that contain the deployed commit,
 * edited at each transition (GET /projects/:id/repository/commits/:sha/merge_requests, GET|POST
 * /projects/:id/merge_requests/:iid/notes, PUT …/notes/:note_id; docs.gitlab.com/api/commits and
 * docs.gitlab.com/api/notes). A merge request is addressed as `<project id>!<iid>`: from a fork, its notes
 * live in the target project.
 */
export const gitlabCommentTarget = defineTarget<GitLabCommentConfig>({
  type: 'gitlab-comment',
  secretNames: gitlabSecretNames,
  async send({ deployment, transition, delivery }, context) {
    const { config, logger } = context;
    const subject = gitlabSubject(deployment, config.baseUrl);
    if ('skip' in subject) {
      logger.info(`no merge request note: ${subject.skip}`, {
        target: context.name,
        deploymentId: deployment.id,
      });
      return {};
    }
    const { project, commit } = subject;
    const gl = gitlabClient(context);
    const notes = (mr: string) => {
      const [projectId, iid] = mr.split('!');
      return `${projectApi(projectId as string)}/merge_requests/${iid}/notes`;
    };
    const forge: CommentForge = {
      noun: 'merge request',
      async pullRequests() {
        const { data } = await gl.get<MergeRequest[]>(
          `${projectApi(project)}/repository/commits/${encodeURIComponent(commit)}/merge_requests`,
          { per_page: 100 },
          `list the merge requests of ${commit.slice(0, 12)} in ${project}`,
        );
        return (Array.isArray(data) ? data : [])
          .filter((mr) => typeof mr.iid === 'number' && typeof mr.project_id === 'number')
          .filter((mr) => config.pullRequests === 'all' || mr.state === 'opened')
          .slice(0, MAX_MERGE_REQUESTS)
          .map((mr) => `${mr.project_id}!${mr.iid}`);
      },
      async findComment(mr, marker) {
        // Only Shipcast's own notes: GET /user names the token's account (docs.gitlab.com/api/users, "Get the
        // current user"), once per process and token; a note's `author.id` must be it.
        const token = await context.secrets.get(config.token);
        const self = await cachedIdentity(`gitlab:${config.baseUrl}`, token, async () => {
          const { data } = await gl.get<{ id?: unknown }>(
            '/user',
            {},
            'find the account of the token (GET /user)',
          );
          return typeof data?.id === 'number' ? String(data.id) : undefined;
        });
        for (let page = 1; page <= MAX_NOTE_PAGES; page++) {
          const { data, headers } = await gl.get<
            { id?: unknown; body?: unknown; system?: unknown; author?: { id?: unknown } | null }[]
          >(
            notes(mr),
            { per_page: 100, page, sort: 'asc', order_by: 'created_at' },
            `read the notes of merge request ${mr}`,
          );
          const found = (Array.isArray(data) ? data : []).find(
            (note) =>
              note.system !== true &&
              self !== undefined &&
              String(note.author?.id) === self &&
              typeof note.body === 'string' &&
              note.body.startsWith(marker),
          );
          if (found && typeof found.id === 'number')
            return { id: String(found.id), body: found.body as string };
          if (!headers.get('x-next-page')) return undefined;
        }
        return undefined;
      },
      async readComment(mr, noteId) {
        const { data } = await gl.get<{ body?: unknown }>(
          `${notes(mr)}/${encodeURIComponent(noteId)}`,
          {},
          `read note ${noteId} on merge request ${mr}`,
        );
        return typeof data?.body === 'string' ? data.body : '';
      },
      async create(mr, body) {
        const { data } = await gl.post<{ id?: unknown }>(
          notes(mr),
          { body },
          `comment on merge request ${mr}`,
        );
        return String(data?.id);
      },
      async update(mr, noteId, body) {
        await gl.put(
          `${notes(mr)}/${encodeURIComponent(noteId)}`,
          { body },
          `update note ${noteId} on merge request ${mr}`,
        );
      },
    };
    return { refs: await commentOnChanges(forge, 'html', { deployment, transition, delivery }, context) };
  },
});
