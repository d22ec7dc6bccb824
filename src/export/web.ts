// `run-exp export --format web`: a static folder that runs the model in a page
// (index.html, the preprocessing in run-exp-web.js, tf.min.js, the model with
// its metadata), served by any static file server. The model files are
// checked by loading them back and comparing with run-exp's model.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LayersModel } from '@tensorflow/tfjs-node';
import { saveModelFiles } from '../platform/model-files.ts';
import { verifiedPackageDir } from '../platform/pinned-package.ts';
import type { Tf } from '../platform/tensorflow.ts';
import { type LoadedRun, modelMeta } from '../report/predict.ts';
import { photoPage } from '../serve/page.ts';
import { DETECTORS, type DetectorEntry, type DetectorName } from '../spec/detectors.ts';
import { RunExpError } from '../spec/errors.ts';
import { type Experiment, faceCropOf } from '../spec/experiment.ts';
import { type Converted, checkBatch, metadataFile, modelRows } from './convert.ts';

type Preprocessing = Experiment['data']['preprocessing'];

export const WEB = fileURLToPath(new URL('./web/', import.meta.url));

/** TF.js's browser bundle, the version run-exp depends on. */
export function tfjsBundle(): string {
  const require = createRequire(import.meta.url);
  return path.join(path.dirname(require.resolve('@tensorflow/tfjs/package.json')), 'dist', 'tf.min.js');
}

/** A face-crop model's detector: its registry entry and its verified package folder; null without a face crop. */
function detectorOf(p: Preprocessing): { entry: DetectorEntry; dir: string } | null {
  const crop = faceCropOf(p);
  if (!crop) return null;
  const entry: DetectorEntry = DETECTORS[crop.detector as DetectorName];
  return { entry, dir: verifiedPackageDir(entry, `face detector '${crop.detector}'`) };
}

/** The detector's model.json inside its package (its weight files beside it), for a face-crop model. */
export function detectorModelFile(p: Preprocessing): string | null {
  const d = detectorOf(p);
  return d ? path.join(d.dir, d.entry.model) : null;
}

/** The face detector's graph model beside the page (detector/model.json and its weights), for a face-crop model. */
function copyDetector(run: LoadedRun, out: string): void {
  const d = detectorOf(run.preprocessing);
  if (!d) return;
  mkdirSync(path.join(out, 'detector'), { recursive: true });
  for (const file of Object.keys(d.entry.files)) {
    const name = file === d.entry.model ? 'model.json' : path.basename(file);
    copyFileSync(path.join(d.dir, file), path.join(out, 'detector', name));
  }
}

export async function exportWeb(tf: Tf, run: LoadedRun, out: string): Promise<Converted> {
  const modelDir = path.join(out, 'model');
  mkdirSync(modelDir, { recursive: true });
  run.model.setUserDefinedMetadata({ run_exp: modelMeta(run) });
  await saveModelFiles(tf, run.model, modelDir);
  copyFileSync(tfjsBundle(), path.join(out, 'tf.min.js'));
  copyFileSync(path.join(WEB, 'run-exp-web.js'), path.join(out, 'run-exp-web.js'));
  copyDetector(run, out);
  writeFileSync(
    path.join(out, 'index.html'),
    photoPage({
      title: `run-exp model: ${run.outputs ? run.outputs.map((o) => o.name).join(', ') : run.classes.join(' / ')}`,
      intro: 'The model and its preprocessing run in this page; no server scores the photo.',
      head: '<script src="tf.min.js"></script>',
      predict:
        "import { loadModel } from './run-exp-web.js';\nconst model = await loadModel();\nconst predict = (file) => model.predict(file);",
    }),
  );
  writeFileSync(path.join(out, 'run_exp.json'), metadataFile(run));

  // The files written, read back: the same outputs as the model they came from.
  const { x, shape, expected } = checkBatch(tf, run);
  const back: LayersModel = await tf.loadLayersModel(`file://${path.join(modelDir, 'model.json')}`);
  const got = modelRows(tf, back, x, shape);
  back.dispose();
  const diff = got.reduce((m, v, i) => Math.max(m, Math.abs(v - (expected[i] as number))), 0);
  const tolerance = 1e-6;
  if (diff > tolerance)
    throw new RunExpError(
      `the web model differs from run-exp's by up to ${diff} (tolerance ${tolerance}): not exported`,
      {
        exitCode: 1,
      },
    );
  return { path: path.join(out, 'index.html'), max_abs_diff: diff, images: shape[0] as number, tolerance };
}
