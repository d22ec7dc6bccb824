// One YAML layer spec -> one tf.layers layer: snake_case params to the tfjs
// config, seeded initializers, the spec's name or a stable default.
import type { layers as tfLayers } from '@tensorflow/tfjs-node';
import type { Tf } from '../platform/tensorflow.ts';
import type { RegistryChoice } from '../spec/experiment.ts';
import { LAYER_GRAPH_KEYS, layerName } from '../spec/layers.ts';
import { camelCase } from '../spec/params.ts';
import { spatialDropout2d } from './spatial-dropout.ts';

const INITIALIZER_KEYS = ['kernel_initializer', 'bias_initializer', 'depthwise_initializer', 'pointwise_initializer'];

/** The tfjs layer config for one YAML layer; `index` is its position in model.layers, which seeds its initializers. */
function layerConfig(tf: Tf, spec: RegistryChoice, index: number, seed: number): Record<string, unknown> {
  const config: Record<string, unknown> = { name: layerName(spec, index) };
  for (const [key, value] of Object.entries(spec)) {
    if (key === 'type' || key in LAYER_GRAPH_KEYS || value === undefined) continue;
    if (INITIALIZER_KEYS.includes(key)) {
      const name = camelCase(String(value)).replace(/^lecun/, 'leCun');
      // biome-ignore lint/suspicious/noExplicitAny: initializer factories are looked up by name
      const make = (tf.initializers as any)[name];
      config[camelCase(key)] = ['zeros', 'ones'].includes(name)
        ? make()
        : make({ seed: seed + index * 7 + INITIALIZER_KEYS.indexOf(key) });
    } else if (key === 'activation') {
      config.activation = camelCase(String(value));
    } else {
      config[camelCase(key)] = value;
    }
  }
  return config;
}

export function createLayer(tf: Tf, spec: RegistryChoice, index: number, seed: number): tfLayers.Layer {
  const config = layerConfig(tf, spec, index, seed);
  if (spec.type === 'spatialDropout2d') return spatialDropout2d(tf, config as { rate: number; name: string });
  // biome-ignore lint/suspicious/noExplicitAny: every registry key is a tf.layers factory name
  return (tf.layers as any)[spec.type](config) as tfLayers.Layer;
}
