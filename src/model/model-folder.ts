// A saved model that can be used alone: the TF.js files and an `MLmodel` file
// (MLflow's model description) whose metadata carries the class names and the
// resolved preprocessing, so `predict` and `evaluate` need nothing else. The
// run's `model/` folder is one; so is an MLflow logged model downloaded by
// `predict --model models:/...`.
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import { PYTHON_DIR } from '../platform/model-python.ts';
import { RunExpError } from '../spec/errors.ts';
import type { Experiment } from '../spec/experiment.ts';
import { type OutputMeta, outputColumns } from './output-meta.ts';

export const MLMODEL = 'MLmodel';

export interface ModelMeta {
  classes: string[];
  preprocessing: Experiment['data']['preprocessing'];
  /** Scored by the mean over the image and its mirror image. */
  test_time_flip?: boolean;
  /** Several outputs, in the model's order (then `classes` is empty). */
  outputs?: OutputMeta[];
}

/** The steps from an image file to the model input, in order, as the one preprocessing path (data/preprocess.ts) takes them. */
export function preprocessingSteps(meta: ModelMeta): Record<string, unknown>[] {
  const p = meta.preprocessing;
  const crop = p.crop?.type === 'face' ? p.crop : null;
  const [height, width] = p.size;
  return [
    {
      step: 'decode',
      with: 'sharp (libvips); JPEG, PNG, WebP, GIF (first frame), TIFF, AVIF',
      orientation: 'EXIF orientation applied',
      alpha: 'dropped',
    },
    ...(crop
      ? [
          {
            step: 'face_crop',
            ...crop,
            what: `the largest face scoring at least min_confidence; a square of its box side x (1 + 2 margin) about the box centre${crop.align ? ', turned so the eyes are level' : ''}; outside the image: ${crop.fill}`,
          },
        ]
      : p.center_crop < 1
        ? [{ step: 'center_crop', fraction: p.center_crop }]
        : []),
    {
      step: 'resize',
      height,
      width,
      fit: p.fit,
      kernel: 'lanczos3',
      what: "antialiased Lanczos-3 (sharp's default); a whole JPEG is first shrunk by libjpeg-turbo DCT scaling to at least the size, then resampled with Lanczos-3",
    },
    { step: 'colour', space: p.color === 'rgb' ? 'sRGB, 3 channels' : 'grey, 1 channel', dtype: 'uint8' },
    {
      step: 'normalize',
      mode: p.normalize,
      what:
        p.normalize === 'unit'
          ? 'x / 255'
          : p.normalize === 'symmetric'
            ? 'x / 127.5 - 1'
            : `(x / 255 - mean) / std per channel, mean ${JSON.stringify(p.mean)}, std ${JSON.stringify(p.std)}`,
      layout: 'NHWC float32',
    },
    ...(meta.test_time_flip
      ? [{ step: 'test_time_flip', what: 'the mean of the class probabilities on the image and on its mirror image' }]
      : []),
  ];
}

const PYFUNC_MODULE = 'run_exp_pyfunc';
/** The Python the pinned requirements install on. */
const PYTHON_VERSION = '3.11';

/**
 * The files MLflow's python_function flavor needs beside the TF.js files: the
 * loader under code/, its pinned requirements and a python_env.yaml naming them.
 */
function pyfuncFiles(): Record<string, string> {
  const requirements = readFileSync(path.join(PYTHON_DIR, 'requirements-model.txt'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'));
  return {
    [`code/${PYFUNC_MODULE}.py`]: readFileSync(path.join(PYTHON_DIR, `${PYFUNC_MODULE}.py`), 'utf8'),
    'requirements.txt': `${['mlflow', 'pandas', ...requirements].join('\n')}\n`,
    'python_env.yaml': stringify({
      python: PYTHON_VERSION,
      build_dependencies: ['pip', 'setuptools', 'wheel'],
      dependencies: ['-r requirements.txt'],
    }),
  };
}

interface FolderInfo {
  runId: string;
  tfjsVersion: string;
  created: Date;
  modelUuid: string;
  /** One image's pixels after decode, crop and resize (height x width x channels): the input example. */
  example?: Uint8Array;
}

const INPUT_EXAMPLE = 'input_example.json';
const SERVING_INPUT = 'serving_input_example.json';

/**
 * MLmodel's text: a `tfjs` flavor (a TF.js layers model: float32 images after
 * every preprocessing step in), a `python_function` flavor (uint8 pixels after
 * decode, crop and resize in; the loader normalizes and flips), the signature
 * of the latter (class probabilities out, one column per class), and run-exp's
 * metadata with every preprocessing step.
 */
function mlmodelText(meta: ModelMeta, info: FolderInfo): string {
  const [height, width] = meta.preprocessing.size;
  const channels = meta.preprocessing.color === 'rgb' ? 3 : 1;
  return stringify({
    artifact_path: 'model',
    flavors: {
      tfjs: {
        format: 'layers-model',
        model_file: 'model.json',
        weights: 'weights.bin',
        tfjs_version: info.tfjsVersion,
        input: `float32 [-1, ${height}, ${width}, ${channels}], the images after every step of metadata.run_exp.preprocessing_steps`,
      },
      python_function: {
        loader_module: PYFUNC_MODULE,
        code: 'code',
        env: { virtualenv: 'python_env.yaml' },
        python_version: PYTHON_VERSION,
        input: `uint8 [-1, ${height}, ${width}, ${channels}], the images after decode, crop and resize (metadata.run_exp.preprocessing_steps); the loader normalizes${meta.test_time_flip ? ' and averages over the mirror image' : ''}`,
      },
    },
    model_uuid: info.modelUuid,
    run_exp_run_id: info.runId,
    signature: {
      inputs: JSON.stringify([
        { type: 'tensor', 'tensor-spec': { dtype: 'uint8', shape: [-1, height, width, channels] } },
      ]),
      outputs: JSON.stringify(
        (meta.outputs ? outputColumns(meta.outputs) : meta.classes).map((name) => ({
          type: 'float',
          name,
          required: true,
        })),
      ),
      params: null,
    },
    ...(info.example
      ? {
          saved_input_example_info: {
            artifact_path: INPUT_EXAMPLE,
            type: 'ndarray',
            serving_input_path: SERVING_INPUT,
          },
        }
      : {}),
    utc_time_created: info.created.toISOString().replace('T', ' ').replace('Z', ''),
    metadata: { run_exp: { ...meta, preprocessing_steps: preprocessingSteps(meta) } },
  });
}

/** One image as MLflow keeps a tensor example: [image] as nested rows of pixels. */
function exampleTensor(meta: ModelMeta, pixels: Uint8Array): number[][][][] {
  const [h, w] = meta.preprocessing.size;
  const c = meta.preprocessing.color === 'rgb' ? 3 : 1;
  return [
    Array.from({ length: h }, (_, y) =>
      Array.from({ length: w }, (_, x) => Array.from(pixels.subarray((y * w + x) * c, (y * w + x + 1) * c))),
    ),
  ];
}

/** Every file of a model folder beside the TF.js files: MLmodel, the input example and the python_function flavor's. */
export function modelFolderFiles(meta: ModelMeta, info: FolderInfo): Record<string, string> {
  return {
    [MLMODEL]: mlmodelText(meta, info),
    // The example as MLflow 3 saves an ndarray one: bare, and as a scoring request body.
    ...(info.example
      ? {
          [INPUT_EXAMPLE]: JSON.stringify(exampleTensor(meta, info.example)),
          [SERVING_INPUT]: JSON.stringify({ inputs: exampleTensor(meta, info.example) }),
        }
      : {}),
    ...pyfuncFiles(),
  };
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
