// Compiles the layer graph of an experiment into a tf.LayersModel, checking
// shapes layer by layer so that a mistake names the layer and what would fix it.
import type { LayersModel, SymbolicTensor } from '@tensorflow/tfjs-node';
import { createLayer } from '../layers/create.ts';
import type { Tf } from '../platform/tensorflow.ts';
import type { Experiment, RegistryChoice } from '../spec/experiment.ts';
import { LAYERS, type LayerTypeName, MODEL_INPUT } from '../spec/layers.ts';
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

/** The model of an experiment, for images of `inputShape` and `numClasses` classes. */
export async function buildExperimentModel(
  tf: Tf,
  exp: Pick<Experiment, 'model' | 'seed' | 'data' | 'training'>,
  inputShape: [number, number, number],
  numClasses?: number,
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
    });
  } finally {
    if (source?.kind === 'layers') source.model.dispose();
    else if (source) tf.dispose(Object.values(source.weights));
  }
}
