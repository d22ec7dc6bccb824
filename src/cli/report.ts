// `run-exp report <run>`: (re)draw a run's plots and its report.html from its records.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { resolveExperiment } from '../config/resolve.ts';
import { loadTensorflow } from '../platform/tensorflow.ts';
import { readEpochs } from '../record/run-store.ts';
import { drawRunPlots } from '../report/plots.ts';
import { loadRun } from '../report/predict.ts';
import { buildRunReport, readPredictions } from '../report/run-report.ts';
import { DataError } from '../spec/errors.ts';

export async function reportCommand(run: string, out: (s: string) => void): Promise<number> {
  const dir = path.resolve(run);
  const epochs = readEpochs(dir);
  if (epochs.length === 0) throw new DataError(`${run} is not a run folder with recorded epochs (no metrics.jsonl)`);
  const evaluation = path.join(dir, 'evaluation.json');
  const ev = existsSync(evaluation) ? JSON.parse(readFileSync(evaluation, 'utf8')) : null;
  const files = await drawRunPlots(
    dir,
    path.basename(path.dirname(dir)),
    epochs,
    ev?.classes ?? [],
    ev?.validation?.confusion ?? null,
  );
  for (const f of files) out(`${f}\n`);
  const predictions = readPredictions(dir);
  if (!predictions) {
    out(
      `no report.html: ${run} has no predictions.json (runs recorded before run-exp wrote one, or stopped before the final evaluation)\n`,
    );
    return 0;
  }
  // The run's resolved experiment, with the defaults of today's schema for what it predates (report settings).
  const { experiment } = resolveExperiment(path.join(dir, 'config.yaml'), { env: {} });
  const { tf } = await loadTensorflow();
  const { model } = await loadRun(tf, dir);
  const { html } = await buildRunReport(experiment, predictions, {
    runName: experiment.name,
    runId: path.basename(dir),
    model: { tf, model },
  });
  const file = path.join(dir, 'report.html');
  writeFileSync(file, html);
  out(`${file}\n`);
  return 0;
}
