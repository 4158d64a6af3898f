/**
 * Property-based testing of the HTTP routes (fast-check): arbitraries that start from valid fixtures and
 * mutate them (drop, duplicate, retype, nest, huge and hostile strings, `__proto__` keys), random headers
 * and query strings, a write spy on the store and the queue, and the invariants every answer must keep.
 */

import { randomInt } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type AttributeValue, ScanCommand } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import { expect } from 'vitest';
import type { ApiContext } from '../../functions/core/api/app.ts';
import { createHarness, type Harness } from './harness.ts';
import { SNS_TOPIC } from './sns-signing.ts';

// biome-ignore lint/suspicious/noExplicitAny: fuzzed JSON is walked and edited freely
export type Json = any;

/** Store and queue methods that change something. A rejected request must call none of them. */
const WRITE_METHODS = new Set([
  'sendSnsNotification',
  'putEvent',
  'setEventDisposition',
  'saveDeployment',
  'linkRollback',
  'saveDelivery',
  'saveCiEvent',
  'putIdempotent',
  'claimIdempotent',
  'take',
  'advanceGeneration',
  'enqueue',
  'retryLater',
  'deadLetter',
]);

/**
 * A harness with every signed source on (GitHub webhook secret, GitLab token, SNS topic whose certificate
 * is `snsCert`, PagerDuty signing secret), the API token `apiToken` named `tokenName`, and the API context under a write spy.
 */
export async function signedSourcesHarness(secrets: {
  tokenName: string;
  apiToken: string;
  githubSecret: string;
  gitlabToken: string;
  snsCert: string;
  pagerdutySecret: string;
}): Promise<{ h: Harness; context: ApiContext; writes: string[] }> {
  const h = await createHarness({
    config: {
      api: { tokens: [{ name: secrets.tokenName, secret: 'api-token' }] },
      sources: {
        github: { secret: 'github-webhook' },
        gitlab: { token: 'gitlab-token' },
        sns: { topicArns: [SNS_TOPIC] },
        pagerduty: { secret: 'pagerduty-webhook' },
      },
      targets: { console: { type: 'log' } },
      routes: [{ targets: ['console'] }],
    },
    env: { SHIPCAST_SECRET_API_TOKEN: secrets.apiToken },
  });
  writeFileSync(join(h.secretsDir, 'github-webhook'), secrets.githubSecret);
  writeFileSync(join(h.secretsDir, 'gitlab-token'), secrets.gitlabToken);
  writeFileSync(join(h.secretsDir, 'pagerduty-webhook'), secrets.pagerdutySecret);
  h.runtime.api.sns = { fetchCertificate: async () => secrets.snsCert, confirmSubscription: async () => {} };
  return { h, ...spyOnWrites(h.runtime.api) };
}

/**
 * The API context with its store and queue wrapped: every write is recorded in `writes` (its method name)
 * before it is made. Requests run one at a time, so the writes since a request started are its own.
 */
export function spyOnWrites(context: ApiContext): { context: ApiContext; writes: string[] } {
  const writes: string[] = [];
  const spy = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(object, property) {
        const value = Reflect.get(object, property, object);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          if (WRITE_METHODS.has(String(property))) writes.push(String(property));
          return value.apply(object, args);
        };
      },
    });
  return {
    context: {
      ...context,
      store: spy(context.store),
      queue: spy(context.queue),
      ingestQueue: context.ingestQueue && spy(context.ingestQueue),
    },
    writes,
  };
}

const prototypeKeys = () => Object.getOwnPropertyNames(Object.prototype).sort().join(',');
const PROTOTYPE_KEYS = prototypeKeys();

/** Nothing was added to Object.prototype (no prototype pollution) by anything the test ran so far. */
export function expectNoPollution(): void {
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(prototypeKeys()).toBe(PROTOTYPE_KEYS);
}

/** Tallies of the answers a property saw (to check the fuzzing reached both rejections and acceptances). */
export type Tally = Map<number, number>;

/**
 * Checks one answer: never a 5xx; a 4xx carries a JSON `{error, message}` body and the request wrote
 * nothing (no store write, no queue message); no prototype pollution. Returns the parsed body.
 */
export async function expectSafeAnswer(
  response: Response,
  writesBefore: number,
  writes: string[],
  tally?: Tally,
  describe = '',
  bodiless = false,
): Promise<unknown> {
  tally?.set(response.status, (tally.get(response.status) ?? 0) + 1);
  const text = await response.text();
  const context = `${describe} → ${response.status} ${text.slice(0, 400)}`;
  expect(response.status, context).toBeLessThan(500);
  let body: unknown;
  if (text && response.headers.get('content-type')?.includes('application/json')) body = JSON.parse(text);
  if (response.status >= 400 && !bodiless) {
    expect(response.headers.get('content-type'), context).toContain('application/json');
    expect(body, context).toMatchObject({ error: expect.any(String), message: expect.any(String) });
  }
  if (response.status >= 400) {
    expect(writes.slice(writesBefore), `a rejected request wrote: ${context}`).toEqual([]);
  }
  expectNoPollution();
  return body;
}

// ---------------------------------------------------------------------------------------------------------
// Values

const FORBIDDEN_KEYS = ['__proto__', 'constructor', 'prototype'] as const;

/** Strings that break naive code: controls, bidi, lone surrogates, astral characters, markup, paths. */
const NASTY_STRINGS = [
  '',
  ' ',
  '\u0000',
  '\ud800',
  '\udfff',
  'a\u202eb',
  '\u200b',
  '\ufeff',
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
  '🚀'.repeat(200),
  '𝔘'.repeat(128),
  'é'.repeat(129),
  '<script>alert(1)</script>',
  '../../etc/passwd',
  '%00%2e%2e%2f',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a log4shell-style lookup string, on purpose
  '${jndi:ldap://127.0.0.1:1/a}',
  '{{service}}',
  'null',
  'true',
  '-1',
  '1e309',
  'NaN',
  '2024-02-30T25:61:61Z',
  'https://127.0.0.1:1/x',
  'javascript:alert(1)',
  '__proto__',
  'constructor',
];

/** Pieces that break URL, path and percent-decoding code when added to a URL or an id. */
const URL_FRAGMENTS = [
  '%',
  '%E0%A4%A',
  '%ZZ',
  '%2F..%2F',
  '/-/',
  '.git',
  '/scm/a/b.git',
  '#frag',
  '?q=1',
  '@evil.example',
  ':99999',
  '//',
  ' ',
  '\\',
];

/** The fragments the field sweep appends to every string (the random mutations use all of them). */
const SWEEP_FRAGMENTS = ['%', '%E0%A4%A', '/-/', '@evil.example', ' ', '🚀'.repeat(64)];

/** A string of any shape: short random text, a nasty one, or a huge one (up to a few times a body limit). */
export const anyString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 3, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.constantFrom(128, 130, 255, 257, 1000, 2048, 2049, 9000, 40_000, 70_000, 300_000),
        fc.constantFrom('x', 'é', '🚀'),
      )
      .map(([n, c]) => c.repeat(n)),
  },
);

/** A JSON value of any type, with the hostile strings and numbers mixed in. */
export const anyJson: fc.Arbitrary<Json> = fc.oneof(
  { weight: 3, arbitrary: anyString },
  {
    weight: 2,
    arbitrary: fc.constantFrom(null, true, false, 0, -1, 1.5, 1e308, -1e308, 2 ** 53 + 1, 32503680001),
  },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  { weight: 1, arbitrary: fc.constantFrom([], {}, [null], ['x'], { a: 1 }) },
);

/** `depth` levels of arrays or objects around `leaf`. */
export function nested(depth: number, kind: 'array' | 'object', leaf: Json = 1): Json {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = kind === 'array' ? [value] : { a: value };
  return value;
}

/** An object with `key` as an own, enumerable property (even `__proto__`), so JSON.stringify writes it. */
function withKey(object: Record<string, Json>, key: string, value: Json): Record<string, Json> {
  const copy: Record<string, Json> = {};
  for (const [k, v] of Object.entries(object)) Object.defineProperty(copy, k, ownValue(v));
  Object.defineProperty(copy, key, ownValue(value));
  return copy;
}
const ownValue = (value: Json) => ({ value, enumerable: true, writable: true, configurable: true });

/** Every path (list of keys) to a value inside `value`, the root included. */
function pathsOf(value: Json, prefix: (string | number)[] = [], out: (string | number)[][] = []) {
  out.push(prefix);
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) pathsOf(v, [...prefix, i], out);
  } else if (value !== null && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) pathsOf(v, [...prefix, k], out);
  return out;
}

/** A copy of `value` with the value at `path` replaced by `edit(old)` (`undefined` deletes it). */
function editAt(value: Json, path: (string | number)[], edit: (old: Json) => Json): Json {
  if (path.length === 0) return edit(value);
  const [head, ...rest] = path as [string | number, ...(string | number)[]];
  if (Array.isArray(value)) {
    const copy = [...value];
    const next = editAt(copy[head as number], rest, edit);
    if (next === undefined && rest.length === 0) copy.splice(head as number, 1);
    else copy[head as number] = next;
    return copy;
  }
  if (value !== null && typeof value === 'object') {
    const copy: Record<string, Json> = {};
    for (const [k, v] of Object.entries(value)) {
      if (k !== head) Object.defineProperty(copy, k, ownValue(v));
      else {
        const next = editAt(v, rest, edit);
        if (next !== undefined || rest.length > 0) Object.defineProperty(copy, k, ownValue(next));
      }
    }
    return copy;
  }
  return value;
}

/** One mutation of a JSON document. */
export type Mutation =
  | { kind: 'drop'; at: number }
  | { kind: 'retype'; at: number; value: Json }
  | { kind: 'nest'; at: number; depth: number; shape: 'array' | 'object' }
  | { kind: 'forbidden-key'; at: number; key: (typeof FORBIDDEN_KEYS)[number]; value: Json }
  | { kind: 'add-field'; at: number; key: string; value: Json }
  | { kind: 'string'; at: number; value: string; op: 'replace' | 'append' | 'prepend' | 'repeat' }
  | { kind: 'duplicate'; at: number; value: Json };

const stringMutation = (value: fc.Arbitrary<string>) =>
  fc.record({
    kind: fc.constant('string' as const),
    at: fc.nat(),
    value,
    op: fc.constantFrom('replace' as const, 'append' as const, 'prepend' as const, 'repeat' as const),
  });

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('drop' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('retype' as const), at: fc.nat(), value: anyJson }),
  fc.record({
    kind: fc.constant('nest' as const),
    at: fc.nat(),
    depth: fc.integer({ min: 20, max: 400 }),
    shape: fc.constantFrom('array' as const, 'object' as const),
  }),
  fc.record({
    kind: fc.constant('forbidden-key' as const),
    at: fc.nat(),
    key: fc.constantFrom(...FORBIDDEN_KEYS),
    value: fc.constantFrom<Json>({ polluted: 'yes' }, 'yes', null, [{ polluted: 1 }]),
  }),
  fc.record({
    kind: fc.constant('add-field' as const),
    at: fc.nat(),
    key: fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('extra', 'toString', 'hasOwnProperty')),
    value: anyJson,
  }),
  stringMutation(anyString),
  stringMutation(fc.constantFrom(...URL_FRAGMENTS)),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), value: anyJson }),
);

/** A duplicated key is only expressible in JSON text: the marker is replaced after serializing. */
const DUPLICATE_MARKER = '\u0001shipcast-duplicate\u0001';

/** Applies one mutation; `at` picks a place (modulo the number of places that fit). */
export function mutate(document: Json, mutation: Mutation): Json {
  const paths = pathsOf(document);
  const pick = (candidates: (string | number)[][]) =>
    candidates.length > 0 ? candidates[mutation.at % candidates.length] : undefined;
  const objects = paths.filter((p) => isObject(valueAt(document, p)));
  const leaves = paths.filter((p) => p.length > 0);
  switch (mutation.kind) {
    case 'drop': {
      const path = pick(leaves);
      return path ? editAt(document, path, () => undefined) : document;
    }
    case 'retype': {
      const path = pick(paths) ?? [];
      return editAt(document, path, () => mutation.value);
    }
    case 'nest': {
      const path = pick(paths) ?? [];
      return editAt(document, path, (old) => nested(mutation.depth, mutation.shape, old ?? 1));
    }
    case 'forbidden-key': {
      const path = pick(objects);
      return path ? editAt(document, path, (old) => withKey(old, mutation.key, mutation.value)) : document;
    }
    case 'add-field': {
      const path = pick(objects);
      return path ? editAt(document, path, (old) => withKey(old, mutation.key, mutation.value)) : document;
    }
    case 'string': {
      const strings = paths.filter((p) => typeof valueAt(document, p) === 'string');
      const path = pick(strings.length > 0 ? strings : leaves);
      if (!path) return document;
      return editAt(document, path, (old) => {
        const text = textOf(old);
        switch (mutation.op) {
          case 'replace':
            return mutation.value;
          case 'append':
            return text + mutation.value;
          case 'prepend':
            return mutation.value + text;
          case 'repeat':
            return text.repeat(Math.min(2000, Math.ceil(2100 / Math.max(1, text.length))));
        }
      });
    }
    case 'duplicate': {
      const path = pick(objects.filter((p) => Object.keys(valueAt(document, p)).length > 0));
      if (!path) return document;
      return editAt(document, path, (old) => {
        const first = Object.keys(old)[0] as string;
        return withKey(old, `${DUPLICATE_MARKER}${first}`, mutation.value);
      });
    }
  }
}

function valueAt(document: Json, path: (string | number)[]): Json {
  let value = document;
  for (const key of path) value = value?.[key];
  return value;
}

function isObject(value: Json): boolean {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** JSON text of a (mutated) document; duplicated keys come out as the same key twice. */
export function toJsonText(document: Json): string {
  return JSON.stringify(document).replaceAll(JSON.stringify(DUPLICATE_MARKER).slice(1, -1), '');
}

/** How a body is sent: the JSON text, or broken on the way (cut, invalid UTF-8, not JSON, empty). */
export type Encoding =
  | { kind: 'json' }
  | { kind: 'truncated'; at: number }
  | { kind: 'bad-utf8'; at: number }
  | { kind: 'text'; text: string }
  | { kind: 'empty' };

export const encodingArb: fc.Arbitrary<Encoding> = fc.oneof(
  { weight: 12, arbitrary: fc.constant({ kind: 'json' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncated' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('bad-utf8' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('text' as const), text: anyString }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'empty' as const }) },
);

/** The bytes of a body: the document's JSON text, encoded as told. */
export function encode(document: Json, encoding: Encoding): Uint8Array {
  const text = toJsonText(document);
  const bytes = new TextEncoder().encode(text);
  switch (encoding.kind) {
    case 'json':
      return bytes;
    case 'truncated':
      return bytes.slice(0, encoding.at % Math.max(1, bytes.length));
    case 'bad-utf8': {
      const copy = new Uint8Array(bytes);
      if (copy.length > 0) copy[encoding.at % copy.length] = 0xff;
      return copy;
    }
    case 'text':
      return new TextEncoder().encode(encoding.text);
    case 'empty':
      return new Uint8Array(0);
  }
}

/** A body: a fixture mutated up to three times, then encoded (mostly as valid JSON). */
export function bodyArb(
  fixtures: Json[],
): fc.Arbitrary<{ document: Json; bytes: Uint8Array; label: string }> {
  return fc
    .tuple(
      fc.constantFrom(...fixtures),
      fc.array(mutationArb, { minLength: 0, maxLength: 3 }),
      encodingArb,
      fc.option(anyJson, { freq: 12 }),
    )
    .map(([fixture, mutations, encoding, replacement]) => {
      let document = replacement === null ? structuredClone(fixture) : replacement;
      for (const mutation of mutations) document = mutate(document, mutation);
      return {
        document,
        bytes: encode(document, encoding),
        label: `${mutations.map((m) => m.kind).join('+') || 'valid'} ${encoding.kind}`,
      };
    });
}

// ---------------------------------------------------------------------------------------------------------
// Headers and query strings

/** A header value the fetch API can carry (Latin-1, no CR/LF/NUL), of any shape. */
export const headerValue: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.constantFrom('', ' ', 'null', 'é', '\t', 'x'.repeat(300), 'x'.repeat(9000), '%00', '__proto__'),
  fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).map((c) => String.fromCharCode(c)), maxLength: 30 }),
);

/** Content types a client may send, right or wrong. */
export const contentType: fc.Arbitrary<string | undefined> = fc.constantFrom(
  undefined,
  'application/json',
  'application/json; charset=utf-8',
  'text/plain',
  'text/plain; charset=UTF-8',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/cloudevents+json',
  'application/cloudevents-batch+json',
  'application/cdevents+json',
  'application/octet-stream',
  '',
  'garbage',
);

/** Extra headers: random names and values, plus the ones Shipcast reads. */
export const extraHeaders: fc.Arbitrary<Record<string, string>> = fc
  .array(
    fc.tuple(
      fc.oneof(
        fc.constantFrom(
          'idempotency-key',
          'x-github-event',
          'x-github-delivery',
          'x-hub-signature',
          'x-gitlab-event',
          'x-gitlab-event-uuid',
          'x-amz-sns-message-type',
          'ce-specversion',
          'ce-id',
          'ce-type',
          'ce-source',
          'ce-__proto__',
          '__proto__',
          'constructor',
          'x-forwarded-for',
          'transfer-encoding',
        ),
        fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/),
      ),
      headerValue,
    ),
    { maxLength: 4 },
  )
  .map((pairs) => {
    const headers: Record<string, string> = {};
    for (const [name, value] of pairs) {
      if (name === 'transfer-encoding') continue; // not a header fetch lets a client set
      Object.defineProperty(headers, name, ownValue(onTheWire(value)));
    }
    return headers;
  });

/** Request headers: `extra` (random, even `__proto__`) overridden by the defined values of `base`. */
export function headersOf(
  base: Record<string, string | undefined>,
  extra: Record<string, string>,
): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(extra)) Object.defineProperty(headers, k, ownValue(v));
  // A value copied from a mutated document may be null, a number or an object: a client sends its text.
  for (const [k, v] of Object.entries(base))
    if (v !== undefined) Object.defineProperty(headers, k, ownValue(onTheWire(textOf(v))));
  return headers;
}

/** Any value as text: an object (possibly without a prototype, so without toString) as its JSON. */
export function textOf(value: unknown): string {
  if (typeof value === 'string') return value;
  return typeof value === 'object' && value !== null ? (JSON.stringify(value) ?? '') : String(value);
}

/**
 * A header value as a server receives it when a client sends `value` raw: HTTP carries bytes, so
 * UTF-8 text arrives as its bytes read one per character (Node's parser reads header bytes as
 * Latin-1), and CR, LF and NUL cannot be sent at all (a client refuses them).
 */
export function onTheWire(value: string): string {
  return Buffer.from(value.replace(/[\r\n\0]/g, ''), 'utf8').toString('latin1');
}

/** A query string (with `?`, or empty) from random and meaningful parameters, percent-encoded. */
export function queryArb(names: string[], values: fc.Arbitrary<string> = anyString): fc.Arbitrary<string> {
  return fc
    .array(
      fc.tuple(
        fc.oneof(fc.constantFrom(...names, '__proto__', 'constructor'), fc.string({ maxLength: 10 })),
        fc.oneof(values, fc.string({ maxLength: 20 })),
      ),
      { maxLength: 5 },
    )
    .map((pairs) =>
      pairs.length === 0
        ? ''
        : `?${pairs.map(([k, v]) => `${safeEncode(k)}=${safeEncode(v.slice(0, 3000))}`).join('&')}`,
    );
}

/** encodeURIComponent that survives lone surrogates (they become U+FFFD). */
export function safeEncode(value: string): string {
  return encodeURIComponent(
    value.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd'),
  );
}

/** A property stops taking new cases after this long (a very slow machine runs fewer of them)… */
const FUZZ_TIME_LIMIT_MS = 120_000;
/** …and its test has room to finish the case in hand and report (vitest's 30 s default would cut it off). */
export const FUZZ_TEST_TIMEOUT_MS = FUZZ_TIME_LIMIT_MS + 60_000;

/**
 * fast-check settings for the route properties. The seed is fixed so that CI is reproducible;
 * `FUZZ_SEED=<n>` replays a reported seed and `FUZZ_SEED=random` explores new cases (the seed of a
 * failure is printed with its counterexample).
 */
export function runs(numRuns: number): fc.Parameters<unknown> {
  return { numRuns, endOnFailure: true, interruptAfterTimeLimit: FUZZ_TIME_LIMIT_MS, ...fuzzSeed() };
}

const DEFAULT_SEED = 20261122;

function fuzzSeed(): { seed?: number } {
  const chosen = process.env.FUZZ_SEED;
  if (chosen === 'random') {
    // Only when asked (runs are seeded with DEFAULT_SEED otherwise); chosen here and printed, so a failure is
    // reproducible even when its report cannot be printed.
    const seed = randomInt(0x7fffffff);
    process.stderr.write(`fuzz seed ${seed} (FUZZ_SEED=${seed} replays it)\n`);
    return { seed };
  }
  if (chosen === undefined || chosen === '') return { seed: DEFAULT_SEED };
  const seed = Number(chosen);
  if (!Number.isSafeInteger(seed)) throw new Error(`FUZZ_SEED must be an integer or "random", got ${chosen}`);
  return { seed };
}

/** Edits the field sweep makes at every place of a fixture. */
const SWEEP_VALUES: Json[] = [null, 0, 1e308, '', [], {}, '\ud800', 'x'.repeat(2049), nested(40, 'array')];

/**
 * Every fixture with one systematic edit at each place (up to `maxDepth` keys deep): the field dropped,
 * replaced by each of SWEEP_VALUES, each URL fragment appended to a string, a `__proto__` key added to an
 * object. Random mutations rarely hit one exact field with one exact edit; the sweep hits all of them.
 */
export function sweepCases(fixtures: Json[], maxDepth = 2): { document: Json; label: string }[] {
  const cases: { document: Json; label: string }[] = [];
  for (const fixture of fixtures) {
    for (const path of pathsOf(fixture).filter((p) => p.length <= maxDepth)) {
      const where = path.join('.') || '(root)';
      const value = valueAt(fixture, path);
      if (path.length > 0)
        cases.push({ document: editAt(fixture, path, () => undefined), label: `drop ${where}` });
      for (const replacement of SWEEP_VALUES) {
        cases.push({
          document: editAt(fixture, path, () => replacement),
          label: `${where} = ${JSON.stringify(replacement).slice(0, 20)}`,
        });
      }
      if (typeof value === 'string') {
        for (const fragment of SWEEP_FRAGMENTS) {
          cases.push({
            document: editAt(fixture, path, () => value + fragment),
            label: `${where} += ${fragment}`,
          });
        }
      }
      if (isObject(value)) {
        cases.push({
          document: editAt(fixture, path, (old) => withKey(old, '__proto__', { polluted: 'yes' })),
          label: `${where}.__proto__`,
        });
      }
    }
  }
  return cases;
}

/** What a route property needs: `send` (one checked request), the tallies, and the both-outcomes check. */
export interface RouteChecker {
  send(
    route: string,
    path: string,
    init: RequestInit,
    label: string,
  ): Promise<{ status: number; body: unknown }>;
  /** The route answered at least one request with a 2xx and at least one with a 4xx. */
  expectBothOutcomes(route: string): void;
}

/**
 * Sends requests in-process to `api` (built on the spied context) and checks every answer with
 * `expectSafeAnswer`. The write spy sees every store and queue call; every 50th request also counts the
 * table's items (all pages) around it as a cross-check (a scan per request would dominate the run time).
 */
export function routeChecker(
  h: Harness,
  api: { request: (path: string, init?: RequestInit) => Response | Promise<Response> },
  writes: string[],
): RouteChecker {
  const tallies = new Map<string, Tally>();
  let sent = 0;
  const itemCount = async () => {
    let count = 0;
    let start: Record<string, AttributeValue> | undefined;
    do {
      const page = await h.dynamodb.send(
        new ScanCommand({ TableName: h.resources.tableName, Select: 'COUNT', ExclusiveStartKey: start }),
      );
      count += page.Count ?? 0;
      start = page.LastEvaluatedKey;
    } while (start);
    return count;
  };
  return {
    async send(route, path, init, label) {
      if (!tallies.has(route)) tallies.set(route, new Map());
      const before = writes.length;
      const counted = sent++ % 50 === 0;
      const countBefore = counted ? await itemCount() : 0;
      let response: Response;
      try {
        response = await api.request(path, init);
      } catch (error) {
        throw new Error(`${route} threw for ${label}: ${(error as Error).stack}`);
      }
      const body = await expectSafeAnswer(
        response,
        before,
        writes,
        tallies.get(route),
        `${route} ${label}`,
        init.method === 'HEAD',
      );
      if (counted && response.status >= 400) {
        expect(await itemCount(), `${route} ${label}`).toBe(countBefore);
      }
      return { status: response.status, body };
    },
    expectBothOutcomes(route) {
      const seen = [...(tallies.get(route)?.keys() ?? [])];
      expect(
        seen.some((s) => s < 300),
        `${route} accepted nothing: ${seen}`,
      ).toBe(true);
      expect(
        seen.some((s) => s >= 400),
        `${route} rejected nothing: ${seen}`,
      ).toBe(true);
    },
  };
}
