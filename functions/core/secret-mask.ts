/**
 * Secret masking for everything Shipcast writes (logs, errors, delivery records, queue attributes): secret values
 * are registered when they are read, and any run of 8 or more of their characters is masked wherever it appears.
 */

const MASK = '****';
/** Any run of a registered secret this long or longer is masked wherever it appears. */
export const MASKED_RUN = 8;
/** Secret parts of 4 to 7 characters, masked where they appear whole. */
const shortSecrets = new Set<string>();
/** Every MASKED_RUN-character window of every secret part of MASKED_RUN characters or more. */
const secretWindows = new Set<string>();
/** The first two characters of every window (as one number): most positions of a text are ruled out by them. */
const windowStarts = new Set<number>();
const pairAt = (text: string, i: number) => text.charCodeAt(i) * 65_536 + text.charCodeAt(i + 1);

/**
 * Registers a secret value so that it is masked in every log line and error message Shipcast writes: the
 * whole value and any run of 8 or more of its characters, also as Shipcast may send it (URL-encoded,
 * JSON-escaped). A URL is a credential through its path and query: each path segment and query value is a
 * secret part of its own (plain lowercase words such as `services` or `webhooks` excepted), so a host written
 * in another case or a query string never lets a token through. Values shorter than 4 characters are not
 * registered: masking them would garble ordinary text.
 */
export function registerSecret(value: string): void {
  const trimmed = value.trim();
  if (trimmed.length < 4) return;
  for (const part of secretParts(trimmed)) {
    for (const form of new Set([
      part,
      encodeURIComponent(part),
      jsonEscaped(part),
      part.replaceAll('/', '\\/'),
    ])) {
      if (form.length < 4) continue;
      if (form.length < MASKED_RUN) shortSecrets.add(form);
      for (let i = 0; i + MASKED_RUN <= form.length; i++) {
        secretWindows.add(form.slice(i, i + MASKED_RUN));
        windowStarts.add(pairAt(form, i));
      }
    }
  }
}

/** Masks every run of a registered secret of 8+ characters (and every short secret part) in `text` with `****`. */
export function maskSecrets(text: string): string {
  let out = text;
  if (secretWindows.size > 0 && out.length >= MASKED_RUN) {
    let hit: Uint8Array | undefined;
    for (let i = 0; i + MASKED_RUN <= out.length; i++) {
      if (windowStarts.has(pairAt(out, i)) && secretWindows.has(out.slice(i, i + MASKED_RUN))) {
        hit ??= new Uint8Array(out.length);
        hit.fill(1, i, i + MASKED_RUN);
      }
    }
    if (hit) {
      let masked = '';
      for (let i = 0; i < out.length; i++) {
        if (!hit[i]) masked += out[i];
        else if (i === 0 || !hit[i - 1]) masked += MASK;
      }
      out = masked;
    }
  }
  for (const value of shortSecrets) {
    if (out.includes(value)) out = out.split(value).join(MASK);
  }
  return out;
}

/** A path segment or query value that is an ordinary word (`services`, `webhooks`, `invoke`), not a credential. */
export function isPlainWord(part: string, maxLength = 20): boolean {
  return part.length <= maxLength && /^[a-z]+(?:[-_.][a-z]+)*$/.test(part);
}

/**
 * The parts of a secret value to mask. A URL: its user info, and each path segment and query value (as sent
 * and decoded) except plain words; its scheme and host are not secret. A PEM key: its base64 lines (its
 * armor lines are not secret). Anything else: the value itself.
 */
function secretParts(value: string): string[] {
  if (/^https?:\/\//i.test(value)) {
    try {
      const url = new URL(value);
      const raw = [
        url.username,
        url.password,
        ...url.pathname.split('/'),
        ...url.search
          .slice(1)
          .split('&')
          .map((pair) => pair.slice(pair.indexOf('=') + 1)),
        url.hash.slice(1),
      ];
      const parts = raw.flatMap((part) => [part, decoded(part)]).flatMap((part) => part.split(/\/|%2F/i));
      return [...new Set(parts)].filter((part) => part.length >= 4 && !isPlainWord(part));
    } catch {
      return [value];
    }
  }
  if (value.includes('-----BEGIN')) {
    const body = value.split(/\r?\n/).filter((line) => line.trim() && !line.startsWith('-----'));
    return [body.join('\n'), body.join('')];
  }
  return [value];
}

function decoded(part: string): string {
  try {
    return decodeURIComponent(part.replaceAll('+', ' '));
  } catch {
    return part;
  }
}

function jsonEscaped(part: string): string {
  return JSON.stringify(part).slice(1, -1);
}
