// The training loop: epochs of seeded shuffled batches from the uint8 pixels,
// the optimizer with its LR schedule, per-epoch training and validation
// metrics, early stopping, NaN detection and a cooperative stop (Ctrl-C).
import type { LayersModel, Optimizer, Scalar, Tensor, Tensor2D, Tensor4D, Variable } from '@tensorflow/tfjs-node';
import { EVALUATION_SET_METRICS } from '../config/sweep-schema.ts';
import { augmentBatch, mixBatch } from '../data/augment.ts';
import { toFloat } from '../data/normalize.ts';
import type { PreparedData } from '../data/prepare.ts';
import type { GraphTrainer } from '../engine/graph/graph-trainer.ts';
import { makeLoss } from '../engine/make-loss.ts';
import { setLearningRate } from '../engine/optimizer-groups.ts';
import type { WeightAverage } from '../engine/weight-average.ts';
import { setBackboneTrainable } from '../model/backbone.ts';
import { predictProbs } from '../model/predict-probs.ts';
import { rng, shuffle } from '../platform/random.ts';
import type { Tf } from '../platform/tensorflow.ts';
import type { Experiment } from '../spec/experiment.ts';
import { makeSchedule } from './make-schedule.ts';
import { evaluate } from './metrics.ts';

export interface EpochMetrics {
  epoch: number;
  lr: number;
  loss: number;
  accuracy: number;
  /** Macro averages over classes, from the training batches' predictions. */
  precision: number;
  recall: number;
  f1: number;
  val_loss: number | null;
  val_accuracy: number | null;
  val_precision: number | null;
  val_recall: number | null;
  val_f1: number | null;
  val_auc: number | null;
  /** Per class: training and validation precision, recall and F1. */
  per_class: Record<
    string,
    {
      precision: number;
      recall: number;
      f1: number;
      val_precision: number | null;
      val_recall: number | null;
      val_f1: number | null;
    }
  >;
  seconds: number;
  images_per_s: number;
}

/** Uint8 images and where they sit: the training data, or an evaluation set beside it. */
export type Images = Pick<PreparedData, 'pixels' | 'imageBytes' | 'shape'>;

export interface TrainHooks {
  onEpoch?: (m: EpochMetrics) => void | Promise<void>;
  /** Checked after onEpoch; true ends training after that epoch (a sweep trial its scheduler pruned). */
  stopAfterEpoch?: () => boolean;
  onBatch?: (done: number, total: number, loss: number) => void;
  /** Checked after every batch; true stops training after that batch. */
  shouldStop?: () => boolean;
}

export type TrainOutcome =
  | { status: 'FINISHED' | 'KILLED'; epochs: EpochMetrics[]; stoppedEarly: boolean }
  | { status: 'FAILED'; error: string; epochs: EpochMetrics[] };

export class NonFiniteLoss extends Error {
  override name = 'NonFiniteLoss';
}

/** Float32 model input for `indices`, normalized (and augmented, for training). */
export function batchTensor(
  tf: Tf,
  exp: Experiment,
  data: Images,
  indices: Int32Array | number[],
  random?: () => number,
): Tensor4D {
  const [h, w, c] = data.shape;
  const p = exp.data.preprocessing;
  const augs = random ? exp.data.augmentation : [];
  const out = new Float32Array(indices.length * data.imageBytes);
  // Augmentations work on [0, 1] images; normalization follows them.
  toFloat(data.pixels, data.imageBytes, c, indices, augs.length ? { normalize: 'unit' } : p, out);
  const x = tf.tensor4d(out, [indices.length, h, w, c]);
  if (!augs.length || !random) return x;
  const result = tf.tidy(() => {
    const a = augmentBatch(tf, x, augs, random);
    if (p.normalize === 'unit') return a;
    if (p.normalize === 'symmetric') return a.mul(2).sub(1) as Tensor4D;
    return a.sub(tf.tensor1d(p.mean ?? [0])).div(tf.tensor1d(p.std ?? [1])) as Tensor4D;
  });
  // With only mixing augmentations (mixup, cutmix: applied to the batch later) the images come back as they were.
  if (result !== x) x.dispose();
  return result;
}

/** Model input for a batch of image indexes; `mirrored` gives the mirror images' (for test_time_flip). */
export type InputSource = ((indices: Int32Array | number[], random?: () => number) => Tensor) & {
  mirrored?: (indices: Int32Array | number[]) => Tensor;
};

/** Where batches come from: the training data's images, and each evaluation set's. */
export interface Sources {
  data: InputSource;
  sets: Record<string, InputSource>;
}

/** Batches made from the uint8 pixels: normalized, and augmented when training. */
export function pixelSources(tf: Tf, exp: Experiment, data: PreparedData): Sources {
  const from = (images: Images): InputSource =>
    Object.assign(
      (indices: Int32Array | number[], random?: () => number) => batchTensor(tf, exp, images, indices, random),
      {
        mirrored: (indices: Int32Array | number[]) =>
          tf.tidy(() => tf.reverse(batchTensor(tf, exp, images, indices), 2)),
      },
    );
  return {
    data: from(data),
    sets: Object.fromEntries(
      Object.entries(data.evaluationSets).map(([name, set]) => [
        name,
        from({ pixels: set.pixels, imageBytes: data.imageBytes, shape: data.shape }),
      ]),
    ),
  };
}

/**
 * Batches of precomputed rows of `shape` (a frozen backbone's features). With
 * `mirrored`, a training batch takes an image's mirrored row with its
 * probability: a horizontal flip, drawn from the batch's seeded random.
 */
export function rowSource(
  tf: Tf,
  rows: Float32Array,
  shape: number[],
  mirrored?: { rows: Float32Array; probability: number },
): InputSource {
  const dim = shape.reduce((a, b) => a * b, 1);
  const pick = (indices: Int32Array | number[], which: (k: number) => Float32Array) => {
    const out = new Float32Array(indices.length * dim);
    for (let k = 0; k < indices.length; k++) {
      const i = indices[k] as number;
      out.set(which(k).subarray(i * dim, (i + 1) * dim), k * dim);
    }
    return tf.tensor(out, [indices.length, ...shape]);
  };
  // No draw without a flip to draw for: test_time_flip alone leaves training's random stream as it was.
  const flip = mirrored && mirrored.probability > 0 ? mirrored : undefined;
  const source = (indices: Int32Array | number[], random?: () => number) =>
    pick(indices, () => (flip && random && random() < flip.probability ? flip.rows : rows));
  return mirrored
    ? Object.assign(source, { mirrored: (indices: Int32Array | number[]) => pick(indices, () => mirrored.rows) })
    : source;
}

/**
 * The variables training may change, in the order the optimizer sees them:
 * tfjs optimizers keep per-variable state by position, so variables that
 * start learning later (a backbone unfrozen at an epoch) come after the
 * others, and positions stay the same whether the run was resumed or not.
 */
export function learningOrder(exp: Experiment, model: LayersModel): Variable[] {
  const spec = exp.model.backbone;
  if (spec) setBackboneTrainable(model, spec, 0);
  const first = model.trainableWeights.map((w) => w.read() as Variable);
  if (spec) setBackboneTrainable(model, spec);
  const later = model.trainableWeights.map((w) => w.read() as Variable).filter((v) => !first.includes(v));
  return [...first, ...later];
}

/** Hard predictions as probability rows, for metrics that take probabilities. */
function oneHot(predicted: Int32Array, k: number): Float32Array {
  const out = new Float32Array(predicted.length * k);
  for (const [i, c] of predicted.entries()) out[i * k + c] = 1;
  return out;
}

/** Per-class loss weights: `balanced` is total / (classes x count), as in scikit-learn and Keras. */
export function classWeights(exp: Experiment, data: PreparedData): Float32Array | null {
  const cw = exp.training.class_weights;
  if (cw === null) return null;
  const counts = data.counts.train;
  const total = counts.reduce((s, n) => s + n, 0);
  return Float32Array.from(data.classes, (cls, i) =>
    cw === 'balanced' ? total / (data.classes.length * (counts[i] as number)) : (cw[cls] ?? 1),
  );
}

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
) {
  return Object.fromEntries(
    Object.entries(data.evaluationSets).map(([name, set]) => {
      const index = Int32Array.from(set.labels, (_, i) => i);
      return [name, score(tf, exp, sources.sets[name] as InputSource, index, set.labels, data.classes, model)] as const;
    }),
  );
}

/** An epoch record's `<set>_<metric>` entries. */
export function setMetrics(sets: ReturnType<typeof evaluateSets>): Record<string, number | null> {
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

/** Runs `work` while `running` is in flight; `running` settles before anything `work` throws goes on. */
async function meanwhile<T, U>(running: Promise<T>, work: () => U): Promise<[T, U]> {
  try {
    const u = work();
    return [await running, u];
  } catch (err) {
    await running.catch(() => undefined);
    throw err;
  }
}

/** A graph-engine batch as its step feeds it: float inputs, one-hot labels, each example's loss weight. */
interface GraphBatch {
  x: Float32Array;
  y: Float32Array;
  w: Float32Array | undefined;
}

function graphBatch(
  source: InputSource,
  idx: number[],
  batchLabels: number[],
  k: number,
  random: () => number,
  classWeights: Float32Array | null,
): GraphBatch {
  const xt = source(idx, random);
  const x = xt.dataSync() as Float32Array;
  xt.dispose();
  const y = new Float32Array(idx.length * k);
  for (const [i, label] of batchLabels.entries()) y[i * k + label] = 1;
  const w = classWeights ? Float32Array.from(batchLabels, (label) => classWeights[label] as number) : undefined;
  return { x, y, w };
}

/**
 * Trains `model` from the epoch after `history` (the epochs a resumed run had
 * completed) to the last. Everything random is drawn from generators seeded by
 * the experiment seed and the epoch, so a resumed run continues exactly.
 */
export async function train(
  tf: Tf,
  exp: Experiment,
  data: PreparedData,
  model: LayersModel,
  optimizer: Optimizer,
  hooks: TrainHooks = {},
  history: EpochMetrics[] = [],
  sources: Sources = pixelSources(tf, exp, data),
  graph?: GraphTrainer,
  /** `training.ema`: updated after every step, in the model from each epoch's validation to the next epoch. */
  average?: WeightAverage,
): Promise<TrainOutcome> {
  const t = exp.training;
  const k = data.classes.length;
  const baseLr = t.optimizer.lr as number;
  const schedule = makeSchedule(t.lr_schedule, baseLr, t.epochs);
  const lossFn = makeLoss(tf, t.loss);
  const weights = classWeights(exp, data);
  const { index, labels } = data.splits.train;
  const epochs: EpochMetrics[] = [...history];
  const es = t.early_stopping;
  const higherIsBetter = es ? es.mode === 'max' || (es.mode === 'auto' && !es.monitor.endsWith('loss')) : false;
  let best = higherIsBetter ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  let bestWeights: Tensor[] | null = null;
  let waited = 0;
  // Feeds an epoch to the stateful parts (plateau schedule, early stopping); true when it improved.
  const track = (m: EpochMetrics): boolean => {
    schedule.observe(m as unknown as Record<string, number>);
    if (!es) return false;
    const v = (m as unknown as Record<string, number | null>)[es.monitor];
    if (v !== null && v !== undefined && (higherIsBetter ? v > best + es.min_delta : v < best - es.min_delta)) {
      best = v;
      waited = 0;
      return true;
    }
    waited++;
    return false;
  };
  for (const m of history) track(m);
  const variables = learningOrder(exp, model);
  // Graph engine: the graph holds weights and optimizer state while an epoch runs; the tfjs model and
  // optimizer get them back before anything reads them (validation, checkpoints, a stop or a failure).
  await graph?.loadOptimizerState(
    optimizer,
    variables.map((v) => v.name),
  );
  const syncBack = async () => {
    graph?.saveWeights();
    await graph?.saveOptimizerState(
      optimizer,
      variables.map((v) => v.name),
    );
  };
  // tfjs draws dropout masks (and other unseeded randomness) from Math.random.
  const mathRandom = Math.random;
  try {
    for (let epoch = history.length; epoch < t.epochs; epoch++) {
      Math.random = rng(exp.seed * 15485863 + epoch);
      average?.useRaw();
      if (exp.model.backbone) setBackboneTrainable(model, exp.model.backbone, epoch);
      const lr = schedule.lr(epoch);
      setLearningRate(optimizer, lr);
      // Positions into the train split, shuffled: position p is image index[p] with label labels[p].
      const order = shuffle(
        Array.from(index, (_, p) => p),
        rng(exp.seed * 7919 + epoch),
      );
      const random = rng(exp.seed * 104729 + epoch);
      const started = performance.now();
      let lossSum = 0;
      // Predicted class of every training example, in `order`: the epoch's training metrics.
      const predicted = new Int32Array(order.length);
      const batchAt = (b: number) => {
        const positions = order.slice(b, b + t.batch_size);
        return {
          idx: positions.map((p) => index[p] as number),
          batchLabels: positions.map((p) => labels[p] as number),
        };
      };
      const prepare = (b: number) => {
        const { idx, batchLabels } = batchAt(b);
        return graphBatch(sources.data, idx, batchLabels, k, random, weights);
      };
      // Graph engine: the next batch, made while the session runs this one on its worker thread (the same
      // draws from `random` in the same order as one batch at a time, so runs repeat exactly).
      let prepared = graph && order.length ? prepare(0) : null;
      for (let b = 0; b < order.length; b += t.batch_size) {
        const { idx, batchLabels } = batchAt(b);
        let lossValue: number;
        if (graph && prepared) {
          const { x, y, w } = prepared;
          const running = graph.step(x, idx.length, y, lr, [exp.seed, epoch * 65536 + b / t.batch_size], w);
          const [r, next] = await meanwhile(running, () =>
            b + t.batch_size < order.length ? prepare(b + t.batch_size) : null,
          );
          prepared = next;
          if (r.finite) predicted.set(r.predicted, b);
          lossValue = r.finite ? r.loss : Number.NaN;
        } else
          lossValue = tf.tidy(() => {
            const yIdx = tf.tensor1d(batchLabels, 'int32');
            // Mixing augmentations (mixup, cutmix) turn the one-hot labels into soft ones.
            const { x, y } = mixBatch(
              tf,
              sources.data(idx, random) as Tensor4D,
              tf.oneHot(yIdx, k).toFloat() as Tensor2D,
              exp.data.augmentation,
              random,
            );
            const w = weights ? tf.gather(tf.tensor1d(weights), yIdx) : undefined;
            let predictions: Tensor | null = null;
            let finite: Tensor | null = null;
            const { value, grads } = tf.variableGrads(
              () => {
                const p = model.apply(x, { training: true }) as Tensor;
                predictions = tf.keep(p.argMax(-1));
                // Losses clip probabilities, which can hide NaN outputs: check them directly.
                finite = tf.keep(p.isFinite().all());
                return lossFn(y, p, w) as Scalar;
              },
              variables.filter((v) => v.trainable),
            );
            // Kept to leave the gradient scope, so disposed here (tidy leaves kept tensors alone).
            const kept = [finite as unknown as Tensor, predictions as unknown as Tensor];
            try {
              if (!kept[0]?.dataSync()[0]) return Number.NaN;
              optimizer.applyGradients(grads);
              average?.update();
              predicted.set(kept[1]?.dataSync() as Int32Array, b);
              return value.dataSync()[0] as number;
            } finally {
              tf.dispose(kept);
            }
          });
        if (!Number.isFinite(lossValue)) {
          await syncBack();
          return {
            status: 'FAILED',
            error: `the training loss (or the model output) became ${lossValue} at epoch ${epoch + 1}, batch ${b / t.batch_size + 1}; lower training.optimizer.lr (now ${lr}) or check the data`,
            epochs,
          };
        }
        lossSum += lossValue * idx.length;
        hooks.onBatch?.(b + idx.length, order.length, lossValue);
        // Let signal handlers run between batches: otherwise Ctrl-C would wait for the epoch's end.
        await new Promise((resolve) => setImmediate(resolve));
        if (hooks.shouldStop?.()) {
          await syncBack();
          return { status: 'KILLED', epochs, stoppedEarly: false };
        }
      }
      const seconds = (performance.now() - started) / 1000;
      await syncBack();
      // Scored, checkpointed and (after the last epoch) saved: the averaged weights.
      average?.useAverage();
      const val = validate(tf, exp, data, model, 'validation', sources);
      const trainEval = evaluate(
        Int32Array.from(order, (p) => labels[p] as number),
        oneHot(predicted, k),
        data.classes,
      );
      const m: EpochMetrics = {
        epoch: epoch + 1,
        lr,
        loss: lossSum / order.length,
        accuracy: trainEval.accuracy,
        precision: trainEval.macro.precision,
        recall: trainEval.macro.recall,
        f1: trainEval.macro.f1,
        val_loss: val?.loss ?? null,
        val_accuracy: val?.evaluation.accuracy ?? null,
        val_precision: val?.evaluation.macro.precision ?? null,
        val_recall: val?.evaluation.macro.recall ?? null,
        val_f1: val?.evaluation.macro.f1 ?? null,
        val_auc: val?.evaluation.auc ?? null,
        per_class: Object.fromEntries(
          data.classes.map((c) => {
            const t = trainEval.perClass[c];
            const v = val?.evaluation.perClass[c];
            return [
              c,
              {
                precision: t?.precision ?? 0,
                recall: t?.recall ?? 0,
                f1: t?.f1 ?? 0,
                val_precision: v?.precision ?? null,
                val_recall: v?.recall ?? null,
                val_f1: v?.f1 ?? null,
              },
            ];
          }),
        ),
        seconds,
        images_per_s: order.length / seconds,
      };
      epochs.push(m);
      const improved = track(m);
      if (improved && es?.restore_best_weights) {
        for (const w of bestWeights ?? []) w.dispose();
        bestWeights = model.getWeights().map((w) => tf.keep(w.clone()));
      }
      await hooks.onEpoch?.(m);
      if (hooks.stopAfterEpoch?.()) return { status: 'FINISHED', epochs, stoppedEarly: true };
      if (es && waited > es.patience) {
        if (bestWeights) model.setWeights(bestWeights);
        return { status: 'FINISHED', epochs, stoppedEarly: true };
      }
    }
  } finally {
    Math.random = mathRandom;
    if (exp.model.backbone) setBackboneTrainable(model, exp.model.backbone);
  }
  if (es?.restore_best_weights && bestWeights) model.setWeights(bestWeights);
  return { status: 'FINISHED', epochs, stoppedEarly: false };
}
