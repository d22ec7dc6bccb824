// The layer registry: one entry per layer type. The entry's key is the YAML
// `type` and the tf.layers factory name; its params (snake_case, as Keras and a
// saved model.json spell them) give the JSON Schema, the defaults and the docs;
// className is the class name the layer has in model.json.
import type { Params } from './params.ts';

/** What a layer needs from its input: an image batch [n, h, w, c], a flat batch [n, features], or anything. */
export type InputKind = 'image' | 'flat' | 'any';

export interface LayerType {
  doc: string;
  className: string;
  input: InputKind;
  params: Params;
  /** Takes two or more inputs: `equal` shapes, or equal but for the `axis` param. */
  merge?: 'equal' | 'axis';
}

/** Keys every layer may carry besides its params: they place it in the layer graph. */
export const LAYER_GRAPH_KEYS = {
  name: {
    type: 'string',
    // `/` separates the scopes of layers that come from blocks (`stage2/1/add`).
    pattern: '^[A-Za-z][A-Za-z0-9_]*(/[A-Za-z0-9_]+)*$',
    description:
      "the layer's name in the graph and in the saved model.json (default: <type>_<position>; `input` is reserved for the model's input)",
  },
  inputs: {
    type: 'array',
    minItems: 1,
    items: { type: 'string' },
    description:
      "the names of the layers it reads, `input` for the model's input (default: the layer listed before it)",
  },
} as const;

/** The name `inputs` use for the model's input image. */
export const MODEL_INPUT = 'input';

/** The name a layer has in the graph and in model.json: its own, or `<type>_<position>` (position from 1). */
export function layerName(spec: { type?: unknown; name?: unknown }, index: number): string {
  return typeof spec.name === 'string' ? spec.name : `${spec.type}_${index + 1}`;
}

export const ACTIVATIONS = [
  'linear',
  'relu',
  'relu6',
  'elu',
  'selu',
  'sigmoid',
  'hard_sigmoid',
  'softmax',
  'softplus',
  'softsign',
  'tanh',
  'swish',
  'mish',
] as const;

export const INITIALIZERS = [
  'glorot_uniform',
  'glorot_normal',
  'he_uniform',
  'he_normal',
  'lecun_uniform',
  'lecun_normal',
  'truncated_normal',
  'orthogonal',
  'zeros',
  'ones',
] as const;

const activation = (d = 'linear') =>
  ({ type: 'enum', values: ACTIVATIONS, default: d, doc: 'activation applied to the output' }) as const;
const initializer = (d: string, what: string) =>
  ({ type: 'enum', values: INITIALIZERS, default: d, doc: `initializer of the ${what}` }) as const;
const padding = {
  type: 'enum',
  values: ['valid', 'same'],
  default: 'valid',
  doc: 'valid: no padding; same: pad so that output size = input size / stride',
} as const;
const strides = {
  type: 'pair',
  minimum: 1,
  default: 1,
  doc: 'step of the window, an integer or [height, width]',
} as const;
const kernelSize = {
  type: 'pair',
  minimum: 1,
  required: true,
  doc: 'window size, an integer or [height, width]',
} as const;
const dilation = {
  type: 'pair',
  minimum: 1,
  default: 1,
  doc: 'dilation of the window, an integer or [height, width]',
} as const;
const useBias = { type: 'boolean', default: true, doc: 'add a learned bias' } as const;
const depthMultiplier = {
  type: 'integer',
  minimum: 1,
  default: 1,
  doc: 'output channels per input channel of the depthwise step',
} as const;
const rate = {
  type: 'number',
  minimum: 0,
  maximum: 0.99,
  required: true,
  doc: 'fraction of inputs dropped while training',
} as const;
const poolSize = { type: 'pair', minimum: 1, default: 2, doc: 'window size, an integer or [height, width]' } as const;
const poolStrides = { type: 'pair', minimum: 1, doc: 'step of the window (default: the pool size)' } as const;
const epsilon = {
  type: 'number',
  exclusiveMinimum: 0,
  default: 0.001,
  doc: 'added to the variance to avoid dividing by zero',
} as const;
const center = { type: 'boolean', default: true, doc: 'learn an offset (beta)' } as const;
const scale = { type: 'boolean', default: true, doc: 'learn a scale (gamma)' } as const;

const convParams = {
  kernel_size: kernelSize,
  strides,
  padding,
  dilation_rate: dilation,
  activation: activation(),
  use_bias: useBias,
} as const;
const filters = {
  type: 'integer',
  minimum: 1,
  maximum: 65536,
  required: true,
  doc: 'number of output channels',
} as const;
const merge = (doc: string, className: string) =>
  ({ doc, className, input: 'any', merge: 'equal', params: {} }) as const;
const pooling = (doc: string, className: string) =>
  ({ doc, className, input: 'image', params: { pool_size: poolSize, strides: poolStrides, padding } }) as const;

export const LAYERS = {
  conv2d: {
    doc: '2D convolution over height and width',
    className: 'Conv2D',
    input: 'image',
    params: {
      filters,
      ...convParams,
      kernel_initializer: initializer('glorot_uniform', 'kernel'),
      bias_initializer: initializer('zeros', 'bias'),
    },
  },
  separableConv2d: {
    // No depth_multiplier: tfjs does not save it in model.json, so a reloaded model would differ.
    doc: 'depthwise convolution followed by a 1x1 pointwise convolution',
    className: 'SeparableConv2D',
    input: 'image',
    params: {
      filters,
      ...convParams,
      depthwise_initializer: initializer('glorot_uniform', 'depthwise kernel'),
      pointwise_initializer: initializer('glorot_uniform', 'pointwise kernel'),
      bias_initializer: initializer('zeros', 'bias'),
    },
  },
  depthwiseConv2d: {
    doc: 'one convolution per input channel',
    className: 'DepthwiseConv2D',
    input: 'image',
    params: {
      ...convParams,
      depth_multiplier: depthMultiplier,
      depthwise_initializer: initializer('glorot_uniform', 'depthwise kernel'),
      bias_initializer: initializer('zeros', 'bias'),
    },
  },
  maxPooling2d: pooling('maximum over each window', 'MaxPooling2D'),
  averagePooling2d: pooling('average over each window', 'AveragePooling2D'),
  globalAveragePooling2d: {
    doc: 'average over height and width: [n, h, w, c] -> [n, c]',
    className: 'GlobalAveragePooling2D',
    input: 'image',
    params: {},
  },
  globalMaxPooling2d: {
    doc: 'maximum over height and width: [n, h, w, c] -> [n, c]',
    className: 'GlobalMaxPooling2D',
    input: 'image',
    params: {},
  },
  batchNormalization: {
    doc: 'normalizes each channel over the batch',
    className: 'BatchNormalization',
    input: 'any',
    params: {
      momentum: {
        type: 'number',
        minimum: 0,
        maximum: 1,
        default: 0.99,
        doc: 'momentum of the moving mean and variance',
      },
      epsilon,
      center,
      scale,
    },
  },
  layerNormalization: {
    doc: 'normalizes each example over its last axis',
    className: 'LayerNormalization',
    input: 'any',
    params: { epsilon, center, scale },
  },
  dropout: {
    doc: 'drops a random fraction of inputs while training',
    className: 'Dropout',
    input: 'any',
    params: { rate },
  },
  spatialDropout2d: {
    doc: 'drops whole channels of an image batch while training (saved as Dropout with noise_shape [null, 1, 1, null])',
    className: 'Dropout',
    input: 'image',
    params: { rate },
  },
  flatten: {
    doc: 'flattens each example to one axis: [n, h, w, c] -> [n, h*w*c]',
    className: 'Flatten',
    input: 'any',
    params: {},
  },
  dense: {
    doc: 'fully connected layer',
    className: 'Dense',
    input: 'flat',
    params: {
      units: { type: 'integer', minimum: 1, maximum: 1048576, required: true, doc: 'number of outputs' },
      activation: activation(),
      use_bias: useBias,
      kernel_initializer: initializer('glorot_uniform', 'kernel'),
      bias_initializer: initializer('zeros', 'bias'),
    },
  },
  activation: {
    doc: 'applies an activation function',
    className: 'Activation',
    input: 'any',
    params: { activation: { ...activation(), required: true, default: undefined } },
  },
  zeroPadding2d: {
    doc: 'pads height and width with zeros',
    className: 'ZeroPadding2D',
    input: 'image',
    params: {
      padding: {
        type: 'pair',
        minimum: 0,
        default: 1,
        doc: 'rows and columns added on each side, an integer or [height, width]',
      },
    },
  },
  add: merge('adds its inputs element by element (a residual connection)', 'Add'),
  multiply: merge('multiplies its inputs element by element (a gate)', 'Multiply'),
  average: merge('averages its inputs element by element', 'Average'),
  concatenate: {
    doc: 'joins its inputs along one axis (by default the channels)',
    className: 'Concatenate',
    input: 'any',
    merge: 'axis',
    params: {
      axis: { type: 'integer', minimum: -1, default: -1, doc: 'axis to join along; -1 is the last (channels)' },
    },
  },
  reshape: {
    doc: 'reshapes each example (the batch axis is kept)',
    className: 'Reshape',
    input: 'any',
    params: {
      target_shape: { type: 'shape', required: true, doc: 'the new shape of one example; one entry may be -1' },
    },
  },
} as const satisfies Record<string, LayerType>;

export type LayerTypeName = keyof typeof LAYERS;
