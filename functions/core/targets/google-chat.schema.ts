import type * as z from 'zod';
import { webhookChatSchema } from './chat-webhook.schema.ts';

/** Google Chat: the space's incoming-webhook URL (it carries the key and token). */
export const googleChatConfigSchema = webhookChatSchema('google-chat');
export type GoogleChatConfig = z.infer<typeof googleChatConfigSchema>;
