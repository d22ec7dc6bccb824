// Each output's loss on a batch, masked: an example without the output's
// label adds nothing, and the mean is over the examples that have it (each
// times its class's or band's weight, as Keras' class_weight: weights do not
// rescale the denominator). Class outputs reuse the loss registry's
// cross-entropies; a number output's loss is on the standardized target.
import type { Scalar, Tensor } from '@tensorflow/tfjs-node';
import { exampleWeights, gatherRows, type OutputTargets } from '../data/targets.ts';
import type { Tf } from '../platform/tensorflow.ts';
import { BIN_SPAN, binCenters } from '../spec/outputs.ts';
import { exampleLoss } from './losses.ts';

/** An output's targets for one batch: `values` [n, width], `weight` [n]: 0 without the label, else the example's loss weight. */
export interface BatchTargets {
  values: Tensor;
  weight: Tensor;
}

/** The rows `rows` of `t` as a batch's tensors. */
export function batchTargets(tf: Tf, t: OutputTargets, rows: ArrayLike<number>): BatchTargets {
  return {
    values: tf.tensor2d(gatherRows(t, rows).values, [rows.length, t.width]),
    weight: tf.tensor1d(exampleWeights(t, rows)),
  };
}

/** Each example's loss for output `t` from its predictions `p` ([n, units]). */
function perExample(tf: Tf, t: OutputTargets, p: Tensor, y: BatchTargets): Tensor {
  const spec = t.spec;
  switch (spec.type) {
    case 'category':
      return exampleLoss(
        tf,
        'categorical_crossentropy',
        tf.oneHot(y.values.reshape([-1]).toInt(), t.names.length).toFloat(),
        p,
        spec.label_smoothing,
      );
    case 'binary':
      return exampleLoss(tf, 'binary_crossentropy', y.values, p, spec.label_smoothing);
    case 'set':
      return exampleLoss(tf, 'binary_crossentropy', y.values, p, 0);
    case 'number': {
      const { mean, std } = t.scale ?? { mean: 0, std: 1 };
      const learned = spec.transform === 'log' ? y.values.log1p() : y.values;
      const z = learned.sub(mean).div(std);
      // A binned output's first unit is the bins' expectation: the point loss is on it.
      const e = p.slice([0, 0], [-1, 1]).sub(z).reshape([-1]);
      const point = pointLoss(e, spec.loss, spec.huber_delta);
      if (!spec.bins) return point;
      const probs = p.slice([0, 1], [-1, spec.bins]);
      return point.add(binCrossEntropy(tf, z, probs, spec.bins, spec.bin_sigma));
    }
  }
}

/** A number output's loss per example from its errors `e` (standardized). */
function pointLoss(e: Tensor, loss: 'huber' | 'mse' | 'mae', d: number): Tensor {
  if (loss === 'mse') return e.square();
  if (loss === 'mae') return e.abs();
  // Huber as 0.5 q^2 + d (|e| - q) with q = min(|e|, d): the same values, and a gradient everywhere (a where on |e| <= d has none in tfjs).
  const a = e.abs();
  const q = a.minimum(d);
  return q.square().mul(0.5).add(a.sub(q).mul(d));
}

/**
 * The cross-entropy of a binned number output's probabilities against a
 * Gaussian of width `sigma` around each standardized target `z` ([n, 1]),
 * clipped to the bins' span and normalized over the bins (DLDL's label
 * distribution; its KL divergence differs from this by a constant).
 */
function binCrossEntropy(tf: Tf, z: Tensor, probs: Tensor, bins: number, sigma: number): Tensor {
  const centers = tf.tensor2d(binCenters(bins), [1, bins]);
  const near = centers.sub(z.clipByValue(-BIN_SPAN, BIN_SPAN)).div(sigma).square().mul(-0.5).exp();
  const q = near.div(near.sum(1, true));
  return q.mul(probs.clipByValue(1e-7, 1).log()).sum(1).neg();
}

/** The output's loss over the examples that have its label (0 when none has). */
export function outputLoss(tf: Tf, t: OutputTargets, p: Tensor, y: BatchTargets): Scalar {
  return tf.tidy(() => perExample(tf, t, p, y).mul(y.weight).sum().div(y.weight.sign().sum().maximum(1)) as Scalar);
}

/** The loss the model minimizes: each output's times its loss_weight, summed. */
export function totalLoss(tf: Tf, targets: OutputTargets[], outputs: Tensor[], batch: BatchTargets[]): Scalar {
  return tf.tidy(
    () =>
      targets.reduce(
        (sum, t, o) =>
          sum.add(outputLoss(tf, t, outputs[o] as Tensor, batch[o] as BatchTargets).mul(t.spec.loss_weight)),
        tf.scalar(0),
      ) as Scalar,
  );
}
