// bench/tracking: what MLflow tracking costs the baseline, per epoch. The same
// run (BENCH_EPOCHS epochs, default 4) with MLflow off and on (a real server
// on loopback), in BENCH_ROUNDS turns (default 2); epoch time is the wall time
// between consecutive epoch records (training, validation, checkpoint and the
// MLflow send all inside).
//
//   npm run bench:tracking     (UTKFACE_DIR; needs .venv from requirements-dev.txt)
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mlflowServer } from '../../test/support/mlflow-server.ts';
import { jsonLines, ROOT, RUN_EXP, runProcess } from '../run-process.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const epochs = Number(process.env.BENCH_EPOCHS ?? 4);

async function train(env: NodeJS.ProcessEnv): Promise<{ dir: string; wall: number; mlflow?: { pending: number } }> {
  const baseline = path.join(ROOT, 'experiments', 'baseline.yaml');
  const r = await runProcess(
    process.execPath,
    [RUN_EXP, baseline, '--json', '--set', `training.epochs=${epochs}`],
    env,
  );
  const last = jsonLines(r.stdout).at(-1) as { run: string; mlflow?: { pending: number } };
  return { dir: last.run, wall: r.seconds, mlflow: last.mlflow };
}

/** Seconds between consecutive epoch records in the run's log. */
function epochTimes(dir: string): number[] {
  const times = readFileSync(path.join(dir, 'log.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.includes('"event":"epoch"'))
    .map((l) => Date.parse(JSON.parse(l).time));
  return times.slice(1).map((t, i) => (t - (times[i] as number)) / 1000);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

const { MLFLOW_TRACKING_URI: _, ...env } = process.env;
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
const server = await mlflowServer();
// The server's job runner starts a dozen Python processes after it first answers; let them settle.
await new Promise((r) => setTimeout(r, 30_000));
const offTimes: number[] = [];
const onTimes: number[] = [];
const walls = { off: [] as number[], on: [] as number[] };
try {
  // Off and on in turns, so that drift in the machine's speed falls on both.
  for (let i = 0; i < rounds; i++) {
    const off = await train(env);
    offTimes.push(...epochTimes(off.dir));
    walls.off.push(off.wall);
    const on = await train({ ...env, MLFLOW_TRACKING_URI: server.uri });
    if (on.mlflow?.pending !== 0) throw new Error('the tracked run left events unsent');
    onTimes.push(...epochTimes(on.dir));
    walls.on.push(on.wall);
  }
} finally {
  await server.stop();
}
const overhead = (median(onTimes) / median(offTimes) - 1) * 100;
const results = {
  date: new Date().toISOString(),
  epochs,
  rounds,
  off: { epoch_seconds: offTimes, median: median(offTimes), walls: walls.off },
  on: { epoch_seconds: onTimes, median: median(onTimes), walls: walls.on },
  overhead_percent: overhead,
};
writeFileSync(path.join(here, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
const f = (xs: number[]) => xs.map((x) => x.toFixed(1)).join(', ');
process.stdout.write(
  [
    `baseline, ${epochs} epochs, ${rounds} rounds of off then on; epoch time = wall time between epoch records (epochs 2-${epochs})`,
    '',
    '| MLflow | epoch times (s) | median (s) | run wall time (s) |',
    '| --- | --- | ---: | ---: |',
    `| off | ${f(offTimes)} | ${median(offTimes).toFixed(2)} | ${f(walls.off)} |`,
    `| on | ${f(onTimes)} | ${median(onTimes).toFixed(2)} | ${f(walls.on)} |`,
    '',
    `overhead per epoch: ${overhead.toFixed(2)}%`,
    '',
  ].join('\n'),
);
