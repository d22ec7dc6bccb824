// run-exp's own native addons (native/jpeg, native/graph): built at install,
// optional, and bound at run time to the libtensorflow that tfjs-node loads.
import { createRequire } from 'node:module';
import * as path from 'node:path';

const require = createRequire(import.meta.url);
const opened = new Map<string, { addon: unknown; why: string }>();

/** Whether the addon of package `name` was built (cheap: libtensorflow is not loaded for this). */
export function addonBuilt(name: string): boolean {
  return require(name) !== null;
}

/**
 * The addon of package `name` with its `open(libtensorflow)` done, or null and
 * why it is unavailable (not built, or the library lacks what it needs).
 */
export function openAddon<A extends { open(libraryPath: string): string | null }>(
  name: string,
): { addon: A | null; why: string } {
  const known = opened.get(name);
  if (known) return known as { addon: A | null; why: string };
  let result: { addon: A | null; why: string };
  const addon = require(name) as A | null;
  if (!addon) {
    result = { addon: null, why: `the addon was not built at install (npm run postinstall builds it)` };
  } else {
    const lib = path.join(path.dirname(require.resolve('@tensorflow/tfjs-node/package.json')), 'deps', 'lib');
    const why = addon.open(path.join(lib, 'libtensorflow.so'));
    result = why === null ? { addon, why: '' } : { addon: null, why };
  }
  opened.set(name, result);
  return result;
}
