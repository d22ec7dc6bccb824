// A TF.js graph model (model.json: GraphDef nodes as JSON, weights in .bin
// shards) run as one TensorFlow session through native/graph: one C API call
// per batch instead of one TF.js kernel dispatch per node. The converter's
// fused ops are split back into the standard ops they stand for (Grappler's
// remapper fuses them again), so only ops of TensorFlow's public op set are built.
import { attrText, fusedOps, type GraphNode, type NodeAttr } from './graph-nodes.ts';
import type { Tf } from './tensorflow.ts';
import { type Attr, DT, type HostTensor, type Output, TfGraph } from './tf-graph.ts';

const DTYPES: Record<string, number> = {
  DT_FLOAT: DT.float32,
  DT_INT32: DT.int32,
  DT_UINT8: DT.uint8,
  DT_INT64: DT.int64,
  DT_BOOL: DT.bool,
};

/** The activation a converter-fused op ends with, as its own op. */
const FUSED_ACTIVATIONS = new Set(['Relu', 'Relu6', 'Elu', 'Selu', 'Sigmoid', 'Tanh']);

export class UnsupportedGraphModel extends Error {
  override name = 'UnsupportedGraphModel';
}

function dtypeOf(name: string | undefined): number {
  const d = name === undefined ? undefined : DTYPES[name];
  if (d === undefined) throw new UnsupportedGraphModel(`dtype ${name}`);
  return d;
}

/** A node's attribute as the addon takes it; null for one to leave at its default (an empty list). */
function attrOf(node: GraphNode, key: string, a: NodeAttr, freeBatch: boolean): Attr | null {
  if (a.type !== undefined) return { kind: 'type', value: dtypeOf(a.type) };
  if (a.i !== undefined) return { kind: 'int', value: Number(a.i) };
  if (a.f !== undefined) return { kind: 'float', value: a.f };
  if (a.b !== undefined) return { kind: 'bool', value: a.b };
  if (a.s !== undefined) return { kind: 'string', value: attrText(a.s) };
  if (a.shape !== undefined) {
    if (a.shape.unknownRank) return null;
    const dims = (a.shape.dim ?? []).map((d) => Number(d.size));
    if (freeBatch && node.op === 'Placeholder' && dims.length > 0) dims[0] = -1;
    return { kind: 'shape', value: dims };
  }
  if (a.list !== undefined) {
    if (a.list.i?.length) return { kind: 'ints', value: a.list.i.map(Number) };
    if (!a.list.s?.length && !a.list.type?.length) return null;
  }
  throw new UnsupportedGraphModel(`attribute ${key} of ${node.op} ${node.name}`);
}

const outputOf = (input: string): Output => {
  const [name, index] = input.split(':');
  return [name as string, Number(index ?? 0)];
};

export interface GraphModelSession {
  /** The model's outputs (nodes nothing else reads), by name, in the order `run` returns them. */
  outputs: string[];
  /**
   * Runs a batch of `n` inputs, back to back, on a worker thread (float32, or bytes with
   * `byteInput`); every output, batch first.
   */
  run(input: Float32Array | Uint8Array, n: number): Promise<HostTensor[]>;
}

/** What a byte-fed session gives the model for each byte: byte / divide - subtract, each step in float32. */
export interface ByteScale {
  divide: number;
  subtract: number;
}

/**
 * Loads `modelFile` into a graph and starts its session on `threads` intra-op
 * threads. With `freeBatch`, a model converted with a fixed batch of 1 takes
 * any batch: its input's first dimension and its Reshape targets' become -1.
 * With `byteInput`, the session takes bytes and scales them itself: a quarter
 * of the copy, and no per-pixel loop in JS.
 */
export async function graphModelSession(
  tf: Tf,
  modelFile: string,
  options: { freeBatch?: boolean; threads: number; byteInput?: ByteScale },
): Promise<GraphModelSession> {
  const artifacts = await tf.io.fileSystem(modelFile).load();
  const nodes = (artifacts.modelTopology as { node: GraphNode[] }).node;
  const data = artifacts.weightData;
  const weights = tf.io.decodeWeights(
    Array.isArray(data) ? tf.io.concatenateArrayBuffers(data) : (data as ArrayBuffer),
    artifacts.weightSpecs ?? [],
  );
  const freeBatch = options.freeBatch ?? false;
  // Reshape targets keep the batch in their first element: freed with the input's.
  const reshapeTargets = new Set(nodes.filter((n) => n.op === 'Reshape').map((n) => outputOf(n.input?.[1] ?? '')[0]));
  const g = new TfGraph();
  let input: Output | null = null;
  let inputShape: number[] = [];
  for (const node of nodes) {
    const inputs = (node.input ?? []).filter((i) => !i.startsWith('^')).map(outputOf);
    const control = (node.input ?? []).filter((i) => i.startsWith('^')).map((i) => i.slice(1));
    if (node.op === 'Const') {
      const w = weights[node.name];
      if (!w) throw new UnsupportedGraphModel(`constant ${node.name} without weights`);
      const dtype = dtypeOf(node.attr?.dtype?.type);
      const data = dtype === DT.int32 ? Int32Array.from(w.dataSync()) : Float32Array.from(w.dataSync());
      if (freeBatch && reshapeTargets.has(node.name) && data[0] === 1) data[0] = -1;
      const value: HostTensor = { dtype, shape: w.shape, data };
      g.op('Const', [], { dtype: { kind: 'type', value: dtype }, value: { kind: 'tensor', value } }, node.name);
      continue;
    }
    const attrs: Record<string, Attr> = {};
    for (const [key, a] of Object.entries(node.attr ?? {})) {
      // Internal attributes, and the fused op list emitFused reads from the node.
      if (key.startsWith('_') || key === 'fused_ops') continue;
      const attr = attrOf(node, key, a, freeBatch);
      if (attr) attrs[key] = attr;
    }
    if (node.op === 'Placeholder') {
      if (input) throw new UnsupportedGraphModel('more than one input');
      inputShape = attrs.shape?.kind === 'shape' ? attrs.shape.value.slice(1) : [];
      input = options.byteInput
        ? bytesScaled(g, node.name, attrs, options.byteInput)
        : g.op('Placeholder', [], attrs, node.name);
      continue;
    }
    const fused = { _FusedConv2D: 'Conv2D', FusedDepthwiseConv2dNative: 'DepthwiseConv2dNative' }[node.op];
    if (fused) {
      emitFused(g, node, fused, inputs, attrs, control);
      continue;
    }
    g.op(node.op, inputs, attrs, node.name, control);
  }
  if (!input) throw new UnsupportedGraphModel('no input');
  const fed: Output = input;
  const read = new Set(nodes.flatMap((n) => (n.input ?? []).map((i) => outputOf(i.replace(/^\^/, ''))[0])));
  const outputs = nodes.filter((n) => n.op !== 'Const' && !read.has(n.name)).map((n) => n.name);
  for (const w of Object.values(weights)) w.dispose();
  g.startSession(options.threads, 1);
  return {
    outputs,
    run: async (x, n) => {
      if (x instanceof Uint8Array !== Boolean(options.byteInput))
        throw new TypeError(`${modelFile}: feed ${options.byteInput ? 'bytes' : 'float32'}`);
      return g.runAsync(
        [[fed, { dtype: options.byteInput ? DT.uint8 : DT.float32, shape: [n, ...inputShape], data: x }]],
        outputs.map((o) => [o, 0] as const),
      ) as Promise<HostTensor[]>;
    },
  };
}

/** A uint8 placeholder, cast to float32, divided and shifted under the model input's name. Returns the placeholder. */
function bytesScaled(g: TfGraph, name: string, attrs: Record<string, Attr>, scale: ByteScale): Output {
  const T = { kind: 'type', value: DT.float32 } as const;
  const bytes = g.op('Placeholder', [], { ...attrs, dtype: { kind: 'type', value: DT.uint8 } }, `${name}/bytes`);
  const x = g.op('Cast', [bytes], { SrcT: { kind: 'type', value: DT.uint8 }, DstT: T }, `${name}/cast`);
  // Behind a PlaceholderWithDefault, as Grappler would turn a division by a constant into a
  // multiplication by its reciprocal, which rounds half the bytes' values differently.
  const divisor = g.op(
    'PlaceholderWithDefault',
    [g.constant([scale.divide], [])],
    { dtype: T, shape: { kind: 'shape', value: [] } },
    `${name}/divisor`,
  );
  const divided = g.op('RealDiv', [x, divisor], { T }, `${name}/divided`);
  g.op('Sub', [divided, g.constant([scale.subtract], [])], { T }, name);
  return bytes;
}

/** A converter-fused convolution as its convolution, BiasAdd and activation; the last takes the node's name. */
function emitFused(
  g: TfGraph,
  node: GraphNode,
  base: string,
  inputs: Output[],
  attrs: Record<string, Attr>,
  control: string[],
): void {
  const ops = fusedOps(node);
  const [add, act, ...rest] = ops;
  if (add !== 'BiasAdd' || rest.length > 0 || (act !== undefined && !FUSED_ACTIVATIONS.has(act)))
    throw new UnsupportedGraphModel(`${node.op} with ${ops.join(', ')}`);
  const { num_args: _n, epsilon: _e, leakyrelu_alpha: _l, ...conv } = attrs;
  if (base === 'DepthwiseConv2dNative') delete conv.use_cudnn_on_gpu;
  const T = attrs.T as Attr;
  const y = g.op(base, inputs.slice(0, 2), conv, `${node.name}/${base}`, control);
  const biased = g.op(
    'BiasAdd',
    [y, inputs[2] as Output],
    { T, data_format: (attrs.data_format as Attr) ?? { kind: 'string', value: 'NHWC' } },
    act ? `${node.name}/BiasAdd` : node.name,
  );
  if (act) g.op(act, [biased], { T }, node.name);
}
