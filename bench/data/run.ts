// bench/data: decode-and-resize throughput of run-exp's data pipeline (sharp)
// on the UTKFace set to 64x64, beside Pillow doing the same work in the same
// run (one process, one per core); then a cached load and the peak RSS.
//
//   npm run bench:data        (UTKFACE_DIR; BENCH_PILLOW_PYTHON)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

const cacheDir = mkdtempSync(path.join(os.tmpdir(), 'run-exp-bench-cache-'));
const worker = ['--import', 'tsx', path.join(here, 'decode_worker.ts'), listJson, cacheDir];
const cold = json(process.execPath, worker);
const warm = json(process.execPath, worker);
rmSync(cacheDir, { recursive: true, force: true });

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
  `| run-exp (sharp), cold cache | 1 (libuv pool) | ${rate(cold)} | ${(cold.seconds as number).toFixed(2)} | ${Math.round(cold.peakRssMiB as number)} MiB |`,
  `| run-exp, cached load | 1 | ${rate(warm)} | ${(warm.seconds as number).toFixed(3)} | ${Math.round(warm.peakRssMiB as number)} MiB |`,
  ...pillow.map(
    (r) =>
      `| ${r.framework}${r.draft ? ' with draft()' : ''} | ${r.processes} | ${rate(r)} | ${(r.seconds as number).toFixed(2)} | - |`,
  ),
  '',
  `Bad files: ${cold.bad}. Cold load decoded ${cold.decoded}; cached load decoded ${warm.decoded}.`,
];
writeFileSync(
  path.join(here, 'results.json'),
  `${JSON.stringify({ date: new Date().toISOString(), cold, warm, pillow }, null, 2)}\n`,
);
process.stdout.write(`${lines.join('\n')}\n`);
