import * as z from 'zod';
import { EMAIL_MAX_RECIPIENTS, isEmailAddress, isMailbox } from './email-address.ts';
import { secretNameField, templateField, timeoutMsField } from './fields.schema.ts';

/** Default subject: `[Shipcast] checkout 1.4.2 → production succeeded`. */
export const EMAIL_DEFAULT_SUBJECT = '[Shipcast] {{service}} {{version}} → {{environment}} {{status}}';

/** An address (`deploys@example.com`), or a mailbox with a display name (`Shipcast <deploys@example.com>`). */
const mailbox = () =>
  z
    .string()
    .max(320)
    .refine(
      isMailbox,
      'an e-mail address, or "Display Name <address>" (no line breaks, commas or semicolons)',
    );

/** A bare address. */
const address = () => z.string().max(254).refine(isEmailAddress, 'an e-mail address such as dev@example.com');

const domain = () =>
  z
    .string()
    .max(253)
    .regex(
      /^(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/,
      'a domain such as example.com',
    );

/** Amazon SES (SESv2 SendEmail) from the function's own role. */
const sesTransport = z
  .object({
    type: z.literal('ses'),
    /** The SES region (default: the function's own). */
    region: z
      .string()
      .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'an AWS region such as eu-west-1')
      .optional(),
    /**
     * The verified SES identity the dispatcher may send as (`ses:SendEmail` is granted on it only): a domain or
     * an address. Default: the domain of `from`.
     */
    identity: z.union([domain(), address()]).optional(),
    /** A configuration set to send with (for event publishing, dedicated IPs…); granted too. */
    configurationSet: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, 'a configuration set name')
      .optional(),
    /** Another SES endpoint (a local stand-in in tests; a FIPS endpoint). */
    endpoint: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  })
  .strict();

/** An SMTP server: STARTTLS (default), implicit TLS, or (to this machine only) none. */
const smtpTransport = z
  .object({
    type: z.literal('smtp'),
    host: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[A-Za-z0-9.:[\]-]+$/, 'a host name or IP address'),
    /** Default: 587 with STARTTLS, 465 with implicit TLS, 25 without TLS. */
    port: z.number().int().min(1).max(65_535).optional(),
    /** `starttls`: upgrade the connection and refuse to go on without it; `tls`: TLS from the start (SMTPS). */
    tls: z.enum(['starttls', 'tls', 'none']).default('starttls'),
    /** SMTP login (with `password`). */
    username: z.string().min(1).max(256).optional(),
    /** Name of the secret holding the SMTP password. */
    password: secretNameField().optional(),
    /** Name of a secret holding a PEM certificate authority to trust besides the system's (a private CA). */
    caCertificate: secretNameField().optional(),
  })
  .strict();

export const emailConfigSchema = z
  .object({
    type: z.literal('email'),
    /** The From header (and envelope sender). */
    from: mailbox(),
    /** Fixed recipients, always mailed (Buildbot's `extraRecipients`). */
    to: z.array(address()).max(EMAIL_MAX_RECIPIENTS).default([]),
    /** Also mail the deployment's interested users: its actor, or its commit's author, when an address is known. */
    interestedUsers: z.boolean().default(true),
    /**
     * User name → address: a domain (`example.com`: `jdoe` becomes `jdoe@example.com`) or a map
     * (`{"jdoe": "jane.doe@example.com"}`).
     */
    lookup: z.union([domain(), z.record(z.string().min(1).max(256), address())]).optional(),
    /**
     * Domains an address taken from an event itself may have (an actor that is an address). Without it, only
     * addresses made by `lookup` are mailed: an event cannot make Shipcast mail anyone it names.
     */
    allowedDomains: z.array(domain()).min(1).optional(),
    replyTo: address().optional(),
    /** Subject template (a route's `message.title` wins). */
    subject: templateField(500).default(EMAIL_DEFAULT_SUBJECT),
    /** Body template, before the deployment's facts (a route's `message.text` wins); default: the description. */
    body: templateField(4000).optional(),
    transport: z.discriminatedUnion('type', [sesTransport, smtpTransport]),
    timeoutMs: timeoutMsField(),
  })
  .strict()
  .superRefine((config, ctx) => {
    const { transport } = config;
    if (config.to.length === 0 && !config.interestedUsers) {
      ctx.addIssue({
        code: 'custom',
        path: ['to'],
        message: 'no recipient: list addresses, or set interestedUsers',
      });
    }
    if (transport.type !== 'smtp') return;
    if (Boolean(transport.username) !== Boolean(transport.password)) {
      ctx.addIssue({
        code: 'custom',
        path: ['transport', transport.username ? 'password' : 'username'],
        message: 'username and password go together (the password is the name of a secret)',
      });
    }
    if (
      transport.tls === 'none' &&
      transport.password &&
      !['127.0.0.1', 'localhost', '::1', '[::1]'].includes(transport.host)
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['transport', 'tls'],
        message: 'a password is never sent without TLS: use "starttls" or "tls" (or a relay on localhost)',
      });
    }
  });
export type EmailConfig = z.infer<typeof emailConfigSchema>;
