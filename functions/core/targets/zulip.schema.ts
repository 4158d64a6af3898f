import * as z from 'zod';
import {
  httpsOrLoopback,
  httpUrlField,
  messageTemplatesSchema,
  secretNameField,
  templateSchema,
  timeoutMsField,
} from './fields.schema.ts';

/** The topic a message goes to when the config sets none. */
export const ZULIP_DEFAULT_TOPIC = '{{service}} / {{environment}}';

/** Zulip: a bot's message per deployment in a stream's topic, edited as the deployment moves on. */
export const zulipConfigSchema = z
  .object({
    type: z.literal('zulip'),
    /** The organization's URL (`https://example.zulipchat.com`); http only for localhost. */
    site: httpUrlField().refine(httpsOrLoopback, { error: 'must be an https URL (http only for localhost)' }),
    /** The bot's email address (the user half of HTTP Basic auth). */
    email: z
      .string()
      .max(254)
      .regex(/^[^\s@:]+@[^\s@:]+$/, "the bot's email address"),
    /** Name of the secret holding the bot's API key. */
    apiKey: secretNameField(),
    /** The channel (stream) to post in, by name. */
    stream: z
      .string()
      .min(1)
      .max(200)
      .regex(/^[^\p{Cc}]+$/u, 'no control characters'),
    /** Topic template; the result is cut to 60 characters. */
    topic: templateSchema.default(ZULIP_DEFAULT_TOPIC),
    /** `stream` works on every Zulip server; `channel` is its newer name (Zulip 9.0+). */
    messageType: z.enum(['stream', 'channel']).default('stream'),
    /** Title/text templates (Zulip Markdown allowed in the template text; values are made inert). */
    message: messageTemplatesSchema,
    timeoutMs: timeoutMsField(),
  })
  .strict();
export type ZulipConfig = z.infer<typeof zulipConfigSchema>;
