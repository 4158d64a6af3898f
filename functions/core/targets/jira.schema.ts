import * as z from 'zod';
import { secretNameField } from './fields.schema.ts';

/** Atlassian's API host, for the deployments API and the OAuth token alike. */
export const JIRA_DEFAULT_URL = 'https://api.atlassian.com';
/** Jira's environment types. */
export const JIRA_ENVIRONMENT_TYPES = [
  'unmapped',
  'development',
  'testing',
  'staging',
  'production',
] as const;

/** The `jira` target's config: the Jira Cloud site, the OAuth credentials, and how environments are typed. */
export const jiraConfigSchema = z
  .object({
    type: z.literal('jira'),
    /** The site's cloud id (`https://<site>.atlassian.net/_edge/tenant_info` answers it). */
    cloudId: z
      .string()
      .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'a cloud id (a UUID)'),
    /** Name of the secret holding the OAuth client id (Jira: Apps → OAuth credentials, permission "Deployments"). */
    clientId: secretNameField(),
    /** Name of the secret holding the OAuth client secret. */
    clientSecret: secretNameField(),
    /** Atlassian's API (and token) host: https://api.atlassian.com, or a proxy. */
    baseUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).default(JIRA_DEFAULT_URL),
    /** Shipcast environment (exact name or glob) → Jira environment type; unmatched names are typed by their words. */
    environmentTypes: z.record(z.string().min(1), z.enum(JIRA_ENVIRONMENT_TYPES)).optional(),
    /** Link of a deployment that has none: a URL with `{deploymentId}`, `{service}`, `{environment}` placeholders. */
    url: z
      .string()
      .regex(
        /^https?:\/\/\S+$/,
        'an http(s) URL, placeholders {deploymentId}, {service}, {environment} allowed',
      )
      .optional(),
    timeoutMs: z.number().int().min(100).max(60_000).optional(),
  })
  .strict();
export type JiraConfig = z.infer<typeof jiraConfigSchema>;
