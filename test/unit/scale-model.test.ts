import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readResults, scaleModelTables, withTables } from '../../scripts/scale-model.ts';

describe('docs/scaling.md', () => {
  it('shows the tables the scale model computes from the committed bench/results.json', () => {
    const page = readFileSync('docs/scaling.md', 'utf8');
    expect(page).toBe(withTables(page, scaleModelTables(readResults())));
  });

  it('puts every limit’s rate where the model computes it from the per-event counts', () => {
    const results = readResults();
    const doubled = structuredClone(results);
    doubled.model.perEvent.dynamoWriteUnits *= 2;
    doubled.model.perEvent.dynamoReadUnits *= 2;
    const row = (tables: string) =>
      tables.split('\n').find((l) => l.startsWith('| DynamoDB table, on-demand |'));
    const rate = (tables: string) => Number(row(tables)?.split('|')[4]?.trim().replace(/,/g, ''));
    expect(rate(scaleModelTables(doubled))).toBeCloseTo(rate(scaleModelTables(results)) / 2, -1);
  });
});
