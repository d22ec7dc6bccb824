// bench/soak: memory over a long run and a long sweep, for real:
//  1. experiments/quick.yaml for 60 epochs: peak resident memory per epoch
//     (system/process_peak_rss_megabytes) and live tensors;
//  2. experiments/sweep.yaml as 24 random trials with --parallel 2: each
//     trial's peak resident memory.
// Growth of the run's peak RSS from epoch 5 to the last must stay under 5%.
// Writes bench/soak/results.json and bench/soak/soak.png.
//
//   npm run bench:soak        (UTKFACE_DIR)
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TopLevelSpec } from 'vega-lite';
import { readMetrics } from '../../src/record/run-store.ts';
import { CONFIG, toPng } from '../../src/report/plots.ts';
import { ROOT, RUN_EXP, runProcess } from '../run-process.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const { MLFLOW_TRACKING_URI: _, ...env } = process.env;
const PEAK = 'system/process_peak_rss_megabytes';

/** The run folders under a tracking dir (runs/<experiment>/<id>). */
const runFolders = (dir: string) =>
  readdirSync(dir).flatMap((e) => readdirSync(path.join(dir, e)).map((id) => path.join(dir, e, id)));

// 1. One long run.
const runDir = mkdtempSync(path.join(os.tmpdir(), 'run-exp-soak-run-'));
const run = await runProcess(
  process.execPath,
  [
    RUN_EXP,
    path.join(ROOT, 'experiments', 'quick.yaml'),
    '--quiet',
    '--set',
    'training.epochs=60',
    '--set',
    `tracking.dir=${runDir}`,
  ],
  env,
);
const epochs = readMetrics(runFolders(runDir)[0] as string).map((m) => ({
  epoch: m.epoch as number,
  peak: m[PEAK] as number,
  tensors: m['system/tensor_count'] as number,
}));
const at5 = epochs[4]?.peak as number;
const last = epochs.at(-1)?.peak as number;
const growth = (last - at5) / at5;

// 2. A long sweep, two workers.
const sweepDir = mkdtempSync(path.join(os.tmpdir(), 'run-exp-soak-sweep-'));
const sweep = await runProcess(
  process.execPath,
  [
    RUN_EXP,
    'sweep',
    path.join(ROOT, 'experiments', 'sweep.yaml'),
    '--parallel',
    '2',
    '--set',
    'sweep.trials=24',
    '--set',
    `tracking.dir=${sweepDir}`,
  ],
  env,
);
const trials = runFolders(sweepDir)
  .map((dir) => ({ dir, metrics: readMetrics(dir) }))
  .filter((t) => t.metrics.length > 0)
  .sort((a, b) => a.dir.localeCompare(b.dir))
  .map((t, i) => ({ trial: i + 1, peak: Math.max(...t.metrics.map((m) => m[PEAK] as number)) }));

const chart = (title: string, x: string, rows: object[]) => ({
  title,
  width: 380,
  height: 220,
  data: { values: rows },
  mark: { type: 'line' as const, point: true },
  encoding: {
    x: { field: x, type: 'quantitative' as const, axis: { format: 'd' } },
    y: { field: 'peak', type: 'quantitative' as const, title: 'peak RSS (MB)', scale: { zero: false } },
  },
});
await toPng(
  {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    hconcat: [
      chart('quick.yaml, 60 epochs: peak RSS per epoch', 'epoch', epochs),
      chart('sweep.yaml, 24 trials, --parallel 2: peak RSS per trial', 'trial', trials),
    ],
    config: CONFIG,
  } as TopLevelSpec,
  path.join(here, 'soak.png'),
);

const results = {
  date: new Date().toISOString(),
  machine: `${os.cpus()[0]?.model}, ${os.availableParallelism()} cores`,
  run: { seconds: run.seconds, epochs, growth_from_epoch_5: growth },
  sweep: { seconds: sweep.seconds, trials },
};
writeFileSync(path.join(here, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
console.log(
  [
    `Machine: ${results.machine}.`,
    '',
    '| soak | wall | peak RSS (MB) | growth |',
    '| --- | --- | --- | --- |',
    `| quick.yaml, 60 epochs | ${(run.seconds / 60).toFixed(1)} min | epoch 5: ${at5}, last: ${last}, max: ${Math.max(...epochs.map((e) => e.peak))} | ${(growth * 100).toFixed(1)}% (target < 5%) |`,
    `| sweep.yaml, 24 trials, --parallel 2 | ${(sweep.seconds / 60).toFixed(1)} min | first trial: ${trials[0]?.peak}, last: ${trials.at(-1)?.peak}, max: ${Math.max(...trials.map((t) => t.peak))} | - |`,
    `Live tensors per epoch: ${epochs[1]?.tensors} at epoch 2, ${epochs.at(-1)?.tensors} at epoch 60.`,
  ].join('\n'),
);
