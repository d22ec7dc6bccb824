// `run-exp evaluate --run <run> --data <folder|experiment.yaml>`: the report on another data set.
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { resolveExperiment } from '../config/resolve.ts';
import type { DataSpec } from '../data/sources.ts';
import { loadTensorflow } from '../platform/tensorflow.ts';
import { evaluateOn } from '../report/evaluate-run.ts';
import { confusionMatrix } from '../report/plots.ts';
import { loadRun } from '../report/predict.ts';
import { facesLine } from './faces-line.ts';

export async function evaluateCommand(
  options: { run: string; data: string; json?: boolean; env?: NodeJS.ProcessEnv },
  out: (s: string) => void,
): Promise<number> {
  const { tf } = await loadTensorflow();
  const run = await loadRun(tf, options.run);
  const spec: DataSpec = /\.ya?ml$/i.test(options.data)
    ? resolveExperiment(options.data, { env: options.env }).experiment.data
    : { source: 'folder', path: path.resolve(options.data), path_column: 'path', label_column: 'label' };
  const report = await evaluateOn(tf, run, spec);
  const dir = path.join(run.dir, 'evaluations', new Date().toISOString().replace(/[:.]/g, '-'));
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, 'evaluation.json'),
    `${JSON.stringify({ data: options.data, classes: run.classes, ...report }, null, 2)}\n`,
  );
  await confusionMatrix(
    report.confusion,
    run.classes,
    `${path.basename(path.dirname(run.dir))}: confusion matrix on ${path.basename(options.data)}`,
    path.join(dir, 'confusion.png'),
  );
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
