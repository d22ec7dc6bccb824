import type { Tensor4D } from '@tensorflow/tfjs-node';
import { describe, expect, it } from 'vitest';
import { loadTensorflow } from '../../src/backend/tensorflow.ts';
import type { RegistryChoice } from '../../src/config/experiment.ts';
import { augmentBatch } from '../../src/data/augment.ts';
import { rng } from '../../src/data/random.ts';

async function batch() {
  const { tf } = await loadTensorflow();
  // 4 images 8x8x3: a bright left half, a dark right half, a different level per image.
  const data = new Float32Array(4 * 8 * 8 * 3);
  for (let n = 0; n < 4; n++) {
    for (let y = 0; y < 8; y++)
      for (let x = 0; x < 8; x++)
        for (let c = 0; c < 3; c++) data[((n * 8 + y) * 8 + x) * 3 + c] = x < 4 ? 0.8 - n * 0.1 : 0.2;
  }
  return { tf, x: tf.tensor4d(data, [4, 8, 8, 3]) };
}

describe('augmentation', () => {
  it('is the same for the same seed and different for another', async () => {
    const { tf, x } = await batch();
    const augs: RegistryChoice[] = [
      { type: 'flip_horizontal', probability: 0.5 },
      { type: 'rotate', degrees: 20 },
      { type: 'zoom', range: 0.3 },
      { type: 'brightness', delta: 0.1 },
      { type: 'contrast', delta: 0.2 },
    ];
    const a = augmentBatch(tf, x, augs, rng(5));
    const b = augmentBatch(tf, x, augs, rng(5));
    const c = augmentBatch(tf, x, augs, rng(6));
    expect(a.shape).toEqual([4, 8, 8, 3]);
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    expect(Array.from(a.dataSync())).not.toEqual(Array.from(c.dataSync()));
    expect(tf.min(a).dataSync()[0]).toBeGreaterThanOrEqual(0);
    expect(tf.max(a).dataSync()[0]).toBeLessThanOrEqual(1);
  });

  it('flip with probability 1 mirrors every image; 0 leaves them', async () => {
    const { tf, x } = await batch();
    const flipped = augmentBatch(tf, x, [{ type: 'flip_horizontal', probability: 1 }], rng(1));
    expect(Array.from(flipped.dataSync())).toEqual(Array.from(tf.reverse(x, 2).dataSync()));
    const same = augmentBatch(tf, x, [{ type: 'flip_horizontal', probability: 0 }], rng(1));
    expect(Array.from(same.dataSync())).toEqual(Array.from(x.dataSync()));
  });

  it('brightness moves each image by at most delta; contrast keeps each image mean', async () => {
    const { tf, x } = await batch();
    const bright = augmentBatch(tf, x, [{ type: 'brightness', delta: 0.1 }], rng(2));
    const shift = bright.sub(x).abs().max().dataSync()[0] as number;
    expect(shift).toBeGreaterThan(0);
    expect(shift).toBeLessThanOrEqual(0.1 + 1e-6);
    const contrast = augmentBatch(tf, x, [{ type: 'contrast', delta: 0.5 }], rng(3));
    const means = (t: Tensor4D) => Array.from(t.mean([1, 2, 3]).dataSync()).map((v) => +v.toFixed(4));
    expect(means(contrast)).toEqual(means(x));
  });

  it('rotate turns the image about its centre; 180 degrees at most, bilinear, edges reflected', async () => {
    const { tf, x } = await batch();
    const r = augmentBatch(tf, x, [{ type: 'rotate', degrees: 180 }], rng(9));
    expect(r.shape).toEqual(x.shape);
    expect(Array.from(r.dataSync())).not.toEqual(Array.from(x.dataSync()));
    // Rotation keeps values inside the range of the input.
    expect(tf.min(r).dataSync()[0]).toBeGreaterThanOrEqual(0.2 - 1e-5);
    expect(tf.max(r).dataSync()[0]).toBeLessThanOrEqual(0.8 + 1e-5);
  });

  it('random crop of fraction 0.5 enlarges a quarter of each image back to full size', async () => {
    const { tf, x } = await batch();
    const crop = augmentBatch(tf, x, [{ type: 'random_crop', fraction: 0.5 }], rng(4));
    expect(crop.shape).toEqual([4, 8, 8, 3]);
    expect(Array.from(crop.dataSync())).not.toEqual(Array.from(x.dataSync()));
  });
});
