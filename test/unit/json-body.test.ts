import { describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH, parseJsonBody } from '../../functions/core/api/json.ts';
import { InvalidInputError } from '../../functions/core/errors.ts';

const issuesOf = (raw: string) => {
  try {
    parseJsonBody(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidInputError);
    return (error as InvalidInputError).issues;
  }
  throw new Error('expected an InvalidInputError');
};

describe('untrusted JSON bodies', () => {
  it('parses ordinary JSON', () => {
    expect(parseJsonBody('{"service":"checkout","hosts":["a","b"]}')).toEqual({
      service: 'checkout',
      hosts: ['a', 'b'],
    });
  });

  it('rejects a body that is not JSON, saying so', () => {
    expect(issuesOf('{"service":')[0]?.message).toMatch(/not valid JSON/);
  });

  it('rejects JSON nested deeper than the limit, naming where', () => {
    const deep = `${'['.repeat(MAX_JSON_DEPTH + 1)}${']'.repeat(MAX_JSON_DEPTH + 1)}`;
    expect(issuesOf(deep)[0]?.message).toMatch(/nested deeper than 32/);
    expect(parseJsonBody(`${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}`)).toBeDefined();
  });

  it.each(['__proto__', 'constructor', 'prototype'])(
    'rejects a %s key anywhere and pollutes no prototype',
    (key) => {
      const issues = issuesOf(`{"a":{"b":[{"${key}":{"polluted":true}}]}}`);
      expect(issues).toEqual([{ path: `a.b[0].${key}`, message: 'this key is not allowed' }]);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    },
  );

  it('rejects a string or key that is not Unicode text (an unpaired surrogate escape), naming where', () => {
    expect(issuesOf('{"service":"a\\ud800b"}')).toEqual([
      { path: 'service', message: 'not valid Unicode text (an unpaired surrogate escape)' },
    ]);
    expect(issuesOf('{"hosts":["x","\\udfff"]}')[0]?.path).toBe('hosts[1]');
    expect(issuesOf('{"\\ud800":1}')[0]?.path).toBe('\ufffd');
    expect(parseJsonBody('{"service":"\\ud83d\\ude80 🚀"}')).toEqual({ service: '🚀 🚀' });
  });
});
