// Builds this addon at install; the libtensorflow installer (a sibling
// package) holds the one build routine run-exp's addons share.
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const installer = createRequire(import.meta.url).resolve('@run-exp/libtensorflow');
const { buildAddon } = await import(installer);
await buildAddon(path.dirname(fileURLToPath(import.meta.url)), 'the graph engine', 'training runs eagerly');
