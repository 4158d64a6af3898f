import * as z from 'zod';
import { templateProblems } from '../template.ts';
import { baseUrlField, secretNameField, timeoutMsField } from './change-event.schema.ts';

/** sentry.io (US); `https://de.sentry.io` for the EU region, or a self-hosted Sentry. */
export const SENTRY_DEFAULT_URL = 'https://sentry.io';
/** What a `release` template may use. */
export const SENTRY_RELEASE_PLACEHOLDERS = [
  'version',
  'commit',
  'commit.short',
  'service',
  'environment',
] as const;

const slug = (what: string) =>
  z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,49}$/, `the ${what} slug (as in its URL: letters, digits, _ and -)`);

/** Sentry: a release deploy per successful deployment, the release created with its commit if missing. */
export const sentryConfigSchema = z
  .object({
    type: z.literal('sentry'),
    /** `https://sentry.io`, a region (`https://de.sentry.io`) or a self-hosted Sentry. */
    url: baseUrlField().default(SENTRY_DEFAULT_URL),
    organization: slug('organization'),
    /** Projects the release and its deploys belong to. */
    projects: z.array(slug('project')).min(1).max(50),
    /** Name of the secret holding an auth token with project:releases (an organization token works). */
    token: secretNameField('the Sentry auth token', /^sntr[ysu]_/),
    /**
     * The release version (what the SDKs report as `release`): placeholders `{{version}}` (the deployment's
     * version, else its commit), `{{commit}}`, `{{commit.short}}`, `{{service}}`, `{{environment}}`.
     */
    release: z
      .string()
      .min(1)
      .max(200)
      .superRefine((value, ctx) => {
        for (const problem of templateProblems(value, SENTRY_RELEASE_PLACEHOLDERS))
          ctx.addIssue({ code: 'custom', message: problem });
      })
      .default('{{version}}'),
    timeoutMs: timeoutMsField(),
  })
  .strict();
export type SentryConfig = z.infer<typeof sentryConfigSchema>;
