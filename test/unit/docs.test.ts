import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HTTP_SOURCES } from '../../functions/core/sources/index.ts';
import { TARGETS } from '../../functions/core/targets/index.ts';
import { fieldProblems, fieldsPages, withFields } from '../../scripts/docs-fields.ts';

/** Every Markdown page a reader can reach: the front page, the root documents and docs/. */
function markdownPages(): string[] {
  const pages = ['README.md', 'CONTRIBUTING.md', 'CHANGELOG.md'].filter((f) => existsSync(f));
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (path.endsWith('.md')) pages.push(path);
    }
  };
  walk('docs');
  return pages;
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, duplicates numbered. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let inFence = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) inFence = !inFence;
    const heading = !inFence && /^#{1,6} (.+)$/.exec(line);
    if (!heading) continue;
    const base = heading[1]!
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** Links written as `[text](target)` outside code, with their line numbers. */
function linksOf(markdown: string): { target: string; line: number }[] {
  const links: { target: string; line: number }[] = [];
  let inFence = false;
  markdown.split('\n').forEach((text, index) => {
    if (text.startsWith('```')) inFence = !inFence;
    if (inFence) return;
    const outsideCode = text.replace(/`[^`]*`/g, '');
    for (const match of outsideCode.matchAll(/\]\(([^)\s]+)\)/g))
      links.push({ target: match[1]!, line: index + 1 });
  });
  return links;
}

describe('docs', () => {
  it('has no broken internal link or anchor on any page', () => {
    const broken: string[] = [];
    for (const page of markdownPages()) {
      const markdown = readFileSync(page, 'utf8');
      for (const { target, line } of linksOf(markdown)) {
        if (/^[a-z]+:/i.test(target)) continue; // http(s), mailto: checked by nobody here (no network)
        const [file, anchor] = target.split('#') as [string, string | undefined];
        const resolved = file === '' ? page : normalize(join(dirname(page), file));
        if (!existsSync(resolved)) {
          broken.push(`${page}:${line} links to ${target}: no such file`);
          continue;
        }
        if (anchor && resolved.endsWith('.md') && !anchorsOf(readFileSync(resolved, 'utf8')).has(anchor)) {
          broken.push(`${page}:${line} links to ${target}: no such heading`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it('documents every field of every target and source config in a current field table', () => {
    const problems = fieldsPages().flatMap((page) => fieldProblems(page));
    expect(problems).toEqual([]);
  });

  it('has a page for every target and every source', () => {
    const missing = [
      ...TARGETS.map((target) => `docs/targets/${target.type}.md`),
      ...HTTP_SOURCES.map((source) => `docs/sources/${source.name}.md`),
      'docs/sources/native.md',
      'docs/sources/codedeploy.md',
    ].filter((page) => !existsSync(page));
    expect(missing).toEqual([]);
  });

  it('reports a schema field that a page does not describe', () => {
    const page = { file: 'docs/targets/x.md', rows: [{ path: 'url', type: 'URL', required: true }] };
    const undocumented = withFields('# x\n', page.rows);
    expect(fieldProblems(page, () => undocumented)).toEqual([
      'docs/targets/x.md: field `url` has no description',
    ]);
    const stale = withFields('# x\n', []);
    expect(fieldProblems(page, () => stale)).toContain(
      "docs/targets/x.md's field table is stale: run npm run docs:fields and describe new fields",
    );
  });
});
