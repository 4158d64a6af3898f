import { createHash } from 'node:crypto';
import { DEFAULT_TITLE } from '../chat/template.ts';
import { PermanentDeliveryError, RetryableDeliveryError } from '../errors.ts';
import type { SecretSource } from '../ports.ts';

/**
 * Helpers shared by the chat targets that post to an incoming-webhook URL (Teams Workflows, Google Chat,
 * Discord). A webhook URL is a credential: the config names the secret holding it, and the URL never
 * appears in a log, an error, a limiter key or the stored delivery.
 */

/** Reads the webhook URL from its secret; a value that is not an http(s) URL is a permanent error that never shows it. */
export async function readWebhookUrl(secrets: SecretSource, name: string, platform: string): Promise<URL> {
  const value = (await secrets.get(name)).trim();
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    throw new PermanentDeliveryError(`the secret "${name}" does not hold an http(s) ${platform} webhook URL`);
  }
  return url;
}

/** A rate-limiter key for one webhook that does not reveal it: `<platform>:<sha256 prefix>`. */
export function limiterKey(platform: string, webhook: string): string {
  return `${platform}:${createHash('sha256').update(webhook).digest('hex').slice(0, 24)}`;
}

/** Title and text templates: the route's (`context.message`) win over the target's own, field by field. */
export function chooseTemplates(
  own: { title?: string; text?: string } | undefined,
  route: { title?: string; text?: string } | undefined,
): { title: string; text?: string } {
  return { title: route?.title ?? own?.title ?? DEFAULT_TITLE, text: route?.text ?? own?.text };
}

/** The same kind of delivery error (retry delay and refs kept) with a message that names the platform and its reason. */
export function explain(error: unknown, message: string): Error {
  const refs = (error as { refs?: Record<string, string> } | undefined)?.refs;
  if (error instanceof PermanentDeliveryError)
    return new PermanentDeliveryError(message, { cause: error, refs });
  if (error instanceof RetryableDeliveryError) {
    return new RetryableDeliveryError(message, error.retryAfterSeconds, { cause: error, refs });
  }
  return error instanceof Error ? error : new Error(String(error));
}

/** The error message of `error`, or its string form. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Keeps a URL usable inside Markdown link syntax `[text](url)`: parentheses, spaces and angle brackets encoded. */
export function markdownUrl(url: string): string {
  return url.replace(/[()<> ]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}
