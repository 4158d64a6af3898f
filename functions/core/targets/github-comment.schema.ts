import * as z from 'zod';
import { checkGitHubAuth, githubConnectionFields } from './github.schema.ts';

/** Which pull requests containing the commit get a comment: all of them (merged ones too), or open ones only. */
export const pullRequestsField = z.enum(['all', 'open']).default('all');

export const githubCommentConfigSchema = z
  .object({
    type: z.literal('github-comment'),
    ...githubConnectionFields,
    pullRequests: pullRequestsField,
  })
  .strict()
  .superRefine(checkGitHubAuth);
export type GitHubCommentConfig = z.infer<typeof githubCommentConfigSchema>;
