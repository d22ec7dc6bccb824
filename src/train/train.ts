// The training loop: epochs of seeded shuffled batches through the engine,
// the learning rate of each epoch, per-epoch training and validation metrics,
// NaN detection and a cooperative stop (Ctrl-C). Everything else happens in
// callbacks (callbacks.ts and the runner's).
import type { LayersModel, Optimizer } from '@tensorflow/tfjs-node';
import type { Sources } from '../data/batches.ts';
import type { PreparedData } from '../data/prepare.ts';
import type { Engine, StepBatch } from '../engine/engine.ts';
import { setLearningRate } from '../engine/optimizer-groups.ts';
import { setBackboneTrainable } from '../model/backbone.ts';
import type { Predicts } from '../model/predict-probs.ts';
import type { ScoringSession } from '../model/scoring-session.ts';
import { rng, shuffle } from '../platform/random.ts';
import type { Tf } from '../platform/tensorflow.ts';
import type { EpochMetrics } from '../spec/events.ts';
import type { Experiment } from '../spec/experiment.ts';
import { type Callback, earlyStopping, scheduleObserver } from './callbacks.ts';
import { outputEntries, scoreOptions, scoreOutputs, validate } from './evaluate.ts';
import { makeSchedule } from './make-schedule.ts';
import { evaluate } from './metrics.ts';

export interface TrainParts {
  tf: Tf;
  exp: Experiment;
  data: PreparedData;
  /** The model the engine trains (with cached backbone features: the part after them). */
  model: LayersModel;
  /** The model as a session that scores validation after each epoch; without one, the tfjs model scores it. */
  scoring?: ScoringSession;
  optimizer: Optimizer;
  engine: Engine;
  sources: Sources;
  /** The epochs a resumed run had completed. */
  history?: EpochMetrics[];
  /** Run in order after the loop's own (the LR schedule's and early stopping's). */
  callbacks?: Callback[];
  /** Checked after every batch; true stops training after that batch. */
  shouldStop?: () => boolean;
}

export type TrainOutcome =
  | { status: 'FINISHED' | 'KILLED'; epochs: EpochMetrics[]; stoppedEarly: boolean }
  | { status: 'FAILED'; error: string; epochs: EpochMetrics[] };

/** Hard predictions as probability rows, for metrics that take probabilities. */
function oneHot(predicted: Int32Array, k: number): Float32Array {
  const out = new Float32Array(predicted.length * k);
  for (const [i, c] of predicted.entries()) out[i * k + c] = 1;
  return out;
}

/**
 * The epoch's record for a model with several outputs: the training loss, the
 * weighted validation loss and each output's validation loss and metrics
 * (val_<output>_<metric>); the single-class fields are NaN (recorded as null).
 */
function outputsRecord(
  p: TrainParts,
  scorer: Predicts,
  epoch: number,
  lr: number,
  examples: number,
  lossSum: number,
  seconds: number,
): EpochMetrics {
  const { tf, exp, data, sources } = p;
  const split = data.splits.validation;
  const targets = split.targets ?? [];
  const val = scoreOutputs(tf, scoreOptions(exp), sources.data, split.index, targets, scorer);
  return {
    epoch: epoch + 1,
    lr,
    loss: lossSum / examples,
    accuracy: Number.NaN,
    precision: Number.NaN,
    recall: Number.NaN,
    f1: Number.NaN,
    val_loss: val?.loss ?? null,
    val_accuracy: null,
    val_precision: null,
    val_recall: null,
    val_f1: null,
    val_auc: null,
    per_class: {},
    ...outputEntries('val_', val, targets),
    seconds,
    images_per_s: examples / seconds,
  };
}

/** The epoch's record from its training predictions and the model's validation scores. */
function epochRecord(
  p: TrainParts,
  scorer: Predicts,
  epoch: number,
  lr: number,
  labels: Int32Array,
  predicted: Int32Array,
  lossSum: number,
  seconds: number,
): EpochMetrics {
  const { tf, exp, data, sources } = p;
  const val = validate(tf, exp, data, scorer, 'validation', sources);
  const trainEval = evaluate(labels, oneHot(predicted, data.classes.length), data.classes);
  return {
    epoch: epoch + 1,
    lr,
    loss: lossSum / labels.length,
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
    images_per_s: labels.length / seconds,
  };
}

/**
 * Trains from the epoch after `history` to the last. Everything random is
 * drawn from generators seeded by the experiment seed and the epoch, so a
 * resumed run continues exactly.
 */
export async function train(p: TrainParts): Promise<TrainOutcome> {
  const { tf, exp, data, model, optimizer, engine } = p;
  const t = exp.training;
  const schedule = makeSchedule(t.lr_schedule, t.optimizer.lr as number, t.epochs);
  const callbacks: Callback[] = [
    scheduleObserver(schedule),
    ...(t.early_stopping ? [earlyStopping(tf, model, t.early_stopping)] : []),
    ...(p.callbacks ?? []),
  ];
  const { index, labels } = data.splits.train;
  const outputs = data.splits.train.targets !== undefined;
  const epochs: EpochMetrics[] = [...(p.history ?? [])];
  for (const c of callbacks) c.onTrainBegin?.(epochs);
  try {
    for (let epoch = epochs.length; epoch < t.epochs; epoch++) {
      for (const c of callbacks) c.onEpochBegin?.(epoch);
      if (exp.model.backbone) setBackboneTrainable(model, exp.model.backbone, epoch);
      const lr = schedule.lr(epoch);
      setLearningRate(optimizer, lr);
      // Positions into the train split, shuffled: position q is image index[q] with label labels[q].
      const order = shuffle(
        Array.from(index, (_, q) => q),
        rng(exp.seed * 7919 + epoch),
      );
      const batches: StepBatch[] = [];
      for (let b = 0; b < order.length; b += t.batch_size) {
        const positions = order.slice(b, b + t.batch_size);
        batches.push({
          images: positions.map((q) => index[q] as number),
          labels: positions.map((q) => labels[q] as number),
          rows: positions,
        });
      }
      const started = performance.now();
      let lossSum = 0;
      let done = 0;
      let b = 0;
      // Predicted class of every training example, in `order`: the epoch's training metrics.
      const predicted = new Int32Array(order.length);
      const random = rng(exp.seed * 104729 + epoch);
      for await (const step of engine.steps({ epoch, lr, batches, random })) {
        const n = (batches[b++] as StepBatch).labels.length;
        if (!Number.isFinite(step.loss) || (!step.predicted && !outputs)) {
          await engine.sync();
          return {
            status: 'FAILED',
            error: `the training loss (or the model output) became ${step.loss} at epoch ${epoch + 1}, batch ${b}; lower training.optimizer.lr (now ${lr}) or check the data`,
            epochs,
          };
        }
        if (step.predicted) predicted.set(step.predicted, done);
        lossSum += step.loss * n;
        done += n;
        for (const c of callbacks) c.onBatchEnd?.(done, order.length, step.loss);
        // Let signal handlers run between batches: otherwise Ctrl-C would wait for the epoch's end.
        await new Promise((resolve) => setImmediate(resolve));
        if (p.shouldStop?.()) {
          await engine.sync();
          return { status: 'KILLED', epochs, stoppedEarly: false };
        }
      }
      const seconds = (performance.now() - started) / 1000;
      await engine.sync();
      for (const c of callbacks) c.onStepsEnd?.(epoch);
      // The weights to score are in the model now (training.ema's average, if any).
      const scorer = p.scoring?.load() ?? model;
      const trained = Int32Array.from(order, (q) => labels[q] as number);
      const m = outputs
        ? outputsRecord(p, scorer, epoch, lr, order.length, lossSum, seconds)
        : epochRecord(p, scorer, epoch, lr, trained, predicted, lossSum, seconds);
      epochs.push(m);
      let stop = false;
      const control = { stop: () => (stop = true) };
      for (const c of callbacks) await c.onEpochEnd?.(m, control);
      if (stop) {
        for (const c of callbacks) c.onTrainEnd?.();
        return { status: 'FINISHED', epochs, stoppedEarly: true };
      }
    }
  } finally {
    if (exp.model.backbone) setBackboneTrainable(model, exp.model.backbone);
  }
  for (const c of callbacks) c.onTrainEnd?.();
  return { status: 'FINISHED', epochs, stoppedEarly: false };
}
