// Compiles the layer graph of an experiment into a tf.LayersModel, checking
// shapes layer by layer so that a mistake names the layer and what would fix it.
import type { LayersModel, SymbolicTensor } from '@tensorflow/tfjs-node';
import { createLayer } from '../layers/create.ts';
import type { Tf } from '../platform/tensorflow.ts';
import type { Experiment, OutputSpec, RegistryChoice } from '../spec/experiment.ts';
import { LAYERS, type LayerTypeName, MODEL_INPUT } from '../spec/layers.ts';
import { binCenters } from '../spec/outputs.ts';
import { fillEntry } from '../spec/params.ts';
import { attachBackbone, type BackboneSpec } from './backbone.ts';
import { loadPathBackbone, type PathBackbone } from './backbones/from-path.ts';
import { describeLayer, type GraphNode, planGraph } from './graph.ts';
import { LayerError } from './layer-error.ts';

export { LayerError } from './layer-error.ts';

export interface BuildOptions {
  /** [height, width, channels] of one input image. */
  inputShape: [number, number, number];
  /**
   * A pretrained network between the input and the layers, the experiment's data
   * settings it adapts to, and the model read from `path` for a path backbone.
   */
  backbone?: { spec: BackboneSpec; exp: Pick<Experiment, 'data'>; source?: PathBackbone };
  seed: number;
  /** When known, the last layer must output one value per class. */
  numClasses?: number;
  /** The loss type, to check the output activation it needs. */
  loss?: string;
  /** Several outputs: each a head on the trunk (the last layer), in this order; the model's outputs are theirs. */
  heads?: Head[];
}

/** One output's head: its own layers, then a dense unit layer named after the output. */
export interface Head {
  name: string;
  layers: RegistryChoice[];
  units: number;
  activation: 'softmax' | 'sigmoid' | 'linear';
  /** A number output over bins: the unit layer is a softmax over this many, and the output is [expectation, probabilities]. */
  bins?: number;
}

type Shape = (number | null)[];

function shapeText(shape: Shape): string {
  return `[${shape.map((d) => d ?? 'batch').join(', ')}]`;
}

function checkInput(node: GraphNode, shape: Shape): void {
  const want = LAYERS[node.spec.type as LayerTypeName].input;
  const at = describeLayer(node.spec, node.index);
  if (want === 'flat' && shape.length !== 2) {
    throw new LayerError(
      node.index,
      `${at}: got a rank-${shape.length} input ${shapeText(shape)}, add a flatten (or globalAveragePooling2d) layer before it`,
    );
  }
  if (want === 'image' && shape.length !== 4) {
    throw new LayerError(
      node.index,
      `${at}: needs an image input [batch, height, width, channels] but got ${shapeText(shape)}; move it before the flatten/dense layers`,
    );
  }
}

/** Merged inputs must agree in shape: wholly, or but for the joined axis. */
function checkMerge(node: GraphNode, shapes: Shape[], names: string[]): void {
  const kind = LAYERS[node.spec.type as LayerTypeName] as { merge?: 'equal' | 'axis' };
  const first = shapes[0] as Shape;
  const rank = first.length;
  const given = (node.spec.axis as number | undefined) ?? -1;
  const axis = kind.merge === 'axis' ? ((given % rank) + rank) % rank : -1;
  const agree = (s: Shape) => s.length === rank && s.every((d, i) => i === axis || d === first[i]);
  const bad = shapes.findIndex((s) => !agree(s));
  if (bad < 0) return;
  const need =
    kind.merge === 'axis'
      ? `${node.spec.type} needs equal shapes except along axis ${given}`
      : `${node.spec.type} needs equal shapes`;
  throw new LayerError(
    node.index,
    `${describeLayer(node.spec, node.index)}: its inputs disagree in shape: '${names[0]}' gives ${shapeText(first)} but '${names[bad]}' gives ${shapeText(shapes[bad] as Shape)}; ${need}`,
    'inputs',
  );
}

function emptyOutput(node: GraphNode, input: Shape): LayerError {
  return new LayerError(
    node.index,
    `${describeLayer(node.spec, node.index)}: its window does not fit the ${input.slice(1, 3).join('x')} input ${shapeText(input)}, so the output would be empty; use padding: same, a smaller kernel or stride, or fewer pooling layers before it`,
  );
}

export function buildModel(tf: Tf, layers: RegistryChoice[], options: BuildOptions): LayersModel {
  const plan = planGraph(layers);
  const input = tf.input({ shape: options.inputShape, name: MODEL_INPUT });
  const bb = options.backbone;
  const backbone = bb ? attachBackbone(tf, input, bb.spec, bb.exp, bb.source) : null;
  // With a backbone, the layers (and `input` in their inputs) read its features.
  const outputs = new Map<number, SymbolicTensor>([[-1, backbone?.output ?? input]]);
  const names = new Map<number, string>([[-1, MODEL_INPUT]]);
  for (const node of plan) {
    const inputs = node.inputs.map((i) => outputs.get(i) as SymbolicTensor);
    const shapes = inputs.map((t) => t.shape as Shape);
    const merges = inputs.length > 1;
    if (merges)
      checkMerge(
        node,
        shapes,
        node.inputs.map((i) => names.get(i) as string),
      );
    else checkInput(node, shapes[0] as Shape);
    const layer = createLayer(tf, node.spec, node.index, options.seed);
    let out: SymbolicTensor;
    try {
      out = layer.apply(merges ? inputs : (inputs[0] as SymbolicTensor)) as SymbolicTensor;
    } catch (err) {
      const msg = err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err);
      if (/negative dimension/i.test(msg)) throw emptyOutput(node, shapes[0] as Shape);
      throw new LayerError(
        node.index,
        `${describeLayer(node.spec, node.index)}: cannot take an input of shape ${shapes.map(shapeText).join(' and ')}: ${msg}`,
      );
    }
    if (out.shape.slice(1).some((d) => d !== null && d <= 0)) throw emptyOutput(node, shapes[0] as Shape);
    outputs.set(node.index, out);
    names.set(node.index, node.name);
  }
  const last = layers.length - 1;
  const output = outputs.get(last) as SymbolicTensor;
  if (options.heads) {
    const model = tf.model({
      inputs: input,
      outputs: attachHeads(tf, output, options.heads, layers.length, options.seed),
      name: 'model',
    });
    backbone?.finish(model);
    return model;
  }
  const shape = output.shape as Shape;
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
  const model = tf.model({ inputs: input, outputs: output, name: 'model' });
  backbone?.finish(model);
  return model;
}

/**
 * Each head on `trunk`: its layers in a chain (named <output>_<type>_<i> unless
 * named; initializers seeded by their position after the trunk's), then its
 * unit layer, a dense layer named after the output.
 */
function attachHeads(tf: Tf, trunk: SymbolicTensor, heads: Head[], first: number, seed: number): SymbolicTensor[] {
  let index = first;
  return heads.map((head) => {
    let x = trunk;
    const bins = head.bins ?? 0;
    const unit: RegistryChoice = bins
      ? { type: 'dense', units: bins, activation: 'softmax', name: `${head.name}_bins` }
      : { type: 'dense', units: head.units, activation: head.activation, name: head.name };
    // The registry's defaults, seeded initializers included: an unseeded one would make every run different.
    fillEntry(unit, LAYERS);
    for (const [i, spec] of [...head.layers, unit].entries()) {
      const named = { ...spec, name: spec.name ?? `${head.name}_${spec.type}_${i}` };
      // Problems are located at the output's key: its head layer, or the output itself for its unit layer.
      const where = i < head.layers.length ? `outputs.${head.name}.head[${i}]` : `outputs.${head.name}`;
      try {
        checkInput(
          { spec: named, index, inputs: [], name: String(named.name) } as unknown as GraphNode,
          x.shape as Shape,
        );
        x = createLayer(tf, named, index, seed).apply(x) as SymbolicTensor;
      } catch (err) {
        const msg = err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err);
        throw new LayerError(index, `outputs.${head.name}: ${msg}`, undefined, where);
      }
      index++;
    }
    return bins ? expectationOf(tf, x, head.name, bins) : x;
  });
}

/**
 * A binned number output: the bins' expectation (a fixed dense layer whose
 * kernel is the bins' centres, not trained) beside their probabilities, as
 * one output named after the output, so a reader takes the value from its
 * first unit as from a one-unit number output.
 */
function expectationOf(tf: Tf, probs: SymbolicTensor, name: string, bins: number): SymbolicTensor {
  const centers = tf.tensor2d(binCenters(bins), [bins, 1]);
  const value = tf.layers
    .dense({ name: `${name}_value`, units: 1, useBias: false, trainable: false, weights: [centers] })
    .apply(probs) as SymbolicTensor;
  // The layer's kernel holds its own reference to the values now.
  centers.dispose();
  return tf.layers.concatenate({ name, axis: -1 }).apply([value, probs]) as SymbolicTensor;
}

const ACTIVATION: Record<OutputSpec['type'], Head['activation']> = {
  category: 'softmax',
  binary: 'sigmoid',
  number: 'linear',
  set: 'sigmoid',
};

/**
 * The heads of an experiment's outputs. `names`: each category output's
 * classes as the data has them (without data: its spec's, or two).
 */
export function outputHeads(outputs: Record<string, OutputSpec>, names: Record<string, string[]> = {}): Head[] {
  return Object.entries(outputs).map(([name, spec]) => ({
    name,
    layers: spec.head,
    activation: ACTIVATION[spec.type],
    units:
      spec.type === 'category'
        ? (names[name] ?? spec.classes ?? ['', '']).length
        : spec.type === 'set'
          ? spec.labels.length
          : 1 + (spec.type === 'number' ? spec.bins : 0),
    ...(spec.type === 'number' && spec.bins ? { bins: spec.bins } : {}),
  }));
}

/** The model of an experiment, for images of `inputShape` and `numClasses` classes (or its outputs' heads). */
export async function buildExperimentModel(
  tf: Tf,
  exp: Pick<Experiment, 'model' | 'seed' | 'data' | 'training' | 'outputs'>,
  inputShape: [number, number, number],
  numClasses?: number,
  names: Record<string, string[]> = {},
): Promise<LayersModel> {
  const spec = exp.model.backbone;
  const source = spec?.path ? await loadPathBackbone(tf, spec.path) : undefined;
  try {
    return buildModel(tf, exp.model.layers, {
      inputShape,
      seed: exp.seed,
      numClasses,
      loss: exp.training.loss.type,
      backbone: spec ? { spec, exp, source } : undefined,
      ...(exp.outputs ? { heads: outputHeads(exp.outputs, names) } : {}),
    });
  } finally {
    if (source?.kind === 'layers') source.model.dispose();
    else if (source) tf.dispose(Object.values(source.weights));
  }
}
