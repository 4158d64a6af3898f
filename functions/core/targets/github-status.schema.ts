import * as z from 'zod';
import { templateString } from './fields.schema.ts';
import { checkGitHubAuth, githubConnectionFields } from './github.schema.ts';

/** Placeholders of `context`. */
export const CONTEXT_PLACEHOLDERS = ['service', 'environment'] as const;

/** GitHub commit statuses: one status per transition on the deployed commit. */
export const githubStatusConfigSchema = z
  .object({
    type: z.literal('github-status'),
    ...githubConnectionFields,
    /** The status's `context`; placeholders `{{service}}` and `{{environment}}`. */
    context: templateString(CONTEXT_PLACEHOLDERS, 'context')
      .refine((value) => value.trim().length > 0, 'context must not be empty')
      .default('shipcast/{{environment}}'),
  })
  .strict()
  .superRefine(checkGitHubAuth);
export type GitHubStatusConfig = z.infer<typeof githubStatusConfigSchema>;
