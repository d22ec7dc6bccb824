// `run-exp data <file> --preview`: a PNG grid of augmented training images, so
// that what an augmentation list does can be seen before training on it.
import type { Tensor2D, Tensor4D } from '@tensorflow/tfjs-node';
import sharp from 'sharp';
import { rng, shuffle } from '../platform/random.ts';
import type { Tf } from '../platform/tensorflow.ts';
import type { Experiment } from '../spec/experiment.ts';
import { augmentBatch, mixBatch } from './augment.ts';
import { toFloat } from './normalize.ts';
import type { PreparedData } from './prepare.ts';

/** Writes `count` training images, each as training would see it in epoch 1 (before normalization), to `file`. */
export async function writePreview(
  tf: Tf,
  exp: Experiment,
  data: PreparedData,
  file: string,
  count = 32,
): Promise<number> {
  const { index, labels } = data.splits.train;
  const picked = shuffle(
    Array.from(index, (_, p) => p),
    rng(exp.seed),
  ).slice(0, count);
  const n = picked.length;
  const [h, w, c] = data.shape;
  const random = rng(exp.seed * 104729);
  // The tensor, not its data, leaves tidy: tidy walks a returned typed array element by element.
  const images = tf.tidy(() => {
    const unit = new Float32Array(n * data.imageBytes);
    toFloat(
      data.pixels,
      data.imageBytes,
      c,
      picked.map((p) => index[p] as number),
      { normalize: 'unit' },
      unit,
    );
    const x = augmentBatch(tf, tf.tensor4d(unit, [n, h, w, c]), exp.data.augmentation, random);
    const y = tf
      .oneHot(
        tf.tensor1d(
          picked.map((p) => labels[p] as number),
          'int32',
        ),
        data.classes.length,
      )
      .toFloat();
    const mixed = mixBatch(tf, x as Tensor4D, y as Tensor2D, exp.data.augmentation, random);
    return mixed.x.mul(255).round().clipByValue(0, 255).toInt();
  });
  const pixels = images.dataSync() as Int32Array;
  images.dispose();
  const cols = Math.min(8, n);
  const rows = Math.ceil(n / cols);
  const gap = 2;
  const W = cols * (w + gap) - gap;
  const H = rows * (h + gap) - gap;
  const grid = Buffer.alloc(W * H * c, 255);
  for (let i = 0; i < n; i++) {
    const x0 = (i % cols) * (w + gap);
    const y0 = Math.floor(i / cols) * (h + gap);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w * c; x++) grid[((y0 + y) * W + x0) * c + x] = pixels[(i * h + y) * w * c + x] as number;
  }
  // Small inputs are scaled up (nearest neighbour) so each pixel stays visible.
  const scale = Math.max(1, Math.floor(512 / W));
  await sharp(grid, { raw: { width: W, height: H, channels: c as 1 | 3 } })
    .resize({ width: W * scale, height: H * scale, kernel: 'nearest' })
    .png()
    .toFile(file);
  return n;
}
