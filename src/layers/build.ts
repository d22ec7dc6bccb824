// Compiles the layer stack of an experiment into a tf.LayersModel, checking
// shapes layer by layer so that a mistake names the layer and what would fix it.
import type { LayersModel, layers as tfLayers } from '@tensorflow/tfjs-node';
import type { Tf } from '../backend/tensorflow.ts';
import type { RegistryChoice } from '../config/experiment.ts';
import { camelCase } from './params.ts';
import { LAYERS, type LayerTypeName } from './registry.ts';
import { spatialDropout2d } from './spatial-dropout.ts';

export class LayerError extends Error {
  override name = 'LayerError';
  /** index: 0-based position in model.layers, or -1 for the model as a whole. */
  constructor(
    readonly index: number,
    message: string,
  ) {
    super(message);
  }
}

export interface BuildOptions {
  /** [height, width, channels] of one input image. */
  inputShape: [number, number, number];
  seed: number;
  /** When known, the last layer must output one value per class. */
  numClasses?: number;
  /** The loss type, to check the output activation it needs. */
  loss?: string;
}

const INITIALIZER_KEYS = ['kernel_initializer', 'bias_initializer', 'depthwise_initializer', 'pointwise_initializer'];

function shapeText(shape: (number | null)[]): string {
  return `[${shape.map((d) => d ?? 'batch').join(', ')}]`;
}

/** The tfjs layer config for one YAML layer: camelCase keys, seeded initializers, a stable name. */
function layerConfig(tf: Tf, spec: RegistryChoice, index: number, seed: number): Record<string, unknown> {
  const config: Record<string, unknown> = { name: `${spec.type}_${index + 1}` };
  for (const [key, value] of Object.entries(spec)) {
    if (key === 'type' || value === undefined) continue;
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

export function createLayer(
  tf: Tf,
  spec: RegistryChoice,
  index: number,
  seed: number,
  extra: Record<string, unknown> = {},
): tfLayers.Layer {
  const config = { ...layerConfig(tf, spec, index, seed), ...extra };
  if (spec.type === 'spatialDropout2d') return spatialDropout2d(tf, config as { rate: number; name: string });
  // biome-ignore lint/suspicious/noExplicitAny: every registry key is a tf.layers factory name
  return (tf.layers as any)[spec.type](config) as tfLayers.Layer;
}

function checkInput(index: number, type: LayerTypeName, shape: (number | null)[]): void {
  const want = LAYERS[type].input;
  const at = `layer ${index + 1} ${type}`;
  if (want === 'flat' && shape.length !== 2) {
    throw new LayerError(
      index,
      `${at}: got a rank-${shape.length} input ${shapeText(shape)}, add a flatten (or globalAveragePooling2d) layer before it`,
    );
  }
  if (want === 'image' && shape.length !== 4) {
    throw new LayerError(
      index,
      `${at}: needs an image input [batch, height, width, channels] but got ${shapeText(shape)}; move it before the flatten/dense layers`,
    );
  }
}

function emptyOutput(index: number, type: string, input: (number | null)[]): LayerError {
  return new LayerError(
    index,
    `layer ${index + 1} ${type}: its window does not fit the ${input.slice(1, 3).join('x')} input ${shapeText(input)}, so the output would be empty; use padding: same, a smaller kernel or stride, or fewer pooling layers before it`,
  );
}

export function buildModel(tf: Tf, layers: RegistryChoice[], options: BuildOptions): LayersModel {
  const model = tf.sequential({ name: 'model' });
  let shape: (number | null)[] = [null, ...options.inputShape];
  layers.forEach((spec, index) => {
    const type = spec.type as LayerTypeName;
    checkInput(index, type, shape);
    // The first layer carries the input shape.
    const layer = createLayer(tf, spec, index, options.seed, index === 0 ? { batchInputShape: shape } : {});
    try {
      model.add(layer);
    } catch (err) {
      const msg = err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err);
      if (/negative dimension/i.test(msg)) throw emptyOutput(index, type, shape);
      throw new LayerError(
        index,
        `layer ${index + 1} ${type}: cannot take an input of shape ${shapeText(shape)}: ${msg}`,
      );
    }
    const out = layer.outputShape as (number | null)[];
    if (out.slice(1).some((d) => d !== null && d <= 0)) throw emptyOutput(index, type, shape);
    shape = out;
  });
  const last = layers.length - 1;
  if (shape.length !== 2) {
    throw new LayerError(
      last,
      `the model must end with one value per class, but the last layer gives ${shapeText(shape)}; end with flatten and dense`,
    );
  }
  if (options.numClasses !== undefined && shape[1] !== options.numClasses) {
    throw new LayerError(
      last,
      `the last layer gives ${shape[1]} outputs but the data has ${options.numClasses} classes; end with dense units: ${options.numClasses}`,
    );
  }
  const lastActivation = layers[last]?.activation;
  if (options.loss === 'categorical_crossentropy' && lastActivation !== 'softmax') {
    throw new LayerError(
      last,
      `categorical_crossentropy needs class probabilities: give the last layer activation: softmax (it has ${lastActivation ?? 'none'})`,
    );
  }
  return model;
}
