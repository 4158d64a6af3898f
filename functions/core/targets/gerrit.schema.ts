import * as z from 'zod';
import {
  httpsOrLoopback,
  httpUrlField,
  messageTemplatesField,
  perStatusField,
  secretNameField,
  timeoutMsField,
} from './fields.schema.ts';

/** A vote on the label; a status without one gets a message and no vote. */
const vote = () => z.number().int().min(-10).max(10);

export const gerritConfigSchema = z
  .object({
    type: z.literal('gerrit'),
    /** The Gerrit server (`https://review.example.com`, or with the path Gerrit is served under). */
    url: httpUrlField().refine(httpsOrLoopback, {
      error: 'must be an https URL (http only for localhost): the HTTP password travels with every request',
    }),
    /** The account Shipcast reviews as. */
    username: z
      .string()
      .min(1)
      .max(255)
      .regex(/^[^\s:]+$/, 'a Gerrit username (no spaces or colons)'),
    /** Name of the secret holding the account's HTTP password (Settings → HTTP Credentials). */
    password: secretNameField(),
    /** The label voted on. */
    label: z
      .string()
      .regex(/^[A-Za-z0-9-]{1,64}$/, 'a label name such as Verified')
      .default('Verified'),
    /** The vote per status moved to; `queued` and `in_progress` vote only when set here. */
    votes: perStatusField(vote).default({ succeeded: 1, failed: -1 }),
    /** Whom Gerrit e-mails about the review (Gerrit's default: ALL). */
    notify: z.enum(['NONE', 'OWNER', 'OWNER_REVIEWERS', 'ALL']).optional(),
    /** Title and text templates of the review message (a route's `message` wins). */
    message: messageTemplatesField(),
    timeoutMs: timeoutMsField(),
  })
  .strict();
export type GerritConfig = z.infer<typeof gerritConfigSchema>;
