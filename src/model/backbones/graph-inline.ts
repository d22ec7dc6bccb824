// A TF.js graph model's path to its feature node rebuilt as standard layers
// (convolutions, dense, pooling, activations, merges, padding, reshapes), each
// frozen and holding the graph's constants as its weights. The run's
// model.json then names no layer class of run-exp's own, so stock TF.js and
// the Keras converter load it. A graph with an op outside this table stays one
// frozen graph layer (graph-layer.ts), which only run-exp loads.
import type { LayersModel, NamedTensorMap, SymbolicTensor, Tensor } from '@tensorflow/tfjs-node';
import { type NodeAttr as Attr, attrText, fusedOps, type GraphNode } from '../../platform/graph-nodes.ts';
import type { Tf } from '../../platform/tensorflow.ts';

type Layer = LayersModel['layers'][number];

/** An op (or a use of one) that no standard layer computes. */
class Unsupported extends Error {}

const ACTIVATIONS: Record<string, string> = {
  Relu: 'relu',
  Relu6: 'relu6',
  Elu: 'elu',
  Selu: 'selu',
  Sigmoid: 'sigmoid',
  Tanh: 'tanh',
  Softplus: 'softplus',
  Softmax: 'softmax',
};
const PASS = new Set(['Identity', 'StopGradient', 'Snapshot']);

const text = (a: Attr | undefined) => (a?.s === undefined ? undefined : attrText(a.s));
const ints = (a: Attr | undefined, fallback: number[]) => a?.list?.i?.map(Number) ?? fallback;

type Value = { sym: SymbolicTensor } | { value: Tensor };

/**
 * Builds `outputNode` of the graph on `x` from standard layers named
 * `<scope>/<node>`, or says which op stopped it.
 */
export function inlineGraph(
  tf: Tf,
  x: SymbolicTensor,
  nodes: GraphNode[],
  weights: NamedTensorMap,
  outputNode: string,
  scope: string,
): { output: SymbolicTensor; layers: Layer[] } | { unsupported: string } {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const memo = new Map<string, Value>();
  const layers: Layer[] = [];
  const layerName = (node: GraphNode, suffix = '') =>
    `${scope}/${node.name.replace(/[^A-Za-z0-9_.-]+/g, '.')}${suffix}`;
  const put = (layer: Layer, input: SymbolicTensor | SymbolicTensor[], values?: Tensor[]) => {
    const out = layer.apply(input) as SymbolicTensor;
    if (values) layer.setWeights(values);
    layers.push(layer);
    return out;
  };
  const frozen = { trainable: false };

  /** A constant as one value per channel of `c` (a scalar repeated), or Unsupported. */
  const perChannel = (t: Tensor, c: number): Float32Array => {
    const v = t.dataSync() as Float32Array;
    if (v.length === 1) return new Float32Array(c).fill(v[0] as number);
    if (v.length === c && t.shape.slice(0, -1).every((d) => d === 1)) return Float32Array.from(v);
    throw new Unsupported(`a constant of shape [${t.shape}] on ${c} channels`);
  };
  /** x * scale + shift per channel: a 1x1 depthwise convolution (through [1, 1, c] for a vector). */
  const affine = (node: GraphNode, input: SymbolicTensor, scale: Float32Array, shift: Float32Array, suffix = '') => {
    const c = input.shape.at(-1) as number;
    const flat = input.shape.length === 2;
    if (!flat && input.shape.length !== 4) throw new Unsupported(`${node.op} on a rank-${input.shape.length} tensor`);
    let y = flat
      ? put(tf.layers.reshape({ targetShape: [1, 1, c], name: layerName(node, `${suffix}/as_map`) }), input)
      : input;
    y = put(tf.layers.depthwiseConv2d({ kernelSize: 1, name: layerName(node, suffix), ...frozen }), y, [
      tf.tensor4d(scale, [1, 1, c, 1]),
      tf.tensor1d(shift),
    ]);
    return flat ? put(tf.layers.reshape({ targetShape: [c], name: layerName(node, `${suffix}/as_vector`) }), y) : y;
  };

  const value = (ref: string): Value => {
    const [name, index] = ref.split(':') as [string, string | undefined];
    if (index !== undefined && index !== '0') throw new Unsupported(`output ${index} of ${name}`);
    const known = memo.get(name);
    if (known) return known;
    const node = byName.get(name);
    if (!node) throw new Unsupported(`the missing node ${name}`);
    const made = build(node);
    memo.set(name, made);
    return made;
  };
  const sym = (v: Value, node: GraphNode): SymbolicTensor => {
    if ('sym' in v) return v.sym;
    throw new Unsupported(`${node.op} on constants only`);
  };
  const constant = (v: Value, node: GraphNode): Tensor => {
    if ('value' in v) return v.value;
    throw new Unsupported(`${node.op} with a computed operand where a constant is expected`);
  };

  const build = (node: GraphNode): Value => {
    const a = node.attr ?? {};
    const args = (node.input ?? []).filter((i) => !i.startsWith('^')).map(value);
    const format = text(a.data_format);
    if (format !== undefined && format !== 'NHWC') throw new Unsupported(`${node.op} in ${format}`);
    const first = () => sym(args[0] as Value, node);
    const op = node.op;
    if (op === 'Placeholder') return { sym: x };
    if (op === 'Const') {
      const t = weights[node.name];
      if (!t) throw new Unsupported(`the constant ${node.name} without a value`);
      return { value: t };
    }
    if (PASS.has(op)) return args[0] as Value;
    if (ACTIVATIONS[op])
      return {
        sym: put(tf.layers.activation({ activation: ACTIVATIONS[op] as never, name: layerName(node) }), first()),
      };
    if (op === 'LeakyRelu')
      return { sym: put(tf.layers.leakyReLU({ alpha: a.alpha?.f ?? 0.2, name: layerName(node) }), first()) };
    if (op === 'Prelu') return { sym: prelu(node, first(), constant(args[1] as Value, node)) };
    switch (op) {
      case 'Conv2D':
      case '_FusedConv2D':
      case 'DepthwiseConv2dNative':
      case 'FusedDepthwiseConv2dNative':
        return {
          sym: convolution(
            node,
            first(),
            args.slice(1).map((v) => constant(v, node)),
          ),
        };
      case 'MatMul':
      case '_FusedMatMul':
        return {
          sym: dense(
            node,
            first(),
            args.slice(1).map((v) => constant(v, node)),
          ),
        };
      case 'MaxPool':
      case 'AvgPool': {
        const [, kh, kw] = ints(a.ksize, []);
        const [, sh, sw] = ints(a.strides, [1, 1, 1, 1]);
        const config = {
          poolSize: [kh, kw] as [number, number],
          strides: [sh, sw] as [number, number],
          padding: padding(node),
          name: layerName(node),
        };
        const layer = op === 'MaxPool' ? tf.layers.maxPooling2d(config) : tf.layers.averagePooling2d(config);
        return { sym: put(layer, first()) };
      }
      case 'Mean':
      case 'Max': {
        const input = first();
        const axes = Array.from(constant(args[1] as Value, node).dataSync()).map((v) => (v < 0 ? v + 4 : v));
        if (input.shape.length !== 4 || axes.sort().join() !== '1,2')
          throw new Unsupported(`${op} over axes [${axes}] of a rank-${input.shape.length} tensor`);
        const pool = op === 'Mean' ? tf.layers.globalAveragePooling2d : tf.layers.globalMaxPooling2d;
        const out = put(pool({ name: layerName(node) }), input);
        const keep = a.keep_dims?.b ?? a.keepDims?.b ?? false;
        const c = input.shape[3] as number;
        return {
          sym: keep
            ? put(tf.layers.reshape({ targetShape: [1, 1, c], name: layerName(node, '/keep_dims') }), out)
            : out,
        };
      }
      case 'BiasAdd': {
        const input = first();
        const c = input.shape.at(-1) as number;
        const b = perChannel(constant(args[1] as Value, node), c);
        return { sym: affine(node, input, new Float32Array(c).fill(1), b) };
      }
      case 'FusedBatchNorm':
      case 'FusedBatchNormV2':
      case 'FusedBatchNormV3': {
        const input = first();
        const c = input.shape.at(-1) as number;
        const [gamma, beta, mean, variance] = args.slice(1, 5).map((v) => perChannel(constant(v, node), c)) as [
          Float32Array,
          Float32Array,
          Float32Array,
          Float32Array,
        ];
        const eps = a.epsilon?.f ?? 1e-3;
        const scale = gamma.map((g, i) => g / Math.sqrt((variance[i] as number) + eps));
        return {
          sym: affine(
            node,
            input,
            scale,
            beta.map((b, i) => b - (mean[i] as number) * (scale[i] as number)),
          ),
        };
      }
      case 'Add':
      case 'AddV2':
      case 'AddN':
      case 'Sub':
      case 'Mul':
      case 'RealDiv':
      case 'Maximum':
      case 'Minimum':
        return { sym: arithmetic(node, args) };
      case 'Pad':
      case 'PadV2':
        return { sym: pad(node, first(), constant(args[1] as Value, node), args[2]) };
      case 'ConcatV2': {
        const axis = constant(args.at(-1) as Value, node).dataSync()[0] as number;
        const inputs = args.slice(0, -1).map((v) => sym(v, node));
        return { sym: put(tf.layers.concatenate({ axis, name: layerName(node) }), inputs) };
      }
      case 'Reshape': {
        const shape = Array.from(constant(args[1] as Value, node).dataSync());
        return { sym: put(tf.layers.reshape({ targetShape: shape.slice(1), name: layerName(node) }), first()) };
      }
      case 'Squeeze': {
        const input = first();
        const dims = ints(a.squeeze_dims, []).map((d) => (d < 0 ? d + input.shape.length : d));
        const kept = input.shape.slice(1).filter((d, i) => !(dims.length ? dims.includes(i + 1) : d === 1));
        return { sym: put(tf.layers.reshape({ targetShape: kept as number[], name: layerName(node) }), input) };
      }
      default:
        throw new Unsupported(`the op ${op}`);
    }
  };

  /** 'same' or 'valid' from the node's padding (EXPLICIT is made VALID by a ZeroPadding2D before it). */
  const padding = (node: GraphNode): 'same' | 'valid' => {
    const p = text(node.attr?.padding);
    if (p === 'SAME') return 'same';
    if (p === 'VALID' || p === 'EXPLICIT') return 'valid';
    throw new Unsupported(`${node.op} with padding ${p}`);
  };

  const prelu = (node: GraphNode, input: SymbolicTensor, alpha: Tensor, suffix = '') => {
    const c = input.shape.at(-1) as number;
    const spatial = input.shape.length === 4;
    const layer = tf.layers.prelu({ name: layerName(node, suffix), ...(spatial ? { sharedAxes: [1, 2] } : {}) });
    return put(layer, input, [tf.tensor(perChannel(alpha, c), spatial ? [1, 1, c] : [c])]);
  };

  const convolution = (node: GraphNode, input: SymbolicTensor, [kernel, bias, extra]: Tensor[]) => {
    const a = node.attr ?? {};
    const fused = fusedOps(node);
    const [add, act] = fused;
    if ((fused.length > 0 && add !== 'BiasAdd') || fused.length > 2)
      throw new Unsupported(`${node.op} fused with ${fused.join(', ')}`);
    if (!kernel) throw new Unsupported(`${node.op} without a kernel`);
    let x = input;
    if (text(a.padding) === 'EXPLICIT') {
      const p = ints(a.explicit_paddings, []);
      x = put(
        tf.layers.zeroPadding2d({
          padding: [
            [p[2] ?? 0, p[3] ?? 0],
            [p[4] ?? 0, p[5] ?? 0],
          ],
          name: layerName(node, '/pad'),
        }),
        x,
      );
    }
    const [kh, kw, , out] = kernel.shape as [number, number, number, number];
    const [, sh, sw] = ints(a.strides, [1, 1, 1, 1]);
    const [, dh, dw] = ints(a.dilations, [1, 1, 1, 1]);
    const activation = act === undefined ? undefined : ACTIVATIONS[act];
    if (act !== undefined && !activation && act !== 'Prelu' && act !== 'LeakyRelu')
      throw new Unsupported(`${node.op} fused with ${act}`);
    const config = {
      kernelSize: [kh, kw] as [number, number],
      strides: [sh, sw] as [number, number],
      dilationRate: [dh, dw] as [number, number],
      padding: padding(node),
      useBias: bias !== undefined && add === 'BiasAdd',
      ...(activation ? { activation: activation as never } : {}),
      name: layerName(node),
      ...frozen,
    };
    const depthwise = node.op.includes('Depthwise');
    const layer = depthwise
      ? tf.layers.depthwiseConv2d({ ...config, depthMultiplier: out })
      : tf.layers.conv2d({ ...config, filters: out });
    let y = put(layer, x, config.useBias ? [kernel, bias as Tensor] : [kernel]);
    if (act === 'Prelu') y = prelu(node, y, extra as Tensor, '/prelu');
    if (act === 'LeakyRelu')
      y = put(tf.layers.leakyReLU({ alpha: a.leakyrelu_alpha?.f ?? 0.2, name: layerName(node, '/leaky_relu') }), y);
    return y;
  };

  const dense = (node: GraphNode, input: SymbolicTensor, [kernel, bias]: Tensor[]) => {
    const a = node.attr ?? {};
    const fused = fusedOps(node);
    const [add, act] = fused;
    const activation = act === undefined ? undefined : ACTIVATIONS[act];
    if ((fused.length > 0 && add !== 'BiasAdd') || (act !== undefined && !activation) || a.transpose_a?.b)
      throw new Unsupported(`${node.op} ${fused.join(', ')}`);
    if (kernel?.shape.length !== 2 || input.shape.length !== 2)
      throw new Unsupported(`${node.op} of a rank-${input.shape.length} tensor`);
    const k = a.transpose_b?.b ? tf.transpose(kernel) : kernel;
    const useBias = bias !== undefined && add === 'BiasAdd';
    const layer = tf.layers.dense({
      units: k.shape[1] as number,
      useBias,
      ...(activation ? { activation: activation as never } : {}),
      name: layerName(node),
      ...frozen,
    });
    return put(layer, input, useBias ? [k, bias as Tensor] : [k]);
  };

  const arithmetic = (node: GraphNode, args: Value[]): SymbolicTensor => {
    const op = node.op;
    const syms = args.filter((v): v is { sym: SymbolicTensor } => 'sym' in v).map((v) => v.sym);
    if (syms.length === args.length) {
      const [p, q] = syms as [SymbolicTensor, SymbolicTensor];
      if (op === 'Sub') {
        const c = q.shape.at(-1) as number;
        const negated = affine(node, q, new Float32Array(c).fill(-1), new Float32Array(c), '/negate');
        return put(tf.layers.add({ name: layerName(node) }), [p, negated]);
      }
      const merge: Record<string, (c: { name: string }) => Layer> = {
        Add: tf.layers.add,
        AddV2: tf.layers.add,
        AddN: tf.layers.add,
        Mul: tf.layers.multiply,
        Maximum: tf.layers.maximum,
        Minimum: tf.layers.minimum,
      };
      const make = merge[op];
      if (!make) throw new Unsupported(`${op} of two computed tensors`);
      return put(make({ name: layerName(node) }), syms);
    }
    if (args.length !== 2 || syms.length !== 1) throw new Unsupported(`${op} on constants only`);
    const input = syms[0] as SymbolicTensor;
    const c = input.shape.at(-1) as number;
    const constFirst = 'value' in (args[0] as Value);
    const k = perChannel(constant((constFirst ? args[0] : args[1]) as Value, node), c);
    const ones = new Float32Array(c).fill(1);
    const zeros = new Float32Array(c);
    switch (op) {
      case 'Add':
      case 'AddV2':
        return affine(node, input, ones, k);
      case 'Sub':
        return constFirst
          ? affine(
              node,
              input,
              ones.map(() => -1),
              k,
            )
          : affine(
              node,
              input,
              ones,
              k.map((v) => -v),
            );
      case 'Mul':
        return affine(node, input, k, zeros);
      case 'RealDiv':
        if (constFirst) throw new Unsupported('a constant divided by a computed tensor');
        return affine(
          node,
          input,
          k.map((v) => 1 / v),
          zeros,
        );
      default:
        throw new Unsupported(`${op} with a constant`);
    }
  };

  const pad = (node: GraphNode, input: SymbolicTensor, paddings: Tensor, fillWith: Value | undefined) => {
    if (fillWith && (!('value' in fillWith) || fillWith.value.dataSync()[0] !== 0))
      throw new Unsupported('padding with a value other than 0');
    const p = Array.from(paddings.dataSync());
    if (input.shape.length !== 4 || p[0] || p[1])
      throw new Unsupported('padding other than height, width and channels');
    const [t, b, l, r, c0, c1] = p.slice(2) as [number, number, number, number, number, number];
    let y = input;
    if (t || b || l || r)
      y = put(
        tf.layers.zeroPadding2d({
          padding: [
            [t, b],
            [l, r],
          ],
          name: layerName(node),
        }),
        y,
      );
    if (c0 || c1) {
      // Channels added as zeros: a 1x1 convolution that copies each channel to its new place.
      const c = input.shape[3] as number;
      const out = c + c0 + c1;
      const kernel = new Float32Array(c * out);
      for (let i = 0; i < c; i++) kernel[i * out + c0 + i] = 1;
      y = put(
        tf.layers.conv2d({
          filters: out,
          kernelSize: 1,
          useBias: false,
          name: layerName(node, '/channels'),
          ...frozen,
        }),
        y,
        [tf.tensor4d(kernel, [1, 1, c, out])],
      );
    }
    return y;
  };

  try {
    const out = value(outputNode);
    if (!('sym' in out)) return { unsupported: `${outputNode} is a constant` };
    return { output: out.sym, layers };
  } catch (err) {
    if (err instanceof Unsupported) return { unsupported: err.message };
    throw err;
  }
}
