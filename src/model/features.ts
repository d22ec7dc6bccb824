// A frozen backbone (or its frozen first part) sees the same images every epoch
// when nothing augments them, so its output is computed once per image, kept in
// the cache, and the rest of the model trains on it: seconds per epoch for a
// head, and a fraction of a backbone pass when its last blocks are fine-tuned.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { LayersModel, Tensor } from '@tensorflow/tfjs-node';
import { type InputSource, pixelSources, rowSource, type Sources } from '../data/batches.ts';
import { writeAtomic } from '../data/cache-files.ts';
import type { PreparedData } from '../data/prepare.ts';
import { cacheRoot } from '../platform/cache-root.ts';
import { loadTensorflow, type Tf } from '../platform/tensorflow.ts';
import type { Experiment } from '../spec/experiment.ts';
import { BACKBONE_SCOPE } from './backbone.ts';
import { fixedCut, modelAfter } from './cut.ts';
import { frozenSession } from './frozen-session.ts';
import { noModelSession } from './inference-graph.ts';

/** The probability of a horizontal flip when it is the only augmentation: each outcome can then be cached. */
function flipOnly(exp: Experiment): number | null {
  const [only, ...rest] = exp.data.augmentation;
  return only?.type === 'flip_horizontal' && rest.length === 0
    ? ((only.probability as number | undefined) ?? 0.5)
    : null;
}

/**
 * Whether training can use cached features: a backbone not trained whole, and
 * no augmentation but a horizontal flip (whose mirrored images are cached too).
 */
export function featuresCacheable(exp: Experiment): boolean {
  const backbone = exp.model.backbone;
  const augmented = exp.data.augmentation.length > 0 && flipOnly(exp) === null;
  return backbone !== undefined && backbone.trainable !== true && !augmented;
}

export interface FeatureStats {
  /** The layer whose output is cached, and the values per image. */
  layer: string;
  values: number;
  /** Images whose features were computed now, and read from the cache. */
  computed: number;
  reused: number;
  /** How they are computed: a TensorFlow session, or tfjs' predict and why. */
  via: string;
}

/**
 * The trained part of `model` and its inputs as the cached output of the fixed
 * part, for the training data and every evaluation set; null when no part of
 * the model is fixed.
 */
export async function cachedFeatures(
  tf: Tf,
  exp: Experiment,
  data: PreparedData,
  model: LayersModel,
  cacheDir?: string,
  /** Progress of each image set whose features are computed (not read from the cache). */
  onProgress?: (done: number, total: number) => void,
  /** bf16: the run trains in mixed precision, and the fixed part computes in bfloat16 too (as Keras' mixed_bfloat16 would). */
  precision: 'float32' | 'bf16' = 'float32',
): Promise<{ head: LayersModel; sources: Sources; stats: FeatureStats } | null> {
  const cut = fixedCut(model, BACKBONE_SCOPE);
  if (!cut) return null;
  const shape = cut.shape.slice(1) as number[];
  const dim = shape.reduce((a, b) => a * b, 1);
  const extractor = tf.model({ inputs: model.inputs, outputs: cut });
  // As one TensorFlow session where it can be (a C API call per batch), else by tfjs' predict;
  // built on the first batch to compute, so a run whose features are all cached builds nothing.
  const threads = (await loadTensorflow()).threads;
  const compute = precision === 'bf16' ? 'bfloat16' : 'float32';
  const viaSession = precision === 'bf16' ? 'session, bf16' : 'session';
  let made: ReturnType<typeof frozenSession> | undefined;
  const session = () => {
    made ??= frozenSession(extractor, threads, compute);
    stats.via = made.run ? viaSession : `tfjs (${made.why})`;
    return made.run;
  };
  const why = noModelSession(extractor);
  // The fixed part's weights are part of the key: init_from may have loaded others than the package's.
  const weights = createHash('sha256');
  for (const w of extractor.weights) weights.update(new Uint8Array(w.read().dataSync().buffer));
  const fixedWeights = weights.digest('hex');
  const pixels = pixelSources(tf, exp, data);
  const dir = path.join(cacheDir ?? cacheRoot(), 'features');
  mkdirSync(dir, { recursive: true });
  const stats: FeatureStats = {
    layer: cut.sourceLayer.name,
    values: dim,
    computed: 0,
    reused: 0,
    via: why ? `tfjs (${why})` : viaSession,
  };
  // Rows follow the images' order: the data hash holds that order and each image's content (not
  // its path, so a copy of the data finds its features); with the preprocessing and the weights.
  // `only`: just these rows (their positions among the images), in that order.
  const features = async (source: InputSource, images: string[], hash: string, mirrored = false, only?: Int32Array) => {
    const count = only ? only.length : images.length;
    // bfloat16's features are their own entries; float32's keep the keys they always had.
    const what = {
      v: 2,
      hash,
      preprocessing: exp.data.preprocessing,
      layer: stats.layer,
      fixedWeights,
      ...(precision === 'bf16' ? { compute } : {}),
    };
    const key = createHash('sha256')
      .update(JSON.stringify({ ...what, ...(mirrored ? { mirrored } : {}), ...(only ? { only: [...only] } : {}) }))
      .digest('hex')
      .slice(0, 24);
    const file = path.join(dir, `${key}.f32`);
    if (existsSync(file)) {
      const bytes = readFileSync(file);
      if (bytes.byteLength === count * dim * 4) {
        stats.reused += count;
        // A large file's Buffer owns its memory (offset 0): viewed, not copied (1.9 GB for faces.yaml).
        return bytes.byteOffset % 4 === 0
          ? new Float32Array(bytes.buffer, bytes.byteOffset, count * dim)
          : new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
      }
    }
    const rows = new Float32Array(count * dim);
    const bs = exp.training.batch_size;
    onProgress?.(0, count);
    const batch = (b: number) => {
      const idx = Array.from({ length: Math.min(bs, count - b) }, (_, i) => (only ? (only[b + i] as number) : b + i));
      return tf.tidy(() => {
        const x = source(idx);
        return mirrored ? tf.reverse(x, 2) : x;
      });
    };
    const run = session();
    let input = batch(0);
    for (let b = 0; b < count; b += bs) {
      const n = input.shape[0] as number;
      const x = input;
      const done = run
        ? run(x.dataSync() as Float32Array, n)
        : Promise.resolve(tf.tidy(() => (extractor.predict(x) as Tensor).dataSync() as Float32Array));
      x.dispose();
      // The next batch is made while the session computes this one.
      if (b + bs < count) input = batch(b + bs);
      rows.set(await done, b * dim);
      onProgress?.(b + n, count);
    }
    await writeAtomic(file, new Uint8Array(rows.buffer));
    stats.computed += count;
    return rows;
  };
  const { train, validation, test } = data.splits;
  const images = [...train.files, ...validation.files, ...test.files];
  const all = await features(pixels.data, images, data.hash);
  const flip = flipOnly(exp);
  // Mirror images' rows serve the flip augmentation (every image) and test_time_flip's scoring (only
  // the images scored: validation and test, a twentieth of the rows where the split holds out 5%).
  const tta = exp.data.test_time_flip;
  const scored = Int32Array.from([...validation.index, ...test.index]).sort();
  const mirrored =
    flip !== null
      ? { rows: await features(pixels.data, images, data.hash, true), probability: flip }
      : tta
        ? { rows: await features(pixels.data, images, data.hash, true, scored), probability: 0, only: scored }
        : undefined;
  const sets: Record<string, InputSource> = {};
  for (const [setName, set] of Object.entries(data.evaluationSets)) {
    const source = pixels.sets[setName] as InputSource;
    const rows = await features(source, set.files, set.hash);
    sets[setName] = rowSource(
      tf,
      rows,
      shape,
      tta ? { rows: await features(source, set.files, set.hash, true), probability: 0 } : undefined,
    );
  }
  return { head: modelAfter(tf, model, cut), sources: { data: rowSource(tf, all, shape, mirrored), sets }, stats };
}
