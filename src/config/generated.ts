// Files in the repository that are generated from the registries, and how.
import { referenceDoc } from './reference-doc.ts';
import { experimentSchema } from './schema.ts';

export const GENERATED: Record<string, () => string> = {
  'schemas/experiment.schema.json': () => `${JSON.stringify(experimentSchema(), null, 2)}\n`,
  'docs/reference.md': () => `${referenceDoc()}\n`,
};
