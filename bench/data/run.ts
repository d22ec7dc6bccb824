// bench/data: decode-and-resize throughput of run-exp's data pipeline on the
// UTKFace set to 64x64 (the JPEG fast path, and sharp alone for comparison),
// beside Pillow doing the same work in the same run (one process, one per
// core); then a cached load, the peak RSS, and how far the fast path's pixels
// are from sharp's.
//
//   npm run bench:data        (UTKFACE_DIR; BENCH_PILLOW_PYTHON)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { listData } from '../../src/data/sources.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const work = path.join(root, 'bench', '.work');
const dataDir = path.resolve(process.env.UTKFACE_DIR ?? path.join(root, '..', 'shared', 'data', 'utkface'));
mkdirSync(work, { recursive: true });

function json(cmd: string, args: string[]): Record<string, number | string | boolean> {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  const line = r.stdout?.trim().split('\n').at(-1);
  if (r.status !== 0 || !line?.startsWith('{')) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return JSON.parse(line);
}

function pillowPython(): string {
  if (process.env.BENCH_PILLOW_PYTHON) return process.env.BENCH_PILLOW_PYTHON;
  const venv = path.join(work, 'venv-pillow');
  const python = path.join(venv, 'bin', 'python');
  if (!existsSync(python)) {
    spawnSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
    spawnSync(path.join(venv, 'bin', 'pip'), ['install', '-q', 'pillow'], { stdio: 'inherit' });
  }
  return python;
}

const listing = listData({
  source: 'folder',
  path: dataDir,
  classes: ['male', 'female'],
  path_column: 'path',
  label_column: 'label',
});
const items = listing.items;
const listJson = path.join(work, 'utkface-items.json');
writeFileSync(listJson, JSON.stringify(items));
const listTxt = path.join(work, 'utkface-files.txt');
writeFileSync(listTxt, items.map((i) => i.path).join('\n'));

// Every file read once first, so that no row pays for the disk and the others not: decoding is what is measured.
for (const item of items) readFileSync(item.path);

const cacheDir = mkdtempSync(path.join(os.tmpdir(), 'run-exp-bench-cache-'));
const sharpDir = mkdtempSync(path.join(os.tmpdir(), 'run-exp-bench-cache-'));
const worker = (dir: string) => ['--import', 'tsx', path.join(here, 'decode_worker.ts'), listJson, dir];
const cold = json(process.execPath, worker(cacheDir));
if (cold.fastPath !== true)
  console.error(`\n*** the JPEG fast path is not available: ${cold.why}; the cold row is sharp's ***\n`);
const warm = json(process.execPath, worker(cacheDir));
process.env.RUN_EXP_JPEG = 'sharp';
const sharpCold = json(process.execPath, worker(sharpDir));
delete process.env.RUN_EXP_JPEG;

/** The one pixel file a load left in a cache folder. */
const pixelsIn = (dir: string) => {
  const images = path.join(dir, 'images');
  return readFileSync(path.join(images, readdirSync(images)[0] as string, 'pixels.u8'));
};
const a = pixelsIn(cacheDir);
const b = pixelsIn(sharpDir);
let sum = 0;
let worst = 0;
const imageBytes = 64 * 64 * 3;
for (let i = 0; i < a.length; i += imageBytes) {
  let d = 0;
  for (let j = i; j < i + imageBytes; j++) d += Math.abs((a[j] as number) - (b[j] as number));
  sum += d;
  worst = Math.max(worst, d / imageBytes);
}
const agreement = { mad: sum / a.length, worstImageMad: worst, images: a.length / imageBytes };
rmSync(cacheDir, { recursive: true, force: true });
rmSync(sharpDir, { recursive: true, force: true });

const python = pillowPython();
const cores = os.availableParallelism();
const pillow = [
  json(python, [path.join(here, 'pillow_decode.py'), listTxt, '64', '1', '0']),
  json(python, [path.join(here, 'pillow_decode.py'), listTxt, '64', String(cores), '0']),
  json(python, [path.join(here, 'pillow_decode.py'), listTxt, '64', '1', '1']),
  json(python, [path.join(here, 'pillow_decode.py'), listTxt, '64', String(cores), '1']),
];

const rate = (r: Record<string, unknown>) => Math.round((r.images as number) / (r.seconds as number));
const lines = [
  `Machine: ${os.cpus()[0]?.model}, ${cores} cores; ${items.length} UTKFace JPEGs (200x200) -> 64x64 RGB uint8.`,
  '',
  '| pipeline | processes | images/s | seconds | peak RSS |',
  '| --- | ---: | ---: | ---: | ---: |',
  `| run-exp (JPEG fast path), cold cache | 1 (libuv pool) | ${rate(cold)} | ${(cold.seconds as number).toFixed(2)} | ${Math.round(cold.peakRssMiB as number)} MiB |`,
  `| run-exp (sharp only: RUN_EXP_JPEG=sharp), cold cache | 1 (libuv pool) | ${rate(sharpCold)} | ${(sharpCold.seconds as number).toFixed(2)} | ${Math.round(sharpCold.peakRssMiB as number)} MiB |`,
  `| run-exp, cached load | 1 | ${rate(warm)} | ${(warm.seconds as number).toFixed(3)} | ${Math.round(warm.peakRssMiB as number)} MiB |`,
  ...pillow.map(
    (r) =>
      `| ${r.framework}${r.draft ? ' with draft()' : ''} | ${r.processes} | ${rate(r)} | ${(r.seconds as number).toFixed(2)} | - |`,
  ),
  '',
  `Bad files: ${cold.bad} (sharp only: ${sharpCold.bad}). Cold load decoded ${cold.decoded}; cached load decoded ${warm.decoded}.`,
  `Cold fast path / single-process Pillow: ${(rate(cold) / rate(pillow[0] as Record<string, unknown>)).toFixed(2)}x.`,
  `Fast path vs sharp, all ${agreement.images} images: mean absolute difference ${agreement.mad.toFixed(3)} (0-255), worst image ${agreement.worstImageMad.toFixed(3)}.`,
];
writeFileSync(
  path.join(here, 'results.json'),
  `${JSON.stringify({ date: new Date().toISOString(), cold, warm, sharpCold, pillow, agreement }, null, 2)}\n`,
);
process.stdout.write(`${lines.join('\n')}\n`);
