// `run-exp export` with the real converters (the suite's .venv holds
// python/requirements-model.txt): a model with batch norm and spatial dropout
// to a Keras 3 file, a SavedModel and ONNX, each read back by its own runtime
// in Python (not by the export's own check) and compared with run-exp predict
// on real files' model input.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/program.ts';
import { resolveExperiment } from '../../src/config/resolve.ts';
import { fileJobs, inputBatches } from '../../src/data/preprocess.ts';
import { loadTensorflow } from '../../src/platform/tensorflow.ts';
import { loadRun, predictFiles } from '../../src/report/predict.ts';
import { runExperiment } from '../../src/runner/run.ts';
import { tempDir } from '../data/fixtures.ts';
import { MLFLOW_BIN } from '../support/mlflow-server.ts';
import { dataset, experimentFile } from '../support/toy.ts';

const python = path.join(path.dirname(MLFLOW_BIN), 'python');
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const READ_BACK = {
  keras: `import keras
m = keras.models.load_model(sys.argv[1] + "/model.keras", compile=False)
p = m.predict(x, verbose=0)`,
  savedmodel: `import tensorflow as tf
m = tf.saved_model.load(sys.argv[1] + "/saved_model")
p = m.signatures["serving_default"](images=tf.constant(x))["probabilities"].numpy()`,
  onnx: `import onnxruntime
s = onnxruntime.InferenceSession(sys.argv[1] + "/model.onnx", providers=["CPUExecutionProvider"])
p = s.run(None, {s.get_inputs()[0].name: x})[0]`,
};

/** The probabilities `format`'s own runtime gives for the model exported to `out`, on the float32 images in `inputFile`. */
function readBack(format: keyof typeof READ_BACK, out: string, inputFile: string, size: number): number[][] {
  return JSON.parse(
    execFileSync(
      python,
      [
        '-c',
        `import sys, json, numpy as np
x = np.fromfile(sys.argv[2], dtype=np.float32).reshape(-1, ${size}, ${size}, 3)
${READ_BACK[format]}
print(json.dumps(np.asarray(p).tolist()))`,
        out,
        inputFile,
      ],
      { encoding: 'utf8', env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' } },
    )
      .trim()
      .split('\n')
      .at(-1) as string,
  ) as number[][];
}

/** `run-exp export` of a run to `out` as `format`; its JSON report. */
async function exportRun(runDir: string, format: string, out: string) {
  const said: string[] = [];
  const code = await main(['export', '--run', runDir, '--format', format, '--out', out, '--json'], {
    out: (s) => said.push(s),
    err: (s) => said.push(s),
    env: { ...process.env, RUN_EXP_PYTHON: python },
  });
  expect(code, said.join('')).toBe(0);
  return JSON.parse(said.join(''));
}

/** The toy task trained with `change` applied to its experiment file; the run, predict's answers and the files' model input. */
async function trainedToy(dir: string, change: (yaml: string) => string, set: string[]) {
  const { tf } = await loadTensorflow();
  await dataset(path.join(dir, 'images'), 6);
  const file = experimentFile(dir);
  writeFileSync(file, change(readFileSync(file, 'utf8')));
  const result = await runExperiment(resolveExperiment(file, { env: {}, set }), {}, path.join(dir, 'cache'));
  const run = await loadRun(tf, result.run.dir);
  const images = ['top/0.png', 'top/1.png', 'bottom/0.png', 'bottom/1.png'].map((f) => path.join(dir, 'images', f));
  const ours = await predictFiles(tf, run, images);
  let input: Float32Array = new Float32Array();
  for await (const batch of inputBatches(run.preprocessing, await fileJobs(images, run.preprocessing))) input = batch.x;
  const inputFile = path.join(dir, 'input.f32');
  writeFileSync(inputFile, input);
  return { runDir: result.run.dir, run, ours, inputFile };
}

describe('run-exp export', () => {
  it('writes Keras 3, SavedModel and ONNX models that their runtimes load and that predict as run-exp does', async () => {
    const dir = tempDir('run-exp-export-');
    const { runDir, run, ours, inputFile } = await trainedToy(
      dir,
      (yaml) =>
        yaml.replace(
          '    - { type: maxPooling2d }\n',
          '    - { type: batchNormalization }\n    - { type: spatialDropout2d, rate: 0.2 }\n    - { type: maxPooling2d }\n',
        ),
      ['training.epochs=2'],
    );
    for (const [format, tolerance] of [
      ['keras', 1e-5],
      ['savedmodel', 1e-5],
      ['onnx', 1e-4],
    ] as const) {
      const out = path.join(dir, `export-${format}`);
      const report = await exportRun(runDir, format, out);
      expect(report).toMatchObject({ format, images: 8, tolerance });
      expect(report.max_abs_diff).toBeLessThanOrEqual(tolerance);
      const meta = JSON.parse(readFileSync(path.join(out, 'run_exp.json'), 'utf8'));
      expect(meta.classes).toEqual(run.classes);
      expect(meta.preprocessing_steps.map((s: { step: string }) => s.step)).toEqual([
        'decode',
        'resize',
        'colour',
        'normalize',
      ]);
      const probs = readBack(format, out, inputFile, 16);
      for (const [i, p] of ours.entries())
        for (const [j, cls] of run.classes.entries())
          expect(Math.abs((probs[i]?.[j] as number) - (p.probabilities?.[cls] as number)), format).toBeLessThan(
            tolerance,
          );
    }
    expect(existsSync(path.join(dir, 'export-savedmodel', 'saved_model', 'saved_model.pb'))).toBe(true);
  }, 240_000);

  it('writes a Keras 3 model of a run on a TF.js graph-model backbone (inlined as standard layers)', async () => {
    const dir = tempDir('run-exp-export-graph-');
    const liveness = path.join(root, 'node_modules', '@vladmandic', 'human', 'models', 'liveness.json');
    const { runDir, run, ours, inputFile } = await trainedToy(
      dir,
      (yaml) =>
        yaml.replace(
          /^model:\n( {2}.*\n)+/m,
          `model:\n  backbone: { path: ${liveness}, output: StatefulPartitionedCall/sequential_1/flatten_1/Reshape, trainable: false }\n  layers:\n    - { type: dense, units: 2, activation: softmax }\n`,
        ),
      ['training.epochs=1', 'data.preprocessing.size=[32,32]'],
    );
    const out = path.join(dir, 'export-keras');
    expect((await exportRun(runDir, 'keras', out)).max_abs_diff).toBeLessThanOrEqual(1e-5);
    const probs = readBack('keras', out, inputFile, 32);
    for (const [i, p] of ours.entries())
      for (const [j, cls] of run.classes.entries())
        expect(Math.abs((probs[i]?.[j] as number) - (p.probabilities?.[cls] as number))).toBeLessThan(1e-5);
  }, 240_000);
});
