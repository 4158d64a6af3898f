import * as z from 'zod';

/** The name of a secret in the config (API tokens, sources), never its value. */
export const secretName = z
  .string()
  .regex(/^[A-Za-z0-9_./-]{1,128}$/, 'secret names use letters, digits and _ . / -');
