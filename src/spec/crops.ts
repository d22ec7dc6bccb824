// The crop registry: `data.preprocessing.crop` picks one entry by `type`.

import { DETECTORS } from './detectors.ts';
import type { Params } from './params.ts';

export const CROPS = {
  none: { doc: 'no crop: the whole image (after center_crop, if set)', params: {} },
  face: {
    doc: 'cut each image to its largest detected face (boxes cached per file); predict and evaluate apply the same crop',
    params: {
      detector: {
        type: 'enum',
        values: Object.keys(DETECTORS),
        default: 'blazeface',
        doc: 'the face detector; its weights ship in an npm package and are checked by sha256',
      },
      margin: {
        type: 'number',
        minimum: -0.25,
        maximum: 1,
        default: 0,
        doc: "added on each side, as a fraction of the detector's box (negative: tighter)",
      },
      min_confidence: {
        type: 'number',
        minimum: 0.2,
        maximum: 1,
        default: 0.5,
        doc: 'faces scored below this are ignored (0.2: every detection kept)',
      },
      align: { type: 'boolean', default: true, doc: 'rotate so that the eyes are level' },
      fill: {
        type: 'enum',
        values: ['black', 'edge', 'mirror'],
        default: 'black',
        doc: "what fills the part of the crop that lies outside the image: black, the image's edge pixels repeated, or the image mirrored at its edge",
      },
      on_miss: {
        type: 'enum',
        values: ['keep', 'center', 'skip'],
        default: 'keep',
        doc: 'an image without a face: keep it whole, take its centred square, or leave it out (listed)',
      },
      pad: {
        type: 'number',
        minimum: 0,
        maximum: 1,
        default: 0.25,
        doc: 'black border added on each side before detecting, as a fraction of the longer side: tight crops need it',
      },
    },
  },
} as const satisfies Record<string, { doc: string; params: Params }>;
