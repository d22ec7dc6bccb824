// On-the-fly augmentation of a training batch: [0, 1] float images in, the
// same shape out, every random choice drawn from the given seeded generator so
// an epoch's augmentations repeat exactly for the same seed.
import type { Tensor, Tensor4D } from '@tensorflow/tfjs-node';
import type { Tf } from '../backend/tensorflow.ts';
import type { RegistryChoice } from '../config/experiment.ts';

const uniform = (random: () => number, lo: number, hi: number) => lo + (hi - lo) * random();

/** Per-image crop boxes [y1, x1, y2, x2] of side `side(i)` (0..1) at random positions. */
function cropBoxes(n: number, side: () => number, random: () => number): number[][] {
  return Array.from({ length: n }, () => {
    const s = side();
    const y = uniform(random, 0, 1 - s);
    const x = uniform(random, 0, 1 - s);
    return [y, x, y + s, x + s];
  });
}

/** Projective transforms that rotate each image about its centre (output -> input coordinates). */
function rotations(n: number, h: number, w: number, maxDegrees: number, random: () => number): number[][] {
  const cx = (w - 1) / 2;
  const cy = (h - 1) / 2;
  return Array.from({ length: n }, () => {
    const t = (uniform(random, -maxDegrees, maxDegrees) * Math.PI) / 180;
    const c = Math.cos(t);
    const s = Math.sin(t);
    return [c, -s, cx - c * cx + s * cy, s, c, cy - s * cx - c * cy, 0, 0];
  });
}

export function augmentBatch(tf: Tf, batch: Tensor4D, augmentations: RegistryChoice[], random: () => number): Tensor4D {
  if (augmentations.length === 0) return batch;
  const [n, h, w] = batch.shape;
  return tf.tidy(() => {
    let x: Tensor4D = batch;
    for (const aug of augmentations) {
      const num = (k: string) => aug[k] as number;
      switch (aug.type) {
        case 'flip_horizontal': {
          const mask = tf.tensor4d(
            Array.from({ length: n }, () => (random() < num('probability') ? 1 : 0)),
            [n, 1, 1, 1],
            'bool',
          );
          x = tf.where(mask, tf.image.flipLeftRight(x), x);
          break;
        }
        case 'rotate':
          x = tf.image.transform(x, tf.tensor2d(rotations(n, h, w, num('degrees'), random)), 'bilinear', 'reflect');
          break;
        case 'zoom':
        case 'random_crop': {
          const side = aug.type === 'zoom' ? () => 1 / (1 + uniform(random, 0, num('range'))) : () => num('fraction');
          const boxes = tf.tensor2d(cropBoxes(n, side, random));
          x = tf.image.cropAndResize(x, boxes, tf.range(0, n, 1, 'int32') as Tensor as never, [h, w], 'bilinear');
          break;
        }
        case 'brightness': {
          const offsets = tf.tensor4d(
            Array.from({ length: n }, () => uniform(random, -num('delta'), num('delta'))),
            [n, 1, 1, 1],
          );
          x = x.add(offsets).clipByValue(0, 1) as Tensor4D;
          break;
        }
        case 'contrast': {
          const factors = tf.tensor4d(
            Array.from({ length: n }, () => uniform(random, 1 - num('delta'), 1 + num('delta'))),
            [n, 1, 1, 1],
          );
          const mean = x.mean([1, 2], true);
          x = x.sub(mean).mul(factors).add(mean).clipByValue(0, 1) as Tensor4D;
          break;
        }
        default:
          throw new Error(`no augmentation for type '${aug.type}'`);
      }
    }
    return x;
  });
}
