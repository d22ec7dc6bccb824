// bench/data faces: cold preprocessing with face detection (experiments/faces-scratch.yaml's
// crop: BlazeFace, align, 64x64) on all UTKFace images and on the portraits,
// the detection rate of each, and the cached rerun.
//
//   npm run bench:faces [-- --cache-dir DIR]   (UTKFACE_DIR, PORTRAITS_DIR)
// DIR must be new or empty (a cold cache); by default a temporary folder, removed after.
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveExperiment } from '../../src/config/resolve.ts';
import { loadPixels } from '../../src/data/cache.ts';
import { listData } from '../../src/data/sources.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const at = process.argv.indexOf('--cache-dir');
const given = at > 0 ? path.resolve(process.argv[at + 1] as string) : null;
if (given && existsSync(given) && readdirSync(given).length > 0)
  throw new Error(`${given} is not empty: a cold run needs an empty cache`);
const cacheDir = given ?? mkdtempSync(path.join(os.tmpdir(), 'run-exp-bench-faces-'));

// Augmentation does not touch preprocessing: left out so the file resolves on its own.
const exp = resolveExperiment(path.join(root, 'experiments', 'faces-scratch.yaml'), {
  set: ['data.augmentation=[]'],
}).experiment;
const p = exp.data.preprocessing;
const sets = { utkface: exp.data.path, portraits: exp.data.evaluation_sets.portraits as string };

const measure = async (dir: string) => {
  const items = listData({
    source: 'folder',
    path: dir,
    classes: ['male', 'female'],
    path_column: 'path',
    label_column: 'label',
  }).items;
  const start = performance.now();
  const px = await loadPixels(items, p, { cacheDir });
  const seconds = (performance.now() - start) / 1000;
  return { images: items.length, seconds, images_per_s: items.length / seconds, faces: px.faces, bad: px.bad.length };
};

const results: Record<
  string,
  { cold: Awaited<ReturnType<typeof measure>>; cached: Awaited<ReturnType<typeof measure>> }
> = {};
for (const [name, dir] of Object.entries(sets)) {
  const cold = await measure(dir);
  const cached = await measure(dir);
  results[name] = { cold, cached };
}
if (!given) rmSync(cacheDir, { recursive: true, force: true });

const lines = [
  `Machine: ${os.cpus()[0]?.model}, ${os.availableParallelism()} cores. Crop: ${JSON.stringify(p.crop)}, ${p.size.join('x')}.`,
  '',
  '| set | images | cold: seconds | cold: images/s | faces found | cached rerun: seconds | detected on rerun |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...Object.entries(results).map(
    ([name, r]) =>
      `| ${name} | ${r.cold.images} | ${r.cold.seconds.toFixed(1)} | ${r.cold.images_per_s.toFixed(1)} | ${r.cold.faces?.found} (${(((r.cold.faces?.found ?? 0) / (r.cold.faces?.images || 1)) * 100).toFixed(1)}%) | ${r.cached.seconds.toFixed(2)} | ${r.cached.faces?.detected} |`,
  ),
];
writeFileSync(
  path.join(here, 'faces-results.json'),
  `${JSON.stringify({ date: new Date().toISOString(), crop: p.crop, size: p.size, results }, null, 2)}\n`,
);
process.stdout.write(`${lines.join('\n')}\n`);
