// A backbone from a TF.js layers model on disk (`model.backbone.path`): its
// layers are copied into the run's model under backbone/ with their weights,
// so they save, fine-tune and group (lr_multipliers) as the catalog's do.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { LayersModel, SymbolicTensor } from '@tensorflow/tfjs-node';
import type { Tf } from '../../backend/tensorflow.ts';
import { DataError } from '../../data/sources.ts';

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
  if (json.format === 'graph-model') {
    throw new DataError(
      `${file} is a TF.js graph model, which cannot become layers of the run's model; convert the Keras model with tensorflowjs_converter --input_format keras (a layers model) instead`,
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

/** The TF.js layers model at `where`, checked first by pathIdentity. */
export async function loadPathBackbone(tf: Tf, where: string): Promise<LayersModel> {
  pathIdentity(where);
  return tf.loadLayersModel(`file://${path.resolve(modelJson(where))}`);
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
      throw new Error(`model.backbone.path: layer ${layer.name} is a nested model; save the backbone flattened`);
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
  if (!out) throw new Error(`model.backbone.output: ${end.name} is not computed from the model's input`);
  return out;
}
