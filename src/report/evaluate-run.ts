// A recorded run's model on another data set: the full evaluation report.

import type { InputSource } from '../data/batches.ts';
import { type FaceStats, type LoadOptions, loadPixels } from '../data/cache.ts';
import { channelsOf } from '../data/decode.ts';
import { toFloat } from '../data/normalize.ts';
import { type DataSpec, type Item, listData } from '../data/sources.ts';
import { mirrorImages, predictProbs } from '../model/predict-probs.ts';
import type { Tf } from '../platform/tensorflow.ts';
import { DataError } from '../spec/errors.ts';
import { type Evaluation, evaluate } from '../train/metrics.ts';
import type { LoadedRun } from './predict.ts';
import { type SetPredictions, setPredictions } from './run-report.ts';

export interface DataEvaluation extends Evaluation {
  images: number;
  bad: { path: string; reason: string }[];
  dataset_hash: string;
  /** With the run's face crop: how many images had a face. */
  faces?: FaceStats;
}

/** The evaluation, and what a report of the data set needs: each image's probabilities, and its listing's items. */
export interface ScoredData extends DataEvaluation {
  predictions: SetPredictions;
  items: Item[];
}

/** Batches of decoded images (rows of `pixels`) as a model with preprocessing `p` takes them, and their mirror images. */
export function pixelSource(
  tf: Tf,
  pixels: Uint8Array,
  imageBytes: number,
  p: LoadedRun['preprocessing'],
): InputSource {
  const [h, w] = p.size;
  const c = channelsOf(p);
  const source: InputSource = (idx) =>
    tf.tensor4d(toFloat(pixels, imageBytes, c, idx, p, new Float32Array(idx.length * imageBytes)), [
      idx.length,
      h,
      w,
      c,
    ]);
  source.mirrored = (idx) => tf.tidy(() => mirrorImages(tf, source(idx))());
  return source;
}

/** Evaluates `run` on the images of `spec`, whose classes must be the run's. */
export async function evaluateOn(
  tf: Tf,
  run: LoadedRun,
  spec: DataSpec,
  options: LoadOptions = {},
): Promise<ScoredData> {
  if (run.outputs)
    throw new DataError(
      `run-exp evaluate scores a model with one class output; this one has several (${run.outputs.map((o) => o.name).join(', ')}): its run's evaluation.json scores each on validation and on every evaluation set`,
    );
  const listing = listData({ ...spec, classes: spec.classes ?? run.classes });
  const items = [...listing.items, ...(listing.validation ?? []), ...(listing.test ?? [])];
  const px = await loadPixels(items, run.preprocessing, options);
  const source = pixelSource(tf, px.pixels, px.imageBytes, run.preprocessing);
  const k = run.classes.length;
  const probs = new Float32Array(px.items.length * k);
  const labels = Int32Array.from(px.items, (it) => run.classes.indexOf(listing.classes[it.label] as string));
  const batch = 256;
  for (let b = 0; b < px.items.length; b += batch) {
    const n = Math.min(batch, px.items.length - b);
    const idx = Array.from({ length: n }, (_, i) => b + i);
    tf.tidy(() => {
      const x = source(idx);
      probs.set(predictProbs(tf, run.model, x, run.testTimeFlip ? mirrorImages(tf, x) : undefined).dataSync(), b * k);
    });
  }
  return {
    ...evaluate(labels, probs, run.classes),
    images: px.items.length,
    bad: px.bad,
    dataset_hash: px.hash,
    faces: px.faces,
    predictions: setPredictions(
      px.items.map((it) => it.path),
      labels,
      probs,
    ),
    items: px.items,
  };
}
