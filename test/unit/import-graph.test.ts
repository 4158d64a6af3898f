import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * Dependencies in `functions/` point one way (issue #16): no module reaches itself again through its imports,
 * counting type-only imports, re-exports and dynamic imports. Each file is read with the TypeScript compiler's
 * pre-processor; only relative specifiers are followed (packages cannot import the project back).
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FUNCTIONS = join(ROOT, 'functions');

/** Every .ts file under a folder. */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The project files a file imports (static, type-only, `export … from` and `import()` with a literal). */
function importsOf(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return info.importedFiles
    .map((ref) => ref.fileName)
    .filter((specifier) => specifier.startsWith('.'))
    .map((specifier) => relative(ROOT, resolve(dirname(file), specifier)));
}

/** A cycle of the graph as the list of files it runs through (first file repeated last), or undefined. */
function findCycle(graph: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (node: string): string[] | undefined => {
    state.set(node, 'open');
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'open') return [...path.slice(path.indexOf(next)), next];
      if (!state.has(next)) {
        const cycle = visit(next);
        if (cycle) return cycle;
      }
    }
    path.pop();
    state.set(node, 'done');
    return undefined;
  };
  for (const node of [...graph.keys()].sort()) {
    if (!state.has(node)) {
      const cycle = visit(node);
      if (cycle) return cycle;
    }
  }
  return undefined;
}

const graph = new Map(
  sourceFiles(FUNCTIONS).map((file) => [relative(ROOT, file), importsOf(file).sort()] as const),
);

describe('import graph of functions/', () => {
  it('reads the imports of every kind', () => {
    expect(graph.get('functions/core/targets/slack.ts')).toContain('functions/core/targets/target.ts');
    expect(graph.size).toBeGreaterThan(100);
  });

  it('finds a cycle when there is one', () => {
    const looped = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts']],
    ]);
    expect(findCycle(looped)).toEqual(['a.ts', 'b.ts', 'c.ts', 'a.ts']);
  });

  it('lets the config and the target schemas reach no target code, only schemas and modules that import nothing', () => {
    const reached = new Set<string>();
    const walk = (file: string) => {
      if (reached.has(file)) return;
      reached.add(file);
      for (const next of graph.get(file) ?? []) walk(next);
    };
    walk('functions/core/config.ts');
    const targetCode = [...reached].filter(
      (file) =>
        file.startsWith('functions/core/targets/') &&
        !file.endsWith('.schema.ts') &&
        !file.endsWith('/schemas.ts') &&
        (graph.get(file) ?? []).length > 0,
    );
    expect(reached).toContain('functions/core/targets/schemas.ts');
    expect(targetCode).toEqual([]);
  });

  it('has no import cycle, type-only imports included', () => {
    const cycle = findCycle(graph);
    expect(cycle && `import cycle: ${cycle.join(' → ')}`).toBeUndefined();
  });
});
