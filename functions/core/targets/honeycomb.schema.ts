import * as z from 'zod';

/** Honeycomb's US API; `https://api.eu1.honeycomb.io` for the EU instance. */
export const HONEYCOMB_DEFAULT_URL = 'https://api.honeycomb.io';

/** The `honeycomb` target's config: where Honeycomb is, the key, and which dataset gets the markers. */
export const honeycombConfigSchema = z
  .object({
    type: z.literal('honeycomb'),
    /** Name of the secret holding a configuration API key with the "Manage Markers" permission. */
    apiKey: z
      .string()
      .regex(/^[A-Za-z0-9_./-]{1,128}$/, 'the name of the secret holding the API key, never the key'),
    /** A dataset slug, or `__all__` (the default) for an environment-wide marker. */
    dataset: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,255}$/, 'a dataset slug (letters, digits, _ . -) or __all__')
      .default('__all__'),
    /** API host: https://api.honeycomb.io (US), https://api.eu1.honeycomb.io (EU), or a proxy. */
    baseUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).default(HONEYCOMB_DEFAULT_URL),
    /** The marker `type`: markers of one type share a colour. */
    markerType: z.string().min(1).max(64).default('deploy'),
    timeoutMs: z.number().int().min(100).max(60_000).optional(),
  })
  .strict();
export type HoneycombConfig = z.infer<typeof honeycombConfigSchema>;
