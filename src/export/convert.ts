// `run-exp export --format keras | savedmodel | onnx`: the official converters
// (tensorflowjs's Keras loader, Keras 3, TensorFlow, tf2onnx) in the model
// Python, then the result read back by its own runtime and compared with
// run-exp's model on seeded random images before it is called a success.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Tensor } from '@tensorflow/tfjs-node';
import { channelsOf } from '../data/decode.ts';
import { toFloat } from '../data/normalize.ts';
import { preprocessingSteps } from '../model/model-folder.ts';
import { PYTHON_DIR } from '../platform/model-python.ts';
import { rng } from '../platform/random.ts';
import type { Tf } from '../platform/tensorflow.ts';
import type { LoadedRun } from '../report/predict.ts';
import { RunExpError } from '../spec/errors.ts';

export const CONVERTED = { keras: 1e-5, savedmodel: 1e-5, onnx: 1e-4 } as const;
export type ConvertedFormat = keyof typeof CONVERTED;

/** Images the check runs on: seeded noise, normalized as the model's own inputs are. */
export function checkInputs(run: LoadedRun, n: number): Float32Array {
  const [h, w] = run.preprocessing.size;
  const bytes = h * w * channelsOf(run.preprocessing);
  const random = rng(7);
  const pixels = Uint8Array.from({ length: n * bytes }, () => Math.floor(random() * 256));
  return toFloat(
    pixels,
    bytes,
    channelsOf(run.preprocessing),
    Array.from({ length: n }, (_, i) => i),
    run.preprocessing,
    new Float32Array(n * bytes),
  );
}

export interface Converted {
  path: string;
  max_abs_diff: number;
  images: number;
  tolerance: number;
}

/** The file that tells a consumer of the converted model what goes in and what comes out. */
export function metadataFile(run: LoadedRun): string {
  const meta = { classes: run.classes, preprocessing: run.preprocessing, test_time_flip: run.testTimeFlip };
  return `${JSON.stringify({ ...meta, preprocessing_steps: preprocessingSteps(meta), output: 'class probabilities in the order of classes' }, null, 2)}\n`;
}

export function convertModel(tf: Tf, run: LoadedRun, format: ConvertedFormat, out: string, python: string): Converted {
  const [h, w] = run.preprocessing.size;
  const n = 8;
  const x = checkInputs(run, n);
  // The network's own output (no test-time flip): that is what the converted model computes.
  const output = tf.tidy(() => run.model.predict(tf.tensor4d(x, [n, h, w, channelsOf(run.preprocessing)])) as Tensor);
  const expected = output.dataSync() as Float32Array;
  output.dispose();
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
          `the ${format} model differs from run-exp's by up to ${got.max_abs_diff} on ${n} check images (tolerance ${tolerance}): not exported`,
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
