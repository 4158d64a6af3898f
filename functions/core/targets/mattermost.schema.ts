import * as z from 'zod';
import { httpUrlField, messageTemplatesSchema, secretNameField, timeoutMsField } from './fields.schema.ts';

/** Mattermost: an incoming webhook whose URL is a secret. */
export const mattermostConfigSchema = z
  .object({
    type: z.literal('mattermost'),
    /** Secret holding the incoming webhook URL (`https://mm.example.com/hooks/<key>`): the URL is a credential. */
    webhookUrl: secretNameField(),
    /** Channel name (`town-square`, not the display name) overriding the webhook's own, if the webhook is not locked. */
    channel: z
      .string()
      .regex(/^[a-z0-9_-]{1,64}$/, 'a channel name: lowercase letters, digits, _ and -')
      .optional(),
    /** Overrides the poster's name (the server must allow integrations to override usernames). */
    username: z.string().min(1).max(64).optional(),
    /** Overrides the poster's picture (the server must allow integrations to override profile picture icons). */
    iconUrl: httpUrlField().optional(),
    /** Title and text templates (a route's `message` wins). */
    message: messageTemplatesSchema,
    timeoutMs: timeoutMsField(),
  })
  .strict();
export type MattermostConfig = z.infer<typeof mattermostConfigSchema>;
