// `model.init_from`: start from another run's weights. Layers are matched by
// name; a layer whose weights have other shapes (a head for another number of
// classes) keeps its fresh weights, and the report says which layers were loaded.

import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type { LayersModel } from '@tensorflow/tfjs-node';
import type { Tf } from '../platform/tensorflow.ts';
import { DataError } from '../spec/errors.ts';
import { loadModel } from './backbones/graph-layer.ts';

export interface InitReport {
  /** The model.json the weights came from. */
  source: string;
  loaded: string[];
  /** Layers found by name whose weight shapes differ: left as initialised. */
  reinitialised: { layer: string; ours: number[][]; theirs: number[][] }[];
  /** Layers with weights that the source does not have. */
  missing: string[];
}

/** model.json of a run folder (its final model), or of a model folder. */
export function initSource(dir: string): string {
  for (const f of [path.join(dir, 'model', 'model.json'), path.join(dir, 'model.json')]) if (existsSync(f)) return f;
  throw new DataError(
    `${dir} holds no trained model (no model/model.json or model.json); give a finished run's folder`,
    'model.init_from',
  );
}

export async function initFrom(tf: Tf, model: LayersModel, dir: string): Promise<InitReport> {
  const source = initSource(dir);
  const theirs = await loadModel(tf, source).catch((err: unknown) => {
    throw new DataError(
      `${source} cannot be loaded as a model (${err instanceof Error ? err.message.split('\n')[0] : String(err)}); give a finished run's folder`,
      'model.init_from',
    );
  });
  const report: InitReport = { source, loaded: [], reinitialised: [], missing: [] };
  for (const layer of model.layers) {
    const ours = layer.getWeights();
    if (ours.length === 0) continue;
    const match = theirs.layers.find((l) => l.name === layer.name);
    if (!match) {
      report.missing.push(layer.name);
      continue;
    }
    const weights = match.getWeights();
    const shapes = (ws: typeof ours) => ws.map((w) => w.shape);
    if (weights.length !== ours.length || weights.some((w, i) => w.shape.join() !== ours[i]?.shape.join())) {
      report.reinitialised.push({ layer: layer.name, ours: shapes(ours), theirs: shapes(weights) });
      continue;
    }
    layer.setWeights(weights);
    report.loaded.push(layer.name);
  }
  theirs.dispose();
  return report;
}
