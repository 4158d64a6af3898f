import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { queueSafeJson } from '../../functions/core/sources/sns-http.ts';

/** The characters SQS accepts in a message body. */
const SQS_BODY = /^[\t\n\r\x20-\ud7ff\ue000-\ufffd]*$/;

describe('queueSafeJson', () => {
  it('writes emoji, U+FFFE/U+FFFF and lone surrogates as escapes, and parses back to the same value', () => {
    const value = { Message: 'ship 🚀 \ufffe\uffff \ud800 lone', Subject: 'é ✓' };

    const json = queueSafeJson(value);

    expect(json).toMatch(SQS_BODY);
    expect(json).toContain('\\ud83d\\ude80');
    expect(json).toContain('é ✓');
    expect(JSON.parse(json)).toEqual(value);
  });

  it('keeps any JSON value equal and within the characters SQS accepts', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.string({ unit: 'binary' }), (value, text) => {
        for (const input of [value, { Message: text }]) {
          const json = queueSafeJson(input);
          expect(json).toMatch(SQS_BODY);
          expect(JSON.parse(json)).toEqual(JSON.parse(JSON.stringify(input)));
        }
      }),
      { numRuns: 2000, seed: 20261122 },
    );
  });
});
