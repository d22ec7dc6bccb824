// The loss registry's factory: a loss entry -> (labels, predictions) => mean loss.
// Labels are one-hot; predictions are the model's outputs (probabilities).
import type { Scalar, Tensor } from '@tensorflow/tfjs-node';
import type { Tf } from '../platform/tensorflow.ts';
import type { RegistryChoice } from '../spec/experiment.ts';

/** Mean loss over the batch; with `weights` (one per example), the mean of each example's loss times its weight. */
export type LossFn = (labels: Tensor, predictions: Tensor, weights?: Tensor) => Scalar;

const EPS = 1e-7;

/**
 * Each example's loss: its (smoothed) targets against its clipped
 * probabilities, summed over classes for categorical cross-entropy and
 * averaged over them for the others.
 */
function perExample(tf: Tf, choice: RegistryChoice): ((y: Tensor, p: Tensor) => Tensor) & { perClass: boolean } {
  const smoothing = typeof choice.label_smoothing === 'number' ? choice.label_smoothing : 0;
  const perClass = (f: (y: Tensor, p: Tensor) => Tensor) => Object.assign(f, { perClass: true });
  switch (choice.type) {
    case 'categorical_crossentropy':
      return Object.assign(
        (y: Tensor, p: Tensor) => {
          const k = y.shape.at(-1) as number;
          const target = smoothing > 0 ? y.mul(1 - smoothing).add(smoothing / k) : y;
          return target
            .mul(p.clipByValue(EPS, 1 - EPS).log())
            .sum(-1)
            .neg();
        },
        { perClass: false },
      );
    case 'binary_crossentropy':
      return perClass((y, p) => {
        const target = smoothing > 0 ? y.mul(1 - smoothing).add(smoothing / 2) : y;
        const q = p.clipByValue(EPS, 1 - EPS);
        return target
          .mul(q.log())
          .add(tf.scalar(1).sub(target).mul(tf.scalar(1).sub(q).log()))
          .neg();
      });
    case 'mean_squared_error':
      return perClass((y, p) => y.sub(p).square());
    case 'hinge':
      return perClass((y, p) => tf.relu(tf.scalar(1).sub(y.mul(2).sub(1).mul(p))));
    default:
      throw new Error(`no loss factory for type '${choice.type}'`);
  }
}

export function makeLoss(tf: Tf, choice: RegistryChoice): LossFn {
  const loss = perExample(tf, choice);
  return (y, p, weights) =>
    tf.tidy(() => {
      const l = loss(y, p);
      if (!weights) return l.mean() as Scalar;
      // As Keras weighs by class_weight: each example's loss times its weight, over the batch size.
      return (loss.perClass ? l.mean(-1) : l).mul(weights).mean() as Scalar;
    });
}
