// A model's class probabilities for a batch, with test_time_flip or without:
// the one place training's scores, evaluate and predict compute them.
import type { LayersModel, Tensor } from '@tensorflow/tfjs-node';
import type { Tf } from '../platform/tensorflow.ts';

/** With `mirror` (the batch's mirror images), the mean of the probabilities on both. */
export function predictProbs(tf: Tf, model: LayersModel, x: Tensor, mirror?: () => Tensor): Tensor {
  return tf.tidy(() => {
    const p = model.predict(x) as Tensor;
    return mirror ? p.add(model.predict(mirror()) as Tensor).div(2) : p;
  });
}

/** The mirror image of a batch of images [n, height, width, channels]. */
export const mirrorImages = (tf: Tf, x: Tensor) => () => tf.reverse(x, 2);
