// The loss registry's factory: a loss entry -> (labels, predictions) => mean loss.
// Labels are one-hot; predictions are the model's outputs (probabilities).
import type { Scalar, Tensor } from '@tensorflow/tfjs-node';
import type { Tf } from '../backend/tensorflow.ts';
import type { RegistryChoice } from '../config/experiment.ts';

/** Mean loss over the batch; with `weights` (one per example), the weighted mean. */
export type LossFn = (labels: Tensor, predictions: Tensor, weights?: Tensor) => Scalar;

const EPS = 1e-7;

export function makeLoss(tf: Tf, choice: RegistryChoice): LossFn {
  const smoothing = typeof choice.label_smoothing === 'number' ? choice.label_smoothing : 0;
  switch (choice.type) {
    case 'categorical_crossentropy':
      return (y, p) =>
        tf.tidy(() => {
          const k = y.shape.at(-1) as number;
          const target = smoothing > 0 ? y.mul(1 - smoothing).add(smoothing / k) : y;
          return target
            .mul(p.clipByValue(EPS, 1 - EPS).log())
            .sum(-1)
            .neg()
            .mean() as Scalar;
        });
    case 'binary_crossentropy':
      return (y, p) =>
        tf.tidy(() => {
          const target = smoothing > 0 ? y.mul(1 - smoothing).add(smoothing / 2) : y;
          const q = p.clipByValue(EPS, 1 - EPS);
          return target
            .mul(q.log())
            .add(tf.scalar(1).sub(target).mul(tf.scalar(1).sub(q).log()))
            .neg()
            .mean() as Scalar;
        });
    case 'mean_squared_error':
      return (y, p) => tf.tidy(() => y.sub(p).square().mean() as Scalar);
    case 'hinge':
      return (y, p) => tf.tidy(() => tf.relu(tf.scalar(1).sub(y.mul(2).sub(1).mul(p))).mean() as Scalar);
    default:
      throw new Error(`no loss factory for type '${choice.type}'`);
  }
}
