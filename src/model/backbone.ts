// A pretrained backbone in front of the experiment's layers: its layers become
// part of the model (named backbone/...), its weights are read from the pinned
// package, and `trainable` decides which of them training may change.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { LayersModel, SymbolicTensor } from '@tensorflow/tfjs-node';
import { verifiedPackageDir } from '../backend/pinned-package.ts';
import type { Tf } from '../backend/tensorflow.ts';
import { didYouMean } from '../config/errors.ts';
import type { Experiment } from '../config/experiment.ts';
import { normalization } from '../data/normalize.ts';
import { BACKBONES, type BackboneEntry, type BackboneName } from './backbones/catalog.ts';
import { faceResnet } from './backbones/face-resnet.ts';
import { LayerError } from './layer-error.ts';

export type BackboneSpec = NonNullable<Experiment['model']['backbone']>;

/** Prefix of the backbone's layer names in the model (and in model.json). */
export const BACKBONE_SCOPE = 'backbone';

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
  // The fixed zero-padding shortcuts stay frozen whatever `trainable` says.
  for (const [i, l] of layers.entries())
    if (!l.name.endsWith('/shortcut')) l.trainable = t === true || (from >= 0 && i >= from);
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

/**
 * Puts the backbone on `input`. The returned `finish` loads its weights into the
 * built model and freezes what `trainable` leaves frozen.
 */
export function attachBackbone(
  tf: Tf,
  input: SymbolicTensor,
  spec: BackboneSpec,
  exp: Pick<Experiment, 'data'>,
): { output: SymbolicTensor; finish: (model: LayersModel) => void } {
  const name = spec.from as BackboneName;
  const entry: BackboneEntry = BACKBONES[name];
  const shape = input.shape.slice(1);
  if (shape.join('x') !== entry.input.join('x')) {
    throw new LayerError(
      -1,
      `backbone ${name} takes ${entry.input.slice(0, 2).join('x')} ${entry.input[2] === 3 ? 'RGB' : 'grey'} images, but the data gives ${shape.join('x')}; set data.preprocessing.size: [${entry.input[0]}, ${entry.input[1]}]${entry.input[2] === 3 ? ' and color: rgb' : ''}`,
      undefined,
      'model.backbone.from',
    );
  }
  const net = faceResnet(tf, input, BACKBONE_SCOPE);
  const finish = (model: LayersModel) => {
    const dir = verifiedPackageDir(entry, `backbone '${name}'`);
    const manifest = Object.keys(entry.files).find((f) => f.endsWith('.json')) as string;
    const weights = readWeights(tf, dir, manifest);
    net.load(weights, normalization(exp.data.preprocessing, entry.input[2]));
    tf.dispose(Object.values(weights));
    const t = spec.trainable;
    if (typeof t === 'object' && !backboneLayers(model).some((l) => l.name === t.from)) {
      const named = backboneLayers(model)
        .filter((l) => l.getWeights().length && !l.name.endsWith('/shortcut'))
        .map((l) => l.name);
      const hint = didYouMean(t.from, named);
      throw new LayerError(
        -1,
        `backbone ${name} has no layer '${t.from}'${hint ? `; did you mean '${hint}'?` : `; its layers with weights: ${named.join(', ')}`}`,
        undefined,
        'model.backbone.trainable.from',
      );
    }
    setBackboneTrainable(model, spec);
  };
  return { output: net.output, finish };
}
