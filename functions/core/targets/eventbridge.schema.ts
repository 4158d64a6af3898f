import * as z from 'zod';
import { EVENT_BUS_ARN, EVENT_BUS_NAME } from './eventbridge-bus.ts';

/** The `eventbridge` target's config: the bus, and the format of the events put on it. */
export const eventbridgeConfigSchema = z
  .object({
    type: z.literal('eventbridge'),
    /** The bus: a name in the dispatcher's account and region, or the ARN of a bus (another account's too). */
    bus: z
      .string()
      .max(1600)
      .refine((bus) => EVENT_BUS_NAME.test(bus) || EVENT_BUS_ARN.test(bus), {
        error:
          'an event bus name (letters, digits and . - _ /, up to 256) or ARN (arn:aws:events:<region>:<account>:event-bus/<name>)',
      }),
    /** `cloudevents` (default): every transition as a CloudEvent of Shipcast's type; `cdevents`: finished deployments as CDEvents. */
    format: z.enum(['cloudevents', 'cdevents']).default('cloudevents'),
    /** The entry's `Source` and the CloudEvent's `source`; EventBridge reserves `aws.*`. */
    source: z
      .string()
      .min(1)
      .max(256)
      .regex(/^[^\s]+$/, 'no spaces')
      .refine((source) => !source.toLowerCase().startsWith('aws.'), {
        error: 'EventBridge reserves sources starting with "aws."',
      })
      .default('shipcast'),
  })
  .strict();
export type EventBridgeConfig = z.infer<typeof eventbridgeConfigSchema>;
