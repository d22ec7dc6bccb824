// SpatialDropout2D, which tf.layers lacks: dropout that drops whole channels,
// i.e. Dropout with noise shape [batch, 1, 1, channels]. Registered for
// serialization so a saved model.json names it and loads back.
import type { layers as tfLayers } from '@tensorflow/tfjs-node';
import type { Tf } from '../platform/tensorflow.ts';

let SpatialDropout2D: (new (config: { rate: number; name?: string }) => tfLayers.Layer) | undefined;

function defineClass(tf: Tf) {
  // biome-ignore lint/suspicious/noExplicitAny: Dropout's class is reached through an instance
  const Dropout = (tf.layers.dropout({ rate: 0.5 }) as any).constructor as new (c: object) => tfLayers.Layer;
  class Spatial extends Dropout {
    static className = 'SpatialDropout2D';
    constructor(config: { rate: number; name?: string }) {
      super({ ...config, noiseShape: null });
    }
    // biome-ignore lint/suspicious/noExplicitAny: overrides Dropout's untyped hook
    getNoiseShape(input: any): number[] {
      const s = input.shape as number[];
      return [s[0] as number, 1, 1, s[3] as number];
    }
    override getConfig() {
      // biome-ignore lint/suspicious/noExplicitAny: the base config is a plain object
      const { noiseShape: _, ...rest } = super.getConfig() as any;
      return rest;
    }
  }
  // biome-ignore lint/suspicious/noExplicitAny: registerClass wants tfjs' Serializable constructor type
  tf.serialization.registerClass(Spatial as any);
  return Spatial;
}

/** Registers run-exp's own layer classes, so that saved models that use them load. */
export function registerCustomLayers(tf: Tf): void {
  SpatialDropout2D ??= defineClass(tf);
}

export function spatialDropout2d(tf: Tf, config: { rate: number; name?: string }): tfLayers.Layer {
  registerCustomLayers(tf);
  return new (SpatialDropout2D as NonNullable<typeof SpatialDropout2D>)(config);
}
