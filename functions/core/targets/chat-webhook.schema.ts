import * as z from 'zod';
import { messageTemplatesSchema, timeoutMsField } from './fields.schema.ts';

/** The config field naming the secret that holds a chat webhook URL. */
const webhookUrlSecret = z
  .string()
  .regex(
    /^[A-Za-z0-9_./-]{1,128}$/,
    'the name of the secret holding the webhook URL (letters, digits and _ . / -): a webhook URL is a credential, keep it in the secret, not in the config',
  );

/** A chat target reached by an incoming webhook whose URL (it carries the credential) is in a secret. */
export const webhookChatSchema = <T extends string>(type: T) =>
  z
    .object({
      type: z.literal(type),
      /** Name of the secret holding the webhook URL. */
      webhookUrl: webhookUrlSecret,
      /** Title/text templates (a route's `message` wins over these). */
      message: messageTemplatesSchema,
      timeoutMs: timeoutMsField(),
    })
    .strict();
