// The eager engine: each step's forward pass, gradients and update as tfjs
// ops from JavaScript. Mixing augmentations, EMA and frozen batch norm train here.
import type { LayersModel, Optimizer, Scalar, Tensor, Tensor2D, Tensor4D, Variable } from '@tensorflow/tfjs-node';
import { mixBatch } from '../data/augment.ts';
import type { InputSource } from '../data/batches.ts';
import type { OutputTargets } from '../data/targets.ts';
import { rng } from '../platform/random.ts';
import type { Tf } from '../platform/tensorflow.ts';
import type { Experiment } from '../spec/experiment.ts';
import type { Engine, StepBatch, StepResult } from './engine.ts';
import { makeLoss } from './losses.ts';
import { batchTargets, totalLoss } from './output-losses.ts';
import type { WeightAverage } from './weight-average.ts';

export interface EagerParts {
  tf: Tf;
  exp: Experiment;
  model: LayersModel;
  optimizer: Optimizer;
  /** The variables in the optimizer's order (variables.ts). */
  variables: Variable[];
  source: InputSource;
  classes: number;
  classWeights: Float32Array | null;
  /** training.ema: folded in after every step. */
  average?: WeightAverage;
  /** Several outputs: the training split's targets, by the batches' `rows`. */
  targets?: OutputTargets[];
}

export function eagerEngine(p: EagerParts): Engine {
  const { tf, exp, model, optimizer, variables, source, classes: k, classWeights, average, targets } = p;
  const lossFn = makeLoss(tf, exp.training.loss);
  // Several outputs: the weighted sum of their masked losses (no mixing: checked with the config).
  const outputsStep = (batch: StepBatch, random: () => number, outs: OutputTargets[]): StepResult =>
    tf.tidy(() => {
      const x = source(batch.images, random);
      const ys = outs.map((t) => batchTargets(tf, t, batch.rows ?? []));
      const kept: { finite?: Tensor } = {};
      const { value, grads } = tf.variableGrads(
        () => {
          const out = model.apply(x, { training: true }) as Tensor | Tensor[];
          const heads = Array.isArray(out) ? out : [out];
          kept.finite = tf.keep(tf.stack(heads.map((h) => h.isFinite().all())).all());
          return totalLoss(tf, outs, heads, ys);
        },
        variables.filter((v) => v.trainable),
      );
      try {
        if (!kept.finite?.dataSync()[0]) return { loss: Number.NaN, predicted: undefined };
        optimizer.applyGradients(grads);
        average?.update();
        return { loss: value.dataSync()[0] as number, predicted: undefined };
      } finally {
        kept.finite?.dispose();
      }
    });
  const step = (batch: StepBatch, random: () => number): StepResult =>
    targets ? outputsStep(batch, random, targets) : classStep(batch, random);
  const classStep = (batch: StepBatch, random: () => number): StepResult =>
    tf.tidy(() => {
      const yIdx = tf.tensor1d(batch.labels, 'int32');
      // Mixing augmentations (mixup, cutmix) turn the one-hot labels into soft ones.
      const { x, y } = mixBatch(
        tf,
        source(batch.images, random) as Tensor4D,
        tf.oneHot(yIdx, k).toFloat() as Tensor2D,
        exp.data.augmentation,
        random,
      );
      const w = classWeights ? tf.gather(tf.tensor1d(classWeights), yIdx) : undefined;
      // Kept to leave the gradient scope, so disposed here (tidy leaves kept tensors alone).
      const kept: { predictions?: Tensor; finite?: Tensor } = {};
      const { value, grads } = tf.variableGrads(
        () => {
          const out = model.apply(x, { training: true }) as Tensor;
          kept.predictions = tf.keep(out.argMax(-1));
          // Losses clip probabilities, which can hide NaN outputs: check them directly.
          kept.finite = tf.keep(out.isFinite().all());
          return lossFn(y, out, w) as Scalar;
        },
        variables.filter((v) => v.trainable),
      );
      try {
        if (!kept.finite?.dataSync()[0]) return { loss: Number.NaN, predicted: undefined };
        optimizer.applyGradients(grads);
        average?.update();
        return { loss: value.dataSync()[0] as number, predicted: kept.predictions?.dataSync() as Int32Array };
      } finally {
        tf.dispose([kept.finite, kept.predictions].filter((t): t is Tensor => t !== undefined));
      }
    });
  return {
    kind: 'eager',
    async *steps(plan) {
      // tfjs draws dropout masks from Math.random: seeded per epoch, and only while a step runs.
      const masks = rng(exp.seed * 15485863 + plan.epoch);
      for (const batch of plan.batches) {
        const mathRandom = Math.random;
        Math.random = masks;
        let result: StepResult;
        try {
          result = step(batch, plan.random);
        } finally {
          Math.random = mathRandom;
        }
        yield result;
      }
    },
    async sync() {},
  };
}
