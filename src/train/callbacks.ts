// The training loop's policies, each a callback: the loop runs epochs and
// steps, callbacks decide what else happens around them (as Keras callbacks).
// Recording, checkpoints, pruning and the heartbeat are callbacks the runner
// makes; the ones here change only the model and the optimizer.
import type { LayersModel, Tensor } from '@tensorflow/tfjs-node';
import type { WeightAverage } from '../engine/weight-average.ts';
import type { Tf } from '../platform/tensorflow.ts';
import type { EpochMetrics } from '../spec/events.ts';
import type { Experiment } from '../spec/experiment.ts';
import type { Schedule } from './make-schedule.ts';
import { Monitor } from './monitor.ts';

/** What a callback may do to the training it watches (as Keras's `model.stop_training`). */
export interface TrainingControl {
  stop(): void;
}

export interface Callback {
  /** Once, before the first epoch this process trains; `history` holds the epochs a resumed run had completed. */
  onTrainBegin?(history: EpochMetrics[]): void;
  /** `epoch` counts from 0. */
  onEpochBegin?(epoch: number): void;
  onBatchEnd?(done: number, total: number, loss: number): void;
  /** After the epoch's steps, with the weights back in the model, before the epoch is scored. */
  onStepsEnd?(epoch: number): void;
  /**
   * The epoch's record, as the callbacks before this one left it (they may
   * add keys: evaluation sets, system metrics). `training.stop()` ends
   * training after this epoch, once every callback has seen it.
   */
  onEpochEnd?(m: EpochMetrics, training: TrainingControl): void | Promise<void>;
  /** Once, when training ends FINISHED (its last epoch, or a callback's stop). */
  onTrainEnd?(): void;
}

/** A plateau schedule reads every epoch's record, a resumed run's included. */
export function scheduleObserver(schedule: Schedule): Callback {
  return {
    onTrainBegin: (history) => {
      for (const m of history) schedule.observe(m);
    },
    onEpochEnd: (m) => schedule.observe(m),
  };
}

/**
 * training.early_stopping, as Keras's EarlyStopping: `patience` epochs in a
 * row without improvement stop training; with restore_best_weights, training
 * ends with the weights of the best epoch this process trained.
 */
export function earlyStopping(
  tf: Tf,
  model: LayersModel,
  es: NonNullable<Experiment['training']['early_stopping']>,
): Callback {
  const monitor = new Monitor({ metric: es.monitor, mode: es.mode, minDelta: es.min_delta, patience: es.patience });
  let best: Tensor[] | null = null;
  return {
    onTrainBegin: (history) => {
      for (const m of history) monitor.observe(m);
    },
    onEpochEnd: (m, training) => {
      if (monitor.observe(m) && es.restore_best_weights) {
        for (const w of best ?? []) w.dispose();
        best = model.getWeights().map((w) => tf.keep(w.clone()));
      }
      if (monitor.exhausted) training.stop();
    },
    onTrainEnd: () => {
      if (best) model.setWeights(best);
    },
  };
}

/** training.ema: the average is in the model from the end of each epoch's steps (scored, saved) to the next epoch. */
export function averagedWeights(average: WeightAverage): Callback {
  return {
    onEpochBegin: () => average.useRaw(),
    onStepsEnd: () => average.useAverage(),
  };
}
