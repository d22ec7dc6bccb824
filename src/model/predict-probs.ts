// A model's class probabilities for a batch, with test_time_flip or without:
// the one place training's scores, evaluate and predict compute them.
import type { Tensor } from '@tensorflow/tfjs-node';
import type { Tf } from '../platform/tensorflow.ts';

/** What scoring asks of a model: its output(s) for a batch. A tfjs LayersModel, or a scoring session. */
export interface Predicts {
  predict(x: Tensor): Tensor | Tensor[];
}

/** With `mirror` (the batch's mirror images), the mean of the probabilities on both. */
export function predictProbs(tf: Tf, model: Predicts, x: Tensor, mirror?: () => Tensor): Tensor {
  return predictOutputs(tf, model, x, mirror)[0] as Tensor;
}

/** Every output of the model for a batch (one for a class model); with `mirror`, each the mean over both. */
export function predictOutputs(tf: Tf, model: Predicts, x: Tensor, mirror?: () => Tensor): Tensor[] {
  return tf.tidy(() => {
    const list = (y: Tensor | Tensor[]) => (Array.isArray(y) ? y : [y]);
    const p = list(model.predict(x) as Tensor | Tensor[]);
    if (!mirror) return p;
    const m = list(model.predict(mirror()) as Tensor | Tensor[]);
    return p.map((t, o) => t.add(m[o] as Tensor).div(2));
  });
}

/** The mirror image of a batch of images [n, height, width, channels]. */
export const mirrorImages = (tf: Tf, x: Tensor) => () => tf.reverse(x, 2);
