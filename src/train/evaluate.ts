// Scoring the model as it is now: loss and metrics on the validation or test
// split and on each evaluation set, predicted in batches without dropout.
import type { Tensor } from '@tensorflow/tfjs-node';
import { type InputSource, pixelSources, type Sources } from '../data/batches.ts';
import type { PreparedData } from '../data/prepare.ts';
import type { OutputTargets } from '../data/targets.ts';
import { makeLoss } from '../engine/losses.ts';
import { batchTargets, outputLoss } from '../engine/output-losses.ts';
import { outputUnits } from '../model/output-meta.ts';
import { type Predicts, predictOutputs, predictProbs } from '../model/predict-probs.ts';
import type { Tf } from '../platform/tensorflow.ts';
import type { Experiment } from '../spec/experiment.ts';
import { EVALUATION_SET_METRICS } from '../spec/metric-names.ts';
import { evaluate } from './metrics.ts';
import { outputMetrics } from './output-metrics.ts';

export type Score = NonNullable<ReturnType<typeof score>>;
export type SetScores = Record<string, Score | null>;

/** Validation loss and metrics, predicted in batches without dropout. */
export function validate(
  tf: Tf,
  exp: Experiment,
  data: PreparedData,
  model: Predicts,
  split: 'validation' | 'test' = 'validation',
  sources: Sources = pixelSources(tf, exp, data),
) {
  const { index, labels } = data.splits[split];
  return score(tf, exp, sources.data, index, labels, data.classes, model);
}

/** Each evaluation set's loss and metrics with the model as it is now. */
export function evaluateSets(
  tf: Tf,
  exp: Experiment,
  data: PreparedData,
  model: Predicts,
  sources: Sources = pixelSources(tf, exp, data),
): SetScores {
  return Object.fromEntries(
    Object.entries(data.evaluationSets).map(([name, set]) => {
      const index = Int32Array.from(set.labels, (_, i) => i);
      return [name, score(tf, exp, sources.sets[name] as InputSource, index, set.labels, data.classes, model)] as const;
    }),
  );
}

/** An epoch record's `<set>_<metric>` entries. */
export function setMetrics(sets: SetScores): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const [name, s] of Object.entries(sets)) {
    const e = s?.evaluation;
    const values = {
      accuracy: e?.accuracy,
      loss: s?.loss,
      precision: e?.macro.precision,
      recall: e?.macro.recall,
      f1: e?.macro.f1,
      auc: e?.auc,
    };
    for (const m of EVALUATION_SET_METRICS) out[`${name}_${m}`] = values[m] ?? null;
  }
  return out;
}

/** A model with several outputs scored on some images: the weighted loss, and each output's loss, metrics and predictions. */
export interface OutputsScore {
  loss: number;
  outputs: Record<string, { loss: number | null; metrics: Record<string, number | null>; predictions: Float32Array }>;
}

/** How a model is scored: images per batch, and whether by the mean over each image and its mirror image. */
export interface ScoreOptions {
  batchSize: number;
  testTimeFlip: boolean;
}

/** An experiment's scoring options. */
export const scoreOptions = (exp: Experiment): ScoreOptions => ({
  batchSize: exp.training.batch_size,
  testTimeFlip: exp.data.test_time_flip,
});

/** The outputs' losses and metrics on images `index` (their targets `targets`, row for row), without dropout. */
export function scoreOutputs(
  tf: Tf,
  options: ScoreOptions,
  source: InputSource,
  index: Int32Array,
  targets: OutputTargets[],
  model: Predicts,
): OutputsScore | null {
  if (index.length === 0) return null;
  const preds = targets.map((t) => new Float32Array(index.length * outputUnits(t)));
  const sums = targets.map(() => 0);
  const bs = options.batchSize;
  for (let b = 0; b < index.length; b += bs) {
    const idx = index.subarray(b, b + bs);
    const rows = Array.from(idx, (_, k) => b + k);
    tf.tidy(() => {
      const mirrored = source.mirrored;
      const outs = predictOutputs(
        tf,
        model,
        source(idx),
        options.testTimeFlip && mirrored ? () => mirrored(idx) : undefined,
      );
      for (const [o, t] of targets.entries()) {
        const p = outs[o] as Tensor;
        (preds[o] as Float32Array).set(p.dataSync(), b * outputUnits(t));
        const y = batchTargets(tf, t, rows);
        const known = y.weight.sign().sum().dataSync()[0] as number;
        sums[o] = (sums[o] as number) + (outputLoss(tf, t, p, y).dataSync()[0] as number) * known;
      }
    });
  }
  const outputs: OutputsScore['outputs'] = {};
  let loss = 0;
  for (const [o, t] of targets.entries()) {
    const known = t.known.length - t.missing;
    const l = known ? (sums[o] as number) / known : null;
    loss += (l ?? 0) * t.spec.loss_weight;
    outputs[t.name] = {
      loss: l,
      metrics: outputMetrics(t, preds[o] as Float32Array),
      predictions: preds[o] as Float32Array,
    };
  }
  return { loss, outputs };
}

/** A score of several outputs as evaluation.json records it: the weighted loss, and per output its labelled images, loss and metrics. */
export function outputsRecord(s: OutputsScore | null, targets: OutputTargets[]) {
  if (!s) return null;
  return {
    loss: s.loss,
    outputs: Object.fromEntries(
      targets.map((t) => [
        t.name,
        { images: t.known.length - t.missing, loss: s.outputs[t.name]?.loss ?? null, ...s.outputs[t.name]?.metrics },
      ]),
    ),
  };
}

/** An epoch record's entries for a score of several outputs: `<prefix><output>_<metric>` and `<prefix><output>_loss`. */
export function outputEntries(
  prefix: string,
  s: OutputsScore | null,
  targets: OutputTargets[],
): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const t of targets) {
    const o = s?.outputs[t.name];
    out[`${prefix}${t.name}_loss`] = o?.loss ?? null;
    for (const m of Object.keys(o?.metrics ?? {})) out[`${prefix}${t.name}_${m}`] = o?.metrics[m] ?? null;
  }
  return out;
}

/** Loss and metrics of the model on images `index` (labels `labels`), predicted in batches without dropout. */
function score(
  tf: Tf,
  exp: Experiment,
  source: InputSource,
  index: Int32Array,
  labels: Int32Array,
  classes: string[],
  model: Predicts,
) {
  if (index.length === 0) return null;
  const k = classes.length;
  const probs = new Float32Array(index.length * k);
  const lossFn = makeLoss(tf, exp.training.loss);
  let lossSum = 0;
  const bs = exp.training.batch_size;
  for (let b = 0; b < index.length; b += bs) {
    const idx = index.subarray(b, b + bs);
    tf.tidy(() => {
      const mirrored = source.mirrored;
      const p = predictProbs(
        tf,
        model,
        source(idx),
        exp.data.test_time_flip && mirrored ? () => mirrored(idx) : undefined,
      );
      probs.set(p.dataSync(), b * k);
      const y = tf.oneHot(tf.tensor1d(labels.subarray(b, b + bs), 'int32'), k).toFloat();
      lossSum += (lossFn(y, p).dataSync()[0] as number) * idx.length;
    });
  }
  return { loss: lossSum / index.length, probs, evaluation: evaluate(labels, probs, classes) };
}
