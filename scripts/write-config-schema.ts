import { writeFileSync } from 'node:fs';
import { configJsonSchema } from '../functions/core/config.ts';

/** Regenerates shipcast.config.schema.json from the zod config schema (a test checks it is current). */
writeFileSync('shipcast.config.schema.json', `${JSON.stringify(configJsonSchema(), null, 2)}\n`);
process.stdout.write('wrote shipcast.config.schema.json\n');
