import type * as z from 'zod';
import { webhookChatSchema } from './chat-webhook.schema.ts';

/** Discord: `https://discord.com/api/webhooks/<id>/<token>`, `?thread_id=` allowed. */
export const discordConfigSchema = webhookChatSchema('discord');
export type DiscordConfig = z.infer<typeof discordConfigSchema>;
