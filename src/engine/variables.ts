// Which variables an optimizer steps, in which order, and how much each class's loss weighs.
import type { LayersModel, Variable } from '@tensorflow/tfjs-node';
import type { PreparedData } from '../data/prepare.ts';
import { setBackboneTrainable } from '../model/backbone.ts';
import type { Experiment } from '../spec/experiment.ts';

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
