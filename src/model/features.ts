// A frozen backbone (or its frozen first part) sees the same images every epoch
// when nothing augments them, so its output is computed once per image, kept in
// the cache, and the rest of the model trains on it: seconds per epoch for a
// head, and a fraction of a backbone pass when its last blocks are fine-tuned.
// A backbone that unfreezes at a later epoch is whole and frozen before it: those
// head-only epochs train on its whole output, computed once from the rows above.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { LayersModel, SymbolicTensor, Tensor } from '@tensorflow/tfjs-node';
import { type InputSource, pixelSources, rowSource, type Sources } from '../data/batches.ts';
import { writeAtomic } from '../data/cache-files.ts';
import type { PreparedData } from '../data/prepare.ts';
import { cacheRoot } from '../platform/cache-root.ts';
import { loadTensorflow, type Tf } from '../platform/tensorflow.ts';
import type { Experiment } from '../spec/experiment.ts';
import { BACKBONE_SCOPE, setBackboneTrainable } from './backbone.ts';
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
  /** The head-only epochs' rows (the whole backbone's output), when the backbone unfreezes later. */
  headOnly?: { layer: string; values: number; computed: number; reused: number; epochs: number };
}

/** The epochs before `until` (0-based) train `model`, the layers after the whole backbone, on `source`: its cached output. */
export interface HeadOnlyStage {
  until: number;
  model: LayersModel;
  source: InputSource;
}

/** A fixed part of the model, a batch at a time: one TensorFlow session where it can be, else tfjs' predict. */
interface FixedPart {
  /** The hash of its weights: init_from may have loaded others than the package's. */
  weights: string;
  /** Built on the first batch to compute, so a run whose rows are all cached builds nothing. */
  run: (x: Float32Array, n: number) => Promise<Float32Array>;
  via: () => string;
}

function fixedPart(tf: Tf, part: LayersModel, threads: number, precision: 'float32' | 'bf16'): FixedPart {
  const compute = precision === 'bf16' ? 'bfloat16' : 'float32';
  const viaSession = precision === 'bf16' ? 'session, bf16' : 'session';
  const why = noModelSession(part);
  let via = why ? `tfjs (${why})` : viaSession;
  let made: ReturnType<typeof frozenSession> | undefined;
  const inShape = (part.inputs[0]?.shape ?? []).slice(1) as number[];
  const hash = createHash('sha256');
  for (const w of part.weights) hash.update(new Uint8Array(w.read().dataSync().buffer));
  return {
    weights: hash.digest('hex'),
    run: (x, n) => {
      made ??= frozenSession(part, threads, compute);
      via = made.run ? viaSession : `tfjs (${made.why})`;
      if (made.run) return made.run(x, n);
      return Promise.resolve(
        tf.tidy(() => (part.predict(tf.tensor(x, [n, ...inShape])) as Tensor).dataSync() as Float32Array),
      );
    },
    via: () => via,
  };
}

/**
 * `count` rows of `dim` values: read from `file` when it holds them, else computed
 * (the next batch made while the session computes this one) and written there.
 */
async function cachedRows(
  file: string,
  count: number,
  dim: number,
  batchSize: number,
  input: (start: number, n: number) => Float32Array,
  part: FixedPart,
  onProgress?: (done: number, total: number) => void,
): Promise<{ rows: Float32Array; computed: boolean }> {
  if (existsSync(file)) {
    const bytes = readFileSync(file);
    if (bytes.byteLength === count * dim * 4) {
      // A large file's Buffer owns its memory (offset 0): viewed, not copied (1.9 GB for faces.yaml).
      const rows =
        bytes.byteOffset % 4 === 0
          ? new Float32Array(bytes.buffer, bytes.byteOffset, count * dim)
          : new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
      return { rows, computed: false };
    }
  }
  const rows = new Float32Array(count * dim);
  onProgress?.(0, count);
  let x = input(0, Math.min(batchSize, count));
  for (let b = 0; b < count; b += batchSize) {
    const n = Math.min(batchSize, count - b);
    const done = part.run(x, n);
    if (b + n < count) x = input(b + n, Math.min(batchSize, count - b - n));
    rows.set(await done, b * dim);
    onProgress?.(b + n, count);
  }
  await writeAtomic(file, new Uint8Array(rows.buffer));
  return { rows, computed: true };
}

const keyOf = (what: object) => createHash('sha256').update(JSON.stringify(what)).digest('hex').slice(0, 24);
const valuesOf = (t: SymbolicTensor) => (t.shape.slice(1) as number[]).reduce((a, b) => a * b, 1);

/**
 * The trained part of `model` and its inputs as the cached output of the fixed
 * part, for the training data and every evaluation set, and the head-only
 * epochs' stage where the backbone unfreezes later; null when no part of the
 * model is fixed.
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
): Promise<{ head: LayersModel; sources: Sources; stats: FeatureStats; headOnly?: HeadOnlyStage } | null> {
  const cut = fixedCut(model, BACKBONE_SCOPE);
  if (!cut) return null;
  const shape = cut.shape.slice(1) as number[];
  const dim = valuesOf(cut);
  const threads = (await loadTensorflow()).threads;
  const extractor = fixedPart(tf, tf.model({ inputs: model.inputs, outputs: cut }), threads, precision);
  const pixels = pixelSources(tf, exp, data);
  const dir = path.join(cacheDir ?? cacheRoot(), 'features');
  mkdirSync(dir, { recursive: true });
  const stats: FeatureStats = { layer: cut.sourceLayer.name, values: dim, computed: 0, reused: 0, via: '' };
  const bs = exp.training.batch_size;
  // Rows follow the images' order: the data hash holds that order and each image's content (not
  // its path, so a copy of the data finds its features); with the preprocessing and the weights.
  // `only`: just these rows (their positions among the images), in that order.
  const features = async (source: InputSource, images: string[], hash: string, mirrored = false, only?: Int32Array) => {
    // bfloat16's features are their own entries; float32's keep the keys they always had.
    const key = keyOf({
      v: 2,
      hash,
      preprocessing: exp.data.preprocessing,
      layer: stats.layer,
      fixedWeights: extractor.weights,
      ...(precision === 'bf16' ? { compute: 'bfloat16' } : {}),
      ...(mirrored ? { mirrored } : {}),
      ...(only ? { only: [...only] } : {}),
    });
    const input = (start: number, n: number) => {
      const idx = Array.from({ length: n }, (_, i) => (only ? (only[start + i] as number) : start + i));
      const x = tf.tidy(() => (mirrored ? tf.reverse(source(idx), 2) : source(idx)));
      const floats = x.dataSync() as Float32Array;
      x.dispose();
      return floats;
    };
    const count = only ? only.length : images.length;
    const { rows, computed } = await cachedRows(
      path.join(dir, `${key}.f32`),
      count,
      dim,
      bs,
      input,
      extractor,
      onProgress,
    );
    stats[computed ? 'computed' : 'reused'] += count;
    return { rows, key };
  };
  const { train, validation, test } = data.splits;
  const images = [...train.files, ...validation.files, ...test.files];
  const all = await features(pixels.data, images, data.hash);
  const flip = flipOnly(exp);
  // Mirror images' rows serve the flip augmentation (every image) and test_time_flip's scoring (only
  // the images scored: validation and test, a twentieth of the rows where the split holds out 5%).
  const tta = exp.data.test_time_flip;
  const scored = Int32Array.from([...validation.index, ...test.index]).sort();
  const allMirrored = flip !== null ? await features(pixels.data, images, data.hash, true) : undefined;
  const mirrored = allMirrored
    ? { rows: allMirrored.rows, probability: flip as number }
    : tta
      ? { rows: (await features(pixels.data, images, data.hash, true, scored)).rows, probability: 0, only: scored }
      : undefined;
  const sets: Record<string, InputSource> = {};
  for (const [setName, set] of Object.entries(data.evaluationSets)) {
    const source = pixels.sets[setName] as InputSource;
    const { rows } = await features(source, set.files, set.hash);
    const flipped = tta
      ? { rows: (await features(source, set.files, set.hash, true)).rows, probability: 0 }
      : undefined;
    sets[setName] = rowSource(tf, rows, shape, flipped);
  }
  // Before a later unfreezing the whole backbone is fixed: its output, from the rows above, is what
  // the head-only epochs train on (training.ema averages the later stage's variables: not split then).
  const unfreeze = exp.model.backbone?.trainable;
  const until = typeof unfreeze === 'object' ? (unfreeze.at_epoch ?? 1) - 1 : 0;
  const spec = exp.model.backbone;
  let headOnly: HeadOnlyStage | undefined;
  if (spec && until > 0 && !exp.training.ema) {
    setBackboneTrainable(model, spec, 0);
    const whole = fixedCut(model, BACKBONE_SCOPE);
    setBackboneTrainable(model, spec);
    if (whole && whole !== cut) {
      const middle = fixedPart(tf, modelAfter(tf, model, cut, [whole]), threads, precision);
      const values = valuesOf(whole);
      const counted = { layer: whole.sourceLayer.name, values, computed: 0, reused: 0, epochs: until };
      const wholeRows = async (from: { rows: Float32Array; key: string }) => {
        const key = keyOf({ v: 1, from: from.key, layer: counted.layer, fixedWeights: middle.weights });
        const input = (start: number, n: number) => from.rows.subarray(start * dim, (start + n) * dim);
        const out = await cachedRows(
          path.join(dir, `${key}.f32`),
          images.length,
          values,
          bs,
          input,
          middle,
          onProgress,
        );
        counted[out.computed ? 'computed' : 'reused'] += images.length;
        return out.rows;
      };
      const rows = await wholeRows(all);
      const flipped = allMirrored ? { rows: await wholeRows(allMirrored), probability: flip as number } : undefined;
      const source = rowSource(tf, rows, whole.shape.slice(1) as number[], flipped);
      headOnly = { until, model: modelAfter(tf, model, whole), source };
      stats.headOnly = counted;
    }
  }
  stats.via = extractor.via();
  return {
    head: modelAfter(tf, model, cut),
    sources: { data: rowSource(tf, all.rows, shape, mirrored), sets },
    stats,
    ...(headOnly ? { headOnly } : {}),
  };
}
