import { plainTextMessage } from '../chat/plain-text.ts';
import { cut } from '../chat/sanitize.ts';
import { chatFields, chatLinks } from '../chat/slack-blocks.ts';
import { renderTemplate } from '../chat/template.ts';
import { type ChatView, chatView } from '../chat/view.ts';
import { PermanentDeliveryError, RetryableDeliveryError } from '../errors.ts';
import type { Deployment } from '../schema.ts';
import { maskSecrets, registerSecret } from '../telemetry.ts';
import type { EmailConfig } from './email.schema.ts';
import { addressIn, EMAIL_MAX_RECIPIENTS, isEmailAddress } from './email-address.ts';
import { defineTarget, type SendResult, type TargetContext } from './target.ts';

type Context = TargetContext<EmailConfig>;

/** One rendered message, before it is addressed. */
export interface EmailContent {
  subject: string;
  text: string;
  html: string;
}

/**
 * E-mail: one message per transition routed to the target, to the fixed `to` list and the deployment's interested
 * users, through Amazon SES or an SMTP server. The subject and body come from templates; the message has a
 * plain-text and an HTML part, every value from the event escaped for HTML. Recipients a partial failure already
 * reached are kept in the delivery's refs, so a retry mails only the others.
 */
export const emailTarget = defineTarget<EmailConfig>({
  type: 'email',
  secretNames: (config) =>
    config.transport.type === 'smtp'
      ? [config.transport.password, config.transport.caCertificate].filter((n): n is string => Boolean(n))
      : [],
  // Granted on the configured identity (default: the domain of `from`) and configuration set only.
  awsPermissions: (config) => {
    const { transport } = config;
    if (transport.type !== 'ses') return [];
    const region = transport.region;
    const identity = transport.identity ?? addressIn(config.from).split('@')[1] ?? '';
    return [
      {
        actions: ['ses:SendEmail'],
        resources: [
          { service: 'ses', region, resource: 'identity', resourceName: identity },
          ...(transport.configurationSet
            ? [
                {
                  service: 'ses',
                  region,
                  resource: 'configuration-set',
                  resourceName: transport.configurationSet,
                },
              ]
            : []),
        ],
      },
    ];
  },
  lazyModules: {
    all: ['nodemailer', '@aws-sdk/client-sesv2'],
    needed: (config) => [config.transport.type === 'smtp' ? 'nodemailer' : '@aws-sdk/client-sesv2'],
  },
  async send({ deployment, transition, delivery }, context) {
    const { config, logger } = context;
    const { to, dropped } = recipientsOf(deployment, config);
    for (const reason of dropped) logger.info(`email: ${reason}`);
    const seq = String(transition.seq);
    const reached =
      delivery?.refs?.mailedSeq === seq ? (delivery.refs.mailedTo ?? '').split(',').filter(Boolean) : [];
    const pending = to.filter((address) => !reached.includes(address.toLowerCase()));
    if (to.length === 0) {
      logger.info('email: no recipient for this deployment; nothing sent');
      return {};
    }
    if (pending.length === 0) return {};
    const content = renderEmail(chatView(deployment, transition), {
      subject: context.message?.title ?? config.subject,
      body: context.message?.text ?? config.body,
    });
    const headers = [
      { name: 'X-Shipcast-Deployment', value: deployment.id },
      { name: 'X-Shipcast-Transition', value: seq },
    ];
    if (config.transport.type === 'ses') {
      await sendWithSes(context, pending, content, headers);
      return mailed(seq, [...reached, ...pending]);
    }
    return sendWithSmtp(context, seq, reached, pending, content, headers);
  },
});

/** The delivery refs that remember who has the message of transition `seq`. */
function mailed(seq: string, addresses: string[]): SendResult {
  return {
    refs: { mailedSeq: seq, mailedTo: [...new Set(addresses.map((a) => a.toLowerCase()))].join(',') },
  };
}

/**
 * Who gets the message: the fixed `to`, then the interested users (Buildbot's term): the actor (and its address
 * when the source recorded one, `details.actorEmail`: GitLab's user email), and the commit author when a source
 * recorded one (`details.authorEmail`), each as an address — one that `lookup` makes from a
 * user name (a domain to append, or a map), or one the event itself gives, if its domain is in `allowedDomains`.
 * At most 50, without repeats.
 */
export function recipientsOf(
  deployment: Deployment,
  config: EmailConfig,
): { to: string[]; dropped: string[] } {
  const to = [...config.to];
  const dropped: string[] = [];
  if (config.interestedUsers) {
    const { details } = deployment;
    // One address per person: the actor by name or by the address its source gave, then the commit author.
    for (const person of [[deployment.actor, details?.actorEmail], [details?.authorEmail]]) {
      const tries = person.map((v) => v?.trim()).filter((v): v is string => Boolean(v));
      const found = tries.map((who) => addressOf(who, config));
      const address = found.find((f) => f.ok);
      if (address?.ok) to.push(address.value);
      else for (const f of found) if (!f.ok) dropped.push(f.reason);
    }
  }
  const unique = [...new Map(to.map((address) => [address.toLowerCase(), address])).values()];
  if (unique.length > EMAIL_MAX_RECIPIENTS) {
    dropped.push(`${unique.length - EMAIL_MAX_RECIPIENTS} recipients over ${EMAIL_MAX_RECIPIENTS} left out`);
  }
  return { to: unique.slice(0, EMAIL_MAX_RECIPIENTS), dropped };
}

function addressOf(
  who: string,
  config: EmailConfig,
): { ok: true; value: string } | { ok: false; reason: string } {
  const shown = JSON.stringify(cut(who, 80));
  const { lookup } = config;
  if (lookup && typeof lookup === 'object' && Object.hasOwn(lookup, who)) {
    return { ok: true, value: lookup[who] as string };
  }
  if (isEmailAddress(who)) {
    const domain = who.slice(who.lastIndexOf('@') + 1).toLowerCase();
    const allowed = [...(config.allowedDomains ?? []), ...(typeof lookup === 'string' ? [lookup] : [])];
    if (allowed.some((d) => d.toLowerCase() === domain)) return { ok: true, value: who };
    return { ok: false, reason: `the address ${shown} is not in allowedDomains; not mailed` };
  }
  if (
    typeof lookup === 'string' &&
    /^[A-Za-z0-9._+-]{1,64}$/.test(who) &&
    isEmailAddress(`${who}@${lookup}`)
  ) {
    return { ok: true, value: `${who}@${lookup}` };
  }
  return { ok: false, reason: `no address for the user ${shown} (see lookup)` };
}

// ---------------------------------------------------------------------------------------------------
// Rendering

/** `& < > " '` as HTML entities. */
export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/**
 * The subject, text part and HTML part of one transition. Templates are plain text: in the HTML part they are
 * escaped whole, values and template text alike, so nothing from an event (or a template) becomes markup. The
 * only links are Shipcast's own, to http(s) URLs that passed `safeLink`.
 */
export function renderEmail(view: ChatView, templates: { subject: string; body?: string }): EmailContent {
  const subject = cut(
    renderTemplate(templates.subject, view, (v) => v)
      .replace(/\s+/g, ' ')
      .trim(),
    250,
  );
  const plain = plainTextMessage(view, { title: subject, text: templates.body });
  const text = `${plain.title}\n\n${plain.body}\n\n-- \nSent by Shipcast for deployment ${view.deploymentId}\n`;
  const intro = templates.body ? renderTemplate(templates.body, view, (v) => v).trim() : view.description;
  const rows = chatFields(view)
    .map((field) => {
      const value = field.link
        ? `<a href="${escapeHtml(field.link)}">${escapeHtml(field.value)}</a>`
        : escapeHtml(field.value);
      return `<tr><th align="left" style="padding:2px 12px 2px 0">${escapeHtml(field.label)}</th><td>${value}</td></tr>`;
    })
    .join('\n');
  const links = chatLinks(view).map((link) =>
    link.url
      ? `<a href="${escapeHtml(link.url)}">${escapeHtml(link.label)}</a>`
      : `${escapeHtml(link.label)} <code>${escapeHtml(link.note ?? '')}</code>`,
  );
  const failed = view.error && (view.status === 'failed' || view.status === 'stopped');
  const html = [
    '<!DOCTYPE html>',
    '<html><head><meta charset="utf-8"></head>',
    '<body style="font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:14px">',
    `<h2 style="border-left:6px solid ${view.color};padding-left:8px">${escapeHtml(subject)}</h2>`,
    intro ? `<p>${escapeHtml(intro).replace(/\n/g, '<br>\n')}</p>` : '',
    `<table>\n${rows}\n</table>`,
    failed ? `<p><strong>Error:</strong> ${escapeHtml(view.error)}</p>` : '',
    links.length > 0 ? `<p>${links.join(' · ')}</p>` : '',
    `<p style="color:#888;font-size:12px">Sent by Shipcast for deployment ${escapeHtml(view.deploymentId)}</p>`,
    '</body></html>',
    '',
  ]
    .filter(Boolean)
    .join('\n');
  return { subject, text, html };
}

// ---------------------------------------------------------------------------------------------------
// Transports

async function sendWithSes(
  context: Context,
  to: string[],
  content: EmailContent,
  headers: Array<{ name: string; value: string }>,
): Promise<void> {
  const { config } = context;
  if (config.transport.type !== 'ses') return;
  if (!context.ses) {
    throw new PermanentDeliveryError(
      'Amazon SES is not available in this runtime: use an SMTP transport here',
    );
  }
  const { messageId } = await context.ses.send(
    {
      from: encodedMailbox(config.from),
      to,
      ...(config.replyTo ? { replyTo: [config.replyTo] } : {}),
      ...content,
      headers,
      ...(config.transport.configurationSet ? { configurationSet: config.transport.configurationSet } : {}),
    },
    { region: config.transport.region, endpoint: config.transport.endpoint, timeoutMs: config.timeoutMs },
  );
  context.logger.info('email: Amazon SES took the message', { messageId, recipients: to.length });
}

/**
 * SES takes a display name in ASCII only; any other is sent as an RFC 2047 encoded word
 * (SESv2 SendEmail, FromEmailAddress).
 */
export function encodedMailbox(mailbox: string): string {
  const named = /^(.+) <([^<>\s]+)>$/.exec(mailbox);
  if (!named || /^[\x20-\x7e]*$/.test(named[1] as string)) return mailbox;
  return `=?UTF-8?B?${Buffer.from(named[1] as string, 'utf8').toString('base64')}?= <${named[2]}>`;
}

/** What nodemailer reports about one message or throws (smtp-connection's errors). */
interface SmtpOutcome {
  accepted?: unknown[];
  rejected?: unknown[];
  rejectedErrors?: SmtpError[];
}
interface SmtpError {
  message?: string;
  code?: string;
  response?: string;
  responseCode?: number;
  command?: string;
  recipient?: string;
  rejected?: unknown[];
  rejectedErrors?: SmtpError[];
}

/** Connection-level failures worth another try (nodemailer's codes): the server was unreachable or went away. */
const RETRYABLE_SMTP = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ECONNRESET', 'ECONNREFUSED']);

async function sendWithSmtp(
  context: Context,
  seq: string,
  reached: string[],
  to: string[],
  content: EmailContent,
  headers: Array<{ name: string; value: string }>,
): Promise<SendResult> {
  const { config, secrets } = context;
  const smtp = config.transport;
  if (smtp.type !== 'smtp') return {};
  const [password, ca] = await Promise.all([
    smtp.password ? secrets.get(smtp.password) : undefined,
    smtp.caCertificate ? secrets.get(smtp.caCertificate) : undefined,
  ]);
  if (smtp.username && password) {
    // What AUTH PLAIN and AUTH LOGIN put on the wire (RFC 4616, draft-murchison-sasl-login): masked like the password.
    registerSecret(Buffer.from(`\u0000${smtp.username}\u0000${password}`).toString('base64'));
    registerSecret(Buffer.from(password).toString('base64'));
  }
  const { default: nodemailer } = await import('nodemailer');
  const timeout = config.timeoutMs ?? 10_000;
  const transport = nodemailer.createTransport({
    host: smtp.host,
    port: smtp.port ?? (smtp.tls === 'tls' ? 465 : smtp.tls === 'starttls' ? 587 : 25),
    secure: smtp.tls === 'tls',
    requireTLS: smtp.tls === 'starttls',
    ignoreTLS: smtp.tls === 'none',
    ...(smtp.username && password ? { auth: { user: smtp.username, pass: password } } : {}),
    tls: { minVersion: 'TLSv1.2', ...(ca ? { ca: [ca] } : {}) },
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: timeout,
    logger: false,
    debug: false,
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  let outcome: SmtpOutcome;
  try {
    outcome = (await transport.sendMail({
      from: config.from,
      to,
      ...(config.replyTo ? { replyTo: config.replyTo } : {}),
      subject: content.subject,
      text: content.text,
      html: content.html,
      headers: Object.fromEntries(headers.map((h) => [h.name, h.value])),
    })) as SmtpOutcome;
  } catch (error) {
    throw smtpFailure(error as SmtpError, context, mailed(seq, reached).refs);
  } finally {
    transport.close();
  }
  const accepted = (outcome.accepted ?? []).map(String);
  const result = mailed(seq, [...reached, ...accepted]);
  const refused = outcome.rejectedErrors ?? [];
  if (refused.length === 0) return result;
  // Some recipients have it: they are kept in the refs, so the retry (or a redrive) mails only the others.
  const reason = `the SMTP server refused ${refused.map(describeRefusal).join('; ')} (mailed ${accepted.join(', ') || 'nobody'})`;
  if (refused.some((r) => (r.responseCode ?? 500) < 500)) {
    throw new RetryableDeliveryError(maskSecrets(reason), undefined, { refs: result.refs });
  }
  throw new PermanentDeliveryError(maskSecrets(reason), { refs: result.refs });
}

function describeRefusal(error: SmtpError): string {
  return `${error.recipient ?? 'a recipient'}: ${cut((error.response ?? error.message ?? '').replace(/\s+/g, ' '), 200)}`;
}

/**
 * An SMTP failure as a delivery error: a 4xx reply (greylisting, a full mailbox, a busy server) or a lost
 * connection is retried; a 5xx reply (a refused address, a refused login, a message too big) and TLS or
 * certificate problems are permanent, with the server's own answer.
 */
function smtpFailure(error: SmtpError, context: Context, refs?: Record<string, string>): Error {
  const smtp = context.config.transport;
  if (error.rejectedErrors && error.rejectedErrors.length > 0) {
    const reason = `the SMTP server refused every recipient: ${error.rejectedErrors.map(describeRefusal).join('; ')}`;
    return error.rejectedErrors.some((r) => (r.responseCode ?? 500) < 500)
      ? new RetryableDeliveryError(maskSecrets(reason), undefined, { refs })
      : new PermanentDeliveryError(maskSecrets(reason), { refs });
  }
  const answer = cut((error.response ?? error.message ?? String(error)).replace(/\s+/g, ' '), 300);
  const where = smtp.type === 'smtp' ? `${smtp.host}:${smtp.port ?? ''}`.replace(/:$/, '') : 'SMTP';
  const reason = maskSecrets(`SMTP ${error.command ? `${error.command} ` : ''}at ${where} failed: ${answer}`);
  if (error.code === 'EAUTH') {
    if (smtp.type === 'smtp' && smtp.password) context.secrets.invalidate(smtp.password);
    return new PermanentDeliveryError(`${reason} (check the SMTP username and password)`, { refs });
  }
  if (/certificate|self[- ]signed|CERT_/i.test(answer)) {
    return new PermanentDeliveryError(
      `${reason} (the server's TLS certificate is not trusted: see caCertificate)`,
      {
        refs,
      },
    );
  }
  if (error.command === 'STARTTLS' && error.responseCode !== undefined) {
    return new PermanentDeliveryError(
      `${reason} (the server offers no STARTTLS: Shipcast never sends mail or a password to it in the clear)`,
      { refs },
    );
  }
  if (error.code === 'ETLS' && !/closed unexpectedly/i.test(answer)) {
    return new PermanentDeliveryError(`${reason} (TLS could not be set up with the server)`, { refs });
  }
  if (error.responseCode !== undefined) {
    return error.responseCode < 500
      ? new RetryableDeliveryError(reason, undefined, { refs })
      : new PermanentDeliveryError(reason, { refs });
  }
  if (RETRYABLE_SMTP.has(error.code ?? '')) return new RetryableDeliveryError(reason, undefined, { refs });
  return new PermanentDeliveryError(reason, { refs });
}
