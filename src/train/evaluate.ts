// Scoring the model as it is now: loss and metrics on the validation or test
// split and on each evaluation set, predicted in batches without dropout.
import type { LayersModel } from '@tensorflow/tfjs-node';
import { type InputSource, pixelSources, type Sources } from '../data/batches.ts';
import type { PreparedData } from '../data/prepare.ts';
import { makeLoss } from '../engine/losses.ts';
import { predictProbs } from '../model/predict-probs.ts';
import type { Tf } from '../platform/tensorflow.ts';
import type { Experiment } from '../spec/experiment.ts';
import { EVALUATION_SET_METRICS } from '../spec/metric-names.ts';
import { evaluate } from './metrics.ts';

export type Score = NonNullable<ReturnType<typeof score>>;
export type SetScores = Record<string, Score | null>;

/** Validation loss and metrics, predicted in batches without dropout. */
export function validate(
  tf: Tf,
  exp: Experiment,
  data: PreparedData,
  model: LayersModel,
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
  model: LayersModel,
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

/** Loss and metrics of the model on images `index` (labels `labels`), predicted in batches without dropout. */
function score(
  tf: Tf,
  exp: Experiment,
  source: InputSource,
  index: Int32Array,
  labels: Int32Array,
  classes: string[],
  model: LayersModel,
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
