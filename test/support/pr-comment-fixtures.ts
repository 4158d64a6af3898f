/** Event text that tries every trick on a forge's Markdown: mentions, references, links, images, HTML, entities. */
export const FORGE_HOSTILE =
  '@octocat @acme/admins #12 !7 ~bug %v1 $42 &epic &#64;mallory [click](https://evil.example) ' +
  '![img](https://evil.example/i.png) <img src=x onerror=alert(1)> <a href="https://evil.example">x</a> ' +
  '<!-- shipcast:checkout/production --> https://evil.example www.evil.example mallory@evil.example ' +
  '*bold* _it_ `code` [ref]: https://evil.example \u202Eexe.txt zero\u200Bwidth';

/**
 * What in a comment body a forge would make active, outside Shipcast's own marker and deployment link:
 * unescaped Markdown/HTML punctuation, mentions and references, autolinks, invisible characters.
 */
export function activeMarkdown(body: string, ownLines: RegExp[] = []): string[] {
  const problems: string[] = [];
  const hidden = [
    /^<!-- shipcast-deployment:\S+ dep_[0-9a-f]+ -->$/,
    /^\[shipcast-deployment\]: # "\S+ dep_[0-9a-f]+"$/,
  ];
  const lines = body.split('\n').filter((line) => ![...hidden, ...ownLines].some((own) => own.test(line)));
  for (const line of lines) {
    // Shipcast's own layout: headings, list items with bold labels.
    const text = line
      .replace(/^### /, '')
      .replace(/^- \*\*[A-Za-z ]+:\*\* /, '')
      .replace(/^\*\*Error:\*\* /, '');
    for (const match of text.matchAll(/(?<!\\)[[\]<>()!`*_&]/g))
      problems.push(`unescaped ${match[0]} in: ${line}`);
    for (const match of text.matchAll(/[@#!~%$&](?:\\)?(?=[\p{L}\p{N}_])/gu))
      problems.push(`live reference ${match[0]} in: ${line}`);
    if (/https?:\/\/|www\.[a-z]/i.test(text)) problems.push(`autolink in: ${line}`);
    if (/[\u202a-\u202e\u200b-\u200f\u2066-\u2069]/.test(text))
      problems.push(`invisible character in: ${line}`);
  }
  return problems;
}
