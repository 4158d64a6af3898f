import { readFileSync } from 'node:fs';
import * as z from 'zod';

/**
 * GitHub's request-body schemas (test/fixtures/github/rest-schemas.json, extracted from GitHub's
 * OpenAPI description by scripts/extract-github-schemas.ts), checked with zod's JSON Schema reader
 * (OpenAPI 3.0 dialect: `nullable`).
 */
interface Fixture {
  source: string;
  operations: Record<string, { method: string; path: string; requestBody: Record<string, unknown> }>;
}

const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/github/rest-schemas.json', import.meta.url), 'utf8'),
) as Fixture;

export const GITHUB_SCHEMA_SOURCE = fixture.source;

export type GitHubOperation =
  | 'repos/create-deployment'
  | 'repos/create-deployment-status'
  | 'repos/create-commit-status';

const validators = new Map<string, z.ZodType>();

/**
 * What is wrong with `body` as the request body of `operation`: schema violations, plus properties the
 * schema does not know (GitHub ignores those, which hides typos, so tests treat them as mistakes).
 */
export function requestBodyProblems(operation: GitHubOperation, body: unknown): string[] {
  const spec = fixture.operations[operation];
  if (!spec) throw new Error(`no schema for ${operation} in the fixture`);
  let validator = validators.get(operation);
  if (!validator) {
    validator = z.fromJSONSchema(spec.requestBody as never, { defaultTarget: 'openapi-3.0' });
    validators.set(operation, validator);
  }
  const result = validator.safeParse(body);
  const problems = result.success
    ? []
    : result.error.issues.map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`);
  const known = Object.keys((spec.requestBody.properties as Record<string, unknown> | undefined) ?? {});
  if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
    for (const key of Object.keys(body)) {
      if (!known.includes(key)) problems.push(`${key}: not a property of ${operation}`);
    }
  }
  return problems;
}
