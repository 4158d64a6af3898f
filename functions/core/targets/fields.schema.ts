import * as z from 'zod';
import { CHAT_PLACEHOLDER_NAMES } from '../chat/template.ts';
import { templateProblems } from '../template.ts';

/**
 * Config fields several targets' schemas share (`<type>.schema.ts` files import them; like every schema they stay
 * out of the function bundles).
 */

/** The name of a secret, never its value. */
export const secretNameField = () =>
  z
    .string()
    .regex(/^[A-Za-z0-9_./-]{1,128}$/, 'the name of a secret (letters, digits and _ . / -), never its value');

/** A per-request timeout in milliseconds. */
export const timeoutMsField = () => z.number().int().min(100).max(60_000).optional();

/** An http(s) URL. */
export const httpUrlField = () => z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });

/** https, or http to this machine only (a local server): for URLs that a credential is sent to. */
export function httpsOrLoopback(value: string): boolean {
  const url = new URL(value);
  return url.protocol === 'https:' || ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
}

/** A logic-less template (`{{service}} → {{environment}}`); an unknown placeholder fails when the config loads. */
export const templateField = (max = 1000) =>
  z
    .string()
    .min(1)
    .max(max)
    .superRefine((template, ctx) => {
      for (const problem of templateProblems(template, CHAT_PLACEHOLDER_NAMES)) {
        ctx.addIssue({ code: 'custom', message: problem });
      }
    });

/** Title and text templates; a route's `message` wins over them. */
export const messageTemplatesField = () =>
  z
    .object({ title: templateField().optional(), text: templateField(4000).optional() })
    .strict()
    .optional();

/** A value per status a deployment can move to (`queued` … `stopped`), each optional. */
export const perStatusField = (value: () => z.ZodNumber) =>
  z
    .object({
      queued: value().optional(),
      in_progress: value().optional(),
      succeeded: value().optional(),
      failed: value().optional(),
      stopped: value().optional(),
    })
    .strict();

/**
 * A template field (`{{name}}` placeholders): unknown placeholders and stray braces fail at config load.
 */
export function templateString(allowed: readonly string[], field: string) {
  return z.string().superRefine((value, ctx) => {
    for (const problem of templateProblems(value, allowed)) {
      ctx.addIssue({ code: 'custom', message: `${field}: ${problem}` });
    }
  });
}

/** Which pull requests containing the commit get a comment: all of them (merged ones too), or open ones only. */
export const pullRequestsField = z.enum(['all', 'open']).default('all');

/**
 * A logic-less template (`{{service}} {{version}} → {{environment}}`), checked when the config loads:
 * an unknown placeholder is a config error naming it, not a blank at send time.
 */
export const templateSchema = z
  .string()
  .min(1)
  .max(1000)
  .superRefine((template, ctx) => {
    for (const problem of templateProblems(template, CHAT_PLACEHOLDER_NAMES)) {
      ctx.addIssue({ code: 'custom', message: problem });
    }
  });

/** Title and text a route or target may override. */
export const messageTemplatesSchema = z
  .object({ title: templateSchema.optional(), text: templateSchema.optional() })
  .strict()
  .optional();
