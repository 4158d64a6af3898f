import * as z from 'zod';

/** Config fields the incident and observability targets share (their schemas import these, never `schemas.ts`). */

/**
 * The name of a secret (never its value); `valueLike` recognises the credential itself (a 32-hex key, a
 * `glsa_` token), so pasting it into the config is an error that says where it belongs.
 */
export const secretNameField = (what: string, valueLike?: RegExp) =>
  z
    .string()
    .regex(/^[A-Za-z0-9_./-]{1,128}$/, {
      error: `the name of the secret holding ${what} (letters, digits and _ . / -), never the value itself`,
      abort: true,
    })
    .refine((name) => !valueLike?.test(name), {
      error: `this looks like ${what} itself: put it in a secret and give the secret's name here`,
    });

/** An http(s) base URL (a region's host, a self-hosted server, a proxy). */
export const baseUrlField = () => z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });

/** A target's own HTTP timeout. */
export const timeoutMsField = () => z.number().int().min(100).max(60_000).optional();
