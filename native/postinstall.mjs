// @ts-check
// The native parts of run-exp, built in order from the root package's
// postinstall: npm runs a project's own scripts without an allowScripts entry,
// and after every dependency's, so the order is ours. tfjs-node's own install
// script is held back (allowScripts: false in package.json) and run here, once
// libtensorflow is staged for it; then run-exp's two addons are built against it.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAddon, stageLibtensorflow, tfjsNodeDir } from './install.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

/** @param {string} msg */
function fail(msg) {
  process.stderr.write(`run-exp install: ${msg}\n`);
  process.exit(1);
}

try {
  await stageLibtensorflow();
} catch (err) {
  fail(`libtensorflow could not be staged: ${err instanceof Error ? err.message : String(err)}`);
}
const tfjs = spawnSync(process.execPath, ['scripts/install.js'], { cwd: tfjsNodeDir(), stdio: 'inherit' });
if (tfjs.status !== 0) fail(`@tensorflow/tfjs-node's install script failed (exit ${tfjs.status})`);
// Optional: without them training runs eagerly and sharp decodes every image.
await buildAddon(path.join(here, 'graph'), 'the graph engine', 'training runs eagerly');
await buildAddon(path.join(here, 'jpeg'), 'the JPEG fast path', 'sharp decodes every image (slower for small JPEGs)');
