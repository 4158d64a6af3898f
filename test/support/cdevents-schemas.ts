import { readFileSync } from 'node:fs';
import * as z from 'zod';

/**
 * CDEvents v0.5.1's JSON Schemas of the service events (test/fixtures/cdevents/schemas-v0.5.1, copied
 * from cdevents/spec), read with zod's JSON Schema reader. `context.links` refers to a schema in another
 * file; Shipcast's events carry no links, so it is left out (and a `links` field fails the check). zod
 * reads `format: uri-reference` as an absolute URL, which the spec's own examples (`/event/source/123`)
 * are not: that format is checked here as "no whitespace" instead.
 */
const FILES = {
  'dev.cdevents.service.deployed.0.3.0': 'servicedeployed.json',
  'dev.cdevents.service.upgraded.0.3.0': 'serviceupgraded.json',
  'dev.cdevents.service.rolledback.0.3.0': 'servicerolledback.json',
  'dev.cdevents.service.removed.0.3.0': 'serviceremoved.json',
} as const;

const validators = new Map<string, z.ZodType>();

function validator(type: string): z.ZodType {
  const file = FILES[type as keyof typeof FILES];
  if (!file) throw new Error(`no CDEvents v0.5.1 schema for ${type}`);
  let schema = validators.get(type);
  if (!schema) {
    const json = JSON.parse(
      readFileSync(new URL(`../fixtures/cdevents/schemas-v0.5.1/${file}`, import.meta.url), 'utf8'),
    );
    delete json.properties.context.properties.links;
    schema = z.fromJSONSchema(withoutUriReferenceFormat(json) as Parameters<typeof z.fromJSONSchema>[0]);
    validators.set(type, schema);
  }
  return schema;
}

/** What is wrong with `event` as a CDEvent of its `context.type` (empty when it is valid). */
export function cdeventProblems(event: unknown): string[] {
  const type = (event as { context?: { type?: string } })?.context?.type ?? '';
  const result = validator(type).safeParse(event);
  return result.success
    ? []
    : result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
}

/** The schema with every `format: "uri-reference"` replaced by a no-whitespace pattern. */
function withoutUriReferenceFormat(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutUriReferenceFormat);
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'format' && value === 'uri-reference') out.pattern = '^\\S+$';
    else out[key] = withoutUriReferenceFormat(value);
  }
  return out;
}
