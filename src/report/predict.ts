// Predictions of a recorded run on image files, with the run's own recorded
// preprocessing, so a prediction sees exactly what training saw. With a face
// crop, each face found is one prediction (the largest, or all of them).

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { LayersModel } from '@tensorflow/tfjs-node';
import { parse } from 'yaml';
import { stampFiles } from '../data/cache-files.ts';
import { channelsOf, decodeImage, type Preprocessing } from '../data/decode.ts';
import { centerRegion, faceRegion, type Region, rankFaces } from '../data/faces/crop.ts';
import { locateFaces } from '../data/faces/locate.ts';
import { decodeJpegs } from '../data/jpeg-fast.ts';
import { toFloat } from '../data/normalize.ts';
import { registerCustomLayers } from '../layers/spatial-dropout.ts';
import { loadModel } from '../model/backbones/graph-layer.ts';
import { readModelMeta } from '../model/model-folder.ts';
import { mirrorImages, predictProbs } from '../model/predict-probs.ts';
import type { Tf } from '../platform/tensorflow.ts';
import { CROPS } from '../spec/crops.ts';
import { DataError } from '../spec/errors.ts';
import type { Experiment } from '../spec/experiment.ts';
import { faceCropOf } from '../spec/experiment.ts';
import { fillEntry } from '../spec/params.ts';

export interface Prediction {
  file: string;
  label: string | null;
  probabilities: Record<string, number> | null;
  /** With a face crop: which face (0: the largest), its box [x, y, width, height] in the upright image and its detection score; null when none was found. */
  face?: { index: number; box: [number, number, number, number]; score: number } | null;
  /** Said of a prediction that is not what it seems, e.g. no face was found and the whole image was used. */
  note?: string;
  error?: string;
}

export type FacesMode = 'largest' | 'all';

export interface LoadedRun {
  dir: string;
  preprocessing: Experiment['data']['preprocessing'];
  /** Score by the mean over the image and its mirror image (the experiment's data.test_time_flip). */
  testTimeFlip: boolean;
  classes: string[];
  model: LayersModel;
}

/** Saved preprocessing with the crop registry's defaults filled in: a run saved before a crop setting existed (`fill`) reads as it was trained. */
function withCropDefaults<P extends Preprocessing>(p: P): P {
  fillEntry(p.crop, CROPS);
  return p;
}

/**
 * A model folder holding MLmodel (a run's `model/`, or a downloaded MLflow
 * model), or a run folder (runs/<experiment>/<run-id>/), which also works for
 * runs saved before models carried an MLmodel, or stopped before the end.
 */
export async function loadRun(tf: Tf, run: string): Promise<LoadedRun> {
  const dir = path.resolve(run);
  registerCustomLayers(tf);
  const own = readModelMeta(dir);
  if (own) {
    const { classes, preprocessing, test_time_flip } = own;
    const model = await loadModel(tf, path.join(dir, 'model.json'));
    return {
      dir,
      classes,
      preprocessing: withCropDefaults(preprocessing),
      testTimeFlip: test_time_flip === true,
      model,
    };
  }
  const modelJson = ['model', 'checkpoints/best', 'checkpoints/latest']
    .map((d) => path.join(dir, d, 'model.json'))
    .find((f) => existsSync(f));
  if (!existsSync(path.join(dir, 'config.yaml')) || !modelJson) {
    throw new DataError(
      `${run} is not a run folder with a saved model (runs/<experiment>/<run-id>/ holding config.yaml and model/) nor a model folder (holding MLmodel)`,
    );
  }
  const experiment = parse(readFileSync(path.join(dir, 'config.yaml'), 'utf8')) as Experiment;
  const { classes } = JSON.parse(readFileSync(path.join(dir, 'data.json'), 'utf8')) as { classes: string[] };
  return {
    dir,
    preprocessing: withCropDefaults(experiment.data.preprocessing),
    testTimeFlip: experiment.data.test_time_flip === true,
    classes,
    model: await loadModel(tf, modelJson),
  };
}

const IMAGE = /\.(jpe?g|png|webp|gif|tiff?|avif)$/i;

/** Image files named directly, or found in folders (recursively). */
export function expandInputs(inputs: string[]): string[] {
  const files: string[] = [];
  const walk = (p: string) => {
    if (statSync(p).isDirectory()) {
      for (const e of readdirSync(p).sort()) {
        const child = path.join(p, e);
        if (statSync(child).isDirectory() || IMAGE.test(e)) walk(child);
      }
    } else files.push(p);
  };
  for (const i of inputs) {
    if (!existsSync(i)) throw new DataError(`${i} does not exist`);
    walk(i);
  }
  return files;
}

/** What is predicted for a file: one job per face (or one for the whole image), each with its region. */
interface Job {
  file: string;
  region?: Region;
  face?: Prediction['face'];
  note?: string;
  /** No prediction: nothing to classify (no face and `on_miss: skip`). */
  skip?: string;
}

async function jobs(files: string[], p: Preprocessing, faces: FacesMode, cacheDir?: string): Promise<Job[]> {
  const crop = faceCropOf(p);
  if (!crop) return files.map((file) => ({ file }));
  const located = await locateFaces(await stampFiles(files), crop, { cacheDir });
  return files.flatMap((file): Job[] => {
    const found = located.faces.get(file);
    if (!found) return [{ file }]; // unreadable: decoding says why
    const kept = rankFaces(found.faces, crop.min_confidence);
    if (kept.length === 0) {
      if (crop.on_miss === 'skip') return [{ file, face: null, skip: 'no face found' }];
      const region = crop.on_miss === 'center' ? centerRegion(found.width, found.height) : undefined;
      return [
        {
          file,
          region,
          face: null,
          note: `no face found; predicted on the ${crop.on_miss === 'center' ? 'centred square' : 'whole image'}, as crop.on_miss is ${crop.on_miss}`,
        },
      ];
    }
    return (faces === 'all' ? kept : kept.slice(0, 1)).map((f, index) => ({
      file,
      region: faceRegion(f, crop),
      face: { index, box: f.box.map((v) => Math.round(v)) as [number, number, number, number], score: f.score },
    }));
  });
}

export async function predictFiles(
  tf: Tf,
  run: LoadedRun,
  files: string[],
  options: { faces?: FacesMode; cacheDir?: string } = {},
  batchSize = 64,
): Promise<Prediction[]> {
  const p = run.preprocessing;
  const [h, w] = p.size;
  const c = channelsOf(p);
  const bytes = h * w * c;
  const out: Prediction[] = [];
  const todo = await jobs(files, p, options.faces ?? 'largest', options.cacheDir);
  for (let b = 0; b < todo.length; b += batchSize) {
    const chunk = todo.slice(b, b + batchSize);
    // Without a face crop, images through the JPEG fast path as training decoded them; the rest (and what it declines) through sharp.
    const whole = faceCropOf(p) ? [] : chunk.flatMap((j, i) => (j.skip ? [] : [i]));
    const fast = new Uint8Array(whole.length * bytes);
    const declined = new Set(
      await decodeJpegs(
        whole.map((i) => (chunk[i] as (typeof chunk)[number]).file),
        whole.map((_, k) => k * bytes),
        fast,
        p,
        os.availableParallelism(),
        () => {},
      ),
    );
    const fastAt = new Map(whole.flatMap((i, k) => (declined.has(k) ? [] : [[i, k] as const])));
    const decoded = await Promise.all(
      chunk.map((j, i) => {
        const k = fastAt.get(i);
        if (k !== undefined) return fast.subarray(k * bytes, (k + 1) * bytes);
        return j.skip ? new Error(j.skip) : decodeImage(j.file, p, j.region).catch((err: Error) => err);
      }),
    );
    const good = decoded.flatMap((d, i) => (d instanceof Error ? [] : [i]));
    const pixels = new Uint8Array(good.length * bytes);
    for (const [k, i] of good.entries()) pixels.set(decoded[i] as Uint8Array, k * bytes);
    // The tensor, not its data, leaves tidy: tidy walks a returned typed array element by element.
    const output = good.length
      ? tf.tidy(() => {
          const x = tf.tensor4d(
            toFloat(
              pixels,
              bytes,
              c,
              good.map((_, k) => k),
              p,
              new Float32Array(good.length * bytes),
            ),
            [good.length, h, w, c],
          );
          return predictProbs(tf, run.model, x, run.testTimeFlip ? mirrorImages(tf, x) : undefined);
        })
      : null;
    const probs = output ? (output.dataSync() as Float32Array) : new Float32Array();
    output?.dispose();
    chunk.forEach(({ file, face, note, skip }, i) => {
      const d = decoded[i];
      const about = { ...(face === undefined ? {} : { face }), ...(note ? { note } : {}) };
      if (skip) {
        out.push({ file, label: null, probabilities: null, ...about, note: skip });
        return;
      }
      if (d instanceof Error) {
        out.push({ file, label: null, probabilities: null, ...about, error: d.message });
        return;
      }
      const row = good.indexOf(i);
      const k = run.classes.length;
      const scores = Array.from(probs.subarray(row * k, (row + 1) * k));
      const best = scores.indexOf(Math.max(...scores));
      out.push({
        file,
        label: run.classes[best] ?? null,
        probabilities: Object.fromEntries(run.classes.map((cls, j) => [cls, scores[j] as number])),
        ...about,
      });
    });
  }
  return out;
}
