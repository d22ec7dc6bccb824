// Model input for batches of images: the cached uint8 pixels normalized (and
// augmented when training), or a frozen backbone part's precomputed rows.
import type { Tensor, Tensor4D } from '@tensorflow/tfjs-node';
import type { Tf } from '../platform/tensorflow.ts';
import type { Experiment } from '../spec/experiment.ts';
import { augmentBatch } from './augment.ts';
import { toFloat } from './normalize.ts';
import type { PreparedData } from './prepare.ts';

/** Uint8 images and where they sit: the training data, or an evaluation set beside it. */
export type Images = Pick<PreparedData, 'pixels' | 'imageBytes' | 'shape'>;

/** Float32 model input for `indices`, normalized (and augmented, for training). */
export function batchTensor(
  tf: Tf,
  exp: Experiment,
  data: Images,
  indices: Int32Array | number[],
  random?: () => number,
): Tensor4D {
  const [h, w, c] = data.shape;
  const p = exp.data.preprocessing;
  const augs = random ? exp.data.augmentation : [];
  const out = new Float32Array(indices.length * data.imageBytes);
  // Augmentations work on [0, 1] images; normalization follows them.
  toFloat(data.pixels, data.imageBytes, c, indices, augs.length ? { normalize: 'unit' } : p, out);
  const x = tf.tensor4d(out, [indices.length, h, w, c]);
  if (!augs.length || !random) return x;
  const result = tf.tidy(() => {
    const a = augmentBatch(tf, x, augs, random);
    if (p.normalize === 'unit') return a;
    if (p.normalize === 'symmetric') return a.mul(2).sub(1) as Tensor4D;
    return a.sub(tf.tensor1d(p.mean ?? [0])).div(tf.tensor1d(p.std ?? [1])) as Tensor4D;
  });
  // With only mixing augmentations (mixup, cutmix: applied to the batch later) the images come back as they were.
  if (result !== x) x.dispose();
  return result;
}

/**
 * Model input for a batch of image indexes; `mirrored` gives the mirror images' (for test_time_flip);
 * `floats`, where a source has them at hand, the same batch as floats without a tensor (what the
 * graph engine feeds its session).
 */
export type InputSource = ((indices: Int32Array | number[], random?: () => number) => Tensor) & {
  mirrored?: (indices: Int32Array | number[]) => Tensor;
  floats?: (indices: Int32Array | number[], random?: () => number) => Float32Array;
};

/** Where batches come from: the training data's images, and each evaluation set's. */
export interface Sources {
  data: InputSource;
  sets: Record<string, InputSource>;
}

/** Batches made from the uint8 pixels: normalized, and augmented when training. */
export function pixelSources(tf: Tf, exp: Experiment, data: PreparedData): Sources {
  const from = (images: Images): InputSource =>
    Object.assign(
      (indices: Int32Array | number[], random?: () => number) => batchTensor(tf, exp, images, indices, random),
      {
        mirrored: (indices: Int32Array | number[]) =>
          tf.tidy(() => tf.reverse(batchTensor(tf, exp, images, indices), 2)),
      },
    );
  return {
    data: from(data),
    sets: Object.fromEntries(
      Object.entries(data.evaluationSets).map(([name, set]) => [
        name,
        from({ pixels: set.pixels, imageBytes: data.imageBytes, shape: data.shape }),
      ]),
    ),
  };
}

/**
 * Batches of precomputed rows of `shape` (a frozen backbone's features). With
 * `mirrored`, a training batch takes an image's mirrored row with its
 * probability: a horizontal flip, drawn from the batch's seeded random.
 * Mirrored rows of only some images (`only`: their indexes, in the rows'
 * order) serve test_time_flip's scoring of those images, with no flip.
 */
export function rowSource(
  tf: Tf,
  rows: Float32Array,
  shape: number[],
  mirrored?: { rows: Float32Array; probability: number } | { rows: Float32Array; probability: 0; only: Int32Array },
): InputSource {
  const dim = shape.reduce((a, b) => a * b, 1);
  const rowsOf = (indices: Int32Array | number[], from: (i: number) => [Float32Array, number]) => {
    const out = new Float32Array(indices.length * dim);
    for (let k = 0; k < indices.length; k++) {
      const [which, r] = from(indices[k] as number);
      out.set(which.subarray(r * dim, (r + 1) * dim), k * dim);
    }
    return out;
  };
  const pick = (indices: Int32Array | number[], from: (i: number) => [Float32Array, number]) =>
    tf.tensor(rowsOf(indices, from), [indices.length, ...shape]);
  // No draw without a flip to draw for: test_time_flip alone leaves training's random stream as it was.
  const flip = mirrored && mirrored.probability > 0 ? mirrored : undefined;
  const drawn =
    (random?: () => number) =>
    (i: number): [Float32Array, number] => [flip && random && random() < flip.probability ? flip.rows : rows, i];
  const source = Object.assign(
    (indices: Int32Array | number[], random?: () => number) => pick(indices, drawn(random)),
    { floats: (indices: Int32Array | number[], random?: () => number) => rowsOf(indices, drawn(random)) },
  );
  if (!mirrored) return source;
  const at = 'only' in mirrored ? new Map(Array.from(mirrored.only, (i, r) => [i, r])) : null;
  const mirrorRow = (i: number): number => {
    const r = at ? at.get(i) : i;
    if (r === undefined) throw new Error(`image ${i} has no mirrored row: only the scored images' were computed`);
    return r;
  };
  return Object.assign(source, {
    mirrored: (indices: Int32Array | number[]) => pick(indices, (i) => [mirrored.rows, mirrorRow(i)]),
  });
}
