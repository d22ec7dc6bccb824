// A frozen backbone sees the same images every epoch when nothing augments
// them, so its features are computed once per image, kept in the cache, and
// the head trains on them: seconds per epoch instead of a backbone pass.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { LayersModel, Tensor } from '@tensorflow/tfjs-node';
import { cacheRoot } from '../../native/install.mjs';
import type { Tf } from '../backend/tensorflow.ts';
import type { Experiment } from '../config/experiment.ts';
import { writeAtomic } from '../data/cache-files.ts';
import type { PreparedData } from '../data/prepare.ts';
import { BACKBONE_SCOPE } from '../model/backbone.ts';
import { BACKBONES, type BackboneEntry, type BackboneName } from '../model/backbones/catalog.ts';
import { headModel } from '../model/build.ts';
import { type InputSource, pixelSources, rowSource, type Sources } from './train.ts';

/** Whether training can use cached features: a frozen backbone and no augmentation of any kind. */
export function featuresCacheable(exp: Experiment): boolean {
  return exp.model.backbone?.trainable === false && exp.data.augmentation.length === 0;
}

export interface FeatureStats {
  /** Images whose features were computed now, and read from the cache. */
  computed: number;
  reused: number;
}

/**
 * The head of `model` and its inputs as cached backbone features, for the
 * training data and every evaluation set.
 */
export async function cachedFeatures(
  tf: Tf,
  exp: Experiment,
  data: PreparedData,
  model: LayersModel,
  cacheDir?: string,
): Promise<{ head: LayersModel; sources: Sources; stats: FeatureStats }> {
  const name = exp.model.backbone?.from as BackboneName;
  const entry: BackboneEntry = BACKBONES[name];
  const dim = entry.features;
  const extractor = tf.model({
    inputs: model.inputs,
    outputs: model.getLayer(`${BACKBONE_SCOPE}/${entry.output}`).output as never,
  });
  const pixels = pixelSources(tf, exp, data);
  const dir = path.join(cacheDir ?? cacheRoot(), 'features');
  mkdirSync(dir, { recursive: true });
  const stats: FeatureStats = { computed: 0, reused: 0 };
  // Rows follow the images' order: the key holds that order, the images (data hash, preprocessing) and the weights.
  const features = async (source: InputSource, images: string[], hash: string): Promise<Float32Array> => {
    const count = images.length;
    const key = createHash('sha256')
      .update(
        JSON.stringify({ hash, images, preprocessing: exp.data.preprocessing, backbone: name, files: entry.files }),
      )
      .digest('hex')
      .slice(0, 24);
    const file = path.join(dir, `${key}.f32`);
    if (existsSync(file)) {
      const bytes = readFileSync(file);
      if (bytes.byteLength === count * dim * 4) {
        stats.reused += count;
        return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
      }
    }
    const rows = new Float32Array(count * dim);
    const bs = exp.training.batch_size;
    for (let b = 0; b < count; b += bs) {
      const idx = Array.from({ length: Math.min(bs, count - b) }, (_, i) => b + i);
      tf.tidy(() => rows.set((extractor.predict(source(idx)) as Tensor).dataSync(), b * dim));
    }
    await writeAtomic(file, new Uint8Array(rows.buffer));
    stats.computed += count;
    return rows;
  };
  const { train, validation, test } = data.splits;
  const all = await features(pixels.data, [...train.files, ...validation.files, ...test.files], data.hash);
  const sets: Record<string, InputSource> = {};
  for (const [setName, set] of Object.entries(data.evaluationSets)) {
    sets[setName] = rowSource(tf, await features(pixels.sets[setName] as InputSource, set.files, set.hash), dim);
  }
  return { head: headModel(tf, model, exp.model.layers, dim), sources: { data: rowSource(tf, all, dim), sets }, stats };
}
