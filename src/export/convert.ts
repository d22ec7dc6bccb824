// `run-exp export --format keras | savedmodel | onnx`: the official converters
// (tensorflowjs's Keras loader, Keras 3, TensorFlow, tf2onnx) in the model
// Python, then the result read back by its own runtime and compared with
// run-exp's model on seeded random images before it is called a success.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { LayersModel, Tensor } from '@tensorflow/tfjs-node';
import { channelsOf } from '../data/decode.ts';
import { toFloat } from '../data/normalize.ts';
import { preprocessingSteps } from '../model/model-folder.ts';
import { outputColumns } from '../model/output-meta.ts';
import { PYTHON_DIR } from '../platform/model-python.ts';
import { rng } from '../platform/random.ts';
import type { Tf } from '../platform/tensorflow.ts';
import { type LoadedRun, modelMeta } from '../report/predict.ts';
import { RunExpError } from '../spec/errors.ts';

export const CONVERTED = { keras: 1e-5, savedmodel: 1e-5, onnx: 1e-4 } as const;
export type ConvertedFormat = keyof typeof CONVERTED;

/**
 * What a converted model is checked on: 8 images of seeded noise, normalized
 * as the model's own inputs are, and run-exp's outputs on them (the network's
 * own, without test-time flip: that is what a converted model computes); with
 * several outputs, each row holds every output's units back to back, in order.
 */
export function checkBatch(tf: Tf, run: LoadedRun): { x: Float32Array; shape: number[]; expected: Float32Array } {
  const [h, w] = run.preprocessing.size;
  const c = channelsOf(run.preprocessing);
  const n = 8;
  const bytes = h * w * c;
  const random = rng(7);
  const pixels = Uint8Array.from({ length: n * bytes }, () => Math.floor(random() * 256));
  const indices = Array.from({ length: n }, (_, i) => i);
  const x = toFloat(pixels, bytes, c, indices, run.preprocessing, new Float32Array(n * bytes));
  const shape = [n, h, w, c];
  const expected = modelRows(tf, run.model, x, shape);
  return { x, shape, expected };
}

/** A model's outputs on `x` as rows [n, units]: several outputs concatenated per image, in order. */
export function modelRows(tf: Tf, model: LayersModel, x: Float32Array, shape: number[]): Float32Array {
  const output = tf.tidy(() => {
    const y = model.predict(tf.tensor(x, shape)) as Tensor | Tensor[];
    return Array.isArray(y) ? tf.concat(y, 1) : y;
  });
  const rows = output.dataSync() as Float32Array;
  output.dispose();
  return rows;
}

export interface Converted {
  path: string;
  max_abs_diff: number;
  images: number;
  tolerance: number;
}

/** The file that tells a consumer of the converted model what goes in and what comes out. */
export function metadataFile(run: LoadedRun): string {
  const meta = modelMeta(run);
  const output = run.outputs
    ? `one output per entry of outputs, in order (${outputColumns(run.outputs).join(', ')}); a number output gives (value - scale.mean) / scale.std, of log(1 + value) where its transform is log`
    : 'class probabilities in the order of classes';
  return `${JSON.stringify({ ...meta, preprocessing_steps: preprocessingSteps(meta), output }, null, 2)}\n`;
}

export function convertModel(tf: Tf, run: LoadedRun, format: ConvertedFormat, out: string, python: string): Converted {
  const { x, shape, expected } = checkBatch(tf, run);
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'run-exp-export-'));
  try {
    writeFileSync(path.join(scratch, 'check.f32'), x);
    writeFileSync(path.join(scratch, 'expected.f32'), expected);
    mkdirSync(out, { recursive: true });
    writeFileSync(path.join(out, 'run_exp.json'), metadataFile(run));
    const tolerance = CONVERTED[format];
    let stdout: string;
    try {
      stdout = execFileSync(
        python,
        [
          path.join(PYTHON_DIR, 'export_model.py'),
          run.modelJson,
          path.join(out, 'run_exp.json'),
          format,
          out,
          path.join(scratch, 'check.f32'),
          path.join(scratch, 'expected.f32'),
          '--tolerance',
          String(tolerance),
        ],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' } },
      );
    } catch (err) {
      const e = err as { status?: number; stdout?: string; stderr?: string };
      if (e.status === 3) {
        const got = JSON.parse(String(e.stdout).trim().split('\n').at(-1) as string) as Converted;
        throw new RunExpError(
          `the ${format} model differs from run-exp's by up to ${got.max_abs_diff} on ${shape[0]} check images (tolerance ${tolerance}): not exported`,
          { exitCode: 1 },
        );
      }
      const last =
        String(e.stderr ?? '')
          .trim()
          .split('\n')
          .at(-1) ?? '';
      throw new RunExpError(`the ${format} conversion failed: ${last}`, { exitCode: 1 });
    }
    return { ...(JSON.parse(stdout.trim().split('\n').at(-1) as string) as Converted), tolerance };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
