// bench/sweep: experiments/sweep.yaml on the UTKFace faces, for real:
//  1. the whole sweep (8 random trials) with --parallel 2 against a real MLflow
//     server, its summary, and a screenshot of the trials compared in MLflow's
//     UI (docs/mlflow-sweep.png);
//  2. the wall time of 4 trials with --parallel 1 and --parallel 2, MLflow off.
//
//   npm run bench:sweep        (UTKFACE_DIR; needs .venv and chromium, see npm run test:deps)
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mlflowClient } from '../../src/record/mlflow-client.ts';
import { mlflowServer } from '../../test/support/mlflow-server.ts';
import { screenshotComparison } from '../../test/support/mlflow-ui.ts';
import { ROOT, RUN_EXP, runProcess } from '../run-process.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

const file = path.join(ROOT, 'experiments', 'sweep.yaml');

async function sweep(args: string[], env: NodeJS.ProcessEnv): Promise<{ out: string; seconds: number }> {
  const r = await runProcess(process.execPath, [RUN_EXP, 'sweep', file, ...args], env);
  return { out: r.stdout, seconds: r.seconds };
}

const { MLFLOW_TRACKING_URI: _, ...env } = process.env;
const fresh = () => `tracking.dir=${mkdtempSync(path.join(os.tmpdir(), 'run-exp-sweep-bench-'))}`;

// 1. The whole sweep, tracked.
const server = await mlflowServer();
let summary: string;
let whole: number;
try {
  const tracked = { ...env, MLFLOW_TRACKING_URI: server.uri };
  const run = await sweep(['--parallel', '2', '--set', fresh()], tracked);
  whole = run.seconds;
  summary = run.out;
  const client = mlflowClient({ uri: server.uri });
  const experimentId = (await client.getExperimentByName('quick-sweep')) as string;
  const trials = await client.searchRuns([experimentId], "tags.`run_exp.role` = 'trial'");
  await screenshotComparison(
    server.uri,
    experimentId,
    { runIds: trials.map((r) => r.info.run_id) },
    path.join(ROOT, 'docs', 'mlflow-sweep.png'),
  );
} finally {
  await server.stop();
}

// 2. Four trials, one worker at a time and two at once.
const four = ['--set', 'sweep.trials=4'];
const p1 = await sweep(['--parallel', '1', ...four, '--set', fresh()], env);
const p2 = await sweep(['--parallel', '2', ...four, '--set', fresh()], env);

const results = {
  date: new Date().toISOString(),
  machine: `${os.cpus()[0]?.model}, ${os.availableParallelism()} cores`,
  whole_sweep_seconds: whole,
  summary,
  four_trials: { parallel_1_seconds: p1.seconds, parallel_2_seconds: p2.seconds },
};
writeFileSync(path.join(here, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
process.stdout.write(
  `${summary}\nwhole sweep (8 trials, --parallel 2, MLflow on): ${whole.toFixed(0)} s\n` +
    `4 trials: --parallel 1 ${p1.seconds.toFixed(0)} s, --parallel 2 ${p2.seconds.toFixed(0)} s\n`,
);
