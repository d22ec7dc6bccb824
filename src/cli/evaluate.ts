// `run-exp evaluate --run <run> --data <folder|experiment.yaml>`: the report on another data set.
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { resolveExperiment } from '../config/resolve.ts';
import type { DataSpec } from '../data/sources.ts';
import type { OutputMeta } from '../model/output-meta.ts';
import { loadTensorflow, type Tf } from '../platform/tensorflow.ts';
import { evaluateOutputsOn, type OutputsEvaluation } from '../report/evaluate-outputs.ts';
import { evaluateOn, type ScoredData } from '../report/evaluate-run.ts';
import type { OutputsPredictions } from '../report/outputs-report.ts';
import { confusionMatrix } from '../report/plots.ts';
import { type LoadedRun, loadRun } from '../report/predict.ts';
import { facesLine } from './faces-line.ts';

/** A scored data set's records: a new folder evaluations/<time>/ of the run. */
export interface ScoredInto {
  dir: string;
  /** The data set's name in reports: the folder's name, or the experiment file's data folder's. */
  name: string;
  scored: ScoredData;
}

/**
 * Scores the run's model on `data` (a folder with one sub-folder per class, or an experiment
 * file whose data to use) into evaluations/<time>/: evaluation.json, predictions.json, confusion.png.
 */
export async function scoreInto(
  tf: Tf,
  run: LoadedRun,
  data: string,
  env: NodeJS.ProcessEnv | undefined,
): Promise<ScoredInto> {
  const spec = dataOf(data, env);
  const scored = await evaluateOn(tf, run, spec);
  const name = path.basename(spec.path);
  const { predictions, items: _items, ...report } = scored;
  const dir = evaluationDir(run);
  writeFileSync(
    path.join(dir, 'evaluation.json'),
    `${JSON.stringify({ data, classes: run.classes, ...report }, null, 2)}\n`,
  );
  writeFileSync(
    path.join(dir, 'predictions.json'),
    `${JSON.stringify({ classes: run.classes, sets: { [name]: predictions } })}\n`,
  );
  await confusionMatrix(
    report.confusion,
    run.classes,
    `${path.basename(path.dirname(run.dir))}: confusion matrix on ${path.basename(data)}`,
    path.join(dir, 'confusion.png'),
  );
  return { dir, name, scored };
}

/** The data `data` names: a folder with one sub-folder per class, or an experiment file whose data to use. */
function dataOf(data: string, env: NodeJS.ProcessEnv | undefined): DataSpec {
  return /\.ya?ml$/i.test(data)
    ? resolveExperiment(data, { env }).experiment.data
    : { source: 'folder', path: path.resolve(data), path_column: 'path', label_column: 'label' };
}

/** A new folder evaluations/<time>/ of the run. */
function evaluationDir(run: LoadedRun): string {
  const dir = path.join(run.dir, 'evaluations', new Date().toISOString().replace(/[:.]/g, '-'));
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * A model with several outputs scored on `data` into evaluations/<time>/:
 * evaluation.json (per output the set labels: its images, loss and metrics)
 * and predictions.json (every output of every image).
 */
export async function evaluateOutputs(
  tf: Tf,
  run: LoadedRun & { outputs: OutputMeta[] },
  options: { data: string; json?: boolean; env?: NodeJS.ProcessEnv },
  out: (s: string) => void,
): Promise<{ dir: string; name: string; report: Omit<OutputsEvaluation, 'set'>; predictions: OutputsPredictions }> {
  const spec = dataOf(options.data, options.env);
  const { set, ...report } = await evaluateOutputsOn(tf, run, spec);
  const dir = evaluationDir(run);
  const name = path.basename(spec.path);
  const predictions: OutputsPredictions = { outputs: run.outputs, sets: { [name]: set } };
  writeFileSync(path.join(dir, 'evaluation.json'), `${JSON.stringify({ data: options.data, ...report }, null, 2)}\n`);
  writeFileSync(path.join(dir, 'predictions.json'), `${JSON.stringify(predictions)}\n`);
  if (options.json) {
    out(`${JSON.stringify({ dir, ...report }, null, 2)}\n`);
    return { dir, name, report, predictions };
  }
  out(`${report.images} images\n`);
  for (const [output, m] of Object.entries(report.outputs)) {
    const { images, loss: _loss, ...metrics } = m;
    const shown = Object.entries(metrics)
      .filter((e): e is [string, number] => e[1] !== null)
      .map(([k, v]) => `${k} ${v.toFixed(4)}`);
    out(`${output}: ${images ? `${images} labelled  ${shown.join('  ')}` : 'not labelled by this data'}\n`);
  }
  if (report.faces) out(`${facesLine(report.faces)}\n`);
  if (report.bad.length) out(`${report.bad.length} bad file(s) skipped\n`);
  return { dir, name, report, predictions };
}

export async function evaluateCommand(
  options: { run: string; data: string; json?: boolean; env?: NodeJS.ProcessEnv },
  out: (s: string) => void,
): Promise<number> {
  const { tf } = await loadTensorflow();
  const run = await loadRun(tf, options.run);
  if (run.outputs) {
    const { dir } = await evaluateOutputs(tf, { ...run, outputs: run.outputs }, options, out);
    if (!options.json) out(`report: ${dir}\n`);
    return 0;
  }
  const { dir, scored } = await scoreInto(tf, run, options.data, options.env);
  const { predictions: _p, items: _i, ...report } = scored;
  if (options.json) {
    out(`${JSON.stringify({ dir, ...report }, null, 2)}\n`);
    return 0;
  }
  out(
    `${report.images} images  accuracy ${report.accuracy.toFixed(4)}  macro F1 ${report.macro.f1.toFixed(4)}${report.auc === null ? '' : `  ROC AUC ${report.auc.toFixed(4)}`}\n`,
  );
  const w = Math.max(5, ...run.classes.map((c) => c.length));
  out(`${'class'.padEnd(w)}  precision  recall      f1  support\n`);
  for (const [c, m] of Object.entries(report.perClass)) {
    out(
      `${c.padEnd(w)}  ${m.precision.toFixed(4).padStart(9)}  ${m.recall.toFixed(4).padStart(6)}  ${m.f1.toFixed(4).padStart(6)}  ${String(m.support).padStart(7)}\n`,
    );
  }
  if (report.faces) out(`${facesLine(report.faces)}\n`);
  if (report.bad.length) out(`${report.bad.length} bad file(s) skipped\n`);
  out(`report: ${dir}\n`);
  return 0;
}
