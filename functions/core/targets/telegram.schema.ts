import * as z from 'zod';
import {
  httpsOrLoopback,
  httpUrlField,
  messageTemplatesSchema,
  secretNameField,
  timeoutMsField,
} from './fields.schema.ts';

/** The Bot API's own host; a local Bot API server or a proxy can replace it. */
export const TELEGRAM_DEFAULT_URL = 'https://api.telegram.org';

/** Telegram: a bot's messages to a chat, edited as the deployment moves on. */
export const telegramConfigSchema = z
  .object({
    type: z.literal('telegram'),
    /** Name of the secret holding the bot token (`123456:ABC…` from @BotFather). */
    token: secretNameField(),
    /** A numeric chat id (groups and channels are negative) or `@channelusername`. */
    chatId: z.union([
      z.number().int(),
      z.string().regex(/^(-?\d{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31})$/, 'a numeric chat id or @channelusername'),
    ]),
    /** Forum topic (message thread) of a supergroup to post in. */
    messageThreadId: z.number().int().positive().optional(),
    /** https, or http to this machine only (a local Bot API server): the bot token travels in the URL path. */
    baseUrl: httpUrlField()
      .refine(httpsOrLoopback, { error: 'must be an https URL (http only for localhost)' })
      .default(TELEGRAM_DEFAULT_URL),
    /** Title/text templates (Telegram HTML allowed in the template text; values are escaped). */
    message: messageTemplatesSchema,
    timeoutMs: timeoutMsField(),
  })
  .strict();
export type TelegramConfig = z.infer<typeof telegramConfigSchema>;
