// `run-exp report --run <run> [--data <set>]`: (re)draw a run's plots and its
// report.html from its records; with --data, score the run's model on another
// data set and make that set's report.html in a new evaluations/<time>/ folder.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { resolveExperiment } from '../config/resolve.ts';
import type { Item } from '../data/sources.ts';
import { reportPanel } from '../export/report-panel.ts';
import { loadTensorflow } from '../platform/tensorflow.ts';
import { readEpochs } from '../record/run-store.ts';
import { buildOutputsReport, type OutputsPredictions } from '../report/outputs-report.ts';
import { drawRunPlots } from '../report/plots.ts';
import { loadRun } from '../report/predict.ts';
import { buildRunReport, type Predictions, readPredictions } from '../report/run-report.ts';
import { DataError } from '../spec/errors.ts';
import { evaluateOutputs, scoreInto } from './evaluate.ts';

export interface ReportOptions {
  run: string;
  /** A folder with one sub-folder per class, or an experiment file whose data to use. */
  data?: string;
  env?: NodeJS.ProcessEnv;
}

export async function reportCommand(options: ReportOptions, out: (s: string) => void): Promise<number> {
  const dir = path.resolve(options.run);
  if (!existsSync(path.join(dir, 'config.yaml')))
    throw new DataError(`${options.run} is not a run folder (runs/<experiment>/<run-id>/ holding config.yaml)`);
  // The run's resolved experiment, with the defaults of today's schema for what it predates (report settings).
  const { experiment } = resolveExperiment(path.join(dir, 'config.yaml'), { env: {} });
  const { tf } = await loadTensorflow();
  const run = await loadRun(tf, dir);
  let predictions: Predictions | OutputsPredictions | null;
  let listed: Record<string, Item[]> = {};
  let into = dir;
  if (options.data && run.outputs) {
    const scored = await evaluateOutputs(tf, { ...run, outputs: run.outputs }, options as { data: string }, out);
    predictions = scored.predictions;
    into = scored.dir;
  } else if (options.data) {
    const scored = await scoreInto(tf, run, options.data, options.env);
    predictions = { classes: run.classes, sets: { [scored.name]: scored.scored.predictions } };
    listed = { [scored.name]: scored.scored.items };
    into = scored.dir;
    out(`${scored.name}: ${scored.scored.images} images, accuracy ${scored.scored.accuracy.toFixed(4)}\n`);
  } else {
    const files = await redrawPlots(dir, options.run);
    for (const f of files) out(`${f}\n`);
    predictions = readPredictions(dir);
    if (!predictions) {
      out(
        `no report.html: ${options.run} has no predictions.json (runs recorded before run-exp wrote one, or stopped before the final evaluation)\n`,
      );
      return 0;
    }
  }
  const facts = {
    runName: experiment.name,
    runId: path.basename(dir),
    model: { tf, model: run.model },
    listed,
    ...(experiment.report.panel ? { panel: reportPanel(run.modelJson, run.preprocessing).html } : {}),
  };
  const { html } =
    'outputs' in predictions
      ? await buildOutputsReport(experiment, predictions, facts)
      : await buildRunReport(experiment, predictions, facts);
  const file = path.join(into, 'report.html');
  writeFileSync(file, html);
  out(`${file}\n`);
  return 0;
}

/** The run's plots from its records: learning curves, and the confusion matrix of its final evaluation. */
async function redrawPlots(dir: string, run: string): Promise<string[]> {
  const epochs = readEpochs(dir);
  if (epochs.length === 0) throw new DataError(`${run} is not a run folder with recorded epochs (no metrics.jsonl)`);
  const evaluation = path.join(dir, 'evaluation.json');
  const ev = existsSync(evaluation) ? JSON.parse(readFileSync(evaluation, 'utf8')) : null;
  return drawRunPlots(
    dir,
    path.basename(path.dirname(dir)),
    epochs,
    ev?.classes ?? [],
    ev?.validation?.confusion ?? null,
  );
}
