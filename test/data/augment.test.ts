import type { Tensor4D } from '@tensorflow/tfjs-node';
import { describe, expect, it } from 'vitest';
import { augmentBatch, beta, mixBatch } from '../../src/data/augment.ts';
import { rng } from '../../src/platform/random.ts';
import { loadTensorflow } from '../../src/platform/tensorflow.ts';
import { AUGMENTATIONS } from '../../src/spec/augmentations.ts';
import type { RegistryChoice } from '../../src/spec/experiment.ts';

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

  /** A colourful 4x16x16x3 batch: a red-to-blue gradient with a green square, a different level per image. */
  async function colours() {
    const { tf } = await loadTensorflow();
    const data = new Float32Array(4 * 16 * 16 * 3);
    for (let n = 0; n < 4; n++)
      for (let y = 0; y < 16; y++)
        for (let x = 0; x < 16; x++) {
          const i = ((n * 16 + y) * 16 + x) * 3;
          const square = x > 4 && x < 11 && y > 4 && y < 11;
          data[i] = square ? 0.1 : x / 15;
          data[i + 1] = square ? 0.9 : 0.2 + n * 0.1;
          data[i + 2] = square ? 0.1 : 1 - x / 15;
        }
    return { tf, x: tf.tensor4d(data, [4, 16, 16, 3]) };
  }

  it('every registered augmentation changes the batch, stays in [0, 1] and repeats with its seed', async () => {
    const { tf, x } = await colours();
    const y = tf.oneHot(tf.tensor1d([0, 1, 0, 1], 'int32'), 2).toFloat();
    const strong: Record<string, RegistryChoice> = {
      rotate: { type: 'rotate', degrees: 30 },
      zoom: { type: 'zoom', range: 0.5 },
      random_crop: { type: 'random_crop', fraction: 0.5 },
      translate: { type: 'translate', fraction: 0.3 },
      brightness: { type: 'brightness', delta: 0.3 },
      contrast: { type: 'contrast', delta: 0.5 },
      saturation: { type: 'saturation', delta: 0.9 },
      hue: { type: 'hue', delta: 0.3 },
    };
    for (const type of Object.keys(AUGMENTATIONS)) {
      const spec: RegistryChoice = strong[type] ?? { type };
      // Params left out take the registry defaults, as resolving an experiment does.
      for (const [k, p] of Object.entries(
        (AUGMENTATIONS as Record<string, { params: Record<string, { default?: unknown }> }>)[type]?.params ?? {},
      ))
        if (spec[k] === undefined && p.default !== undefined) spec[k] = p.default as never;
      for (const k of ['probability']) if (k in spec) spec[k] = 1;
      const run = (seed: number) => {
        const a = augmentBatch(tf, x, [spec], rng(seed));
        return mixBatch(tf, a, y as never, [spec], rng(seed + 1000)).x;
      };
      const [a, b, c] = [run(7), run(7), run(8)];
      expect(Array.from(a.dataSync()), type).toEqual(Array.from(b.dataSync()));
      expect(Array.from(a.dataSync()), type).not.toEqual(Array.from(x.dataSync()));
      // At probability 1, flip and grayscale draw nothing else: the same for any seed.
      if (type !== 'flip_horizontal' && type !== 'grayscale')
        expect(Array.from(a.dataSync()), type).not.toEqual(Array.from(c.dataSync()));
      expect(tf.min(a).dataSync()[0], type).toBeGreaterThanOrEqual(-1e-6);
      expect(tf.max(a).dataSync()[0], type).toBeLessThanOrEqual(1 + 1e-6);
    }
  });

  it('grayscale gives equal channels; saturation 0 too; hue keeps grey levels', async () => {
    const { tf, x } = await colours();
    const spread = (t: Tensor4D) => t.max(3).sub(t.min(3)).max().dataSync()[0] as number;
    expect(spread(x)).toBeGreaterThan(0.5);
    expect(spread(augmentBatch(tf, x, [{ type: 'grayscale', probability: 1 }], rng(1)))).toBeLessThan(1e-5);
    // Luma is what a turn of the hue keeps (up to clipping at 0 and 1).
    const luma = (t: Tensor4D) => t.mul(tf.tensor1d([0.299, 0.587, 0.114])).sum(3);
    const grey = tf.fill([1, 4, 4, 3], 0.5) as Tensor4D;
    const turned = augmentBatch(tf, grey, [{ type: 'hue', delta: 0.5 }], rng(2));
    expect(turned.sub(grey).abs().max().dataSync()[0]).toBeLessThan(1e-5);
    const colour = tf.tensor4d([0.6, 0.4, 0.5], [1, 1, 1, 3]);
    const hue = augmentBatch(tf, colour, [{ type: 'hue', delta: 0.25 }], rng(3));
    expect(hue.sub(colour).abs().max().dataSync()[0]).toBeGreaterThan(0.01);
    expect(luma(hue).sub(luma(colour)).abs().max().dataSync()[0]).toBeLessThan(1e-3);
  });

  /** Applies `augs` one call each, with one generator, so each draws what it would draw in a single call. */
  function oneByOne(
    tf: Awaited<ReturnType<typeof loadTensorflow>>['tf'],
    x: Tensor4D,
    augs: RegistryChoice[],
    seed: number,
  ) {
    const random = rng(seed);
    return augs.reduce((t, a) => augmentBatch(tf, t, [a], random), x);
  }

  it('consecutive colour steps act as one transform: the same as one by one while nothing clips', async () => {
    const { tf } = await loadTensorflow();
    // Mid-range colours, small changes: no step reaches 0 or 1, so one clip at the end is no clip at all.
    const x = tf.randomUniform([4, 6, 6, 3], 0.35, 0.65, 'float32', 3) as Tensor4D;
    const augs: RegistryChoice[] = [
      { type: 'brightness', delta: 0.05 },
      { type: 'contrast', delta: 0.3 },
      { type: 'saturation', delta: 0.3 },
      { type: 'hue', delta: 0.05 },
      { type: 'contrast', delta: 0.3 },
      { type: 'grayscale', probability: 0.5 },
      { type: 'brightness', delta: 0.05 },
    ];
    const fused = augmentBatch(tf, x, augs, rng(11));
    expect(fused.sub(x).abs().max().dataSync()[0]).toBeGreaterThan(0.01);
    expect(
      fused
        .sub(oneByOne(tf, x, augs, 11))
        .abs()
        .max()
        .dataSync()[0],
    ).toBeLessThan(1e-5);
  });

  it('consecutive geometric steps resample once: on a linear ramp, the same as one by one away from the edges', async () => {
    const { tf } = await loadTensorflow();
    // Bilinear sampling reproduces a linear ramp exactly, so resampling once or three times agrees inside the image.
    const ramp = Float32Array.from(
      { length: 2 * 24 * 24 },
      (_, i) => ((i % 576) % 24) / 40 + Math.floor((i % 576) / 24) / 80,
    );
    const x = tf.tensor4d(ramp, [2, 24, 24, 1]);
    const augs: RegistryChoice[] = [
      { type: 'random_resized_crop', scale: [0.5, 0.7], ratio: [0.9, 1.1] },
      { type: 'rotate', degrees: 8 },
      { type: 'flip_horizontal', probability: 0.5 },
      { type: 'translate', fraction: 0.05 },
    ];
    const inner = (t: Tensor4D) => t.slice([0, 8, 8, 0], [2, 8, 8, 1]);
    const fused = augmentBatch(tf, x, augs, rng(12));
    expect(inner(fused).sub(inner(x)).abs().max().dataSync()[0]).toBeGreaterThan(0.01);
    expect(
      inner(fused)
        .sub(inner(oneByOne(tf, x, augs, 12)))
        .abs()
        .max()
        .dataSync()[0],
    ).toBeLessThan(1e-4);
  });

  it('blur keeps the mean and smooths edges; random erasing changes one rectangle per image', async () => {
    const { tf, x } = await colours();
    const blurred = augmentBatch(tf, x, [{ type: 'blur', sigma: 2, probability: 1 }], rng(4));
    // Blur keeps the total variation of a monotone edge but spreads it: squared steps shrink.
    const edges = (t: Tensor4D) =>
      t
        .slice([0, 0, 1, 0], [-1, -1, -1, -1])
        .sub(t.slice([0, 0, 0, 0], [-1, -1, 15, -1]))
        .square()
        .mean()
        .dataSync()[0] as number;
    expect(edges(blurred)).toBeLessThan(edges(x) * 0.8);
    expect(Math.abs((blurred.mean().dataSync()[0] as number) - (x.mean().dataSync()[0] as number))).toBeLessThan(0.02);
    const erased = augmentBatch(
      tf,
      x,
      [{ type: 'random_erasing', probability: 1, scale: [0.1, 0.1], ratio: [1, 1] }],
      rng(5),
    );
    const changed = erased.sub(x).abs().max(3).greater(1e-6).sum([1, 2]).dataSync();
    // 10% of 256 pixels: a 5x5 square (rounded), its noise differs from the image almost everywhere.
    for (const c of changed) expect(c).toBeGreaterThan(15);
    for (const c of changed) expect(c).toBeLessThanOrEqual(30);
  });

  it('random resized crop enlarges a region: a quarter of the area halves the gradient per pixel', async () => {
    const { tf, x } = await colours();
    const rrc = augmentBatch(tf, x, [{ type: 'random_resized_crop', scale: [0.25, 0.25], ratio: [1, 1] }], rng(6));
    // A quarter of the area (half of each side) spread over the whole image: half the change per pixel.
    const slope = (t: Tensor4D) =>
      t
        .slice([0, 0, 1, 0], [-1, 1, 1, 1])
        .sub(t.slice([0, 0, 0, 0], [-1, 1, 1, 1]))
        .abs()
        .mean()
        .dataSync()[0] as number;
    expect(slope(rrc)).toBeCloseTo(slope(x) / 2, 2);
    expect(rrc.shape).toEqual(x.shape);
  });

  it('mixup and cutmix give soft labels whose rows sum to 1, matching the pixels they mix', async () => {
    const { tf } = await loadTensorflow();
    // Image i is all (i+1)/10: the mixed pixel value says how much of each image went in.
    const x = tf.tensor4d(
      Array.from({ length: 4 * 8 * 8 * 3 }, (_, j) => (Math.floor(j / 192) + 1) / 10),
      [4, 8, 8, 3],
    );
    const y = tf.oneHot(tf.tensor1d([0, 1, 0, 1], 'int32'), 2).toFloat();
    for (const type of ['mixup', 'cutmix']) {
      const mixed = mixBatch(tf, x, y as never, [{ type, alpha: 1, probability: 1 }], rng(11));
      const sums = Array.from(mixed.y.sum(1).dataSync());
      for (const s of sums) expect(s).toBeCloseTo(1, 5);
      expect(Array.from(mixed.y.dataSync())).not.toEqual(Array.from(y.dataSync()));
      expect(Array.from(mixed.x.dataSync())).not.toEqual(Array.from(x.dataSync()));
      const again = mixBatch(tf, x, y as never, [{ type, alpha: 1, probability: 1 }], rng(11));
      expect(Array.from(again.y.dataSync())).toEqual(Array.from(mixed.y.dataSync()));
    }
    // Mixing with probability 0 leaves images and labels alone.
    const none = mixBatch(tf, x, y as never, [{ type: 'mixup', alpha: 1, probability: 0 }], rng(1));
    expect(Array.from(none.y.dataSync())).toEqual(Array.from(y.dataSync()));
  });

  it('draws Beta(a, a) weights with the right mean and spread', () => {
    const random = rng(3);
    const draws = Array.from({ length: 4000 }, () => beta(random, 0.4, 0.4));
    const mean = draws.reduce((s, v) => s + v, 0) / draws.length;
    const variance = draws.reduce((s, v) => s + (v - mean) ** 2, 0) / draws.length;
    expect(mean).toBeCloseTo(0.5, 1);
    // Var of Beta(a, a) = 1 / (4 (2a + 1)) = 0.139 for a = 0.4.
    expect(variance).toBeGreaterThan(0.12);
    expect(variance).toBeLessThan(0.16);
  });
});
