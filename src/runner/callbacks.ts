// The training callbacks the runner adds to the loop's own: what it scores,
// records and saves each epoch, the heartbeat, and a sweep trial's pruning.
// They run in the order the runner lists them.
import * as path from 'node:path';
import type { LayersModel, Optimizer } from '@tensorflow/tfjs-node';
import type { InputSource, Sources } from '../data/batches.ts';
import type { PreparedData } from '../data/prepare.ts';
import type { WeightAverage } from '../engine/weight-average.ts';
import type { Predicts } from '../model/predict-probs.ts';
import type { Verdict } from '../plan/pruner.ts';
import type { Tf } from '../platform/tensorflow.ts';
import { saveCheckpoint } from '../record/checkpoints.ts';
import type { RunEvents } from '../record/run-events.ts';
import type { RunStore } from '../record/run-store.ts';
import type { SystemSampler } from '../record/system-metrics.ts';
import type { EpochMetrics } from '../spec/events.ts';
import type { Experiment } from '../spec/experiment.ts';
import type { Callback } from '../train/callbacks.ts';
import {
  evaluateSets,
  outputEntries,
  type SetScores,
  scoreOptions,
  scoreOutputs,
  setMetrics,
} from '../train/evaluate.ts';
import { Monitor } from '../train/monitor.ts';

const HEARTBEAT_MS = 10_000;

/**
 * The evaluation sets, scored every `data.evaluation_every` epochs and at the last by `scorer()` (the
 * model as it is then); `last` keeps the latest scores.
 */
export function evaluationSets(
  tf: Tf,
  exp: Experiment,
  data: PreparedData,
  scorer: () => Predicts,
  sources: Sources,
): Callback & { last?: { epoch: number; sets: SetScores } } {
  const cb: Callback & { last?: { epoch: number; sets: SetScores } } = {
    onEpochEnd: (m) => {
      const every = exp.data.evaluation_every;
      if (m.epoch !== exp.training.epochs && !(every > 0 && m.epoch % every === 0)) return;
      const model = scorer();
      if (exp.outputs) {
        // Several outputs: each set's outputs scored (<set>_<output>_<metric>); the final evaluation scores them again.
        for (const [name, set] of Object.entries(data.evaluationSets)) {
          const targets = set.targets ?? [];
          const index = Int32Array.from(set.labels, (_, i) => i);
          const s = scoreOutputs(tf, scoreOptions(exp), sources.sets[name] as InputSource, index, targets, model);
          Object.assign(m, outputEntries(`${name}_`, s, targets));
        }
        return;
      }
      cb.last = { epoch: m.epoch, sets: evaluateSets(tf, exp, data, model, sources) };
      Object.assign(m, setMetrics(cb.last.sets));
    },
  };
  return cb;
}

/** CPU, memory and tensor counts per epoch (the peak memory sampled every batch). */
export function systemMetrics(tf: Tf, system: SystemSampler): Callback {
  return {
    onBatchEnd: () => system.touch(),
    onEpochEnd: (m) => {
      Object.assign(m, system.epoch(tf.memory().numTensors));
    },
  };
}

/** A heartbeat in status.json at most every HEARTBEAT_MS while batches run: its age tells a lost run on another host. */
export function heartbeat(run: RunStore): Callback {
  let beat = Date.now();
  return {
    onBatchEnd: () => {
      if (Date.now() - beat < HEARTBEAT_MS) return;
      run.heartbeat();
      beat = Date.now();
    },
  };
}

/** Each epoch's record into the run's event stream (run folder, log, MLflow). */
export function recordEpochs(events: RunEvents): Callback {
  return { onEpochEnd: (m) => events.epoch(m) };
}

/** A checkpoint every `checkpoints.every` epochs and after the last: what --resume continues from. */
export function checkpoints(
  tf: Tf,
  exp: Experiment,
  run: RunStore,
  model: LayersModel,
  optimizer: Optimizer,
  average: WeightAverage | null,
): Callback {
  return {
    onEpochEnd: async (m) => {
      if (m.epoch % exp.training.checkpoints.every !== 0 && m.epoch !== exp.training.epochs) return;
      await saveCheckpoint(tf, path.join(run.dir, 'checkpoints'), model, optimizer, m.epoch, average);
    },
  };
}

/** checkpoints/best: the model of the best epoch so far by `checkpoints.monitor`, a resumed run's epochs counted. */
export function bestCheckpoint(exp: Experiment, save: (where: string) => Promise<unknown>): Callback {
  const monitor = new Monitor({ metric: exp.training.checkpoints.monitor });
  return {
    onTrainBegin: (history) => {
      for (const m of history) monitor.observe(m);
    },
    onEpochEnd: async (m) => {
      if (monitor.observe(m) && exp.training.checkpoints.best) await save('checkpoints/best');
    },
  };
}

/** The progress the caller shows: a bar per batch, a line per epoch. */
export function progress(
  onBatch: ((done: number, total: number, loss: number) => void) | undefined,
  onEpoch: ((m: EpochMetrics, total: number) => void | Promise<void>) | undefined,
  epochs: number,
): Callback {
  return {
    onBatchEnd: (done, total, loss) => onBatch?.(done, total, loss),
    onEpochEnd: async (m) => {
      await onEpoch?.(m, epochs);
    },
  };
}

/** A sweep trial's scheduler at each rung: the verdict is told, and a pruned trial stops after that epoch. */
export function pruning(
  judge: (epoch: number, m: EpochMetrics) => Promise<Verdict | null>,
  metric: string,
  tell: (verdict: Verdict, message: string) => void,
): Callback & { pruned: Verdict | null } {
  const cb: Callback & { pruned: Verdict | null } = {
    pruned: null,
    onEpochEnd: async (m, training) => {
      const verdict = await judge(m.epoch, m);
      if (!verdict) return;
      tell(
        verdict,
        `rung ${verdict.rung}: ${metric} ${verdict.value.toFixed(4)} ranks ${verdict.rank} of ${verdict.of}, the top ${verdict.keep} go on${verdict.goOn ? '' : ': pruned'}`,
      );
      if (verdict.goOn) return;
      cb.pruned = verdict;
      training.stop();
    },
  };
  return cb;
}
