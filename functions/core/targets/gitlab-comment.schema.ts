import * as z from 'zod';
import { pullRequestsField } from './fields.schema.ts';
import { gitlabConnectionFields } from './gitlab-status.schema.ts';

export const gitlabCommentConfigSchema = z
  .object({
    type: z.literal('gitlab-comment'),
    ...gitlabConnectionFields,
    /** `all` merge requests containing the commit (merged ones too), or `open` ones only. */
    pullRequests: pullRequestsField,
  })
  .strict();
export type GitLabCommentConfig = z.infer<typeof gitlabCommentConfigSchema>;
