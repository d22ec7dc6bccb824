// After the last epoch: the final model scored on the validation and test
// splits and each evaluation set, into evaluation.json, predictions.json, the
// plots and report.html.
import * as path from 'node:path';
import type { InputSource, Sources } from '../data/batches.ts';
import type { PreparedData } from '../data/prepare.ts';
import type { OutputTargets } from '../data/targets.ts';
import { reportPanel } from '../export/report-panel.ts';
import { outputMetaOf } from '../model/output-meta.ts';
import type { Predicts } from '../model/predict-probs.ts';
import type { Tf } from '../platform/tensorflow.ts';
import type { RunStore } from '../record/run-store.ts';
import { buildOutputsReport, type OutputsPredictions, type OutputsSet, outputsSet } from '../report/outputs-report.ts';
import { confusionMatrix, drawRunPlots } from '../report/plots.ts';
import { buildRunReport, type ReportModel, readPredictions, setPredictions } from '../report/run-report.ts';
import type { EpochMetrics } from '../spec/events.ts';
import type { Experiment } from '../spec/experiment.ts';
import {
  evaluateSets,
  outputsRecord,
  type SetScores,
  scoreOptions,
  scoreOutputs,
  setMetrics,
  validate,
} from '../train/evaluate.ts';

export interface SetSummary {
  images: number;
  accuracy: number;
  f1: number;
  auc: number | null;
}

/** Plots are a convenience: failing to draw one is recorded, never fatal. */
export async function plots(
  run: RunStore,
  name: string,
  epochs: EpochMetrics[],
  classes: string[],
  confusion: number[][] | null,
): Promise<void> {
  try {
    await drawRunPlots(run.dir, name, epochs, classes, confusion);
  } catch (err) {
    run.appendJsonl('warnings.jsonl', { what: 'plots', error: err instanceof Error ? err.message : String(err) });
  }
}

type FinalScores = { sets: SetScores; metrics: Record<string, number | null>; summary: Record<string, SetSummary> };

/** What scoring the final model of several outputs takes. */
interface FinalParts {
  tf: Tf;
  exp: Experiment;
  data: PreparedData;
  model: Predicts;
  sources: Sources;
  run: RunStore;
  epochs: EpochMetrics[];
}

/**
 * A model with several outputs: each output's loss and metrics on validation,
 * test and each evaluation set into evaluation.json (an output a set does not
 * label is scored on none of its images: null), the learning curves.
 */
async function finalOutputsEvaluation(p: FinalParts): Promise<FinalScores> {
  const { tf, exp, data, model, sources, run, epochs } = p;
  // Each scored set's record, and every output of every image for report.html.
  const shown: Record<string, OutputsSet> = {};
  const scoreOf = (
    name: string,
    source: InputSource,
    index: Int32Array,
    targets: OutputTargets[] | undefined,
    files: string[],
  ) => {
    if (!targets) return null;
    const s = scoreOutputs(tf, scoreOptions(exp), source, index, targets, model);
    if (s)
      shown[name] = outputsSet(
        files,
        targets,
        targets.map((t) => s.outputs[t.name]?.predictions ?? new Float32Array(0)),
      );
    return outputsRecord(s, targets);
  };
  const split = (name: 'validation' | 'test') =>
    scoreOf(name, sources.data, data.splits[name].index, data.splits[name].targets, data.splits[name].files);
  const validation = split('validation');
  const test = split('test');
  const metrics: Record<string, number | null> = {};
  const evaluationSets = Object.fromEntries(
    Object.entries(data.evaluationSets).map(([name, set]) => {
      const index = Int32Array.from(set.labels, (_, i) => i);
      const s = scoreOf(name, sources.sets[name] as InputSource, index, set.targets, set.files);
      for (const [o, m] of Object.entries(s?.outputs ?? {}))
        for (const [k, v] of Object.entries(m)) if (k !== 'images') metrics[`${name}_${o}_${k}`] = v ?? null;
      return [name, s ? { path: set.path, images: set.files.length, ...s } : null];
    }),
  );
  const meta = outputMetaOf(data.splits.train.targets ?? []);
  run.writeJson('evaluation.json', {
    // What each output is (the model folder's description, without the spec config.yaml has).
    outputs: Object.fromEntries(meta.map(({ name, spec: _spec, ...m }) => [name, m])),
    validation,
    test,
    evaluation_sets: evaluationSets,
  });
  const predictions: OutputsPredictions = { outputs: meta, sets: shown };
  run.writeJson('predictions.json', predictions);
  await plots(run, exp.name, epochs, [], null);
  return { sets: {}, metrics, summary: {} };
}

/**
 * Scores the final model and writes evaluation.json and the plots. `sets`: the
 * evaluation sets' scores of the last epoch, when they are the final model's.
 */
export async function finalEvaluation(
  tf: Tf,
  exp: Experiment,
  data: PreparedData,
  model: Predicts,
  sources: Sources,
  run: RunStore,
  epochs: EpochMetrics[],
  scored: SetScores | undefined,
): Promise<FinalScores> {
  if (exp.outputs) return finalOutputsEvaluation({ tf, exp, data, model, sources, run, epochs });
  const val = validate(tf, exp, data, model, 'validation', sources);
  const test = validate(tf, exp, data, model, 'test', sources);
  const sets = scored ?? evaluateSets(tf, exp, data, model, sources);
  run.writeJson('evaluation.json', {
    classes: data.classes,
    validation: val ? { loss: val.loss, ...val.evaluation } : null,
    test: test ? { loss: test.loss, ...test.evaluation } : null,
    evaluation_sets: Object.fromEntries(
      Object.entries(sets).map(([name, s]) => [
        name,
        s
          ? {
              path: data.evaluationSets[name]?.path,
              images: data.evaluationSets[name]?.files.length,
              loss: s.loss,
              ...s.evaluation,
            }
          : null,
      ]),
    ),
  });
  // Each image's probabilities: what the report (and a later run-exp report) shows and slices.
  run.writeJson('predictions.json', {
    classes: data.classes,
    sets: {
      ...(val
        ? { validation: setPredictions(data.splits.validation.files, data.splits.validation.labels, val.probs) }
        : {}),
      ...(test ? { test: setPredictions(data.splits.test.files, data.splits.test.labels, test.probs) } : {}),
      ...Object.fromEntries(
        Object.entries(sets).flatMap(([name, s]) => {
          const set = data.evaluationSets[name];
          return s && set ? [[name, setPredictions(set.files, set.labels, s.probs)]] : [];
        }),
      ),
    },
  });
  await plots(run, exp.name, epochs, data.classes, val?.evaluation.confusion ?? null);
  for (const [name, s] of Object.entries(sets)) {
    if (!s) continue;
    await confusionMatrix(
      s.evaluation.confusion,
      data.classes,
      `${exp.name}: confusion matrix on ${name}`,
      path.join(run.dir, 'plots', `confusion-${name}.png`),
    ).catch((err: Error) => run.appendJsonl('warnings.jsonl', { what: 'plots', error: err.message }));
  }
  const summary = Object.fromEntries(
    Object.entries(sets).flatMap(([name, s]) =>
      s
        ? [
            [
              name,
              {
                images: s.probs.length / data.classes.length,
                accuracy: s.evaluation.accuracy,
                f1: s.evaluation.macro.f1,
                auc: s.evaluation.auc,
              },
            ],
          ]
        : [],
    ),
  );
  return { sets, metrics: setMetrics(sets), summary };
}

/**
 * report.html from the predictions final evaluation recorded; its time in the
 * log. Like the plots, a report that cannot be made is a warning, never fatal.
 */
export async function writeReport(
  run: RunStore,
  exp: Experiment,
  cacheDir: string | undefined,
  model: ReportModel,
): Promise<{ seconds: number } | { error: string }> {
  const started = performance.now();
  try {
    const predictions = readPredictions(run.dir);
    if (!predictions) return { error: 'no predictions.json' };
    const facts = {
      runName: exp.name,
      runId: run.id,
      model,
      ...(exp.report.panel
        ? { panel: reportPanel(path.join(run.dir, 'model', 'model.json'), exp.data.preprocessing).html }
        : {}),
      ...(cacheDir ? { cacheDir } : {}),
    };
    const { html } =
      'outputs' in predictions
        ? await buildOutputsReport(exp, predictions, facts)
        : await buildRunReport(exp, predictions, facts);
    run.writeText('report.html', html);
    return { seconds: (performance.now() - started) / 1000 };
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    run.appendJsonl('warnings.jsonl', { what: 'report', error });
    return { error };
  }
}
