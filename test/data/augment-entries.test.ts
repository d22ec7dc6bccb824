// Every augmentation entry against an expectation computed by hand: each test
// scripts the entry's random draws, so the output is known pixel by pixel.
import type { Tensor4D } from '@tensorflow/tfjs-node';
import { describe, expect, it } from 'vitest';
import { augmentBatch, mixBatch } from '../../src/data/augment.ts';
import { rng } from '../../src/platform/random.ts';
import { loadTensorflow, type Tf } from '../../src/platform/tensorflow.ts';
import { AUGMENTATIONS } from '../../src/spec/augmentations.ts';
import type { RegistryChoice } from '../../src/spec/experiment.ts';

type Pixel = (n: number, y: number, x: number, c: number) => number;

/** The given draws in order, then (when they run out) a seeded stream. */
const draws = (...values: number[]) => {
  const rest = rng(7);
  return () => (values.length ? (values.shift() as number) : rest());
};

/** A batch [n, h, w, c] whose pixel values come from `f`. */
function images(tf: Tf, shape: [number, number, number, number], f: Pixel): Tensor4D {
  const [n, h, w, c] = shape;
  const data = new Float32Array(n * h * w * c);
  for (let i = 0; i < n; i++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) data[((i * h + y) * w + x) * c + k] = f(i, y, x, k);
  return tf.tensor4d(data, shape);
}

/** Every pixel of `t` against `f`, to 1e-5. */
function expectPixels(t: Tensor4D, f: Pixel): void {
  const [n, h, w, c] = t.shape;
  const got = t.dataSync();
  let worst = 0;
  for (let i = 0; i < n; i++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let k = 0; k < c; k++)
          worst = Math.max(worst, Math.abs((got[((i * h + y) * w + x) * c + k] as number) - f(i, y, x, k)));
  expect(worst).toBeLessThan(1e-5);
}

const apply = (tf: Tf, x: Tensor4D, aug: RegistryChoice, random: () => number) => augmentBatch(tf, x, [aug], random);

/** A linear ramp: bilinear resampling of it is exact, so a geometric map shows in its values. */
const ramp: Pixel = (_n, y, x, c) => (10 * y + x + 0.1 * c) / 100;
/** Distinct values in every pixel and channel, for the maps that move whole pixels. */
const distinct: Pixel = (n, y, x, c) => (((n * 7 + y) * 11 + x) * 3 + c) / 1000;
const colours: Pixel = (n, y, x, c) => ([0.9, 0.5, 0.1][c] as number) - 0.05 * ((y + x + n) % 3);
const LUMA = [0.299, 0.587, 0.114];

describe('each augmentation entry, by hand', () => {
  it('flip_horizontal mirrors the images whose draw is under the probability', async () => {
    const { tf } = await loadTensorflow();
    const x = images(tf, [2, 3, 5, 3], distinct);
    const out = apply(tf, x, { type: 'flip_horizontal', probability: 0.5 }, draws(0.3, 0.7));
    expectPixels(out, (n, y, xx, c) => distinct(n, y, n === 0 ? 4 - xx : xx, c));
  });

  it('rotate turns about the centre: a draw of 0.75 of [-180, 180] is a quarter turn', async () => {
    const { tf } = await loadTensorflow();
    const x = images(tf, [1, 5, 5, 3], distinct);
    const out = apply(tf, x, { type: 'rotate', degrees: 180 }, draws(0.75));
    // The output pixel (y, x) reads the input at (x, 4 - y).
    expectPixels(out, (n, y, xx, c) => distinct(n, xx, 4 - y, c));
  });

  it('zoom by the whole range enlarges the top-left quarter when the place draws are 0', async () => {
    const { tf } = await loadTensorflow();
    const x = images(tf, [1, 5, 5, 3], ramp);
    const out = apply(tf, x, { type: 'zoom', range: 1 }, draws(1, 0, 0));
    expectPixels(out, (n, y, xx, c) => ramp(n, 0.5 * y, 0.5 * xx, c));
  });

  it('random_crop of half the side, placed at the middle of its range, enlarges the centre', async () => {
    const { tf } = await loadTensorflow();
    const x = images(tf, [1, 5, 5, 3], ramp);
    const out = apply(tf, x, { type: 'random_crop', fraction: 0.5 }, draws(0.5, 0.5));
    expectPixels(out, (n, y, xx, c) => ramp(n, 0.5 * y + 1, 0.5 * xx + 1, c));
  });

  it('random_resized_crop of a quarter of the area, square, at the corner', async () => {
    const { tf } = await loadTensorflow();
    const x = images(tf, [1, 5, 5, 3], ramp);
    const aug = { type: 'random_resized_crop', scale: [0.25, 0.25], ratio: [1, 1] };
    const out = apply(tf, x, aug, draws(0.3, 0.6, 0, 0));
    expectPixels(out, (n, y, xx, c) => ramp(n, 0.5 * y, 0.5 * xx, c));
  });

  it('translate shifts by whole pixels and reflects at the edge', async () => {
    const { tf } = await loadTensorflow();
    const x = images(tf, [1, 4, 4, 3], distinct);
    // x shift: (2 * 1 - 1) * 0.25 * 4 = 1 pixel; y shift: 0.
    const out = apply(tf, x, { type: 'translate', fraction: 0.25 }, draws(1, 0.5));
    expectPixels(out, (n, y, xx, c) => distinct(n, y, Math.min(xx + 1, 3), c));
  });

  it('brightness adds its offset and clips at 1', async () => {
    const { tf } = await loadTensorflow();
    const x = images(tf, [1, 3, 3, 3], ramp);
    const bright = images(tf, [1, 3, 3, 3], (n, y, xx, c) => 0.7 + ramp(n, y, xx, c));
    expectPixels(apply(tf, x, { type: 'brightness', delta: 0.2 }, draws(1)), (n, y, xx, c) => ramp(n, y, xx, c) + 0.2);
    expectPixels(apply(tf, bright, { type: 'brightness', delta: 0.2 }, draws(1)), (n, y, xx, c) =>
      Math.min(1, 0.9 + ramp(n, y, xx, c)),
    );
  });

  it("contrast halves each channel's distance from its mean", async () => {
    const { tf } = await loadTensorflow();
    const x = images(tf, [1, 3, 3, 3], ramp);
    // The mean of channel c over the 3x3 ramp is (10 + 1 + 0.1 c) / 100.
    const mean = (c: number) => (11 + 0.1 * c) / 100;
    const out = apply(tf, x, { type: 'contrast', delta: 0.5 }, draws(0));
    expectPixels(out, (n, y, xx, c) => 0.5 * ramp(n, y, xx, c) + 0.5 * mean(c));
  });

  it('saturation moves each pixel halfway to its grey level', async () => {
    const { tf } = await loadTensorflow();
    const x = images(tf, [1, 3, 3, 3], colours);
    const grey = (n: number, y: number, xx: number) =>
      [0, 1, 2].reduce((s, k) => s + (LUMA[k] as number) * colours(n, y, xx, k), 0);
    const out = apply(tf, x, { type: 'saturation', delta: 0.5 }, draws(0));
    expectPixels(out, (n, y, xx, c) => 0.5 * colours(n, y, xx, c) + 0.5 * grey(n, y, xx));
  });

  it('hue by half a turn negates the two colour axes of YIQ', async () => {
    const { tf } = await loadTensorflow();
    const x = images(tf, [1, 3, 3, 3], colours);
    // NTSC YIQ and its inverse.
    const toYiq = [
      [0.299, 0.587, 0.114],
      [0.596, -0.274, -0.322],
      [0.211, -0.523, 0.312],
    ];
    const toRgb = [
      [1, 0.956, 0.621],
      [1, -0.272, -0.647],
      [1, -1.106, 1.703],
    ];
    const turned = (n: number, y: number, xx: number, c: number) => {
      const rgb = [0, 1, 2].map((k) => colours(n, y, xx, k));
      const [yy, i, q] = toYiq.map((row) => row.reduce((s, v, k) => s + v * (rgb[k] as number), 0)) as [
        number,
        number,
        number,
      ];
      const row = toRgb[c] as number[];
      return Math.min(1, Math.max(0, (row[0] as number) * yy - (row[1] as number) * i - (row[2] as number) * q));
    };
    expectPixels(apply(tf, x, { type: 'hue', delta: 0.5 }, draws(1)), turned);
  });

  it('grayscale puts the grey level in every channel of the images drawn for it', async () => {
    const { tf } = await loadTensorflow();
    const x = images(tf, [2, 3, 3, 3], colours);
    const grey = (n: number, y: number, xx: number) =>
      [0, 1, 2].reduce((s, k) => s + (LUMA[k] as number) * colours(n, y, xx, k), 0);
    const out = apply(tf, x, { type: 'grayscale', probability: 0.5 }, draws(0.2, 0.8));
    expectPixels(out, (n, y, xx, c) => (n === 0 ? grey(n, y, xx) : colours(n, y, xx, c)));
  });

  it('blur spreads an impulse into the outer product of a normalized Gaussian of the drawn sigma', async () => {
    const { tf } = await loadTensorflow();
    const x = images(tf, [1, 9, 9, 1], (_n, y, xx) => (y === 4 && xx === 4 ? 1 : 0));
    // Drawn: applied (0 < 1), sigma = 0.1 + 0.9 * 1 = 1; radius ceil(3 sigma) = 3.
    const g = [-3, -2, -1, 0, 1, 2, 3].map((d) => Math.exp(-(d * d) / 2));
    const sum = g.reduce((a, b) => a + b, 0);
    const tap = (d: number) => (Math.abs(d) <= 3 ? (g[d + 3] as number) / sum : 0);
    const out = apply(tf, x, { type: 'blur', sigma: 1, probability: 1 }, draws(0, 1));
    expectPixels(out, (_n, y, xx) => tap(y - 4) * tap(xx - 4));
  });

  it('random_erasing fills its rectangle with seeded noise and leaves the rest', async () => {
    const { tf } = await loadTensorflow();
    const x = images(tf, [1, 8, 8, 3], () => 0.5);
    // Drawn: applied, area 0.25, aspect 1, top 0.25, left 0.25 (of 1 - 0.5), then the noise seed.
    const seedDraw = 0.123;
    const out = apply(
      tf,
      x,
      { type: 'random_erasing', probability: 1, scale: [0.25, 0.25], ratio: [1, 1] },
      draws(0, 0.5, 0.5, 0.5, 0.5, seedDraw),
    );
    const noise = tf.randomUniform([1, 8, 8, 3], 0, 1, 'float32', Math.floor(seedDraw * 2 ** 31)).dataSync();
    const inside = (y: number, xx: number) => y >= 2 && y < 6 && xx >= 2 && xx < 6;
    expectPixels(out, (_n, y, xx, c) => (inside(y, xx) ? (noise[(y * 8 + xx) * 3 + c] as number) : 0.5));
  });

  it('mixup blends each image with its partner by the weight its label keeps', async () => {
    const { tf } = await loadTensorflow();
    const x = images(tf, [2, 3, 3, 3], distinct);
    const y = tf.tensor2d([1, 0, 0, 1], [2, 2]);
    // The shuffle's one draw (0.1) pairs image 0 with 1; the Beta weights come from the seeded stream.
    const mixed = mixBatch(tf, x, y, [{ type: 'mixup', alpha: 1, probability: 1 }], draws(0.1));
    const labels = mixed.y.arraySync() as number[][];
    const own = [labels[0]?.[0] as number, labels[1]?.[1] as number];
    expect(own.every((l) => l > 0 && l < 1)).toBe(true);
    for (const row of labels) expect((row[0] as number) + (row[1] as number)).toBeCloseTo(1, 6);
    expectPixels(
      mixed.x,
      (n, yy, xx, c) =>
        (own[n] as number) * distinct(n, yy, xx, c) + (1 - (own[n] as number)) * distinct(1 - n, yy, xx, c),
    );
  });

  it("cutmix pastes a rectangle of the partner's pixels whose area is the partner's label weight", async () => {
    const { tf } = await loadTensorflow();
    const x = images(tf, [2, 8, 8, 1], (n) => n);
    const y = tf.tensor2d([1, 0, 0, 1], [2, 2]);
    const mixed = mixBatch(tf, x, y, [{ type: 'cutmix', alpha: 1, probability: 1 }], draws(0.1));
    const labels = mixed.y.arraySync() as number[][];
    const pixels = mixed.x.dataSync();
    for (const n of [0, 1]) {
      const image = Array.from(pixels.subarray(n * 64, (n + 1) * 64));
      // Every pixel is its own (n) or its partner's (1 - n); the partner's share is the partner's weight.
      expect(image.every((v) => v === n || v === 1 - n)).toBe(true);
      const pasted = image.filter((v) => v === 1 - n).length / 64;
      expect(labels[n]?.[1 - n]).toBeCloseTo(pasted, 6);
    }
  });

  it('covers every entry of the registry', () => {
    const tested = [
      'flip_horizontal',
      'rotate',
      'zoom',
      'random_crop',
      'random_resized_crop',
      'translate',
      'brightness',
      'contrast',
      'saturation',
      'hue',
      'grayscale',
      'blur',
      'random_erasing',
      'mixup',
      'cutmix',
    ];
    expect(Object.keys(AUGMENTATIONS).sort()).toEqual(tested.sort());
  });
});
