// bench/sweep/asha.ts: experiments/sweep-asha.yaml on the UTKFace faces, for
// real, against a real MLflow server: the 16 trials with ASHA (--parallel 2),
// then the same 16 trials every one in full (--set sweep.scheduler=null). The
// best of each, the epochs each trained, the wall times, and the ASHA sweep's
// --report plot (bench/sweep/asha-report.png).
//
//   npm run bench:asha        (UTKFACE_DIR; needs .venv, see npm run test:deps)
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SweepSummary } from '../../src/report/sweep-summary.ts';
import { mlflowServer } from '../../test/support/mlflow-server.ts';
import { ROOT, RUN_EXP, runProcess } from '../run-process.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const file = path.join(ROOT, 'experiments', 'sweep-asha.yaml');

const server = await mlflowServer();
const env = { ...process.env, MLFLOW_TRACKING_URI: server.uri };
const sweep = (args: string[]) => runProcess(process.execPath, [RUN_EXP, 'sweep', file, ...args], env);

async function leg(name: string, extra: string[]) {
  const dir = mkdtempSync(path.join(os.tmpdir(), `run-exp-asha-${name}-`));
  const sets = ['--set', `tracking.dir=${dir}`, ...extra];
  const run = await sweep(['--parallel', '2', ...sets]);
  const summary = JSON.parse((await sweep(['--summarize', '--json', ...sets])).stdout) as SweepSummary;
  const table = (await sweep(['--summarize', ...sets])).stdout;
  return { seconds: run.seconds, summary, table, sets };
}

let asha: Awaited<ReturnType<typeof leg>>;
let full: Awaited<ReturnType<typeof leg>>;
try {
  asha = await leg('asha', []);
  await sweep(['--report', path.join(here, 'asha-report.png'), ...asha.sets]);
  full = await leg('full', ['--set', 'sweep.scheduler=null']);
} finally {
  await server.stop();
}

const best = (s: SweepSummary) => ({ trial: s.best?.index ?? null, value: s.best?.value ?? null });
const points = 100 * ((best(full.summary).value ?? 0) - (best(asha.summary).value ?? 0));
const share = asha.summary.epochs_trained / full.summary.epochs_trained;
const results = {
  date: new Date().toISOString(),
  machine: `${os.cpus()[0]?.model}, ${os.availableParallelism()} cores`,
  asha: {
    seconds: asha.seconds,
    best: best(asha.summary),
    epochs_trained: asha.summary.epochs_trained,
    pruned: asha.summary.pruned,
    rungs: asha.summary.rungs,
  },
  full: { seconds: full.seconds, best: best(full.summary), epochs_trained: full.summary.epochs_trained },
  best_gap_points: points,
  epochs_share: share,
};
writeFileSync(path.join(here, 'asha-results.json'), `${JSON.stringify(results, null, 2)}\n`);
process.stdout.write(
  `${asha.table}\n${full.table}\n` +
    `ASHA: best ${best(asha.summary).value?.toFixed(4)} (trial ${best(asha.summary).trial}), ${asha.summary.epochs_trained} epochs, ${asha.seconds.toFixed(0)} s\n` +
    `full: best ${best(full.summary).value?.toFixed(4)} (trial ${best(full.summary).trial}), ${full.summary.epochs_trained} epochs, ${full.seconds.toFixed(0)} s\n` +
    `gap ${points.toFixed(2)} points, ${(100 * share).toFixed(0)}% of the epochs\n`,
);
