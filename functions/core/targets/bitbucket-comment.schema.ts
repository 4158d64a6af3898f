import * as z from 'zod';
import { bitbucketConnectionFields, checkBitbucketConnection } from './bitbucket-status.schema.ts';
import { pullRequestsField } from './fields.schema.ts';

const { api: _api, ...cloudConnection } = bitbucketConnectionFields;

/** Bitbucket Cloud only (Data Center pull request comments are not supported yet). */
export const bitbucketCommentConfigSchema = z
  .object({
    type: z.literal('bitbucket-comment'),
    ...cloudConnection,
    /** `all` pull requests containing the commit (merged ones too), or `open` ones only. */
    pullRequests: pullRequestsField,
  })
  .strict()
  .superRefine((config, ctx) => checkBitbucketConnection({ ...config, api: 'cloud' }, ctx));
export type BitbucketCommentConfig = z.infer<typeof bitbucketCommentConfigSchema>;
