// The augmentation registry: one entry per augmentation `type`, applied on the
// fly to each training batch, in the order listed. An entry's `stage` says how
// it acts: `geometry` moves pixels (consecutive ones are fused into a single
// resampling per image), `colour` maps each pixel's colour affinely (consecutive
// ones are fused into one per-image colour transform, clipped once), `pixels`
// is anything else, and `mix` (mixup, cutmix) blends pairs of images and their
// labels, so it runs after all the others, on the finished batch.
import type { Params } from './params.ts';

const probability = (d: number) =>
  ({ type: 'number', minimum: 0, maximum: 1, default: d, doc: 'chance of applying it to an image' }) as const;

/** A required amount in (0, 1]. */
const amount = (doc: string) => ({ type: 'number', exclusiveMinimum: 0, maximum: 1, required: true, doc }) as const;

const alpha = {
  type: 'number',
  exclusiveMinimum: 0,
  maximum: 10,
  default: 0.2,
  doc: 'the Beta(alpha, alpha) distribution the mixing weight is drawn from (small: mostly one image)',
} as const;

/** A region of random area (`scale`, a fraction of the image) and aspect (`ratio`, width / height). */
const randomRegion = (what: string, smallest: number, scale: [number, number], ratio: [number, number]) =>
  ({
    scale: {
      type: 'range',
      minimum: smallest,
      maximum: 1,
      default: scale,
      doc: `area of the ${what}, as a fraction of the image`,
    },
    ratio: { type: 'range', minimum: 0.1, maximum: 10, default: ratio, doc: `width / height of the ${what}` },
  }) as const;

export type Stage = 'geometry' | 'colour' | 'pixels' | 'mix';

export interface AugmentationEntry {
  doc: string;
  params: Params;
  stage: Stage;
}

export const AUGMENTATIONS = {
  flip_horizontal: { doc: 'mirror left to right', params: { probability: probability(0.5) }, stage: 'geometry' },
  rotate: {
    doc: 'rotate by a random angle in [-degrees, degrees]',
    stage: 'geometry',
    params: { degrees: { type: 'number', exclusiveMinimum: 0, maximum: 180, required: true, doc: 'largest rotation' } },
  },
  zoom: {
    doc: 'crop a random region of 1/(1+z) of the side, z in [0, range], and resize back',
    stage: 'geometry',
    params: { range: amount('largest zoom') },
  },
  random_crop: {
    doc: 'crop a random region of this fraction of each side and resize back',
    stage: 'geometry',
    params: { fraction: amount('side of the crop') },
  },
  random_resized_crop: {
    doc: 'crop a random region of random area and aspect ratio and resize it to the full size (as in Inception and torchvision)',
    stage: 'geometry',
    params: randomRegion('region', 0.01, [0.5, 1], [0.75, 1.3333]),
  },
  translate: {
    doc: 'shift by a random offset of up to this fraction of each side (edges reflected)',
    stage: 'geometry',
    params: { fraction: amount('largest shift') },
  },
  brightness: {
    doc: 'add a random offset in [-delta, delta] to every pixel (on the 0..1 scale)',
    stage: 'colour',
    params: { delta: amount('largest offset') },
  },
  contrast: {
    doc: 'scale distances from the mean by a random factor in [1-delta, 1+delta]',
    stage: 'colour',
    params: { delta: amount('largest change') },
  },
  saturation: {
    doc: 'scale colour (distance from the grey of each pixel) by a random factor in [1-delta, 1+delta]',
    stage: 'colour',
    params: { delta: amount('largest change') },
  },
  hue: {
    doc: 'turn every colour around the hue circle by a random fraction in [-delta, delta] of a full turn',
    stage: 'colour',
    params: { delta: { type: 'number', exclusiveMinimum: 0, maximum: 0.5, required: true, doc: 'largest turn' } },
  },
  grayscale: {
    doc: 'replace the image by its grey levels (kept as the same channels)',
    stage: 'colour',
    params: { probability: probability(0.1) },
  },
  blur: {
    doc: 'Gaussian blur with a random sigma in [0.1, sigma] pixels',
    stage: 'pixels',
    params: {
      sigma: { type: 'number', minimum: 0.1, maximum: 5, default: 1.5, doc: 'largest sigma, in pixels' },
      probability: probability(0.2),
    },
  },
  random_erasing: {
    doc: 'fill a random rectangle with noise (Zhong et al. 2017)',
    stage: 'pixels',
    params: { probability: probability(0.25), ...randomRegion('rectangle', 0.001, [0.02, 0.25], [0.3, 3.3]) },
  },
  mixup: {
    doc: 'blend each image with another of the batch, labels blended by the same weight (soft labels); applied last',
    params: { alpha, probability: probability(1) },
    stage: 'mix',
  },
  cutmix: {
    doc: 'paste a random rectangle of another image of the batch; labels weighted by the pasted area (soft labels); applied last',
    params: { alpha: { ...alpha, default: 1 }, probability: probability(1) },
    stage: 'mix',
  },
} as const satisfies Record<string, AugmentationEntry>;
