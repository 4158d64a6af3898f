import type * as z from 'zod';
import { webhookChatSchema } from './chat-webhook.schema.ts';

/** Teams: a Workflows webhook URL ("When a Teams webhook request is received"). */
export const teamsConfigSchema = webhookChatSchema('teams');
export type TeamsConfig = z.infer<typeof teamsConfigSchema>;
