// A backbone from a TF.js model on disk (`model.backbone.path`). A layers
// model's layers are copied into the run's model under backbone/ with their
// weights, so they save, fine-tune and group (lr_multipliers) as the
// catalog's do; a graph model becomes one frozen layer (graph-layer.ts).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { LayersModel, NamedTensorMap, SymbolicTensor, Tensor } from '@tensorflow/tfjs-node';
import type { Tf } from '../../platform/tensorflow.ts';
import { DataError } from '../../spec/errors.ts';
import type { GraphWeight } from './graph-layer.ts';

type Layer = LayersModel['layers'][number];

/** What a run records about a backbone read from disk: its folder and every file's sha256. */
export interface PathIdentity {
  name: string;
  path: string;
  format: string;
  files: Record<string, string>;
}

const modelJson = (where: string) => (where.endsWith('.json') ? where : path.join(where, 'model.json'));

/** The identity of the TF.js layers model at `where` (a folder or its model.json); a DataError when it is none. */
export function pathIdentity(where: string): PathIdentity {
  const file = modelJson(where);
  let json: { format?: string; weightsManifest?: { paths: string[] }[] };
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new DataError(
      `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); give a TF.js layers model folder (model.json and its weight files)`,
      'model.backbone.path',
    );
  }
  const dir = path.dirname(file);
  const files: Record<string, string> = {};
  for (const f of [path.basename(file), ...(json.weightsManifest ?? []).flatMap((g) => g.paths)]) {
    try {
      files[f] = createHash('sha256')
        .update(readFileSync(path.join(dir, f)))
        .digest('hex');
    } catch {
      throw new DataError(`${file} lists the weight file ${f}, which cannot be read`, 'model.backbone.path');
    }
  }
  return {
    name: path.basename(path.resolve(dir)),
    path: path.resolve(dir),
    format: json.format ?? 'layers-model',
    files,
  };
}

/** A model read from disk: a layers model, or a graph model's graph, weights and input shape. */
export type PathBackbone =
  | { kind: 'layers'; model: LayersModel }
  | {
      kind: 'graph';
      topology: object;
      weightSpecs: GraphWeight[];
      weights: NamedTensorMap;
      /** [height, width, channels], null where any size goes. */
      inputShape: (number | null)[];
      nodes: string[];
    };

interface GraphJson {
  modelTopology: { node: { name: string; op: string; attr?: { shape?: { shape?: { dim?: { size: string }[] } } } }[] };
  weightsManifest: { paths: string[]; weights: Parameters<Tf['io']['decodeWeights']>[1] }[];
}

/** The TF.js model at `where`, checked first by pathIdentity. */
export async function loadPathBackbone(tf: Tf, where: string): Promise<PathBackbone> {
  const { format } = pathIdentity(where);
  const file = path.resolve(modelJson(where));
  if (format !== 'graph-model') return { kind: 'layers', model: await tf.loadLayersModel(`file://${file}`) };
  const json = JSON.parse(readFileSync(file, 'utf8')) as GraphJson;
  const joined = Buffer.concat(
    json.weightsManifest.flatMap((g) => g.paths.map((p) => readFileSync(path.join(path.dirname(file), p)))),
  );
  const specs = json.weightsManifest.flatMap((g) => g.weights);
  const weights = tf.io.decodeWeights(
    joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength),
    specs,
  );
  const inputs = json.modelTopology.node.filter((n) => n.op === 'Placeholder');
  if (inputs.length !== 1) {
    throw new DataError(
      `${file} is a graph model with ${inputs.length} inputs; a backbone takes one image input`,
      'model.backbone.path',
    );
  }
  const dims = inputs[0]?.attr?.shape?.shape?.dim ?? [];
  return {
    kind: 'graph',
    topology: json.modelTopology,
    // Quantized weights are decoded: the layer keeps them as the plain values they stand for.
    weightSpecs: specs.map((w) => ({
      name: w.name,
      shape: w.shape,
      dtype: (weights[w.name] as Tensor).dtype as 'float32',
    })),
    weights,
    inputShape: dims.slice(1).map((d) => (Number(d.size) < 0 ? null : Number(d.size))),
    nodes: json.modelTopology.node.map((n) => n.name),
  };
}

/**
 * Copies `source`'s layers onto `input`, each renamed `<scope>/<name>` and
 * holding `source`'s weights, and returns the copy of `output`'s output (by
 * default the model's own output). Batch-norm layers that training leaves
 * frozen run in inference mode, as Keras does.
 */
export function copyLayers(source: LayersModel, input: SymbolicTensor, scope: string, output?: string): SymbolicTensor {
  const tensors = new Map<number, SymbolicTensor>([[(source.inputs[0] as SymbolicTensor).id, input]]);
  for (const layer of source.layers) {
    const node = layer.inboundNodes[0] as Layer['inboundNodes'][number];
    if (node.inputTensors[0]?.sourceLayer === layer) continue; // the input layer
    const inputs = node.inputTensors.map((t) => tensors.get(t.id) as SymbolicTensor);
    if ('layers' in layer)
      throw new DataError(`layer ${layer.name} is a nested model; save the backbone flattened`, 'model.backbone.path');
    const Class = layer.constructor as new (config: object) => Layer;
    const copy = new Class({ ...layer.getConfig(), name: `${scope}/${layer.name}` });
    const out = copy.apply(inputs.length > 1 ? inputs : (inputs[0] as SymbolicTensor)) as SymbolicTensor;
    copy.setWeights(layer.getWeights());
    if (layer.getClassName() === 'BatchNormalization') {
      const call = copy.call.bind(copy);
      copy.call = (x, kwargs) => call(x, copy.trainable ? kwargs : { ...kwargs, training: false });
    }
    tensors.set((node.outputTensors[0] as SymbolicTensor).id, out);
  }
  const end = output ? source.getLayer(output) : (source.outputs[0] as SymbolicTensor).sourceLayer;
  const out = tensors.get((end.inboundNodes[0] as Layer['inboundNodes'][number]).outputTensors[0]?.id ?? -1);
  if (!out) throw new DataError(`${end.name} is not computed from the model's input`, 'model.backbone.output');
  return out;
}
