// Predictions of a recorded run on image files, with the run's own recorded
// preprocessing, so a prediction sees exactly what training saw. With a face
// crop, each face found is one prediction (the largest, or all of them).

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import type { LayersModel } from '@tensorflow/tfjs-node';
import { parse } from 'yaml';
import { channelsOf, type Preprocessing } from '../data/decode.ts';
import { fileJobs, inputBatches } from '../data/preprocess.ts';
import { loadModel } from '../model/backbones/graph-layer.ts';
import { type ModelMeta, readModelMeta } from '../model/model-folder.ts';
import { type OutputMeta, type OutputPrediction, readOutputs } from '../model/output-meta.ts';
import { mirrorImages, predictOutputs, predictProbs } from '../model/predict-probs.ts';
import type { Tf } from '../platform/tensorflow.ts';
import { CROPS } from '../spec/crops.ts';
import { DataError } from '../spec/errors.ts';
import type { Experiment } from '../spec/experiment.ts';
import { OUTPUT_TYPES } from '../spec/outputs.ts';
import { fillEntry } from '../spec/params.ts';

export interface Prediction {
  file: string;
  /** A model with several outputs: null (each output's prediction is in `outputs`). */
  label: string | null;
  probabilities: Record<string, number> | null;
  /** A model with several outputs: each output's prediction, by name. */
  outputs?: Record<string, OutputPrediction>;
  /** With a face crop: which face (0: the largest), its box [x, y, width, height] in the upright image and its detection score; null when none was found. */
  face?: { index: number; box: [number, number, number, number]; score: number } | null;
  /** Said of a prediction that is not what it seems, e.g. no face was found and the whole image was used. */
  note?: string;
  error?: string;
}

export type FacesMode = 'largest' | 'all';

export interface LoadedRun {
  dir: string;
  /** The model.json the model was read from. */
  modelJson: string;
  preprocessing: Experiment['data']['preprocessing'];
  /** Score by the mean over the image and its mirror image (the experiment's data.test_time_flip). */
  testTimeFlip: boolean;
  classes: string[];
  model: LayersModel;
  /** Several outputs, in the model's order (then `classes` is empty). */
  outputs?: OutputMeta[];
}

/** What a model folder records about a loaded model: its classes, preprocessing and test-time flip. */
export function modelMeta(run: LoadedRun): ModelMeta {
  return {
    classes: run.classes,
    preprocessing: run.preprocessing,
    test_time_flip: run.testTimeFlip,
    ...(run.outputs ? { outputs: run.outputs } : {}),
  };
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
  const own = readModelMeta(dir);
  if (own) {
    const { classes, preprocessing, test_time_flip, outputs } = own;
    const modelJson = path.join(dir, 'model.json');
    const model = await loadModel(tf, modelJson);
    return {
      dir,
      modelJson,
      classes,
      preprocessing: withCropDefaults(preprocessing),
      testTimeFlip: test_time_flip === true,
      model,
      ...(outputs ? { outputs: withSpecDefaults(outputs) } : {}),
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
  const model = await loadModel(tf, modelJson);
  // A model with several outputs says so in its own metadata (model/; checkpoints saved mid-run do not).
  const outputs = (model.getUserDefinedMetadata() as { run_exp?: ModelMeta } | undefined)?.run_exp?.outputs;
  if (experiment.outputs && !outputs)
    throw new DataError(
      `${modelJson} has several outputs but not their description (a checkpoint saved before the run ended): predict from a finished run's model/`,
    );
  return {
    dir,
    modelJson,
    preprocessing: withCropDefaults(experiment.data.preprocessing),
    testTimeFlip: experiment.data.test_time_flip === true,
    classes,
    model,
    ...(outputs
      ? { outputs: withSpecDefaults(outputs.map((o) => ({ ...o, spec: o.spec ?? experiment.outputs?.[o.name] }))) }
      : {}),
  };
}

/** Outputs whose specs were saved before some of their params existed: those params at their defaults (bins: 0). */
function withSpecDefaults(outputs: OutputMeta[]): OutputMeta[] {
  return outputs.map((o) => {
    if (!o.spec) return o;
    const spec = structuredClone(o.spec);
    fillEntry(spec, OUTPUT_TYPES);
    return { ...o, spec };
  });
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

/**
 * Class probabilities (n x classes, row by row) of `n` model inputs laid end
 * to end in `x`; with several outputs, each row is every output's units back to back.
 */
export type Scorer = (x: Float32Array, n: number) => Promise<Float32Array>;

/** The run's model on a batch, with its test-time flip: the scorer predict uses unless given another (serve batches requests). */
export function modelScorer(tf: Tf, run: LoadedRun): Scorer {
  const [h, w] = run.preprocessing.size;
  const c = channelsOf(run.preprocessing);
  return async (x, n) => {
    // The tensor, not its data, leaves tidy: tidy walks a returned typed array element by element.
    const output = tf.tidy(() => {
      const input = tf.tensor4d(x, [n, h, w, c]);
      const mirror = run.testTimeFlip ? mirrorImages(tf, input) : undefined;
      return run.outputs
        ? tf.concat(predictOutputs(tf, run.model, input, mirror), 1)
        : predictProbs(tf, run.model, input, mirror);
    });
    const probs = (await output.data()) as Float32Array;
    output.dispose();
    return probs;
  };
}

export async function predictFiles(
  tf: Tf,
  run: LoadedRun,
  files: string[],
  options: { faces?: FacesMode; cacheDir?: string | null; score?: Scorer } = {},
  batchSize = 64,
): Promise<Prediction[]> {
  const p = run.preprocessing;
  const score = options.score ?? modelScorer(tf, run);
  const out: Prediction[] = [];
  const jobs = await fileJobs(files, p, options.faces, options.cacheDir);
  for await (const { chunk, errors, good, x } of inputBatches(p, jobs, batchSize)) {
    const probs = good.length ? await score(x, good.length) : new Float32Array();
    chunk.forEach(({ file, face, note }, i) => {
      const error = errors[i];
      const about = { ...(face === undefined ? {} : { face }), ...(note ? { note } : {}) };
      if (error?.noFace) {
        out.push({ file, label: null, probabilities: null, ...about, note: error.reason });
        return;
      }
      if (error) {
        out.push({ file, label: null, probabilities: null, ...about, error: error.reason });
        return;
      }
      const row = good.indexOf(i);
      if (run.outputs) {
        const width = run.outputs.reduce((sum, o) => sum + o.units, 0);
        const outputs = readOutputs(run.outputs, probs.subarray(row * width, (row + 1) * width));
        out.push({ file, label: null, probabilities: null, outputs, ...about });
        return;
      }
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
