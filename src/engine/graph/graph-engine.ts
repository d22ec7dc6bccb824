// The graph engine behind the Engine interface: each step is one session run
// of the GraphTrainer's graph on a worker thread, while JavaScript makes the
// next batch. The graph holds weights and optimizer state while an epoch runs.
import type { Optimizer, Variable } from '@tensorflow/tfjs-node';
import type { InputSource } from '../../data/batches.ts';
import { exampleWeights, learnedValue, type OutputTargets } from '../../data/targets.ts';
import type { Engine, StepBatch } from '../engine.ts';
import type { WeightAverage } from '../weight-average.ts';
import type { GraphTrainer } from './graph-trainer.ts';

export interface GraphParts {
  trainer: GraphTrainer;
  optimizer: Optimizer;
  variables: Variable[];
  source: InputSource;
  classes: number;
  classWeights: Float32Array | null;
  seed: number;
  /** Several outputs: the training split's targets, by the batches' `rows`. */
  targets?: OutputTargets[];
  /** training.ema: the trainer keeps the average; this holds it between epochs and in checkpoints. */
  average?: WeightAverage;
}

/** A batch as the graph's step feeds it: float inputs, one-hot labels, each example's loss weight. */
interface Fed {
  x: Float32Array;
  y: Float32Array;
  w: Float32Array | undefined;
  n: number;
  heads?: { y: Float32Array; weight: Float32Array }[];
}

/**
 * Each output's targets for the rows of a batch as the graph takes them: a
 * category one-hot, a number standardized, binary and set values as they are.
 */
function headFeeds(targets: OutputTargets[], rows: number[]): { y: Float32Array; weight: Float32Array }[] {
  return targets.map((t) => {
    const category = t.spec.type === 'category';
    const width = category ? t.names.length : t.width;
    const y = new Float32Array(rows.length * width);
    const { mean, std } = t.scale ?? { mean: 0, std: 1 };
    for (const [k, i] of rows.entries()) {
      if (!t.known[i]) continue;
      if (category) y[k * width + (t.values[i] as number)] = 1;
      else if (t.spec.type === 'number') y[k] = (learnedValue(t.values[i] as number, t.spec.transform) - mean) / std;
      else y.set(t.values.subarray(i * t.width, (i + 1) * t.width), k * width);
    }
    return { y, weight: exampleWeights(t, rows) };
  });
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

/** The graph engine; the tfjs optimizer's state (fresh, or as a checkpoint restored it) goes into the graph first. */
export async function graphEngine(p: GraphParts): Promise<Engine> {
  const { trainer, optimizer, variables, source, classes: k, classWeights, seed, targets, average } = p;
  const names = variables.map((v) => v.name);
  await trainer.loadOptimizerState(optimizer, names);
  if (average) trainer.loadAverage(average.averaged().map((t) => t.dataSync() as Float32Array));
  const feed = (batch: StepBatch, random: () => number): Fed => {
    let x: Float32Array;
    if (source.floats) x = source.floats(batch.images, random);
    else {
      const xt = source(batch.images, random);
      x = xt.dataSync() as Float32Array;
      xt.dispose();
    }
    // Several outputs feed their own targets (heads); the one-hot class labels are for a class model.
    const y = new Float32Array(targets ? 0 : batch.labels.length * k);
    if (!targets) for (const [i, label] of batch.labels.entries()) y[i * k + label] = 1;
    const w = classWeights ? Float32Array.from(batch.labels, (label) => classWeights[label] as number) : undefined;
    return { x, y, w, n: batch.labels.length, ...(targets ? { heads: headFeeds(targets, batch.rows ?? []) } : {}) };
  };
  return {
    kind: 'graph',
    async *steps(plan) {
      const { batches, random } = plan;
      // The next batch is made while the session runs this one: the same draws from `random` in the same
      // order as one batch at a time, so runs repeat exactly.
      let next = batches.length ? feed(batches[0] as StepBatch, random) : null;
      for (let b = 0; b < batches.length && next; b++) {
        const { x, y, w, n, heads } = next;
        const decay = average?.nextDecay();
        const running = trainer.step(x, n, y, plan.lr, [seed, plan.epoch * 65536 + b], w, heads, decay);
        const [r, after] = await meanwhile(running, () =>
          b + 1 < batches.length ? feed(batches[b + 1] as StepBatch, random) : null,
        );
        next = after;
        if (r.finite) average?.counted();
        // Several outputs: no one class per example to report.
        yield r.finite
          ? { loss: r.loss, predicted: targets ? undefined : r.predicted }
          : { loss: Number.NaN, predicted: undefined };
      }
    },
    async sync() {
      trainer.saveWeights();
      await trainer.saveOptimizerState(optimizer, names);
      average?.setAveraged(trainer.readAverage());
    },
  };
}
