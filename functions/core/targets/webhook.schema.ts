import * as z from 'zod';
import { httpUrlField, secretNameField, timeoutMsField } from './fields.schema.ts';

/** How a webhook (or bus) event is written: Shipcast's JSON, a CloudEvent of Shipcast's type, or a CDEvent. */
export const eventFormatFields = {
  /** `shipcast` (default): Shipcast's JSON; `cloudevents`: a CloudEvents 1.0 event; `cdevents`: a CDEvent (v0.5). */
  format: z.enum(['shipcast', 'cloudevents', 'cdevents']).optional(),
  /** CloudEvents over HTTP: `binary` (ce-* headers, the data as body) or `structured` (application/cloudevents+json). */
  mode: z.enum(['binary', 'structured']).optional(),
  /** The CloudEvents `source` (a URI reference); `shipcast` when unset. */
  source: z
    .string()
    .min(1)
    .max(256)
    .regex(/^[^\s]+$/, 'a URI reference without spaces, such as shipcast or /shipcast/production')
    .optional(),
};

/** Refinement: `mode` says how a CloudEvent travels, so it needs a CloudEvents format. */
function checkEventMode(config: { format?: string; mode?: string }, ctx: z.RefinementCtx): void {
  if (config.mode !== undefined && (config.format ?? 'shipcast') === 'shipcast') {
    ctx.addIssue({
      code: 'custom',
      path: ['mode'],
      message: 'mode applies to format "cloudevents" or "cdevents"; set one of them, or remove mode',
    });
  }
}

/** RFC 9110 §5.1: a field name is a token (https://www.rfc-editor.org/rfc/rfc9110#name-field-names). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/;
/** RFC 9110 §5.5 field values, limited to printable ASCII (fetch sends bytes; CR/LF would split the header). */
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;
/** Headers Shipcast sets (or fetch manages): a configured one would be dropped or break the request. */
const RESERVED_HEADERS = new Set([
  'content-type',
  'content-length',
  'host',
  'connection',
  'transfer-encoding',
  'shipcast-delivery',
  'shipcast-signature',
]);

/** The generic webhook: Shipcast's JSON (or a CloudEvent, a CDEvent) POSTed to a URL, signed with an HMAC key. */
export const webhookConfigSchema = z
  .object({
    type: z.literal('webhook'),
    url: httpUrlField(),
    /** Name of the secret holding the HMAC key; without it the body is sent unsigned. */
    secret: z
      .string()
      .regex(/^[A-Za-z0-9_./-]+$/, 'secret names use letters, digits and _ . / -')
      .optional(),
    /**
     * Extra request headers. A value is the text to send, or `{ "secret": "<name>" }` to send a secret's value
     * (resolved at send time, masked in logs): credentials stay out of the config and the function bundles.
     */
    headers: z
      .record(
        z.string(),
        z.union([
          z
            .string()
            .max(8192)
            .regex(
              HEADER_VALUE,
              'a header value is printable ASCII (tab and space allowed), no CR, LF or other control characters; keep credentials in a secret: { "secret": "<name>" }',
            ),
          z.object({ secret: secretNameField() }).strict(),
        ]),
      )
      // Names are checked here, not by the record's key schema, whose error would not say what is wrong.
      .superRefine((headers, ctx) => {
        for (const name of Object.keys(headers)) {
          const message = !HEADER_NAME.test(name)
            ? "a header name is letters, digits and !#$%&'*+-.^_`|~ (RFC 9110 token)"
            : RESERVED_HEADERS.has(name.toLowerCase())
              ? `Shipcast sets this header itself; the names ${[...RESERVED_HEADERS].join(', ')} cannot be configured`
              : undefined;
          if (message) ctx.addIssue({ code: 'custom', path: [name], message });
        }
      })
      .optional(),
    timeoutMs: timeoutMsField(),
    ...eventFormatFields,
  })
  .strict()
  .superRefine(checkEventMode);
export type WebhookConfig = z.infer<typeof webhookConfigSchema>;
