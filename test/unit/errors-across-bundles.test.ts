import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as errors from '../../functions/core/errors.ts';

/**
 * The API's rare routes run from a second bundle (`rare-routes.mjs`) with its own copy of errors.ts, and the store
 * they call throws the main bundle's errors: `instanceof` must recognize an error of either copy. The other copy
 * here is errors.ts bundled and minified by esbuild, as in the Lambda asset (its classes renamed).
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'shipcast-errors-copy-'));
let copy: typeof errors;

beforeAll(async () => {
  const outfile = join(dir, 'errors.mjs');
  await build({
    entryPoints: [`${ROOT}functions/core/errors.ts`],
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    minify: true,
    outfile,
    logLevel: 'silent',
  });
  copy = (await import(pathToFileURL(outfile).href)) as typeof errors;
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('errors made by another bundle', () => {
  it('are recognized as ConcurrentUpdateError and InvalidInputError in both directions', () => {
    expect(copy.ConcurrentUpdateError).not.toBe(errors.ConcurrentUpdateError);
    const conflict = new copy.ConcurrentUpdateError('deployment changed');
    const invalid = new copy.InvalidInputError('query', [{ path: 'cursor', message: 'not a cursor' }]);

    expect(conflict instanceof errors.ConcurrentUpdateError).toBe(true);
    expect(invalid instanceof errors.InvalidInputError).toBe(true);
    expect(new errors.ConcurrentUpdateError('x') instanceof copy.ConcurrentUpdateError).toBe(true);
    expect(invalid.issues).toEqual([{ path: 'cursor', message: 'not a cursor' }]);
  });

  it('are not taken for another kind of error', () => {
    const conflict = new copy.ConcurrentUpdateError('deployment changed');

    expect(conflict instanceof errors.InvalidInputError).toBe(false);
    expect(new copy.SecretUnavailableError('no secret') instanceof errors.ConcurrentUpdateError).toBe(false);
    expect(new Error('plain') instanceof errors.ConcurrentUpdateError).toBe(false);
    expect(('ConcurrentUpdateError' as unknown) instanceof errors.ConcurrentUpdateError).toBe(false);
  });

  it('lets retryOnConflict retry a conflict thrown by the other copy', async () => {
    let attempts = 0;
    const result = await errors.retryOnConflict(async () => {
      attempts++;
      if (attempts < 3) throw new copy.ConcurrentUpdateError('lost the race');
      return 'written';
    });

    expect(result).toBe('written');
    expect(attempts).toBe(3);
  });

  it('keeps a subclass of a recognized class to its own instances', () => {
    class NarrowerConflict extends errors.ConcurrentUpdateError {}

    expect(new NarrowerConflict('x') instanceof errors.ConcurrentUpdateError).toBe(true);
    expect(new NarrowerConflict('x') instanceof copy.ConcurrentUpdateError).toBe(true);
    expect(new errors.ConcurrentUpdateError('x') instanceof NarrowerConflict).toBe(false);
    expect(new copy.ConcurrentUpdateError('x') instanceof NarrowerConflict).toBe(false);
  });
});
