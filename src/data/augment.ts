// On-the-fly augmentation of a training batch: [0, 1] float images in, the
// same shape out, as whole-batch TensorFlow ops (no per-pixel JavaScript).
// Every random choice is drawn from the given seeded generator (noise tensors
// get seeds from it too), so an epoch's augmentations repeat exactly.
import type { Tensor2D, Tensor4D } from '@tensorflow/tfjs-node';
import { shuffle } from '../platform/random.ts';
import type { Tf } from '../platform/tensorflow.ts';
import type { AUGMENTATIONS, Stage } from '../spec/augmentations.ts';
import type { RegistryChoice } from '../spec/experiment.ts';

type Random = () => number;

const uniform = (random: Random, lo: number, hi: number) => lo + (hi - lo) * random();
const logUniform = (random: Random, lo: number, hi: number) => Math.exp(uniform(random, Math.log(lo), Math.log(hi)));
const range = (v: unknown) => {
  const [a, b] = v as [number, number];
  return [Math.min(a, b), Math.max(a, b)] as const;
};

/** Standard normal, Box-Muller. */
function normal(random: Random): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** Gamma(shape, 1), Marsaglia and Tsang; shape < 1 boosted by a uniform power. */
function gamma(random: Random, shape: number): number {
  if (shape < 1) return gamma(random, shape + 1) * (1 - random()) ** (1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = normal(random);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - random();
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

export function beta(random: Random, a: number, b: number): number {
  const x = gamma(random, a);
  return x / (x + gamma(random, b));
}

/** [n, 1, 1, 1] of per-image values. */
const perImage = (tf: Tf, values: number[], dtype: 'float32' | 'bool' = 'float32') =>
  tf.tensor4d(values, [values.length, 1, 1, 1], dtype);

/** Boxes [y1, x1, y2, x2] (fractions) of a region with the given area fraction and pixel aspect, at a random place. */
function regionBox(random: Random, area: number, aspect: number, h: number, w: number): number[] | null {
  const bw = Math.sqrt((area * aspect * h) / w);
  const bh = Math.sqrt((area / aspect) * (w / h));
  if (bw > 1 || bh > 1) return null;
  const y = uniform(random, 0, 1 - bh);
  const x = uniform(random, 0, 1 - bw);
  return [y, x, y + bh, x + bw];
}

/** A 3x3 matrix, row-major. */
type Mat = number[];
const IDENTITY: Mat = [1, 0, 0, 0, 1, 0, 0, 0, 1];

/** a . b for square row-major matrices of side `k`. */
function matMul(a: Mat, b: Mat, k = 3): Mat {
  return Array.from({ length: k * k }, (_, ij) => {
    const i = Math.floor(ij / k);
    const j = ij % k;
    let sum = 0;
    for (let m = 0; m < k; m++) sum += (a[i * k + m] as number) * (b[m * k + j] as number);
    return sum;
  });
}

const isIdentity = (m: Mat, k = 3) => m.every((v, ij) => v === (ij % (k + 1) === 0 ? 1 : 0));

/** Rotation about the image centre by t radians, as an output -> input pixel map. */
function rotation(t: number, h: number, w: number): Mat {
  const cx = (w - 1) / 2;
  const cy = (h - 1) / 2;
  const c = Math.cos(t);
  const s = Math.sin(t);
  return [c, -s, cx - c * cx + s * cy, s, c, cy - s * cx - c * cy, 0, 0, 1];
}

/** The output -> input pixel map that enlarges the box [y1, x1, y2, x2] (fractions) to the whole image, as cropAndResize does. */
const boxMap = ([y1, x1, y2, x2]: number[], h: number, w: number): Mat => [
  (x2 as number) - (x1 as number),
  0,
  (x1 as number) * (w - 1),
  0,
  (y2 as number) - (y1 as number),
  (y1 as number) * (h - 1),
  0,
  0,
  1,
];

const LUMA = [0.299, 0.587, 0.114];

/** RGB -> YIQ and back: a hue turn is a rotation of the I-Q plane. */
const YIQ = [
  [0.299, 0.587, 0.114],
  [0.596, -0.274, -0.322],
  [0.211, -0.523, 0.312],
];
const RGB = [
  [1, 0.956, 0.621],
  [1, -0.272, -0.647],
  [1, -1.106, 1.703],
];

function hueMatrix(turn: number): number[] {
  const c = Math.cos(turn * 2 * Math.PI);
  const s = Math.sin(turn * 2 * Math.PI);
  const rot = [
    [1, 0, 0],
    [0, c, -s],
    [0, s, c],
  ];
  const mul = (a: number[][], b: number[][]) =>
    a.map((row) =>
      (b[0] as number[]).map((_, j) => row.reduce((sum, v, k) => sum + v * ((b[k] as number[])[j] as number), 0)),
    );
  // Row-vector pixels times the transpose of RGB . rot . YIQ.
  const m = mul(RGB, mul(rot, YIQ));
  return [0, 1, 2].flatMap((i) => [0, 1, 2].map((j) => (m[j] as number[])[i] as number));
}

/** A normalized 1-D Gaussian of `size` taps; sigma 0 is the identity. */
function gaussian(sigma: number, size: number): number[] {
  const r = (size - 1) / 2;
  if (sigma <= 0) return Array.from({ length: size }, (_, i) => (i === r ? 1 : 0));
  const g = Array.from({ length: size }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)));
  const s = g.reduce((a, b) => a + b, 0);
  return g.map((v) => v / s);
}

/** Per-image blur: the batch folded into channels, so one depthwise convolution gives each image its own kernel. */
function blur(tf: Tf, x: Tensor4D, sigmas: number[], maxSigma: number): Tensor4D {
  const [n, h, w, c] = x.shape;
  const r = Math.max(1, Math.min(Math.ceil(3 * maxSigma), h - 1, w - 1));
  const size = 2 * r + 1;
  const taps = sigmas.flatMap((s) => Array.from({ length: c }, () => gaussian(s, size)));
  // [size, n*c] -> filters [size, 1, n*c, 1] and [1, size, n*c, 1].
  const k = tf.tensor2d(taps, [n * c, size]).transpose();
  const folded = x.transpose([1, 2, 0, 3]).reshape([1, h, w, n * c]) as Tensor4D;
  const padded = tf.mirrorPad(
    folded,
    [
      [0, 0],
      [r, r],
      [r, r],
      [0, 0],
    ],
    'reflect',
  );
  const vertical = tf.depthwiseConv2d(padded, k.reshape([size, 1, n * c, 1]) as never, 1, 'valid');
  const both = tf.depthwiseConv2d(vertical, k.reshape([1, size, n * c, 1]) as never, 1, 'valid');
  return both.reshape([h, w, n, c]).transpose([2, 0, 1, 3]) as Tensor4D;
}

/** A [n, h, w, 1] mask of one rectangle per image, given in pixels [y0, x0, y1, x1] (empty when y1 <= y0). */
function rectangles(tf: Tf, boxes: number[][], h: number, w: number): Tensor4D {
  const col = (i: number) =>
    perImage(
      tf,
      boxes.map((b) => b[i] as number),
    );
  const ys = tf.range(0, h).reshape([1, h, 1, 1]);
  const xs = tf.range(0, w).reshape([1, 1, w, 1]);
  return ys
    .greaterEqual(col(0))
    .logicalAnd(ys.less(col(2)))
    .logicalAnd(xs.greaterEqual(col(1)))
    .logicalAnd(xs.less(col(3))) as Tensor4D;
}

/**
 * Applies `f` only to the images flagged in `on`: they are gathered, changed
 * and put back, so an augmentation drawn for a few images of the batch costs
 * a few images' work.
 */
function onSome(tf: Tf, x: Tensor4D, on: number[], f: (some: Tensor4D, picked: number[]) => Tensor4D): Tensor4D {
  const picked = on.flatMap((b, i) => (b ? [i] : []));
  if (picked.length === 0) return x;
  if (picked.length === on.length) return f(x, picked);
  const idx = tf.tensor1d(picked, 'int32');
  return tf.tensorScatterUpdate(x, idx.reshape([-1, 1]), f(x.gather(idx) as Tensor4D, picked));
}

function seed(random: Random): number {
  return Math.floor(random() * 2 ** 31);
}

/** What a run of consecutive augmentations of one stage draws for each image of the batch. */
interface Pending {
  /** Output -> input pixel maps, one per image. */
  geometry: Mat[];
  /** Colour of x = x0 . colour + mean(x0) . fromMean + offset, per image (c x c matrices, c offsets). */
  colour: Mat[];
  fromMean: Mat[];
  offset: number[][];
}

/** The identity on `c` channels. */
const eye = (c: number): Mat => Array.from({ length: c * c }, (_, ij) => (ij % (c + 1) === 0 ? 1 : 0));

/** out_j = sum_i x_i . LUMA_i for every j: the grey level in every channel. */
const GREY: Mat = [0, 1, 2].flatMap((i) => [LUMA[i], LUMA[i], LUMA[i]] as number[]);

type Geometry = (aug: RegistryChoice, n: number, h: number, w: number, random: Random) => Mat[];
type Colour = (aug: RegistryChoice, n: number, c: number, random: Random, at: Pending) => void;
type Pixels = (tf: Tf, x: Tensor4D, aug: RegistryChoice, random: Random) => Tensor4D;
/** Blends each image (and label) with its partner's in the batch. */
type Mix = (
  tf: Tf,
  batch: { x: Tensor4D; y: Tensor2D; px: Tensor4D; py: Tensor2D },
  aug: RegistryChoice,
  random: Random,
) => { x: Tensor4D; y: Tensor2D };

/** What an entry does, by the stage its declaration names (spec/augmentations.ts). */
type Behaviour<S extends Stage> = S extends 'geometry'
  ? { geometry: Geometry }
  : S extends 'colour'
    ? { colour: Colour }
    : S extends 'pixels'
      ? { pixels: Pixels }
      : { mix: Mix };

const num = (aug: RegistryChoice, k: string) => aug[k] as number;

/** A square of side `side(random)` (a fraction of the image) at a random place, enlarged to the whole image. */
const square =
  (side: (aug: RegistryChoice, random: Random) => number): Geometry =>
  (aug, n, h, w, random) =>
    Array.from({ length: n }, () => {
      const s = side(aug, random);
      const y = uniform(random, 0, 1 - s);
      const x = uniform(random, 0, 1 - s);
      return boxMap([y, x, y + s, x + s], h, w);
    });

/** Each image's colour map composed after the pending one: x' = x . a + b. */
function then(at: Pending, c: number, i: number, a: Mat | null, b: number): void {
  if (a) {
    at.colour[i] = matMul(at.colour[i] as Mat, a, c);
    at.fromMean[i] = matMul(at.fromMean[i] as Mat, a, c);
    const o = at.offset[i] as number[];
    at.offset[i] = o.map((_, j) => o.reduce((sum, v, k) => sum + v * (a[k * c + j] as number), 0));
  }
  if (b) at.offset[i] = (at.offset[i] as number[]).map((v) => v + b);
}

const draws = <T>(n: number, f: () => T): T[] => Array.from({ length: n }, f);
const factors = (n: number, random: Random, d: number) => draws(n, () => uniform(random, 1 - d, 1 + d));

/** Per-image blur of a random sigma in [0.1, sigma], on the images drawn for it. */
const blurEntry: Pixels = (tf, x, aug, random) => {
  const max = num(aug, 'sigma');
  const p = num(aug, 'probability');
  const on = draws(x.shape[0], () => (random() < p ? 1 : 0));
  const sigmas = on.map((b) => (b ? uniform(random, 0.1, max) : 0));
  return onSome(tf, x, on, (some, picked) =>
    blur(
      tf,
      some,
      picked.map((i) => sigmas[i] as number),
      max,
    ),
  );
};

/** A rectangle of random area and aspect filled with uniform noise, on the images drawn for it. */
const erasingEntry: Pixels = (tf, x, aug, random) => {
  const [n, h, w, c] = x.shape;
  const [s0, s1] = range(aug.scale);
  const [r0, r1] = range(aug.ratio);
  const p = num(aug, 'probability');
  const boxes = draws(n, () => (random() < p ? 1 : 0)).map((on) => {
    if (!on) return [0, 0, 0, 0];
    for (let tries = 0; tries < 10; tries++) {
      const box = regionBox(random, uniform(random, s0, s1), logUniform(random, r0, r1), h, w);
      if (box)
        return [box[0] as number, box[1] as number, box[2] as number, box[3] as number].map((v, i) =>
          Math.round(v * (i % 2 ? w : h)),
        );
    }
    return [0, 0, 0, 0];
  });
  const noiseSeed = seed(random);
  const on = boxes.map((b) => ((b[2] as number) > (b[0] as number) ? 1 : 0));
  return onSome(tf, x, on, (some, picked) => {
    const noise = tf.randomUniform(some.shape, 0, 1, 'float32', noiseSeed);
    const inside = rectangles(
      tf,
      picked.map((i) => boxes[i] as number[]),
      h,
      w,
    );
    return tf.where(inside.tile([1, 1, 1, c]), noise, some) as Tensor4D;
  });
};

/** Labels (and pixels) weighted per image: `keep` of the image's own, the rest of its partner's. */
const blendLabels = (tf: Tf, y: Tensor2D, py: Tensor2D, keep: number[]) => {
  const k = tf.tensor2d(keep, [keep.length, 1]);
  return y.mul(k).add(py.mul(tf.scalar(1).sub(k))) as Tensor2D;
};

/**
 * Every registry entry's behaviour, of the kind its stage calls for: an entry
 * without one, or with the wrong kind, does not compile.
 */
const BEHAVIOURS: { [K in keyof typeof AUGMENTATIONS]: Behaviour<(typeof AUGMENTATIONS)[K]['stage']> } = {
  flip_horizontal: {
    geometry: (aug, n, _h, w, random) =>
      draws(n, () => (random() < num(aug, 'probability') ? [-1, 0, w - 1, 0, 1, 0, 0, 0, 1] : IDENTITY)),
  },
  rotate: {
    geometry: (aug, n, h, w, random) => {
      const d = num(aug, 'degrees');
      return draws(n, () => rotation((uniform(random, -d, d) * Math.PI) / 180, h, w));
    },
  },
  zoom: { geometry: square((aug, random) => 1 / (1 + uniform(random, 0, num(aug, 'range')))) },
  random_crop: { geometry: square((aug) => num(aug, 'fraction')) },
  random_resized_crop: {
    geometry: (aug, n, h, w, random) => {
      const [s0, s1] = range(aug.scale);
      const [r0, r1] = range(aug.ratio);
      return draws(n, () => {
        for (let tries = 0; tries < 10; tries++) {
          const box = regionBox(random, uniform(random, s0, s1), logUniform(random, r0, r1), h, w);
          if (box) return boxMap(box, h, w);
        }
        return IDENTITY;
      });
    },
  },
  translate: {
    geometry: (aug, n, h, w, random) => {
      const f = num(aug, 'fraction');
      return draws(n, () => [1, 0, uniform(random, -f, f) * w, 0, 1, uniform(random, -f, f) * h, 0, 0, 1]);
    },
  },
  brightness: {
    colour: (aug, n, c, random, at) => {
      const d = num(aug, 'delta');
      for (let i = 0; i < n; i++) then(at, c, i, null, uniform(random, -d, d));
    },
  },
  contrast: {
    // x' = f x + (1 - f) mean(x), where mean(x) = mean(x0) . (colour + fromMean) + offset.
    colour: (aug, n, _c, random, at) => {
      const fs = factors(n, random, num(aug, 'delta'));
      for (let i = 0; i < n; i++) {
        const f = fs[i] as number;
        const m = at.colour[i] as Mat;
        at.fromMean[i] = (at.fromMean[i] as Mat).map((v, ij) => v + (1 - f) * (m[ij] as number));
        at.colour[i] = m.map((v) => v * f);
      }
    },
  },
  // Saturation, hue and grayscale act on RGB only; they still draw, so the draws stay in step.
  saturation: {
    colour: (aug, n, c, random, at) => {
      const fs = factors(n, random, num(aug, 'delta'));
      for (let i = 0; i < n && c === 3; i++) {
        const f = fs[i] as number;
        then(
          at,
          c,
          i,
          IDENTITY.map((v, ij) => f * v + (1 - f) * (GREY[ij] as number)),
          0,
        );
      }
    },
  },
  hue: {
    colour: (aug, n, c, random, at) => {
      const d = num(aug, 'delta');
      const turns = draws(n, () => uniform(random, -d, d));
      for (let i = 0; i < n && c === 3; i++) then(at, c, i, hueMatrix(turns[i] as number), 0);
    },
  },
  grayscale: {
    colour: (aug, n, c, random, at) => {
      const p = num(aug, 'probability');
      const on = draws(n, () => random());
      for (let i = 0; i < n && c === 3; i++) if ((on[i] as number) < p) then(at, c, i, GREY, 0);
    },
  },
  blur: { pixels: blurEntry },
  random_erasing: { pixels: erasingEntry },
  mixup: {
    mix: (tf, { x, y, px, py }, aug, random) => {
      const a = num(aug, 'alpha');
      const p = num(aug, 'probability');
      const lambdas = draws(x.shape[0], () => (random() < p ? beta(random, a, a) : 1));
      return {
        x: x.mul(perImage(tf, lambdas)).add(
          px.mul(
            perImage(
              tf,
              lambdas.map((l) => 1 - l),
            ),
          ),
        ) as Tensor4D,
        y: blendLabels(tf, y, py, lambdas),
      };
    },
  },
  cutmix: {
    mix: (tf, { x, y, px, py }, aug, random) => {
      const [n, h, w, c] = x.shape;
      const a = num(aug, 'alpha');
      const p = num(aug, 'probability');
      const kept: number[] = [];
      const boxes = draws(n, () => {
        if (random() >= p) {
          kept.push(1);
          return [0, 0, 0, 0];
        }
        const cut = Math.sqrt(1 - beta(random, a, a));
        const cy = uniform(random, 0, h);
        const cx = uniform(random, 0, w);
        const box = [
          Math.round(Math.max(0, cy - (cut * h) / 2)),
          Math.round(Math.max(0, cx - (cut * w) / 2)),
          Math.round(Math.min(h, cy + (cut * h) / 2)),
          Math.round(Math.min(w, cx + (cut * w) / 2)),
        ] as [number, number, number, number];
        // The label weight is the area actually kept, after clipping at the edges.
        kept.push(1 - ((box[2] - box[0]) * (box[3] - box[1])) / (h * w));
        return box;
      });
      return {
        x: tf.where(rectangles(tf, boxes, h, w).tile([1, 1, 1, c]), px, x) as Tensor4D,
        y: blendLabels(tf, y, py, kept),
      };
    },
  },
};

/** An entry's behaviour; the schema admits only registry entries, so every type has one. */
const behaviourOf = (aug: RegistryChoice) =>
  BEHAVIOURS[aug.type as keyof typeof AUGMENTATIONS] as Partial<{
    geometry: Geometry;
    colour: Colour;
    pixels: Pixels;
    mix: Mix;
  }>;

/** Whether the pending colour map changes anything. */
const recoloured = (at: Pending, c: number) =>
  at.colour.some((t) => !isIdentity(t, c)) ||
  at.offset.some((o) => o.some((v) => v !== 0)) ||
  at.fromMean.some((t) => t.some((v) => v !== 0));

/** Applies the image augmentations of `augmentations` (not the mixing ones) in order. */
export function augmentBatch(tf: Tf, batch: Tensor4D, augmentations: RegistryChoice[], random: Random): Tensor4D {
  const images = augmentations.filter((a) => !behaviourOf(a).mix);
  if (images.length === 0) return batch;
  const [n, h, w, c] = batch.shape;
  const fresh = (): Pending => ({
    geometry: Array.from({ length: n }, () => IDENTITY),
    colour: Array.from({ length: n }, () => eye(c)),
    fromMean: Array.from({ length: n }, () => Array(c * c).fill(0)),
    offset: Array.from({ length: n }, () => Array(c).fill(0)),
  });
  return tf.tidy(() => {
    let x: Tensor4D = batch;
    let pending = fresh();
    // Applies what is pending: one resampling, then one colour transform and one clip.
    const flush = () => {
      const { geometry: g, colour: m, fromMean: k, offset: o } = pending;
      if (!g.every((t) => isIdentity(t)))
        x = tf.image.transform(x, tf.tensor2d(g.map((t) => t.slice(0, 8))), 'bilinear', 'reflect');
      if (recoloured(pending, c)) {
        const meanShare = k.some((t) => t.some((v) => v !== 0));
        let offsets = tf.tensor3d(o.flat(), [n, 1, c]);
        if (meanShare)
          offsets = offsets.add(tf.matMul(x.mean([1, 2]).reshape([n, 1, c]), tf.tensor3d(k.flat(), [n, c, c])));
        // (M^T x^T)^T rather than x M: TensorFlow's batched product with an inner size of 3 is faster this way round.
        x = tf
          .matMul(tf.tensor3d(m.flat(), [n, c, c]), x.reshape([n, h * w, c]), true, true)
          .transpose([0, 2, 1])
          .add(offsets)
          .reshape([n, h, w, c])
          .clipByValue(0, 1) as Tensor4D;
      }
      pending = fresh();
    };
    for (const aug of images) {
      const { geometry, colour, pixels } = behaviourOf(aug);
      if (geometry) {
        // A geometric step after a colour one must see the colours changed first.
        if (recoloured(pending, c)) flush();
        const maps = geometry(aug, n, h, w, random);
        pending.geometry = pending.geometry.map((t, i) => matMul(t, maps[i] as Mat));
      } else if (colour) colour(aug, n, c, random, pending);
      else if (pixels) {
        flush();
        x = pixels(tf, x, aug, random);
      }
    }
    flush();
    return x;
  });
}

/**
 * Applies the mixing augmentations (mixup, cutmix) of `augmentations`: each
 * image is blended with a partner from the same batch and its one-hot label
 * becomes the matching soft label (rows still sum to 1).
 */
export function mixBatch(
  tf: Tf,
  x: Tensor4D,
  y: Tensor2D,
  augmentations: RegistryChoice[],
  random: Random,
): { x: Tensor4D; y: Tensor2D } {
  const mixing = augmentations.filter((a) => behaviourOf(a).mix);
  if (mixing.length === 0) return { x, y };
  const n = x.shape[0];
  return tf.tidy(() => {
    let out = { x, y };
    for (const aug of mixing) {
      const partner = tf.tensor1d(
        shuffle(
          Array.from({ length: n }, (_, i) => i),
          random,
        ),
        'int32',
      );
      const mix = behaviourOf(aug).mix as Mix;
      out = mix(tf, { ...out, px: out.x.gather(partner), py: out.y.gather(partner) }, aug, random);
    }
    return out;
  });
}
