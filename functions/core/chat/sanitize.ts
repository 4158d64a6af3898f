/**
 * Text from events is untrusted: it can carry mentions (`@channel`, `<!here>`, `@everyone`), markup,
 * spoofed links and invisible characters that reorder what a reader sees. These helpers make it inert;
 * each chat target then escapes it for its own markup with the escaper of its platform.
 */

// C0/C1 controls except tab and newline; bidi embeddings, overrides and isolates; zero-width characters
// and the BOM (they hide text or make look-alike mentions and links).
const UNSAFE =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point: they are removed.
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/g;

/** Removes control, bidi and zero-width characters; collapses whitespace runs; cuts to `max` characters. */
export function cleanText(value: string | undefined, max = 300, { multiline = false } = {}): string {
  if (!value) return '';
  let text = value.replace(UNSAFE, '');
  text = multiline ? text.replace(/\r\n?/g, '\n').replace(/\n{3,}/g, '\n\n') : text.replace(/\s+/g, ' ');
  text = text.trim();
  return cut(text, max);
}

/** Cuts to at most `max` characters (code points), ending with `…` when cut. */
export function cut(text: string, max: number): string {
  const chars = [...text];
  if (chars.length <= max) return text;
  return `${chars.slice(0, Math.max(0, max - 1)).join('')}…`;
}

/** A URL Shipcast may render as a link: http(s) only, no credentials, at most 2,000 characters. Never fetched. */
export function safeLink(value: string | undefined): string | undefined {
  if (!value || value.length > 2000) return undefined;
  try {
    const url = new URL(value);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
    if (url.username || url.password) return undefined;
    return url.toString();
  } catch {
    return undefined;
  }
}

/**
 * Breaks every @-mention (`@channel`, `@here`, `@everyone`, `@all`, `@user`) by putting a word joiner
 * after the `@`: the text reads the same, but no platform parses it as a mention.
 */
export function breakMentions(text: string): string {
  return text.replace(/@(?=[\p{L}\p{N}_*.-])/gu, '@\u2060');
}

/** Escapes `&`, `<`, `>` (HTML, Telegram HTML, Google Chat, and Slack mrkdwn, whose control sequences all start with `<`). */
export function escapeAngles(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Backslash-escapes Markdown punctuation (Discord, Teams, Mattermost, Zulip) so untrusted text stays literal. */
export function escapeMarkdown(text: string): string {
  return text.replace(/([\\`*_~|[\]()<>#+\-=.!{}:])/g, '\\$1');
}
