// `run-exp evaluate --run <run> --data <folder|experiment.yaml>`: the report on another data set.
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { resolveExperiment } from '../config/resolve.ts';
import type { DataSpec } from '../data/sources.ts';
import { loadTensorflow, type Tf } from '../platform/tensorflow.ts';
import { evaluateOn, type ScoredData } from '../report/evaluate-run.ts';
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
  const spec: DataSpec = /\.ya?ml$/i.test(data)
    ? resolveExperiment(data, { env }).experiment.data
    : { source: 'folder', path: path.resolve(data), path_column: 'path', label_column: 'label' };
  const scored = await evaluateOn(tf, run, spec);
  const name = path.basename(spec.path);
  const { predictions, items: _items, ...report } = scored;
  const dir = path.join(run.dir, 'evaluations', new Date().toISOString().replace(/[:.]/g, '-'));
  mkdirSync(dir, { recursive: true });
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

export async function evaluateCommand(
  options: { run: string; data: string; json?: boolean; env?: NodeJS.ProcessEnv },
  out: (s: string) => void,
): Promise<number> {
  const { tf } = await loadTensorflow();
  const run = await loadRun(tf, options.run);
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
