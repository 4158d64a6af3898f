import * as z from 'zod';
import { templateString } from './fields.schema.ts';
import { checkGitHubAuth, githubConnectionFields } from './github.schema.ts';

/** Placeholders of `environmentUrl`. */
export const URL_PLACEHOLDERS = [
  'service',
  'environment',
  'githubEnvironment',
  'version',
  'deploymentId',
] as const;

/** GitHub Deployments: a deployment per Shipcast deployment, its statuses following the transitions. */
export const githubDeploymentConfigSchema = z
  .object({
    type: z.literal('github-deployment'),
    ...githubConnectionFields,
    /** Shipcast environment (exact name or glob) → GitHub environment; unmatched names are used as they are. */
    environments: z.record(z.string().min(1), z.string().min(1).max(255)).optional(),
    task: z.string().min(1).max(255).default('deploy'),
    /** Commit status contexts GitHub must see succeed before it creates the deployment (default: none). */
    requiredContexts: z.array(z.string().min(1)).default([]),
    transientEnvironment: z.boolean().optional(),
    productionEnvironment: z.boolean().optional(),
    /** URL of the deployed environment, e.g. `https://{{environment}}.example.com`. */
    environmentUrl: templateString(URL_PLACEHOLDERS, 'environmentUrl')
      .refine((value) => /^https?:\/\//.test(value), 'environmentUrl must start with http:// or https://')
      .optional(),
    /** On success, let GitHub mark earlier non-production deployments of the environment inactive. */
    autoInactive: z.boolean().default(true),
    /**
     * A deployment that came from GitHub (a `deployment` webhook) already is a GitHub deployment of its
     * repository: it never gets a second one. With this on, its transitions are posted as statuses of that
     * original deployment; off (default), it is left alone.
     */
    statusesOnGitHubDeployments: z.boolean().default(false),
  })
  .strict()
  .superRefine(checkGitHubAuth);
export type GitHubDeploymentConfig = z.infer<typeof githubDeploymentConfigSchema>;
