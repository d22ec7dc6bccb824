// The face-detector registry: one entry per `crop.detector` name, with the npm
// package that ships its weights (pinned), each weight file's sha256 and its
// licence. Nothing is downloaded: the weights are read from node_modules and
// checked before use.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import type { Tf } from '../../backend/tensorflow.ts';
import { DataError } from '../sources.ts';
import { loadBlazeFace } from './blazeface.ts';

export type Point = [number, number];

/** A face in pixel coordinates of the image the detector was given. */
export interface Face {
  /** [x, y, width, height] */
  box: [number, number, number, number];
  score: number;
  /** The two eye centres, left-most in the image first (for `align`). */
  eyes: [Point, Point];
}

/** A loaded detector: square uint8 RGB images of `inputSize` in, faces per image out. */
export interface Detector {
  inputSize: number;
  /** Detects in `n` images of inputSize x inputSize x 3, back to back in `pixels`. */
  detect(pixels: Uint8Array, n: number): Face[][];
}

export interface DetectorEntry {
  doc: string;
  package: string;
  version: string;
  licence: string;
  /** Weight files inside the package and their sha256. */
  files: Record<string, string>;
  load(tf: Tf, dir: string): Promise<Detector>;
}

export const DETECTORS = {
  blazeface: {
    doc: 'MediaPipe BlazeFace (full-range 256x256 model) as shipped by @vladmandic/human: a box, a score and six landmarks per face; about 27 ms per image on 2 cores',
    package: '@vladmandic/human',
    version: '3.3.6',
    licence: 'package MIT; BlazeFace weights by Google MediaPipe, Apache-2.0',
    files: {
      'models/blazeface.json': 'cd7bbfc078270572beb39f9e5ae67aadbd50b5e67cff37e6d4f6b3ea39312e5f',
      'models/blazeface.bin': 'dc9a97fdc50bc43216554bdd69aa3e7b9361a519ee7bdd996a2f69a98a6f9b72',
    },
    load: (tf, dir) => loadBlazeFace(tf, path.join(dir, 'models/blazeface.json')),
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

const require = createRequire(import.meta.url);

/** The package folder of a detector, its version checked against the pinned one. */
function packageDir(entry: DetectorEntry): string {
  // Looked up by folder: packages whose `exports` hide package.json cannot be resolved to it.
  const manifest = (require.resolve.paths(entry.package) ?? [])
    .map((dir) => path.join(dir, entry.package, 'package.json'))
    .find((f) => existsSync(f));
  if (!manifest) {
    throw new DataError(
      `the face detector's package ${entry.package}@${entry.version} is not installed; run npm install`,
    );
  }
  const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version: string };
  if (version !== entry.version) {
    throw new DataError(
      `the face detector needs ${entry.package}@${entry.version}, but ${version} is installed; run npm install`,
    );
  }
  return path.dirname(manifest);
}

/** Checks every weight file's sha256; a mismatch names the file and both sums. */
export function verifyFiles(dir: string, files: Record<string, string>, what: string): void {
  for (const [file, expected] of Object.entries(files)) {
    const full = path.join(dir, file);
    let actual: string;
    try {
      actual = createHash('sha256').update(readFileSync(full)).digest('hex');
    } catch {
      throw new DataError(`${what}: weight file ${full} is missing`);
    }
    if (actual !== expected) {
      throw new DataError(`${what}: ${full} has sha256 ${actual}, expected ${expected}; reinstall the package`);
    }
  }
}

export function detectorIdentity(name: DetectorName): DetectorIdentity {
  const e: DetectorEntry = DETECTORS[name];
  return { name, package: e.package, version: e.version, licence: e.licence, files: e.files };
}

const loaded = new Map<string, Promise<Detector>>();

/** Loads a detector once per process, after checking its package version and weights. */
export function loadDetector(tf: Tf, name: DetectorName): Promise<Detector> {
  let d = loaded.get(name);
  if (!d) {
    const entry: DetectorEntry = DETECTORS[name];
    const dir = packageDir(entry);
    verifyFiles(dir, entry.files, `face detector '${name}'`);
    d = entry.load(tf, dir);
    loaded.set(name, d);
  }
  return d;
}
