// A saved model that can be used alone: the TF.js files and an `MLmodel` file
// (MLflow's model description) whose metadata carries the class names and the
// resolved preprocessing, so `predict` and `evaluate` need nothing else. The
// run's `model/` folder is one; so is an MLflow logged model downloaded by
// `predict --model models:/...`.
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import { RunExpError } from '../spec/errors.ts';
import type { Experiment } from '../spec/experiment.ts';

export const MLMODEL = 'MLmodel';

export interface ModelMeta {
  classes: string[];
  preprocessing: Experiment['data']['preprocessing'];
  /** Scored by the mean over the image and its mirror image. */
  test_time_flip?: boolean;
}

/** MLmodel's text: a `tfjs` flavor (a TF.js layers model) and run-exp's metadata. */
export function mlmodelText(meta: ModelMeta, info: { runId: string; tfjsVersion: string; created: Date }): string {
  return stringify({
    artifact_path: 'model',
    flavors: {
      tfjs: {
        format: 'layers-model',
        model_file: 'model.json',
        weights: 'weights.bin',
        tfjs_version: info.tfjsVersion,
      },
    },
    run_exp_run_id: info.runId,
    utc_time_created: info.created.toISOString().replace('T', ' ').replace('Z', ''),
    metadata: { run_exp: meta },
  });
}

/** The metadata of a model folder, or null when it has no MLmodel (a run saved before there was one). */
export function readModelMeta(dir: string): ModelMeta | null {
  const file = path.join(dir, MLMODEL);
  if (!existsSync(file)) return null;
  const doc = parse(readFileSync(file, 'utf8')) as { metadata?: { run_exp?: ModelMeta } };
  const meta = doc.metadata?.run_exp;
  if (!meta?.classes || !meta.preprocessing) {
    throw new RunExpError(
      `${file} has no run-exp metadata (metadata.run_exp.classes and .preprocessing): give a model folder run-exp saved`,
    );
  }
  return meta;
}
