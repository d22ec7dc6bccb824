// Each tfjs layer class as TensorFlow graph operations: the forward pass of
// the graph engine, and of the frozen part of a model whose features are
// cached, built from the compiled LayersModel (its configs and weights), so the
// graph computes exactly what model.apply does. A class without an emitter
// keeps the run on the eager engine. Layers compute in float32, or in bfloat16
// (training.precision: bf16) with float32 weights cast at each read; the
// normalization layers and the model's output layer stay float32, as Keras'
// mixed precision keeps them.
import type { LayersModel, LayerVariable } from '@tensorflow/tfjs-node';
import { type Attr, DT, type Output, type TfGraph } from '../platform/tf-graph.ts';
import type { ACTIVATIONS } from '../spec/layers.ts';

const f32: Attr = { kind: 'type', value: DT.float32 };
const i32: Attr = { kind: 'type', value: DT.int32 };
const str = (value: string): Attr => ({ kind: 'string', value });
const ints = (value: number[]): Attr => ({ kind: 'ints', value });

/** What an emitter gets: the graph, the layer's config, its inputs, its weights' reads, the step's state. */
export interface EmitContext {
  g: TfGraph;
  config: Record<string, unknown>;
  inputs: Output[];
  /** The layer's weights (by their short name: kernel, bias, gamma, ...) as read in the graph. */
  weights: Record<string, Output>;
  /** The input's static shape (batch axis -1). */
  inputShapes: number[][];
  /** True in the training graph: dropout drops, batch norm uses the batch's statistics. */
  training: boolean;
  /** A fresh per-step seed for stateless random ops ([2] int32). */
  seed: () => Output;
  /** Side effects the training step must run (batch norm's moving statistics), as op names. */
  updates: string[];
  /** The layer's weights as variable handles, for side effects that write them. */
  handles: Record<string, Output>;
  /** A constant; without a dtype, of the layer's compute type (T). */
  constant: (data: number[], shape: number[], dtype?: number) => Output;
  /** The type the layer computes in: float32, or bfloat16 in mixed precision. */
  T: Attr;
  /** The layer's weights as tfjs variables, by short name. */
  variables: Record<string, LayerVariable>;
  /** Where the training graph collects its convolutions, when its trainer may form their kernels' gradients. */
  convs?: ConvRecord[];
}

/** A convolution as the training graph computes it: what its kernel's gradient can be formed from. */
export interface ConvRecord {
  kernel: LayerVariable;
  /** Its input and its output before the bias, in the layer's compute type. */
  x: Output;
  y: Output;
  T: Attr;
  kernelSize: [number, number];
  strides: [number, number];
  padding: 'SAME' | 'VALID';
  /** The input's height and width. */
  inSize: [number, number];
}

type Emitter = (c: EmitContext) => Output;

const pair = (v: unknown): [number, number] =>
  Array.isArray(v) ? [v[0] as number, v[1] as number] : [v as number, v as number];

/** Each activation of the registry (spec/layers.ts ACTIVATIONS) as graph ops: one missing does not compile. */
const ACTIVATION_OPS: Record<
  (typeof ACTIVATIONS)[number],
  (x: Output, op: (type: string, ...inputs: Output[]) => Output, c: (v: number) => Output) => Output
> = {
  linear: (x) => x,
  relu: (x, op) => op('Relu', x),
  relu6: (x, op) => op('Relu6', x),
  elu: (x, op) => op('Elu', x),
  selu: (x, op) => op('Selu', x),
  sigmoid: (x, op) => op('Sigmoid', x),
  tanh: (x, op) => op('Tanh', x),
  softplus: (x, op) => op('Softplus', x),
  softsign: (x, op) => op('Softsign', x),
  softmax: (x, op) => op('Softmax', x),
  swish: (x, op) => op('Mul', x, op('Sigmoid', x)),
  // tfjs: clip(0.2 x + 0.5, 0, 1)
  hard_sigmoid: (x, op, c) => op('Minimum', op('Maximum', op('AddV2', op('Mul', x, c(0.2)), c(0.5)), c(0)), c(1)),
  mish: (x, op) => op('Mul', x, op('Tanh', op('Softplus', x))),
};

function activation(c: EmitContext, x: Output): Output {
  const emit = ACTIVATION_OPS[(c.config.activation ?? 'linear') as (typeof ACTIVATIONS)[number]];
  if (!emit) throw new UnsupportedInGraph(`activation ${String(c.config.activation)}`);
  return emit(
    x,
    (type, ...inputs) => c.g.op(type, inputs, { T: c.T }),
    (v) => c.constant([v], []),
  );
}

export class UnsupportedInGraph extends Error {
  override name = 'UnsupportedInGraph';
}

function biasAndActivation(c: EmitContext, x: Output): Output {
  const y = c.weights.bias ? c.g.op('BiasAdd', [x, c.weights.bias], { T: c.T }) : x;
  return activation(c, y);
}

const padding = (c: EmitContext) => str(String(c.config.padding ?? 'valid').toUpperCase());

function pool(type: 'MaxPool' | 'AvgPool'): Emitter {
  return (c) => {
    const [ph, pw] = pair(c.config.poolSize ?? 2);
    const [sh, sw] = pair(c.config.strides ?? c.config.poolSize ?? 2);
    return c.g.op(type, [c.inputs[0] as Output], {
      T: c.T,
      ksize: ints([1, ph, pw, 1]),
      strides: ints([1, sh, sw, 1]),
      padding: padding(c),
      data_format: str('NHWC'),
    });
  };
}

/**
 * Zeroes a fraction `rate` of `x` (one draw per element of the noise `shape`,
 * broadcast) and scales the rest by 1 / (1 - rate). Stateless and seeded per
 * step: the same seed drops the same units, so a resumed run repeats them.
 */
function dropWith(c: EmitContext, x: Output, shape: Output, rate: number): Output {
  const u = c.g.op('StatelessRandomUniform', [shape, c.seed()], { dtype: f32, T: i32, Tseed: i32 });
  // Drawn in float32 whatever the compute type: the same seed drops the same units in either precision.
  const keep = c.g.op('Cast', [c.g.op('GreaterEqual', [u, c.constant([rate], [], DT.float32)], { T: f32 })], {
    SrcT: { kind: 'type', value: DT.bool },
    DstT: c.T,
  });
  return c.g.op('Mul', [c.g.op('Mul', [x, keep], { T: c.T }), c.constant([1 / (1 - rate)], [])], { T: c.T });
}

function merge(type: 'AddV2' | 'Mul'): Emitter {
  return (c) => c.inputs.slice(1).reduce((acc, x) => c.g.op(type, [acc, x], { T: c.T }), c.inputs[0] as Output);
}

/** Mean and (biased) variance over `axes`, kept as dims: tf.moments. */
function moments(c: EmitContext, x: Output, axes: number[]): [Output, Output] {
  const ax = c.constant(axes, [axes.length], DT.int32);
  const keep: Record<string, Attr> = { T: c.T, Tidx: i32, keep_dims: { kind: 'bool', value: true } };
  const mean = c.g.op('Mean', [x, ax], keep);
  const variance = c.g.op('Mean', [c.g.op('SquaredDifference', [x, mean], { T: c.T }), ax], keep);
  return [mean, variance];
}

/** tf.batchNorm: (x - mean) / sqrt(variance + epsilon) * gamma + beta. */
function normalize(c: EmitContext, x: Output, mean: Output, variance: Output): Output {
  const g = c.g;
  const eps = c.constant([Number(c.config.epsilon ?? 1e-3)], []);
  let y = g.op(
    'Mul',
    [g.op('Sub', [x, mean], { T: c.T }), g.op('Rsqrt', [g.op('AddV2', [variance, eps], { T: c.T })], { T: c.T })],
    { T: c.T },
  );
  if (c.weights.gamma) y = g.op('Mul', [y, c.weights.gamma], { T: c.T });
  if (c.weights.beta) y = g.op('AddV2', [y, c.weights.beta], { T: c.T });
  return y;
}

function depthwise(c: EmitContext, x: Output): Output {
  const [sh, sw] = pair(c.config.strides ?? 1);
  const [dh, dw] = pair(c.config.dilationRate ?? 1);
  return c.g.op('DepthwiseConv2dNative', [x, c.weights.depthwise_kernel as Output], {
    T: c.T,
    strides: ints([1, sh, sw, 1]),
    padding: padding(c),
    data_format: str('NHWC'),
    dilations: ints([1, dh, dw, 1]),
  });
}

export const EMITTERS: Record<string, Emitter> = {
  InputLayer: (c) => c.inputs[0] as Output,
  Conv2D: (c) => {
    const [sh, sw] = pair(c.config.strides ?? 1);
    const [dh, dw] = pair(c.config.dilationRate ?? 1);
    const [kh, kw] = pair(c.config.kernelSize ?? 1);
    // A 1x1 filter with stride s reads every s-th pixel and needs no padding: slice them, convolve at
    // stride 1. The same values, and oneDNN's 1x1 strided backward-weights kernel (heap corruption,
    // as in eager; see backend/kernel-overrides.ts) never runs.
    const strided1x1 = kh === 1 && kw === 1 && (sh > 1 || sw > 1);
    const x = strided1x1
      ? c.g.op(
          'StridedSlice',
          [
            c.inputs[0] as Output,
            c.constant([0, 0, 0, 0], [4], DT.int32),
            c.constant([0, 0, 0, 0], [4], DT.int32),
            c.constant([1, sh, sw, 1], [4], DT.int32),
          ],
          { T: c.T, Index: i32, begin_mask: { kind: 'int', value: 15 }, end_mask: { kind: 'int', value: 15 } },
        )
      : (c.inputs[0] as Output);
    const y = c.g.op('Conv2D', [x, c.weights.kernel as Output], {
      T: c.T,
      strides: ints(strided1x1 ? [1, 1, 1, 1] : [1, sh, sw, 1]),
      padding: strided1x1 ? str('VALID') : padding(c),
      data_format: str('NHWC'),
      dilations: ints(strided1x1 ? [1, 1, 1, 1] : [1, dh, dw, 1]),
    });
    const [, h, w] = c.inputShapes[0] as number[];
    if (c.convs && !strided1x1 && dh === 1 && dw === 1 && (h as number) > 0 && (w as number) > 0)
      c.convs.push({
        kernel: c.variables.kernel as LayerVariable,
        x,
        y,
        T: c.T,
        kernelSize: [kh, kw],
        strides: [sh, sw],
        padding: padding(c).value === 'SAME' ? 'SAME' : 'VALID',
        inSize: [h as number, w as number],
      });
    return biasAndActivation(c, y);
  },
  Dense: (c) => {
    if ((c.inputShapes[0]?.length ?? 2) !== 2) throw new UnsupportedInGraph('dense on a non-flat input');
    return biasAndActivation(c, c.g.op('MatMul', [c.inputs[0] as Output, c.weights.kernel as Output], { T: c.T }));
  },
  MaxPooling2D: pool('MaxPool'),
  AveragePooling2D: pool('AvgPool'),
  GlobalAveragePooling2D: (c) =>
    c.g.op('Mean', [c.inputs[0] as Output, c.constant([1, 2], [2], DT.int32)], { T: c.T, Tidx: i32 }),
  GlobalMaxPooling2D: (c) =>
    c.g.op('Max', [c.inputs[0] as Output, c.constant([1, 2], [2], DT.int32)], { T: c.T, Tidx: i32 }),
  Flatten: (c) => {
    const features = (c.inputShapes[0] ?? []).slice(1).reduce((a, b) => a * b, 1);
    return c.g.op('Reshape', [c.inputs[0] as Output, c.constant([-1, features], [2], DT.int32)], {
      T: c.T,
      Tshape: i32,
    });
  },
  Activation: (c) => activation(c, c.inputs[0] as Output),
  Dropout: (c) => {
    const rate = Number(c.config.rate ?? 0);
    const x = c.inputs[0] as Output;
    if (!c.training || rate === 0) return x;
    const shape = c.g.op('Shape', [x], { T: c.T, out_type: i32 });
    const noise = c.config.noiseShape as (number | null)[] | null | undefined;
    if (!noise) return dropWith(c, x, shape, rate);
    // Keras's noise_shape: a null takes the input's size (spatial dropout: [null, 1, 1, null]).
    const keep = c.constant(
      noise.map((d) => (d == null ? 1 : 0)),
      [noise.length],
      DT.int32,
    );
    const fixed = c.constant(
      noise.map((d) => d ?? 0),
      [noise.length],
      DT.int32,
    );
    return dropWith(c, x, c.g.op('AddV2', [c.g.op('Mul', [shape, keep], { T: i32 }), fixed], { T: i32 }), rate);
  },
  Add: merge('AddV2'),
  Multiply: merge('Mul'),
  Average: (c) => c.g.op('Mul', [merge('AddV2')(c), c.constant([1 / c.inputs.length], [])], { T: c.T }),
  Concatenate: (c) => {
    const rank = c.inputShapes[0]?.length ?? 4;
    const axis = Number(c.config.axis ?? -1);
    return c.g.op('ConcatV2', [c.inputs, c.constant([axis < 0 ? rank + axis : axis], [], DT.int32)], {
      N: { kind: 'int', value: c.inputs.length },
      T: c.T,
      Tidx: i32,
    });
  },
  Reshape: (c) => {
    const target = (c.config.targetShape as (number | null)[]).map((d) => d ?? -1);
    return c.g.op('Reshape', [c.inputs[0] as Output, c.constant([-1, ...target], [target.length + 1], DT.int32)], {
      T: c.T,
      Tshape: i32,
    });
  },
  ZeroPadding2D: (c) => {
    const [[t, b], [l, r]] = c.config.padding as [[number, number], [number, number]];
    return c.g.op('Pad', [c.inputs[0] as Output, c.constant([0, 0, t, b, l, r, 0, 0], [4, 2], DT.int32)], {
      T: c.T,
      Tpaddings: i32,
    });
  },
  DepthwiseConv2D: (c) => biasAndActivation(c, depthwise(c, c.inputs[0] as Output)),
  SeparableConv2D: (c) => {
    const pointwise = c.g.op('Conv2D', [depthwise(c, c.inputs[0] as Output), c.weights.pointwise_kernel as Output], {
      T: c.T,
      strides: ints([1, 1, 1, 1]),
      padding: str('VALID'),
      data_format: str('NHWC'),
      dilations: ints([1, 1, 1, 1]),
    });
    return biasAndActivation(c, pointwise);
  },
  LayerNormalization: (c) => {
    const x = c.inputs[0] as Output;
    const [mean, variance] = moments(c, x, [(c.inputShapes[0]?.length ?? 2) - 1]);
    return normalize(c, x, mean, variance);
  },
  BatchNormalization: (c) => {
    const x = c.inputs[0] as Output;
    // Inference: the moving statistics, as tfjs' predict.
    if (!c.training) return normalize(c, x, c.weights.moving_mean as Output, c.weights.moving_variance as Output);
    const rank = c.inputShapes[0]?.length ?? 2;
    const [mean, variance] = moments(
      c,
      x,
      Array.from({ length: rank - 1 }, (_, i) => i),
    );
    // tfjs' moving averages: moving -= (moving - batch) * (1 - momentum), from the batch's biased variance.
    const decay = c.constant([1 - Number(c.config.momentum ?? 0.99)], []);
    const flat = (t: Output) => c.g.op('Reshape', [t, c.constant([-1], [1], DT.int32)], { T: c.T, Tshape: i32 });
    for (const [name, batch] of [
      ['moving_mean', mean],
      ['moving_variance', variance],
    ] as const) {
      const moving = c.weights[name] as Output;
      const delta = c.g.op('Mul', [c.g.op('Sub', [moving, flat(batch)], { T: c.T }), decay], { T: c.T });
      c.updates.push(c.g.op('AssignSubVariableOp', [c.handles[name] as Output, delta], { dtype: f32 })[0]);
    }
    return normalize(c, x, mean, variance);
  },
};

/** How a model's forward pass goes into a graph: everything EmitContext holds that is not per layer. */
export interface ForwardParts {
  g: TfGraph;
  /** The model's input (batch axis free) and its shape without the batch axis. */
  x: Output;
  inputShape: number[];
  training: boolean;
  /** A weight's read in the graph, and its handle where the graph may write it (a variable). */
  weight: (w: LayerVariable) => { read: Output; handle?: Output };
  seed: () => Output;
  updates: string[];
  /** A constant (float32 unless `dtype` says otherwise). */
  constant: (data: number[], shape: number[], dtype?: number) => Output;
  /** bfloat16: mixed precision (the layers between the input and the output layer compute in bfloat16). */
  compute?: 'float32' | 'bfloat16';
  /** Collects the convolutions (EmitContext.convs). */
  convs?: ConvRecord[];
}

/** Layers that compute in float32 in mixed precision too: their statistics need float32's range and precision. */
const FLOAT32_ALWAYS = new Set(['InputLayer', 'BatchNormalization', 'LayerNormalization']);

const typeAttr = (dtype: number): Attr => ({ kind: 'type', value: dtype });

/**
 * The layers feeding `layer` in `model`. A layer shared with another model (a
 * cached backbone's head is cut from the whole model, its frozen part too) has
 * one inbound node per model; tfjs marks this model's as `<layer>_ib-<index>`.
 */
function inboundOf(model: LayersModel, layer: LayersModel['layers'][number]) {
  const mine = (model as unknown as { containerNodes: Set<string> }).containerNodes;
  const index = layer.inboundNodes.findIndex((_, i) => mine.has(`${layer.name}_ib-${i}`));
  return layer.inboundNodes[Math.max(0, index)]?.inboundLayers ?? [];
}

/** The model's layers as graph operations, in the model's (topological) order; every output (several outputs: each head's unit layer), in order, in float32. */
export function emitOutputs(model: LayersModel, p: ForwardParts): Output[] {
  const outputs = new Map<string, { out: Output; dtype: number }>();
  const shapes = new Map<string, number[]>();
  const ends = model.outputLayers.length ? model.outputLayers : [model.layers.at(-1) as (typeof model.layers)[number]];
  const lasts = ends.map((l) => l.name);
  // In float32: the outputs, and the layers an output joins (a binned number's value and bins).
  const float32 = new Set(
    ends.flatMap((l) => [
      l.name,
      ...(l.getClassName() === 'Concatenate' ? inboundOf(model, l).map((i) => i.name) : []),
    ]),
  );
  const mixed = p.compute === 'bfloat16';
  const cast = (x: Output, from: number, to: number) =>
    from === to ? x : p.g.op('Cast', [x], { SrcT: typeAttr(from), DstT: typeAttr(to) });
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    const emit = EMITTERS[cls];
    if (!emit) throw new UnsupportedInGraph(`layer ${layer.name} (${cls})`);
    // The output layers in float32 too: their probabilities (or values) feed the loss.
    const dtype = mixed && !FLOAT32_ALWAYS.has(cls) && !float32.has(layer.name) ? DT.bfloat16 : DT.float32;
    const inbound = inboundOf(model, layer);
    // A Sequential model does not list its input layer: whatever is not a layer here is the input.
    const input = { out: p.x, dtype: DT.float32 };
    const inputs = (cls === 'InputLayer' ? [input] : inbound.map((l) => outputs.get(l.name) ?? input)).map((i) =>
      cast(i.out, i.dtype, dtype),
    );
    const inputShapes =
      cls === 'InputLayer' ? [[-1, ...p.inputShape]] : inbound.map((l) => shapes.get(l.name) ?? [-1, ...p.inputShape]);
    const weights: Record<string, Output> = {};
    const handles: Record<string, Output> = {};
    const variables: Record<string, LayerVariable> = {};
    for (const w of layer.weights) {
      const { read, handle } = p.weight(w);
      const short = w.originalName.split('/').at(-1) as string;
      variables[short] = w;
      // The variables stay float32 (the optimizer updates them there); each step reads a bfloat16 copy.
      weights[short] = cast(read, DT.float32, dtype);
      if (handle) handles[short] = handle;
    }
    const context: EmitContext = {
      g: p.g,
      config: layer.getConfig() as Record<string, unknown>,
      inputs,
      weights,
      inputShapes,
      training: p.training,
      updates: p.updates,
      handles,
      seed: p.seed,
      constant: (data, shape, type) =>
        type === undefined ? cast(p.constant(data, shape), DT.float32, dtype) : p.constant(data, shape, type),
      T: typeAttr(dtype),
      variables,
      ...(p.convs ? { convs: p.convs } : {}),
    };
    outputs.set(layer.name, { out: emit(context), dtype });
    shapes.set(
      layer.name,
      (layer.outputShape as number[]).map((d) => d ?? -1),
    );
  }
  return lasts.map((name) => {
    const out = outputs.get(name) as { out: Output; dtype: number };
    return cast(out.out, out.dtype, DT.float32);
  });
}
