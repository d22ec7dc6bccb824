// A pretrained backbone in front of the experiment's layers: its layers become
// part of the model (named backbone/...), its weights come from the pinned
// package (catalog) or the model folder (path), and `trainable` decides which
// of them training may change.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { LayersModel, NamedTensorMap, SymbolicTensor, Tensor } from '@tensorflow/tfjs-node';
import { normalization } from '../data/normalize.ts';
import type { GraphNode } from '../platform/graph-nodes.ts';
import { verifiedPackageDir } from '../platform/pinned-package.ts';
import type { Tf } from '../platform/tensorflow.ts';
import { BACKBONES, type BackboneEntry, type BackboneName } from '../spec/backbones.ts';
import { didYouMean } from '../spec/errors.ts';
import type { Experiment } from '../spec/experiment.ts';
import { faceResnet } from './backbones/face-resnet.ts';
import { copyLayers, type PathBackbone } from './backbones/from-path.ts';
import { inlineGraph } from './backbones/graph-inline.ts';
import { applyGraphLayer, graphModel } from './backbones/graph-layer.ts';
import { LayerError } from './layer-error.ts';

export type BackboneSpec = NonNullable<Experiment['model']['backbone']>;

/** Prefix of the backbone's layer names in the model (and in model.json). */
export const BACKBONE_SCOPE = 'backbone';

type Layer = LayersModel['layers'][number];

/** Layers that stay frozen whatever `trainable` says: fixed shortcuts, the input adapter. */
const FIXED = new WeakSet<Layer>();

const backboneLayers = (model: LayersModel) => model.layers.filter((l) => l.name.startsWith(`${BACKBONE_SCOPE}/`));

/**
 * Sets which backbone layers learn in `epoch` (0-based; by default the state
 * after any unfreezing, which is how the model is built and saved).
 */
export function setBackboneTrainable(model: LayersModel, spec: BackboneSpec, epoch = Number.POSITIVE_INFINITY): void {
  const t = spec.trainable;
  const layers = backboneLayers(model);
  const from =
    typeof t === 'object' && epoch + 1 >= (t.at_epoch ?? 1) ? layers.findIndex((l) => l.name === t.from) : -1;
  for (const [i, l] of layers.entries()) if (!FIXED.has(l)) l.trainable = t === true || (from >= 0 && i >= from);
}

/** Reads a face-api style weights manifest and its files. */
function readWeights(tf: Tf, dir: string, manifestFile: string) {
  const manifest = JSON.parse(readFileSync(path.join(dir, manifestFile), 'utf8')) as {
    paths: string[];
    weights: Parameters<Tf['io']['decodeWeights']>[1];
  }[];
  const folder = path.dirname(path.join(dir, manifestFile));
  const buffers = manifest.flatMap((group) => group.paths.map((p) => readFileSync(path.join(folder, p))));
  const joined = Buffer.concat(buffers);
  const data = joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength);
  return tf.io.decodeWeights(
    data,
    manifest.flatMap((group) => group.weights),
  );
}

/** What the backbone is called in messages. */
export const backboneLabel = (spec: BackboneSpec) => spec.from ?? spec.path ?? 'backbone';

/** The input size and channels `spec`'s network takes: fixed by the catalog or the model, or null when any. */
function takes(spec: BackboneSpec, source: PathBackbone | undefined): (number | null)[] {
  if (spec.from) return [...BACKBONES[spec.from as BackboneName].input];
  const s = source as PathBackbone;
  return s.kind === 'graph' ? s.inputShape : (s.model.inputs[0] as SymbolicTensor).shape.slice(1);
}

/**
 * Resizes the images in the model when `input_size` asks for it, and checks
 * that what reaches the network is the size it takes.
 */
function sized(tf: Tf, input: SymbolicTensor, spec: BackboneSpec, source: PathBackbone | undefined): SymbolicTensor {
  const [h, w, c] = input.shape.slice(1) as [number, number, number];
  const [th, tw, tc] = takes(spec, source);
  const [ih, iw] = spec.input_size ?? [th ?? h, tw ?? w];
  const label = backboneLabel(spec);
  if (tc !== null && tc !== c) {
    throw new LayerError(
      -1,
      `backbone ${label} takes ${tc === 3 ? 'RGB' : `${tc}-channel`} images, but the data gives ${c} channel(s); set data.preprocessing.color: ${tc === 3 ? 'rgb' : 'grayscale'}`,
      undefined,
      spec.from ? 'model.backbone.from' : 'model.backbone.path',
    );
  }
  if ((th !== null && th !== ih) || (tw !== null && tw !== iw)) {
    throw new LayerError(
      -1,
      `backbone ${label} takes ${th}x${tw} images, but input_size says ${ih}x${iw}; use input_size: [${th}, ${tw}]`,
      undefined,
      'model.backbone.input_size',
    );
  }
  if (ih === h && iw === w) return input;
  if (!spec.input_size) {
    throw new LayerError(
      -1,
      `backbone ${label} takes ${ih}x${iw} images, but the data gives ${h}x${w}; set data.preprocessing.size: [${ih}, ${iw}], or model.backbone.input_size: [${ih}, ${iw}] to resize inside the model`,
      undefined,
      spec.from ? 'model.backbone.from' : 'model.backbone.path',
    );
  }
  return tf.layers
    .resizing({ name: `${BACKBONE_SCOPE}/resize`, height: ih, width: iw, interpolation: 'bilinear' })
    .apply(input) as SymbolicTensor;
}

/**
 * A fixed per-channel scale and shift from the data's normalization to the one
 * a path backbone expects (none when they agree).
 */
function adapted(tf: Tf, x: SymbolicTensor, spec: BackboneSpec, exp: Pick<Experiment, 'data'>) {
  const c = x.shape[3] as number;
  const data = normalization(exp.data.preprocessing, c);
  const want = spec.normalize ? normalization(spec as Required<Pick<BackboneSpec, 'normalize'>>, c) : data;
  // x_data = (u - m_d) / s_d and x_want = (u - m_w) / s_w, so x_want = x_data * s_d / s_w + (m_d - m_w) / s_w.
  const scale = data.std.map((s, i) => s / (want.std[i] as number));
  const shift = data.mean.map((m, i) => (m - (want.mean[i] as number)) / (want.std[i] as number));
  if (scale.every((v) => Math.abs(v - 1) < 1e-7) && shift.every((v) => Math.abs(v) < 1e-7)) return x;
  const layer = tf.layers.depthwiseConv2d({ name: `${BACKBONE_SCOPE}/input_scale`, kernelSize: 1, trainable: false });
  const out = layer.apply(x) as SymbolicTensor;
  layer.setWeights([tf.tensor4d(scale, [1, 1, c, 1]), tf.tensor1d(shift)]);
  FIXED.add(layer);
  return out;
}

/**
 * A graph model on `x`, read out at `spec.output` (by default the graph's own
 * output): as standard frozen layers when every op on the way has one, else as
 * one frozen graph layer.
 */
function graphBackbone(
  tf: Tf,
  x: SymbolicTensor,
  spec: BackboneSpec,
  source: Extract<PathBackbone, { kind: 'graph' }>,
): SymbolicTensor {
  const label = backboneLabel(spec);
  if (spec.trainable !== false) {
    throw new LayerError(
      -1,
      `backbone ${label} is a TF.js graph model: a frozen feature extractor; use trainable: false, or convert the Keras model as a layers model (--input_format keras) to fine-tune it`,
      undefined,
      'model.backbone.trainable',
    );
  }
  const probe = graphModel(
    tf,
    source,
    source.weightSpecs.map((w) => source.weights[w.name] as Tensor),
  );
  try {
    const outputNode = spec.output ?? (probe.outputNodes[0] as string);
    if (!source.nodes.includes(outputNode)) {
      const hint = didYouMean(outputNode, source.nodes);
      throw new LayerError(
        -1,
        `backbone ${label} has no node '${outputNode}'${hint ? `; did you mean '${hint}'?` : ''}`,
        undefined,
        'model.backbone.output',
      );
    }
    const imageShape = x.shape.slice(1) as number[];
    const topology = source.topology as { node: GraphNode[] };
    if (inlinesFaithfully(tf, probe, topology.node, source.weights, outputNode, imageShape)) {
      const inlined = inlineGraph(tf, x, topology.node, source.weights, outputNode, BACKBONE_SCOPE);
      if ('output' in inlined) return inlined.output;
    }
    // The output's shape: the graph run once on a blank image of the input's size.
    const shape = tf.tidy(() => (probe.execute(tf.zeros([1, ...imageShape]), outputNode) as Tensor).shape);
    return applyGraphLayer(
      tf,
      x,
      `${BACKBONE_SCOPE}/graph`,
      { topology: source.topology, weightSpecs: source.weightSpecs, outputNode, outputShape: shape.slice(1) },
      source.weights,
    );
  } finally {
    probe.dispose();
  }
}

/**
 * Whether the graph's path to `outputNode` rebuilds as standard layers that
 * compute what the graph computes (to 1e-4 of the features' scale, on a
 * seeded image; some graphs fix the batch at 1): the check that keeps a
 * mistranslated op from going unseen.
 */
function inlinesFaithfully(
  tf: Tf,
  graph: ReturnType<typeof graphModel>,
  nodes: GraphNode[],
  weights: NamedTensorMap,
  outputNode: string,
  imageShape: number[],
): boolean {
  const input = tf.input({ shape: imageShape });
  const trial = inlineGraph(tf, input, nodes, weights, outputNode, BACKBONE_SCOPE);
  if (!('output' in trial)) return false;
  const model = tf.model({ inputs: input, outputs: trial.output });
  try {
    return tf.tidy(() => {
      const images = tf.randomUniform([1, ...imageShape], -1, 1, 'float32', 1);
      const theirs = graph.execute(images, outputNode) as Tensor;
      const ours = model.predict(images) as Tensor;
      if (ours.shape.join() !== theirs.shape.join()) return false;
      const scale = Math.max(1, theirs.abs().max().dataSync()[0] as number);
      return (ours.sub(theirs).abs().max().dataSync()[0] as number) <= 1e-4 * scale;
    });
  } finally {
    model.dispose();
  }
}

/**
 * Puts the backbone on `input`: the catalog's network by `from`, or the layers
 * of `source` (the model read from `path`). The returned `finish` loads the
 * catalog's weights into the built model and freezes what `trainable` leaves
 * frozen.
 */
export function attachBackbone(
  tf: Tf,
  input: SymbolicTensor,
  spec: BackboneSpec,
  exp: Pick<Experiment, 'data'>,
  source?: PathBackbone,
): { output: SymbolicTensor; finish: (model: LayersModel) => void } {
  if ((spec.from === undefined) === (spec.path === undefined)) {
    throw new LayerError(
      -1,
      'give one of from: <catalog name> or path: <TF.js layers model folder>',
      undefined,
      'model.backbone',
    );
  }
  const label = backboneLabel(spec);
  const x = sized(tf, input, spec, source);
  let output: SymbolicTensor;
  let load = () => {};
  if (spec.from) {
    for (const key of ['output', 'normalize', 'mean', 'std'] as const) {
      if (spec[key] !== undefined)
        throw new LayerError(
          -1,
          `applies to path backbones; ${spec.from} has its own output and input normalization`,
          undefined,
          `model.backbone.${key}`,
        );
    }
    const entry: BackboneEntry = BACKBONES[spec.from as BackboneName];
    const net = faceResnet(tf, x, BACKBONE_SCOPE);
    for (const l of net.fixed) FIXED.add(l);
    output = net.output;
    load = () => {
      const dir = verifiedPackageDir(entry, `backbone '${spec.from}'`);
      const manifest = Object.keys(entry.files).find((f) => f.endsWith('.json')) as string;
      const weights = readWeights(tf, dir, manifest);
      net.load(weights, normalization(exp.data.preprocessing, entry.input[2]));
      tf.dispose(Object.values(weights));
    };
  } else if (source?.kind === 'graph') {
    output = graphBackbone(tf, adapted(tf, x, spec, exp), spec, source);
  } else {
    const model = (source as Extract<PathBackbone, { kind: 'layers' }>).model;
    if (spec.output && !model.layers.some((l) => l.name === spec.output)) {
      const hint = didYouMean(
        spec.output,
        model.layers.map((l) => l.name),
      );
      throw new LayerError(
        -1,
        `backbone ${label} has no layer '${spec.output}'${hint ? `; did you mean '${hint}'?` : ''}`,
        undefined,
        'model.backbone.output',
      );
    }
    output = copyLayers(model, adapted(tf, x, spec, exp), BACKBONE_SCOPE, spec.output);
  }
  const finish = (model: LayersModel) => {
    load();
    const t = spec.trainable;
    if (typeof t === 'object' && !backboneLayers(model).some((l) => l.name === t.from)) {
      const named = backboneLayers(model)
        .filter((l) => l.getWeights().length && !FIXED.has(l))
        .map((l) => l.name);
      const hint = didYouMean(t.from, named);
      throw new LayerError(
        -1,
        `backbone ${label} has no layer '${t.from}'${hint ? `; did you mean '${hint}'?` : `; its layers with weights: ${named.join(', ')}`}`,
        undefined,
        'model.backbone.trainable.from',
      );
    }
    setBackboneTrainable(model, spec);
  };
  return { output, finish };
}
