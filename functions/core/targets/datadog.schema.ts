import * as z from 'zod';
import { baseUrlField, secretNameField, timeoutMsField } from './change-event.schema.ts';

/** Datadog sites (the org's `app.<site>`; the API is `api.<site>`). DORA Metrics are not on `ddog-gov.com`. */
export const DATADOG_SITES = [
  'datadoghq.com',
  'datadoghq.eu',
  'us3.datadoghq.com',
  'us5.datadoghq.com',
  'ap1.datadoghq.com',
  'ap2.datadoghq.com',
  'ddog-gov.com',
] as const;

/** Datadog: DORA deployments and (optionally) an event per transition; the API key is a secret. */
export const datadogConfigSchema = z
  .object({
    type: z.literal('datadog'),
    /** The Datadog site of the organization: US1 `datadoghq.com`, EU `datadoghq.eu`, US3, US5, AP1, AP2, GovCloud. */
    site: z.enum(DATADOG_SITES).default('datadoghq.com'),
    /** Overrides the API host the site names (a proxy, or a local stand-in in tests). */
    baseUrl: baseUrlField().optional(),
    /** Name of the secret holding an API key (sent as DD-API-KEY; no application key is needed to send). */
    apiKey: secretNameField('the Datadog API key', /^[0-9a-f]{32}$/i),
    /** Send finished deployments to DORA Metrics (`POST /api/v2/dora/deployment`). */
    dora: z.boolean().default(true),
    /** Which ends count as DORA deployments. */
    doraOn: z
      .array(z.enum(['succeeded', 'failed', 'stopped']))
      .min(1)
      .default(['succeeded']),
    /** DORA `team` (else Datadog takes the service's team from the Software Catalog). */
    team: z.string().min(1).max(100).optional(),
    /** Also post an event per transition (`POST /api/v1/events`), grouped per deployment. */
    events: z.boolean().default(false),
    /** Tags added to every event and DORA deployment (`key:value`). */
    tags: z
      .array(
        z
          .string()
          .regex(/^[A-Za-z][A-Za-z0-9_.:/-]{0,199}$/, 'a Datadog tag such as team:payments (letters first)')
          .refine((tag) => tag.includes(':'), 'a key:value tag'),
      )
      .max(50)
      .default([]),
    timeoutMs: timeoutMsField(),
  })
  .strict()
  .superRefine((config, ctx) => {
    if (!config.dora && !config.events) {
      ctx.addIssue({
        code: 'custom',
        path: ['events'],
        message: 'with dora off, turn events on: nothing would be sent',
      });
    }
    if (config.dora && config.site === 'ddog-gov.com' && !config.baseUrl) {
      ctx.addIssue({
        code: 'custom',
        path: ['dora'],
        message:
          'DORA Metrics are not available on the GovCloud site (ddog-gov.com): set dora to false and events to true',
      });
    }
  });
export type DatadogConfig = z.infer<typeof datadogConfigSchema>;
