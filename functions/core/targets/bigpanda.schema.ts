import * as z from 'zod';
import { templateProblems } from '../template.ts';
import { httpUrlField, secretNameField, timeoutMsField } from './fields.schema.ts';

/** BigPanda's own API host; `https://eu-api.bigpanda.io` for the EU region, or a proxy. */
export const BIGPANDA_DEFAULT_URL = 'https://api.bigpanda.io';

/** The values a component template may use: `{{service}}`, `{{environment}}`, `{{source}}`, `{{details.<key>}}`. */
const PLACEHOLDER_NAMES = ['service', 'environment', 'source'] as const;
/** The component template's placeholders, as config errors list them. */
export const COMPONENT_PLACEHOLDERS = '{{service}}, {{environment}}, {{source}} and {{details.<key>}}';
/** Whether `name` is a placeholder of the component template. */
export const isKnownComponentPlaceholder = (name: string) =>
  (PLACEHOLDER_NAMES as readonly string[]).includes(name) || /^details\.[A-Za-z0-9_-]+$/.test(name);

const componentTemplate = z
  .string()
  .min(1)
  .max(256)
  .superRefine((template, ctx) => {
    for (const problem of templateProblems(template, isKnownComponentPlaceholder, COMPONENT_PLACEHOLDERS)) {
      ctx.addIssue({ code: 'custom', message: problem });
    }
  });

/** BigPanda: deployment starts and ends (or changes) on the component the deployment names. */
export const bigpandaConfigSchema = z
  .object({
    type: z.literal('bigpanda'),
    /** `deployments`: the deployment start/end API (as the Ansible module); `changes`: the Changes API. */
    api: z.enum(['deployments', 'changes']).default('deployments'),
    /** API base URL: the EU region (`https://eu-api.bigpanda.io`) or a proxy, path prefix allowed. */
    url: httpUrlField().default(BIGPANDA_DEFAULT_URL),
    /** Secret holding the bearer token (deployments: the org token; changes: a user API key). */
    token: secretNameField(),
    /** Secret holding the app key sent as `x-bp-app-key` (required for `api: "changes"`). */
    appKey: secretNameField().optional(),
    /** `source_system` of deployment starts, and a tag of changes. */
    sourceSystem: z.string().min(1).max(128).default('shipcast'),
    /** BigPanda component, from the deployment's facts. */
    component: componentTemplate.default('{{service}}'),
    timeoutMs: timeoutMsField(),
  })
  .strict()
  .superRefine((config, ctx) => {
    if (config.api === 'changes' && !config.appKey) {
      ctx.addIssue({
        code: 'custom',
        path: ['appKey'],
        message:
          'required when api is "changes": the name of the secret holding the BigPanda app key (sent as x-bp-app-key)',
      });
    }
  });
export type BigPandaConfig = z.infer<typeof bigpandaConfigSchema>;
