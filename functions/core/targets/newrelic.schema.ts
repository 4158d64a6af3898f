import * as z from 'zod';

/** The `newrelic` target's config: the account's region, the user key, and the entity the changes are on. */
export const newrelicConfigSchema = z
  .object({
    type: z.literal('newrelic'),
    /** Name of the secret holding a New Relic User API key (`NRAK-…`), sent as `API-Key`. */
    apiKey: z
      .string()
      .regex(/^[A-Za-z0-9_./-]{1,128}$/, 'the name of the secret holding the User API key, never the key'),
    /** The account's data center: NerdGraph at api.newrelic.com (US) or api.eu.newrelic.com (EU). */
    region: z.enum(['US', 'EU']).default('US'),
    /** The NerdGraph URL itself (a proxy, a test server); wins over `region`. */
    baseUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
    /** The entity's GUID. Either this or `entityName`. */
    entityGuid: z
      .string()
      .regex(
        /^[A-Za-z0-9+/=_-]{8,200}$/,
        'an entity GUID as New Relic shows it (base64, e.g. MXxBUE18QVBQTElDQVRJT058MTIz)',
      )
      .optional(),
    /** The entity's name, looked up once per deployment with an entity search. Either this or `entityGuid`. */
    entityName: z.string().min(1).max(255).optional(),
    /** The entity domain searched for `entityName` (APM, BROWSER, INFRA, EXT, …). */
    entityDomain: z
      .string()
      .regex(/^[A-Z]{2,12}$/, 'an entity domain such as APM')
      .default('APM'),
    /** The change-tracking deployment type (basic, blue_green, canary, rolling, shadow, …). */
    deploymentType: z
      .string()
      .regex(/^[a-z_]{1,32}$/, 'a lowercase deployment type such as basic')
      .default('basic'),
    timeoutMs: z.number().int().min(100).max(60_000).optional(),
  })
  .strict()
  .superRefine((config, ctx) => {
    if ((config.entityGuid === undefined) === (config.entityName === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['entityGuid'],
        message: 'set exactly one of entityGuid and entityName: the entity the deployments are changes of',
      });
    }
  });
export type NewRelicConfig = z.infer<typeof newrelicConfigSchema>;
