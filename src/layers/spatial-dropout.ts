// SpatialDropout2D, which tf.layers lacks, as what it is: Dropout with the noise
// shape [batch, 1, 1, channels] (null takes the input's size). Saved as a
// standard `Dropout` with `noise_shape`, so stock TF.js and Keras load it.
import type { layers as tfLayers } from '@tensorflow/tfjs-node';
import type { Tf } from '../platform/tensorflow.ts';

const NOISE_SHAPE = [null, 1, 1, null] as unknown as number[];

let registered = false;

/**
 * Models saved before the layer was a Dropout name the class SpatialDropout2D:
 * they load as a Dropout with the spatial noise shape (and save as one again).
 */
export function registerCustomLayers(tf: Tf): void {
  if (registered) return;
  // biome-ignore lint/suspicious/noExplicitAny: Dropout's class is reached through an instance
  const Dropout = (tf.layers.dropout({ rate: 0.5 }) as any).constructor as new (c: object) => tfLayers.Layer;
  class SavedSpatialDropout2D extends Dropout {
    static className = 'SpatialDropout2D';
    constructor(config: { rate: number; name?: string }) {
      super({ ...config, noiseShape: NOISE_SHAPE });
    }
    override getClassName(): string {
      return 'Dropout';
    }
  }
  // biome-ignore lint/suspicious/noExplicitAny: registerClass wants tfjs' Serializable constructor type
  tf.serialization.registerClass(SavedSpatialDropout2D as any);
  registered = true;
}

export function spatialDropout2d(tf: Tf, config: { rate: number; name?: string }): tfLayers.Layer {
  return tf.layers.dropout({ ...config, noiseShape: NOISE_SHAPE });
}
