import * as z from 'zod';
import {
  httpsOrLoopback,
  httpUrlField,
  messageTemplatesField,
  perStatusField,
  secretNameField,
  timeoutMsField,
} from './fields.schema.ts';

/** Pushover's API root. */
export const PUSHOVER_DEFAULT_URL = 'https://api.pushover.net';

/** A Pushover priority: -2 (no notification) … 2 (emergency: repeated until acknowledged). */
const priority = () => z.number().int().min(-2).max(2);

export const pushoverConfigSchema = z
  .object({
    type: z.literal('pushover'),
    /** Name of the secret holding the application's API token. */
    token: secretNameField(),
    /** Name of the secret holding the user or group key of the recipients. */
    user: secretNameField(),
    /** Only these devices of the user (comma-separated device names). */
    device: z
      .string()
      .regex(
        /^[A-Za-z0-9_-]{1,25}(,[A-Za-z0-9_-]{1,25})*$/,
        'device names (up to 25 of A-Z a-z 0-9 _ -), comma-separated',
      )
      .optional(),
    /** Priority per status moved to; unset statuses keep Shipcast's defaults (see the docs). */
    priorities: perStatusField(priority).default({}),
    /** Priority 2 only: how often Pushover repeats the notification and for how long (seconds). */
    emergency: z
      .object({
        retry: z.number().int().min(30).max(10_800).default(60),
        expire: z.number().int().min(30).max(10_800).default(3600),
      })
      .strict()
      .default({ retry: 60, expire: 3600 }),
    /** A sound name Pushover knows (or one of the application's custom sounds). */
    sound: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, 'a sound name')
      .optional(),
    /** Title and text templates (a route's `message` wins). */
    message: messageTemplatesField(),
    /** API root (a proxy, or a local server in tests); https, or http to this machine only. */
    baseUrl: httpUrlField()
      .refine(httpsOrLoopback, { error: 'must be an https URL (http only for localhost)' })
      .default(PUSHOVER_DEFAULT_URL),
    timeoutMs: timeoutMsField(),
  })
  .strict();
export type PushoverConfig = z.infer<typeof pushoverConfigSchema>;
