import * as z from 'zod';
import { baseUrlField, secretNameField, timeoutMsField } from './change-event.schema.ts';

/** PagerDuty's Events API host (US service region); `https://events.eu.pagerduty.com` for the EU one. */
export const PAGERDUTY_DEFAULT_URL = 'https://events.pagerduty.com';

/** PagerDuty Change Events (Events API v2): the integration's routing key is a secret. */
export const pagerdutyConfigSchema = z
  .object({
    type: z.literal('pagerduty'),
    /** Name of the secret holding the Events API v2 integration key (`routing_key`) of the service. */
    routingKey: secretNameField('the routing key', /^[0-9a-f]{32}$/i),
    /** Also send a change event when the deployment starts (the first of queued or in_progress). */
    onStart: z.boolean().default(false),
    /** Events API host: `https://events.eu.pagerduty.com` for the EU service region, or a proxy. */
    url: baseUrlField().default(PAGERDUTY_DEFAULT_URL),
    /** `payload.source`; default: `<service>/<environment>`. */
    source: z.string().min(1).max(255).optional(),
    timeoutMs: timeoutMsField(),
  })
  .strict();
export type PagerDutyConfig = z.infer<typeof pagerdutyConfigSchema>;
