// Each face detector of the registry (spec/detectors.ts) as a loaded model.
import * as path from 'node:path';
import { verifiedPackageDir } from '../../platform/pinned-package.ts';
import type { Tf } from '../../platform/tensorflow.ts';
import { DETECTORS, type DetectorEntry, type DetectorName, type Face } from '../../spec/detectors.ts';
import { loadBlazeFace } from './blazeface.ts';

/** A loaded detector: square uint8 RGB images of `inputSize` in, faces per image out. */
export interface Detector {
  inputSize: number;
  /** Detects in `n` images of inputSize x inputSize x 3, back to back in `pixels`. */
  detect(pixels: Uint8Array, n: number): Promise<Face[][]>;
}

/** Every registry entry's loader: a detector without one does not compile. */
const LOADERS: Record<DetectorName, (tf: Tf, modelFile: string, inputSize: number) => Promise<Detector>> = {
  blazeface: loadBlazeFace,
  blazeface_short: loadBlazeFace,
};

const loaded = new Map<string, Promise<Detector>>();

/** Loads a detector once per process, after checking its package version and weights. */
export function loadDetector(tf: Tf, name: DetectorName): Promise<Detector> {
  let d = loaded.get(name);
  if (!d) {
    const entry: DetectorEntry = DETECTORS[name];
    d = LOADERS[name](
      tf,
      path.join(verifiedPackageDir(entry, `face detector '${name}'`), entry.model),
      entry.inputSize,
    );
    loaded.set(name, d);
  }
  return d;
}
