import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fieldsPages, withFields } from './docs-fields.ts';

/**
 * Regenerates the field table of every target and source page from the config schema (`npm run docs:fields`),
 * creating a page that does not exist yet. Descriptions already written are kept; new fields get an empty one,
 * which the docs test reports until it is written.
 */
for (const page of fieldsPages()) {
  const type = page.file.replace(/^docs\/\w+\//, '').replace(/\.md$/, '');
  const current = existsSync(page.file) ? readFileSync(page.file, 'utf8') : `# \`${type}\`\n`;
  const next = withFields(current, page.rows);
  if (next !== current) {
    writeFileSync(page.file, next);
    process.stdout.write(`wrote ${page.file}\n`);
  }
}
