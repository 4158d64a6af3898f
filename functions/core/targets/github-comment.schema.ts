import * as z from 'zod';
import { pullRequestsField } from './fields.schema.ts';
import { checkGitHubAuth, githubConnectionFields } from './github.schema.ts';

export const githubCommentConfigSchema = z
  .object({
    type: z.literal('github-comment'),
    ...githubConnectionFields,
    pullRequests: pullRequestsField,
  })
  .strict()
  .superRefine(checkGitHubAuth);
export type GitHubCommentConfig = z.infer<typeof githubCommentConfigSchema>;
