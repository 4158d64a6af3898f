/**
 * Mail addresses as the email target sends to them and its config schema checks them (both import this module;
 * it imports nothing, so the schema stays apart from the target's code).
 */

/** Recipients of one message at most (SES's limit per SendEmail; plenty for SMTP relays too). */
export const EMAIL_MAX_RECIPIENTS = 50;

const ADDRESS =
  /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/;

/** A plain address (`dev@example.com`): no display name, comments, quoting or line breaks. */
export function isEmailAddress(value: string): boolean {
  return value.length <= 254 && ADDRESS.test(value);
}

/** An address, or `Display Name <address>` without characters that would split or inject headers. */
export function isMailbox(value: string): boolean {
  const named = /^([^<>",;:\r\n\p{Cc}]{1,100}) <([^<>\s]+)>$/u.exec(value);
  return named ? isEmailAddress(named[2] as string) : isEmailAddress(value);
}

/** The address of a mailbox (`Name <a@b>` → `a@b`). */
export function addressIn(mailbox: string): string {
  return /<([^<>\s]+)>$/.exec(mailbox)?.[1] ?? mailbox;
}
