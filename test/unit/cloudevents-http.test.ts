import { readdirSync, readFileSync } from 'node:fs';
import { HTTP } from 'cloudevents';
import { describe, expect, it } from 'vitest';
import { cloudEventData } from '../../functions/core/sources/cloudevents-http.ts';

/**
 * `cloudEventData` is a port of what Shipcast used from the `cloudevents` package (HTTP.toEvent, loose mode):
 * for each request it must give the same data, or throw the same message. The requests are the CDEvents
 * spec examples in both modes, each changed one header or field at a time (content types, versions, base64
 * data, schema attributes, odd bodies) — every one of which the caller's own envelope checks let through.
 */

const FIXTURES = new URL('../fixtures/cdevents/', import.meta.url);
const examples = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(readFileSync(new URL(f, FIXTURES), 'utf8')) as { context: Record<string, string> });

type Request = { label: string; headers: Record<string, string>; body: string };

const CONTENT_TYPES = [
  undefined,
  '',
  'application/json',
  'application/json; charset=utf-8',
  'application/json;charset=utf-8',
  'application/cdevents+json',
  'application/octet-stream',
  'text/plain',
  'constructor',
  '__proto__',
  'toString',
];
const STRUCTURED_TYPES = [
  'application/cloudevents+json',
  'application/cloudevents+json; charset=utf-8',
  'application/cloudevents+json;charset=utf-8',
  'application/cloudevents+json; charset=UTF-8',
  'application/cloudevents',
  'application/cloudevents+xml',
];
const BODIES = [
  '',
  '   ',
  ' {"a":1}',
  '"text"',
  '[1,2]',
  '42',
  'null',
  'not json',
  '{"nested":{"x":[1,{"y":null}]}}',
];
const EXTRA_HEADERS: Record<string, string>[] = [
  {},
  { 'ce-schemaurl': 'https://example.com/schema' },
  { 'ce-dataschema': 'https://example.com/schema' },
  { 'ce-datacontentencoding': 'base64' },
  { 'ce-data_base64': 'eyJhIjoxfQ==' },
  { 'ce-data_base64': '!!not base64!!' },
  { 'ce-time': 'not a time' },
  { 'ce-myextension': 'value', datacontenttype: 'application/json' },
];
const EXTRA_FIELDS: Record<string, unknown>[] = [
  {},
  { data: '' },
  { data: 0 },
  { data: null },
  { data: '{"a":1}' },
  { data: [1, 2] },
  { data: undefined, data_base64: 'eyJhIjoxfQ==' },
  { data_base64: 'eyJhIjoxfQ==' },
  { data_base64: 5 },
  { datacontentencoding: 'base64', data: 'eyJhIjoxfQ==' },
  { datacontentencoding: 'base64', data: { a: 1 } },
  { schemaurl: 'https://example.com/schema' },
  { dataschema: 'https://example.com/schema' },
  { time: 'not a time' },
  { myextension: 'value' },
];

function requests(): Request[] {
  const out: Request[] = [];
  for (const [i, cdevent] of examples.entries()) {
    for (const specversion of ['1.0', '0.3']) {
      const envelope = {
        'ce-specversion': specversion,
        'ce-id': cdevent.context.id ?? `id-${i}`,
        'ce-source': cdevent.context.source ?? '/source',
        'ce-type': cdevent.context.type ?? 'dev.cdevents.service.deployed.0.1.1',
      };
      const body = JSON.stringify(cdevent);
      for (const type of CONTENT_TYPES) {
        for (const extra of EXTRA_HEADERS) {
          const headers: Record<string, string> = { ...envelope, ...extra };
          if (type !== undefined) headers['content-type'] = type;
          out.push({ label: `binary ${specversion} ${type} ${JSON.stringify(extra)}`, headers, body });
        }
        for (const other of BODIES) {
          const headers: Record<string, string> = { ...envelope };
          if (type !== undefined) headers['content-type'] = type;
          out.push({ label: `binary ${specversion} ${type} body ${other}`, headers, body: other });
        }
      }
      for (const type of STRUCTURED_TYPES) {
        for (const extra of EXTRA_FIELDS) {
          const event = {
            specversion,
            id: envelope['ce-id'],
            source: envelope['ce-source'],
            type: envelope['ce-type'],
            datacontenttype: 'application/json',
            data: cdevent,
            ...extra,
          };
          for (const text of [
            JSON.stringify(event),
            ` ${JSON.stringify(event)}`,
            JSON.stringify(event, null, 2),
          ]) {
            out.push({
              label: `structured ${specversion} ${type} ${JSON.stringify(extra)}`,
              headers: { 'content-type': type },
              body: text,
            });
          }
        }
      }
    }
  }
  return out;
}

/** The data as Shipcast reads it: the same post-processing `parseCloudEvent` does after either reader. */
function outcome(read: () => { data?: unknown; data_base64?: unknown }): unknown {
  try {
    const event = read();
    let data: unknown = event.data;
    if (data === undefined && typeof event.data_base64 === 'string') {
      data = Buffer.from(event.data_base64, 'base64').toString('utf8');
    }
    if (data instanceof Uint8Array) data = { bytes: Buffer.from(data).toString('utf8') };
    if (ArrayBuffer.isView(data)) data = { view: data.constructor.name, values: [...(data as Uint32Array)] };
    return { data };
  } catch (error) {
    return {
      error: (error as Error).message.replace(
        /^\w+\.parse is not a function$/,
        'parser.parse is not a function',
      ),
    };
  }
}

describe('cloudEventData (the cloudevents package, ported)', () => {
  it('gives the data the cloudevents package gives, or fails with its message, for every request', () => {
    const all = requests();
    expect(all.length).toBeGreaterThan(1000);
    let failures = 0;
    for (const request of all) {
      const expected = outcome(() => {
        const event = HTTP.toEvent({ headers: request.headers, body: request.body });
        if (Array.isArray(event)) throw new Error('batch');
        return event as { data?: unknown; data_base64?: unknown };
      });
      const actual = outcome(() => cloudEventData(request.headers, request.body));
      if (JSON.stringify(actual) !== JSON.stringify(expected)) {
        failures++;
        expect({ request: request.label, actual }).toEqual({ request: request.label, actual: expected });
      }
    }
    expect(failures).toBe(0);
  });
});
