import * as z from 'zod';
import { secretNameField, templateString, timeoutMsField } from './fields.schema.ts';

/** Placeholders of `key` and `name`. */
export const BITBUCKET_KEY_PLACEHOLDERS = ['service', 'environment'] as const;
/** Placeholders of `targetUrl` (values URI-encoded). */
export const BITBUCKET_URL_PLACEHOLDERS = ['service', 'environment', 'deploymentId', 'commit'] as const;

/** Config fields every Bitbucket target has: which API, where, and how to authenticate. */
export const bitbucketConnectionFields = {
  /** `cloud`: bitbucket.org; `server`: Bitbucket Server / Data Center at `baseUrl`. */
  api: z.enum(['cloud', 'server']).default('cloud'),
  /** Cloud: https://api.bitbucket.org (default); Server: the instance's URL, context path included. */
  baseUrl: z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL such as https://bitbucket.example.com' })
    .optional(),
  /** Secret holding a bearer token (Cloud access token; Data Center HTTP access token). Either this or `username` + `password`. */
  token: secretNameField().optional(),
  /** HTTP Basic user (Cloud: your Atlassian account email with an API token, or your username with an app password). */
  username: z
    .string()
    .min(1)
    .max(254)
    .regex(/^[^:\s]+$/, 'no spaces or colons')
    .optional(),
  /** Secret holding the Basic password (API token or app password). */
  password: secretNameField().optional(),
  timeoutMs: timeoutMsField(),
};

/** Refinement: exactly one way to authenticate; `baseUrl` set for Server, and https for Basic auth off this machine. */
export function checkBitbucketConnection(
  config: { api: string; baseUrl?: string; token?: string; username?: string; password?: string },
  ctx: z.RefinementCtx,
): void {
  const basic = config.username !== undefined || config.password !== undefined;
  if (config.token !== undefined && basic) {
    ctx.addIssue({
      code: 'custom',
      path: ['token'],
      message: 'use either `token` or `username` + `password`, not both',
    });
  } else if (config.token === undefined && !(config.username && config.password)) {
    ctx.addIssue({
      code: 'custom',
      path: config.username ? ['password'] : ['token'],
      message: 'set `token` (a secret name) or both `username` and `password` (a secret name)',
    });
  }
  if (config.api === 'server' && !config.baseUrl) {
    ctx.addIssue({
      code: 'custom',
      path: ['baseUrl'],
      message: 'required for api "server": the Bitbucket Data Center URL',
    });
  }
}

export const bitbucketStatusConfigSchema = z
  .object({
    type: z.literal('bitbucket-status'),
    ...bitbucketConnectionFields,
    /** Server only: `builds` (Data Center 7.4+, per repository) or the legacy `build-status` endpoint. */
    serverEndpoint: z.enum(['builds', 'build-status']).default('builds'),
    /** The status key (at most 40 characters once rendered; a longer one is shortened with a hash). */
    key: templateString(BITBUCKET_KEY_PLACEHOLDERS, 'key').default('shipcast-{{service}}-{{environment}}'),
    /** The status's display name. */
    name: templateString(BITBUCKET_KEY_PLACEHOLDERS, 'name').default(
      'Shipcast: {{service}} in {{environment}}',
    ),
    /** The status's link (Bitbucket requires one); without it, the deployment's own URL. */
    targetUrl: templateString(BITBUCKET_URL_PLACEHOLDERS, 'targetUrl')
      .refine((value) => /^https?:\/\//.test(value), 'targetUrl must start with http:// or https://')
      .optional(),
  })
  .strict()
  .superRefine(checkBitbucketConnection);
export type BitbucketStatusConfig = z.infer<typeof bitbucketStatusConfigSchema>;
