// Writes the files generated from the registries: the JSON Schema and the reference docs.
import { writeFileSync } from 'node:fs';
import { GENERATED } from '../src/config/generated.ts';

for (const [file, make] of Object.entries(GENERATED)) {
  writeFileSync(new URL(`../${file}`, import.meta.url), make());
  process.stdout.write(`wrote ${file}\n`);
}
