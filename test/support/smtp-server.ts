import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerAddress, type SMTPServerSession } from 'smtp-server';

/** The test-only certificate of 127.0.0.1 / localhost (see test/fixtures/tls/README.md). */
export const TEST_TLS = {
  cert: readFileSync(new URL('../fixtures/tls/smtp-test.crt', import.meta.url), 'utf8'),
  key: readFileSync(new URL('../fixtures/tls/smtp-test.key', import.meta.url), 'utf8'),
};

/** A message the server took, with how it came in. */
export interface CapturedMail {
  from: string;
  to: string[];
  /** True when the connection was TLS (implicit, or upgraded with STARTTLS) when the message was sent. */
  secure: boolean;
  /** The user who authenticated, if any. */
  user?: string;
  raw: string;
  parsed: ParsedMail;
}

/** A local SMTP server (the `smtp-server` library) that captures what it is sent. */
export interface SmtpTestServer {
  host: string;
  port: number;
  messages: CapturedMail[];
  /** Replies to RCPT TO per address, e.g. `550 5.1.1 User unknown` or `450 4.2.1 Mailbox busy`. */
  refuseRecipient: Map<string, string>;
  /** A reply to the next MAIL FROM commands, e.g. `421 4.3.2 Service not available`. */
  refuseNextMail: string[];
  /** Every AUTH attempt: user and whether it was accepted, and whether the connection was TLS by then. */
  logins: Array<{ user: string; ok: boolean; secure: boolean }>;
  stop(): Promise<void>;
}

/**
 * Starts an SMTP server on 127.0.0.1 with the test certificate. `tls: 'starttls'` offers STARTTLS and refuses
 * AUTH before it (538, the library's default); `'tls'` speaks TLS from the first byte (SMTPS). With `users`,
 * mail is only taken after AUTH (PLAIN or LOGIN) with one of them (530 otherwise, 535 for a wrong password).
 */
export async function startSmtpServer(options: {
  tls: 'starttls' | 'tls';
  users?: Record<string, string>;
  /** No STARTTLS (not offered, the command refused): a server that would take the password in the clear. */
  hideStartTls?: boolean;
}): Promise<SmtpTestServer> {
  const state: Omit<SmtpTestServer, 'host' | 'port' | 'stop'> = {
    messages: [],
    refuseRecipient: new Map(),
    refuseNextMail: [],
    logins: [],
  };
  const reply = (text: string) => {
    const [, code, message] = /^(\d{3}) (.*)$/.exec(text) ?? [];
    return Object.assign(new Error(message ?? text), { responseCode: Number(code ?? 550) });
  };
  const server = new SMTPServer({
    secure: options.tls === 'tls',
    key: TEST_TLS.key,
    cert: TEST_TLS.cert,
    logger: false,
    hideSTARTTLS: options.hideStartTls ?? false,
    // Without STARTTLS on offer, AUTH in the clear is what such a server would take.
    allowInsecureAuth: options.hideStartTls ?? false,
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: !options.users,
    disabledCommands: [...(options.users ? [] : ['AUTH']), ...(options.hideStartTls ? ['STARTTLS'] : [])],
    onAuth(auth, session, callback) {
      const ok = Boolean(options.users && auth.username && options.users[auth.username] === auth.password);
      state.logins.push({ user: auth.username ?? '', ok, secure: session.secure });
      if (!ok)
        return callback(
          Object.assign(new Error('Authentication credentials invalid'), { responseCode: 535 }),
        );
      callback(null, { user: auth.username });
    },
    onMailFrom(_address: SMTPServerAddress, _session: SMTPServerSession, callback) {
      const refusal = state.refuseNextMail.shift();
      callback(refusal ? reply(refusal) : null);
    },
    onRcptTo(address: SMTPServerAddress, _session: SMTPServerSession, callback) {
      const refusal = state.refuseRecipient.get(address.address.toLowerCase());
      callback(refusal ? reply(refusal) : null);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        state.messages.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          secure: session.secure,
          user: session.user as string | undefined,
          raw,
          parsed: parseMail(raw),
        });
        callback(null);
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return Object.assign(state, {
    host: '127.0.0.1',
    port,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

/** A MIME message taken apart: decoded headers, and the decoded text and HTML parts. */
export interface ParsedMail {
  headers: Record<string, string>;
  subject: string;
  text?: string;
  html?: string;
}

/** Parses the messages nodemailer writes (single part, or multipart/alternative; 7bit, quoted-printable, base64). */
export function parseMail(raw: string): ParsedMail {
  const { headers, body } = splitHeaders(raw);
  const parts: Array<{ headers: Record<string, string>; body: string }> = [];
  const boundary = /boundary="?([^";]+)"?/i.exec(headers['content-type'] ?? '')?.[1];
  if (boundary) {
    for (const chunk of body.split(`--${boundary}`).slice(1)) {
      if (chunk.startsWith('--')) break;
      parts.push(splitHeaders(chunk.replace(/^\r?\n/, '')));
    }
  } else {
    parts.push({ headers, body });
  }
  const decoded = (type: string) => {
    const part = parts.find((p) => (p.headers['content-type'] ?? 'text/plain').startsWith(type));
    return part ? decodeBody(part.body, part.headers['content-transfer-encoding']) : undefined;
  };
  return {
    headers,
    subject: decodeWords(headers.subject ?? ''),
    text: decoded('text/plain'),
    html: decoded('text/html'),
  };
}

function splitHeaders(raw: string): { headers: Record<string, string>; body: string } {
  const end = raw.indexOf('\r\n\r\n');
  const head = end < 0 ? raw : raw.slice(0, end);
  const headers: Record<string, string> = {};
  for (const line of head.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { headers, body: end < 0 ? '' : raw.slice(end + 4) };
}

function decodeBody(body: string, encoding = '7bit'): string {
  const charset = (bytes: Buffer) => bytes.toString('utf8');
  if (/base64/i.test(encoding)) return charset(Buffer.from(body.replace(/\s+/g, ''), 'base64'));
  if (/quoted-printable/i.test(encoding)) return decodeQuotedPrintable(body);
  return body.replace(/\r\n$/, '');
}

function decodeQuotedPrintable(text: string): string {
  const soft = text.replace(/=\r?\n/g, '');
  const bytes: number[] = [];
  for (let i = 0; i < soft.length; i++) {
    const hex = soft[i] === '=' ? /^[0-9A-F]{2}/i.exec(soft.slice(i + 1, i + 3)) : null;
    if (hex) {
      bytes.push(Number.parseInt(hex[0], 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(soft[i] as string, 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8').replace(/\r\n/g, '\n').replace(/\n$/, '');
}

/** RFC 2047 encoded words (`=?UTF-8?Q?…?=`, `=?UTF-8?B?…?=`); the space between two of them is dropped. */
function decodeWords(value: string): string {
  return value
    .replace(/(\?=)\s+(=\?)/g, '$1$2')
    .replace(/=\?([^?]+)\?([QBqb])\?([^?]*)\?=/g, (_m, _charset: string, kind: string, data: string) =>
      kind.toUpperCase() === 'B'
        ? Buffer.from(data, 'base64').toString('utf8')
        : decodeQuotedPrintable(data.replace(/_/g, ' ')),
    );
}
