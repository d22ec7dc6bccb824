// The augmentation registry: one entry per augmentation `type`, applied on the fly while training.
import type { Params } from '../layers/params.ts';

const probability = {
  type: 'number',
  minimum: 0,
  maximum: 1,
  default: 0.5,
  doc: 'chance of applying it to an image',
} as const;

/** A required amount in (0, 1]. */
const amount = (doc: string) => ({ type: 'number', exclusiveMinimum: 0, maximum: 1, required: true, doc }) as const;

export const AUGMENTATIONS = {
  flip_horizontal: { doc: 'mirror left to right', params: { probability } },
  rotate: {
    doc: 'rotate by a random angle in [-degrees, degrees]',
    params: { degrees: { type: 'number', exclusiveMinimum: 0, maximum: 180, required: true, doc: 'largest rotation' } },
  },
  zoom: {
    doc: 'crop a random region of 1/(1+z) of the side, z in [0, range], and resize back',
    params: { range: amount('largest zoom') },
  },
  random_crop: {
    doc: 'crop a random region of this fraction of each side and resize back',
    params: { fraction: amount('side of the crop') },
  },
  brightness: {
    doc: 'add a random offset in [-delta, delta] to every pixel (on the 0..1 scale)',
    params: { delta: amount('largest offset') },
  },
  contrast: {
    doc: 'scale distances from the mean by a random factor in [1-delta, 1+delta]',
    params: { delta: amount('largest change') },
  },
} as const satisfies Record<string, { doc: string; params: Params }>;
