/**
 * The CloudEvents HTTP binding as the `cloudevents` package (10.0.0) reads a request with `HTTP.toEvent` in its
 * default, loose mode, reduced to what Shipcast takes from the event: its `data` (and `data_base64`), and the
 * errors the package throws. Shipcast read requests with the package itself before; this port keeps that
 * behaviour, quirks included (test/unit/cloudevents-http.test.ts compares the two on many requests), without
 * the package's ~65 KB of bundled code (ajv formats, bignumber.js, uuid) and ~8 ms of module load in the API
 * function's cold start.
 *
 * The caller (`parseCloudEvent`) has checked the envelope first: one event (no batch), `specversion` 1.0 or
 * 0.3, `id`, `source` and `type` present, and a structured body that is a JSON object. Headers are lower case.
 * Not ported: `CE_USE_BIG_INT=true` (the package's JSON parsing into BigInt), which Shipcast never sets.
 */

/** What Shipcast reads from the event. */
export interface CloudEventData {
  data: unknown;
  data_base64?: unknown;
}

/** The package's `parserByContentType`: which content types it parses as JSON, and which it passes through. */
const JSON_CONTENT_TYPES = [
  'application/json',
  'application/cloudevents+json',
  'application/json; charset=utf-8',
  'application/cloudevents+json; charset=utf-8',
];
const OCTET_STREAM = 'application/octet-stream';

/** The package's per-version maps: binary header → attribute, and structured attributes it lifts out. */
const BINARY_ATTRIBUTES: Record<'1.0' | '0.3', Record<string, string>> = {
  '1.0': {
    'ce-type': 'type',
    'ce-specversion': 'specversion',
    'ce-source': 'source',
    'ce-id': 'id',
    'ce-time': 'time',
    'ce-dataschema': 'dataschema',
    'ce-subject': 'subject',
    datacontenttype: 'datacontenttype',
    'content-type': 'datacontenttype',
  },
  '0.3': {
    'ce-type': 'type',
    'ce-specversion': 'specversion',
    'ce-source': 'source',
    'ce-id': 'id',
    'ce-time': 'time',
    'ce-schemaurl': 'schemaurl',
    'ce-subject': 'subject',
    'ce-datacontentencoding': 'datacontentencoding',
    'content-type': 'datacontenttype',
  },
};
const STRUCTURED_ATTRIBUTES: Record<'1.0' | '0.3', string[]> = {
  '1.0': [
    'type',
    'specversion',
    'source',
    'id',
    'time',
    'dataschema',
    'datacontenttype',
    'subject',
    'data',
    'data_base64',
  ],
  '0.3': [
    'type',
    'specversion',
    'source',
    'id',
    'time',
    'schemaurl',
    'datacontentencoding',
    'datacontenttype',
    'subject',
    'data',
  ],
};

/** The data of the CloudEvent in a request, as `HTTP.toEvent({ headers, body })` would give it; throws as it throws. */
export function cloudEventData(headers: Record<string, string>, body: string): CloudEventData {
  const structured = (headers['content-type'] ?? '').startsWith('application/cloudevents');
  return structured ? structuredEvent(headers, body) : binaryEvent(headers, body);
}

function binaryEvent(headers: Record<string, string>, body: string): CloudEventData {
  const map = BINARY_ATTRIBUTES[version(headers['ce-specversion'] || '1.0')];
  const event: Record<string, unknown> = {};
  const rest = { ...headers };
  for (const [header, attribute] of Object.entries(map)) {
    if (headers[header]) {
      event[attribute] = headers[header];
      delete rest[header];
    }
  }
  // Every other ce- header is an extension.
  for (const header of Object.keys(rest)) {
    if (header.startsWith('ce-')) event[header.slice(3)] = rest[header];
  }
  const parser = parserFor(event.datacontenttype);
  let data: unknown = body;
  if (parser && body) data = parser(body);
  return construct({ ...event, data });
}

function structuredEvent(headers: Record<string, string>, body: string): CloudEventData {
  const contentType = headers['content-type'] as string;
  const parser = parserFor(contentType);
  if (!parser) throw new TypeError(`invalid content type ${contentType}`);
  const incoming: Record<string, unknown> = { ...(parser(body) as object) };
  const event: Record<string, unknown> = {};
  for (const attribute of STRUCTURED_ATTRIBUTES[
    version((JSON.parse(body) as { specversion: string }).specversion)
  ]) {
    if (incoming[attribute]) event[attribute] = incoming[attribute];
    delete incoming[attribute];
  }
  // Whatever is left is an extension.
  Object.assign(event, incoming);
  if (event.data_base64 || event.datacontentencoding === 'base64') {
    event.data = new Uint32Array(Buffer.from((event.data_base64 || event.data) as string, 'base64'));
    delete event.data_base64;
    delete event.datacontentencoding;
  }
  return construct(event);
}

/** The checks `new CloudEvent(event, false)` makes, and where it puts the data. */
function construct(event: Record<string, unknown>): CloudEventData {
  const specversion = event.specversion || '1.0';
  let data: unknown;
  if (event.data_base64) data = Uint8Array.from(atob(event.data_base64 as string), (c) => c.charCodeAt(0));
  if (typeof event.data !== 'undefined') data = event.data;
  if (specversion === '1.0' && event.schemaurl)
    throw new TypeError('cannot set schemaurl on version 1.0 event');
  if (specversion === '0.3' && event.dataschema)
    throw new TypeError('cannot set dataschema on version 0.3 event');
  return { data, data_base64: event.data_base64 };
}

function version(specversion: string): '1.0' | '0.3' {
  return specversion === '0.3' ? '0.3' : '1.0';
}

/** The package's parser for a content type: JSON, pass-through, or none (a name it does not know). */
function parserFor(contentType: unknown): ((payload: string) => unknown) | undefined {
  if (typeof contentType !== 'string') return undefined;
  if (JSON_CONTENT_TYPES.includes(contentType)) return parseJson;
  if (contentType === OCTET_STREAM) return (payload) => payload;
  // The package looks the type up in a plain object: an inherited name finds something that cannot parse.
  if (contentType in Object.prototype)
    return () => {
      throw new TypeError('parser.parse is not a function');
    };
  return undefined;
}

/** The package's JSONParser: a payload that does not start with `[`, `{` or `"` (or `|`) is taken as a string. */
function parseJson(payload: string): unknown {
  return JSON.parse(/^[[|{|"]/.test(payload) ? payload : `"${payload}"`);
}
