import * as z from 'zod';
import { secretNameField, templateString, timeoutMsField } from './fields.schema.ts';

/** GitLab.com, the default instance. */
export const GITLAB_URL = 'https://gitlab.com';
/** Placeholders of `name`. */
export const GITLAB_NAME_PLACEHOLDERS = ['service', 'environment'] as const;
/** Placeholders of `targetUrl` (values URI-encoded). */
export const GITLAB_TARGET_URL_PLACEHOLDERS = ['service', 'environment', 'deploymentId', 'commit'] as const;

/** Config fields every GitLab target has. */
export const gitlabConnectionFields = {
  /** GitLab.com or a self-managed instance, without `/api/v4` (e.g. https://gitlab.example.com). */
  baseUrl: z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL such as https://gitlab.example.com' })
    .refine((url) => !/\/api\/v4\/?$/.test(url), 'leave out /api/v4: Shipcast adds it')
    .default(GITLAB_URL),
  /** Name of the secret holding a personal, project or group access token with the `api` scope. */
  token: secretNameField(),
  timeoutMs: timeoutMsField(),
};

export const gitlabStatusConfigSchema = z
  .object({
    type: z.literal('gitlab-status'),
    ...gitlabConnectionFields,
    /** The status's name (GitLab's `name`/`context`); placeholders `{{service}}` and `{{environment}}`. */
    name: templateString(GITLAB_NAME_PLACEHOLDERS, 'name')
      .refine((value) => value.trim().length > 0, 'name must not be empty')
      .default('shipcast/{{environment}}'),
    /** The status's link; without it, the deployment's own URL. */
    targetUrl: templateString(GITLAB_TARGET_URL_PLACEHOLDERS, 'targetUrl')
      .refine((value) => /^https?:\/\//.test(value), 'targetUrl must start with http:// or https://')
      .optional(),
  })
  .strict();
export type GitLabStatusConfig = z.infer<typeof gitlabStatusConfigSchema>;
