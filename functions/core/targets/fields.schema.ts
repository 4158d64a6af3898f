import * as z from 'zod';
import { templateProblems } from './github.ts';

/** Config fields shared by the target schemas (`schemas.ts` and the `<type>.schema.ts` files). */

/** The name of a secret (never its value). */
export const secretName = z
  .string()
  .regex(/^[A-Za-z0-9_./-]{1,128}$/, 'secret names use letters, digits and _ . / -');

/** An http(s) URL. */
export const httpUrl = () => z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });

/** A target's request timeout (ms). */
export const timeoutMs = () => z.number().int().min(100).max(60_000).optional();

/** https, or http to this machine only (a local server): used where a credential travels in the URL. */
export function httpsOrLoopback(value: string): boolean {
  const url = new URL(value);
  return url.protocol === 'https:' || ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
}

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
