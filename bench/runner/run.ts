// bench/runner: the seed recipe end to end, run-exp beside Pillow + PyTorch in
// one run of this script: `run-exp experiments/baseline.yaml`, then the same
// network, optimizer, batch size and epochs in PyTorch on that run's own split.
//
//   npm run bench:runner      (UTKFACE_DIR; BENCH_EPOCHS, default 25;
//                              BENCH_TORCH_PYTHON, default /usr/bin/python3)
import { writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { jsonLines, ROOT, RUN_EXP, runProcess } from '../run-process.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

const epochs = Number(process.env.BENCH_EPOCHS ?? 25);
const threads = os.availableParallelism();
const python = process.env.BENCH_TORCH_PYTHON ?? '/usr/bin/python3';

async function run(cmd: string, args: string[]) {
  const { stdout, seconds } = await runProcess(cmd, args);
  return { lines: jsonLines(stdout), seconds };
}

interface Epoch {
  epoch: number;
  val_accuracy: number;
  images_per_s: number;
}

function summary(history: Epoch[], wall: number) {
  const rates = history.map((e) => e.images_per_s).sort((a, b) => a - b);
  const best = history.reduce((a, b) => (b.val_accuracy > a.val_accuracy ? b : a));
  return {
    final_val_accuracy: history.at(-1)?.val_accuracy ?? Number.NaN,
    best_val_accuracy: best.val_accuracy,
    best_epoch: best.epoch,
    median_images_per_s: rates[Math.floor(rates.length / 2)] ?? Number.NaN,
    wall_minutes: wall / 60,
  };
}

const runExp = await run(process.execPath, [
  RUN_EXP,
  path.join(ROOT, 'experiments', 'baseline.yaml'),
  '--json',
  '--set',
  `training.epochs=${epochs}`,
]);
const end = runExp.lines.at(-1) as { status: string; run: string };
if (end.status !== 'FINISHED') throw new Error(`run-exp ended ${end.status}`);
const runExpEpochs = runExp.lines.filter((l) => 'epoch' in l) as unknown as Epoch[];

const torch = await run(python, [path.join(here, 'torch_baseline.py'), end.run, String(threads), String(epochs)]);
const torchResult = torch.lines.at(-1) as { framework: string; epochs: Epoch[]; train: number; validation: number };

const results = {
  date: new Date().toISOString(),
  machine: `${os.cpus()[0]?.model}, ${threads} cores`,
  epochs,
  threads,
  run: path.relative(ROOT, end.run),
  train: torchResult.train,
  validation: torchResult.validation,
  runExp: summary(runExpEpochs, runExp.seconds),
  torch: { framework: torchResult.framework, ...summary(torchResult.epochs, torch.seconds) },
};
writeFileSync(path.join(here, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);

const row = (label: string, f: (s: typeof results.runExp) => string) =>
  `| ${label} | ${f(results.runExp)} | ${f(results.torch)} |`;
process.stdout.write(
  [
    `${results.machine}; ${results.train} training / ${results.validation} validation faces; ${epochs} epochs; ${threads} threads.`,
    '',
    `| | run-exp | ${results.torch.framework} |`,
    '| --- | ---: | ---: |',
    row('final validation accuracy', (s) => s.final_val_accuracy.toFixed(4)),
    row('best validation accuracy (epoch)', (s) => `${s.best_val_accuracy.toFixed(4)} (${s.best_epoch})`),
    row('training images/s (median epoch)', (s) => String(Math.round(s.median_images_per_s))),
    row('wall time incl. decoding, validation, records', (s) => `${s.wall_minutes.toFixed(1)} min`),
    '',
  ].join('\n'),
);
