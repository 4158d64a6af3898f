/**
 * The field tables of the integration pages (docs/targets/<type>.md, docs/sources/<name>.md), generated from
 * the config's JSON Schema so that the field lists cannot drift from the code. Each table sits between
 * `<!-- fields:begin -->` and `<!-- fields:end -->`; the type, required and default columns come from the
 * schema, the description column is written by hand and kept when the table is regenerated.
 */
import { readFileSync } from 'node:fs';
import { configJsonSchema } from '../functions/core/config.ts';

/** One row of a field table. */
export interface FieldRow {
  path: string;
  type: string;
  required: boolean;
  defaultValue?: string;
}

/** A docs page and the config fields it must document. */
export interface FieldsPage {
  file: string;
  rows: FieldRow[];
}

type JsonSchema = {
  type?: string | string[];
  const?: unknown;
  enum?: unknown[];
  default?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  additionalProperties?: boolean | JsonSchema;
  format?: string;
};

const BEGIN = '<!-- fields:begin -->';
const END = '<!-- fields:end -->';

/** Every target type's page and the sources' pages, with the rows their schemas give. */
export function fieldsPages(): FieldsPage[] {
  const schema = configJsonSchema() as JsonSchema;
  const targets = schema.properties?.targets?.additionalProperties as JsonSchema;
  const pages: FieldsPage[] = [];
  for (const target of targets.oneOf ?? targets.anyOf ?? []) {
    const type = target.properties?.type?.const;
    if (typeof type !== 'string') throw new Error('a target schema has no `type` constant');
    pages.push({ file: `docs/targets/${type}.md`, rows: rowsOf(target, '', new Set(['type'])) });
  }
  for (const [name, source] of Object.entries(schema.properties?.sources?.properties ?? {})) {
    pages.push({ file: `docs/sources/${name}.md`, rows: rowsOf(source, `sources.${name}.`, new Set()) });
  }
  return pages;
}

function rowsOf(schema: JsonSchema, prefix: string, skip: Set<string>): FieldRow[] {
  const merged = mergeVariants(schema);
  const rows: FieldRow[] = [];
  for (const [key, field] of Object.entries(merged.properties)) {
    if (skip.has(key)) continue;
    const path = `${prefix}${key}`;
    const row: FieldRow = { path, type: typeOf(field), required: merged.required.has(key) };
    if (field.default !== undefined) row.defaultValue = JSON.stringify(field.default);
    rows.push(row);
    // `circuit` is the same on every target and explained in concepts.md; other objects list their fields.
    if (key !== 'circuit' && isObject(field)) rows.push(...rowsOf(field, `${path}.`, new Set()));
  }
  return rows;
}

/** A target whose config has variants (`token` or `app`) lists the union of their fields. */
function mergeVariants(schema: JsonSchema): {
  properties: Record<string, JsonSchema>;
  required: Set<string>;
} {
  const variants = schema.anyOf ?? schema.oneOf;
  if (!schema.properties && variants) {
    const properties: Record<string, JsonSchema> = {};
    const requiredEverywhere = variants.map((v) => new Set(mergeVariants(v).required));
    for (const variant of variants) Object.assign(properties, mergeVariants(variant).properties);
    const required = new Set(
      Object.keys(properties).filter((key) => requiredEverywhere.every((set) => set.has(key))),
    );
    return { properties, required };
  }
  return { properties: schema.properties ?? {}, required: new Set(schema.required ?? []) };
}

function isObject(schema: JsonSchema): boolean {
  const merged = schema.anyOf?.find((v) => v.properties) ?? schema;
  return Boolean(merged.properties && Object.keys(merged.properties).length > 0);
}

function typeOf(schema: JsonSchema): string {
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(' \\| ');
  const variants = schema.anyOf ?? schema.oneOf;
  if (variants) return [...new Set(variants.map(typeOf))].join(' or ');
  if (schema.type === 'array') return `list of ${schema.items ? typeOf(schema.items) : 'values'}`;
  if (schema.type === 'object' && !schema.properties && schema.additionalProperties) {
    const values = schema.additionalProperties === true ? 'values' : typeOf(schema.additionalProperties);
    return `map of ${values}`;
  }
  if (schema.format === 'uri') return 'URL';
  if (Array.isArray(schema.type)) return schema.type.join(' or ');
  return schema.type ?? 'any';
}

/** The descriptions a page's current table gives, by field path. */
export function descriptionsIn(markdown: string): Map<string, string> {
  const descriptions = new Map<string, string>();
  const block = tableBlock(markdown);
  if (!block) return descriptions;
  for (const line of block.split('\n')) {
    const cells = splitRow(line);
    const path = /^`([^`]+)`$/.exec(cells[0] ?? '')?.[1];
    if (path && cells.length >= 5) descriptions.set(path, cells.slice(4).join(' | ').trim());
  }
  return descriptions;
}

function splitRow(line: string): string[] {
  if (!line.startsWith('|')) return [];
  return line
    .slice(1, line.endsWith('|') ? -1 : undefined)
    .split(/(?<!\\)\|/)
    .map((cell) => cell.trim());
}

function tableBlock(markdown: string): string | undefined {
  const begin = markdown.indexOf(BEGIN);
  const end = markdown.indexOf(END);
  if (begin < 0 || end < begin) return undefined;
  return markdown.slice(begin + BEGIN.length, end);
}

/** The field table of a page, with the descriptions it already has (empty where none). */
export function renderFields(rows: FieldRow[], descriptions: Map<string, string>): string {
  const lines = ['| field | type | required | default | description |', '| --- | --- | --- | --- | --- |'];
  for (const row of rows) {
    const defaultValue =
      row.defaultValue === undefined ? '' : `\`${row.defaultValue.replaceAll('|', '\\|')}\``;
    const description = descriptions.get(row.path) ?? '';
    lines.push(
      `| \`${row.path}\` | ${row.type} | ${row.required ? 'yes' : ''} | ${defaultValue} | ${description} |`,
    );
  }
  return `${BEGIN}\n${lines.join('\n')}\n${END}`;
}

/** The page with its field table regenerated (appended under `## Fields` when it has none yet). */
export function withFields(markdown: string, rows: FieldRow[]): string {
  const table = renderFields(rows, descriptionsIn(markdown));
  const begin = markdown.indexOf(BEGIN);
  const end = markdown.indexOf(END);
  if (begin >= 0 && end > begin) return markdown.slice(0, begin) + table + markdown.slice(end + END.length);
  return `${markdown.trimEnd()}\n\n## Fields\n\n${table}\n`;
}

/** What is wrong with a page's field table: stale, missing, or a field without a description. */
export function fieldProblems(
  page: FieldsPage,
  read = (file: string) => readFileSync(file, 'utf8'),
): string[] {
  let markdown: string;
  try {
    markdown = read(page.file);
  } catch {
    return [`${page.file} is missing: every target and source has a page (npm run docs:fields creates it)`];
  }
  const problems: string[] = [];
  if (!tableBlock(markdown)) problems.push(`${page.file} has no field table: run npm run docs:fields`);
  else if (withFields(markdown, page.rows) !== markdown) {
    problems.push(`${page.file}'s field table is stale: run npm run docs:fields and describe new fields`);
  }
  const descriptions = descriptionsIn(markdown);
  for (const row of page.rows) {
    if (!descriptions.get(row.path)) problems.push(`${page.file}: field \`${row.path}\` has no description`);
  }
  return problems;
}
