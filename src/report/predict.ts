// Predictions of a recorded run on image files, with the run's own recorded
// preprocessing, so a prediction sees exactly what training saw.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import type { LayersModel, Tensor } from '@tensorflow/tfjs-node';
import { parse } from 'yaml';
import type { Tf } from '../backend/tensorflow.ts';
import type { Experiment } from '../config/experiment.ts';
import { channelsOf, decodeImage } from '../data/decode.ts';
import { toFloat } from '../data/normalize.ts';
import { DataError } from '../data/sources.ts';
import { registerCustomLayers } from '../layers/spatial-dropout.ts';

export interface Prediction {
  file: string;
  label: string | null;
  probabilities: Record<string, number> | null;
  error?: string;
}

export interface LoadedRun {
  dir: string;
  experiment: Experiment;
  classes: string[];
  model: LayersModel;
}

/** A run folder, or runs/<experiment>/<id>, or a path inside one. */
export async function loadRun(tf: Tf, run: string): Promise<LoadedRun> {
  const dir = path.resolve(run);
  const modelJson = ['model', 'checkpoints/best', 'checkpoints/latest']
    .map((d) => path.join(dir, d, 'model.json'))
    .find((f) => existsSync(f));
  if (!existsSync(path.join(dir, 'config.yaml')) || !modelJson) {
    throw new DataError(
      `${run} is not a run folder with a saved model (runs/<experiment>/<run-id>/ holding config.yaml and model/)`,
    );
  }
  const experiment = parse(readFileSync(path.join(dir, 'config.yaml'), 'utf8')) as Experiment;
  const { classes } = JSON.parse(readFileSync(path.join(dir, 'data.json'), 'utf8')) as { classes: string[] };
  registerCustomLayers(tf);
  const model = await tf.loadLayersModel(`file://${modelJson}`);
  return { dir, experiment, classes, model };
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

export async function predictFiles(tf: Tf, run: LoadedRun, files: string[], batchSize = 64): Promise<Prediction[]> {
  const p = run.experiment.data.preprocessing;
  const [h, w] = p.size;
  const c = channelsOf(p);
  const bytes = h * w * c;
  const out: Prediction[] = [];
  for (let b = 0; b < files.length; b += batchSize) {
    const chunk = files.slice(b, b + batchSize);
    const decoded = await Promise.all(chunk.map((f) => decodeImage(f, p).catch((err: Error) => err)));
    const good = decoded.flatMap((d, i) => (d instanceof Error ? [] : [i]));
    const pixels = new Uint8Array(good.length * bytes);
    for (const [k, i] of good.entries()) pixels.set(decoded[i] as Buffer, k * bytes);
    const probs = good.length
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
          return (run.model.predict(x) as Tensor).dataSync() as Float32Array;
        })
      : new Float32Array();
    chunk.forEach((file, i) => {
      const d = decoded[i];
      if (d instanceof Error) {
        out.push({ file, label: null, probabilities: null, error: d.message });
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
      });
    });
  }
  return out;
}
