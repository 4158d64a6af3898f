import * as z from 'zod';

/** The log target: Shipcast's own log, no settings. */
export const logConfigSchema = z.object({ type: z.literal('log') }).strict();
export type LogConfig = z.infer<typeof logConfigSchema>;
