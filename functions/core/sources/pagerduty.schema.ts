import * as z from 'zod';
import { secretName } from '../config-fields.schema.ts';

/** PagerDuty V3 webhooks (`POST /v1/hooks/pagerduty`): incidents, docs/sources/pagerduty.md. */
export const pagerdutySourceConfigSchema = z
  .object({
    /** Name of the secret holding the webhook subscription's signing secret. */
    secret: secretName,
    /** PagerDuty service (its id, else its name) → the Shipcast service and environment of its incidents. */
    services: z
      .record(
        z.string().min(1).max(255),
        z
          .object({
            service: z.string().trim().min(1).max(128),
            environment: z.string().trim().min(1).max(128).optional(),
          })
          .strict(),
      )
      .default({}),
    /** The environment of a service entry without one, and of a service not in `services`. */
    environment: z.string().trim().min(1).max(128).default('production'),
    /** A service not in `services`: `service-name` takes its PagerDuty name, `ignore` stores nothing. */
    unmapped: z.enum(['service-name', 'ignore']).default('service-name'),
  })
  .strict();
