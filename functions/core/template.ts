/**
 * The one template engine of the config: chat titles and texts, Zulip topics, GitHub environment URLs and
 * status contexts, BigPanda components. A placeholder is `{{name}}` (spaces inside the braces allowed),
 * a name of letters, digits, `_`, `-` and `.`; anything else between `{{` and `}}`, an unknown name or a
 * stray `{{` / `}}` is a config error. Names are looked up as own properties only, so `{{constructor}}` or
 * `{{valueOf}}` is unknown, never a function of Object.prototype.
 */

const BRACES = /\{\{([^{}]*)\}\}/g;
const NAME = /^[A-Za-z][A-Za-z0-9_.-]*$/;

/** The names a template may use: a list, or a test for names that follow a pattern (`details.<key>`). */
export type KnownPlaceholders = readonly string[] | ((name: string) => boolean);

/** What is wrong with a template, if anything; `describe` lists the placeholders for the message. */
export function templateProblems(
  template: string,
  known: KnownPlaceholders,
  describe = Array.isArray(known) ? known.map((name) => `{{${name}}}`).join(', ') : '',
): string[] {
  const isKnown = typeof known === 'function' ? known : (name: string) => known.includes(name);
  const problems: string[] = [];
  for (const [, raw] of template.matchAll(BRACES)) {
    const name = raw?.trim() ?? '';
    if (!NAME.test(name) || !isKnown(name)) problems.push(`unknown placeholder {{${name}}}; use ${describe}`);
  }
  if (/\{\{|\}\}/.test(template.replace(BRACES, ''))) {
    problems.push(`unbalanced {{ or }}; placeholders are ${describe}`);
  }
  return problems;
}

/**
 * Fills a template's placeholders from `values` (own properties only; a name without a value is empty);
 * `encode` applies to each value, never to the template's own text.
 */
export function renderTemplate(
  template: string,
  values: Readonly<Record<string, string | undefined>> | ((name: string) => string | undefined),
  encode: (value: string) => string = (value) => value,
): string {
  const lookUp =
    typeof values === 'function'
      ? values
      : (name: string) => (Object.hasOwn(values, name) ? values[name] : undefined);
  return template.replace(BRACES, (_match, name: string) => {
    const value = lookUp(name.trim());
    return encode(typeof value === 'string' ? value : '');
  });
}
