// bench/backend/bf16-accuracy: does bf16 learn as well as float32? experiments/baseline.yaml trained in
// both precisions with the same seeds (pairs, alternating which goes first), scored on the mean UTKFace
// validation accuracy of its last five epochs (21-25 of 25).
//
//   npm run bench:bf16        (UTKFACE_DIR; BENCH_SEEDS, default 1,2,3; BENCH_SET, more --set overrides
//                              separated by ';', e.g. 'training.epochs=6' for a quick look; BENCH_BF16)
//
// Its bf16 runs train in bf16 wherever the CPU has bfloat16 units, also where run-exp would pick float32 for
// speed (RUN_EXP_BF16=force). Without units the bench stops, unless BENCH_BF16=emulate (TensorFlow's
// emulation: the same numbers, far slower).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bf16Support } from '../../src/platform/cpu-features.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const seeds = (process.env.BENCH_SEEDS ?? '1,2,3').split(',').map(Number);
const extra = (process.env.BENCH_SET ?? '').split(';').filter(Boolean);
const support = bf16Support();
const emulate = process.env.BENCH_BF16 === 'emulate';
if (support.units.length === 0 && !emulate) {
  process.stderr.write(
    `this CPU (${support.cpu}) has no bfloat16 units (AVX512_BF16, AMX-BF16): bf16 would train in float32. BENCH_BF16=emulate runs it emulated (slow).\n`,
  );
  process.exit(2);
}
const runs = mkdtempSync(path.join(os.tmpdir(), 'run-exp-bf16-'));

type Precision = 'float32' | 'bf16';

/** One training run; its per-epoch validation accuracy and wall time. */
function train(seed: number, precision: Precision): { val: number[]; seconds: number } {
  const started = performance.now();
  const sets = [
    `seed=${seed}`,
    `training.precision=${precision}`,
    'tracking.mlflow_uri=null',
    `tracking.dir=${runs}`,
    ...extra,
  ].flatMap((s) => ['--set', s]);
  const r = spawnSync(
    process.execPath,
    [path.join(root, 'bin', 'run-exp.js'), path.join(root, 'experiments', 'baseline.yaml'), '--quiet', ...sets],
    { encoding: 'utf8', env: { ...process.env, RUN_EXP_BF16: 'force' } },
  );
  const dir = /FINISHED\s+(\S+)/.exec(r.stdout ?? '')?.[1];
  if (r.status !== 0 || !dir)
    throw new Error(`seed ${seed} ${precision} failed:\n${r.stdout}\n${r.stderr?.slice(-2000)}`);
  const epochs = readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { val_accuracy: number });
  const engine = readFileSync(path.join(dir, 'log.jsonl'), 'utf8')
    .split('\n')
    .find((l) => l.includes('"event":"engine"'));
  if (!engine?.includes(`"precision":"${precision}"`)) throw new Error(`seed ${seed}: did not train in ${precision}`);
  return { val: epochs.map((e) => e.val_accuracy), seconds: (performance.now() - started) / 1000 };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const rows: { seed: number; float32: number; bf16: number; seconds: Record<Precision, number> }[] = [];
for (const [i, seed] of seeds.entries()) {
  const order: Precision[] = i % 2 === 0 ? ['float32', 'bf16'] : ['bf16', 'float32'];
  const got = {} as Record<Precision, { val: number[]; seconds: number }>;
  for (const p of order) {
    got[p] = train(seed, p);
    process.stderr.write(`seed ${seed} ${p}: ${got[p].seconds.toFixed(0)} s\n`);
  }
  // The last five epochs (21-25 of the baseline's 25).
  const tail = (p: Precision) => mean(got[p].val.slice(-5));
  rows.push({
    seed,
    float32: tail('float32'),
    bf16: tail('bf16'),
    seconds: { float32: got.float32.seconds, bf16: got.bf16.seconds },
  });
}

const lines = [
  `Machine: ${support.cpu}, ${os.availableParallelism()} cores; bfloat16 units: ${support.units.join(', ') || 'none (emulated)'}`,
  `experiments/baseline.yaml${extra.length ? ` with ${extra.join(', ')}` : ''}; validation accuracy, mean of the last five epochs`,
  '',
  '| seed | float32 | bf16 | bf16 - float32 (points) | float32 s | bf16 s |',
  '| ---: | ---: | ---: | ---: | ---: | ---: |',
  ...rows.map(
    (r) =>
      `| ${r.seed} | ${r.float32.toFixed(4)} | ${r.bf16.toFixed(4)} | ${((r.bf16 - r.float32) * 100).toFixed(2)} | ${r.seconds.float32.toFixed(0)} | ${r.seconds.bf16.toFixed(0)} |`,
  ),
  '',
  `Mean over ${rows.length} seed pair(s): float32 ${mean(rows.map((r) => r.float32)).toFixed(4)}, bf16 ${mean(rows.map((r) => r.bf16)).toFixed(4)}, bf16 - float32 ${(mean(rows.map((r) => r.bf16 - r.float32)) * 100).toFixed(2)} points`,
];
writeFileSync(
  path.join(here, 'bf16-accuracy-results.json'),
  `${JSON.stringify({ date: new Date().toISOString(), cpu: support.cpu, units: support.units, extra, rows }, null, 2)}\n`,
);
process.stdout.write(`${lines.join('\n')}\n`);
