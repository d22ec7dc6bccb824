// `run-exp export` with the real converters (the suite's .venv holds
// python/requirements-model.txt): a model with batch norm and spatial dropout
// to a Keras 3 file, a SavedModel and ONNX, each read back by its own runtime
// in Python (not by the export's own check) and compared with run-exp predict
// on real files' model input.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
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

describe('run-exp export', () => {
  it('writes Keras 3, SavedModel and ONNX models that their runtimes load and that predict as run-exp does', async () => {
    const { tf } = await loadTensorflow();
    const dir = tempDir('run-exp-export-');
    await dataset(path.join(dir, 'images'), 6);
    const file = experimentFile(dir);
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace(
        '    - { type: maxPooling2d }\n',
        '    - { type: batchNormalization }\n    - { type: spatialDropout2d, rate: 0.2 }\n    - { type: maxPooling2d }\n',
      ),
    );
    const result = await runExperiment(
      resolveExperiment(file, { env: {}, set: ['training.epochs=2'] }),
      {},
      path.join(dir, 'cache'),
    );
    const run = await loadRun(tf, result.run.dir);
    const images = ['top/0.png', 'top/1.png', 'bottom/0.png', 'bottom/1.png'].map((f) => path.join(dir, 'images', f));
    const ours = await predictFiles(tf, run, images);
    let input: Float32Array = new Float32Array();
    for await (const batch of inputBatches(run.preprocessing, await fileJobs(images, run.preprocessing)))
      input = batch.x;
    const inputFile = path.join(dir, 'input.f32');
    writeFileSync(inputFile, input);

    for (const [format, tolerance] of [
      ['keras', 1e-5],
      ['savedmodel', 1e-5],
      ['onnx', 1e-4],
    ] as const) {
      const out = path.join(dir, `export-${format}`);
      const said: string[] = [];
      const code = await main(['export', '--run', result.run.dir, '--format', format, '--out', out, '--json'], {
        out: (s) => said.push(s),
        err: (s) => said.push(s),
        env: { ...process.env, RUN_EXP_PYTHON: python },
      });
      expect(code, said.join('')).toBe(0);
      const report = JSON.parse(said.join(''));
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
      const probs = JSON.parse(
        execFileSync(
          python,
          [
            '-c',
            `import sys, json, numpy as np
x = np.fromfile(sys.argv[2], dtype=np.float32).reshape(-1, 16, 16, 3)
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
      for (const [i, p] of ours.entries())
        for (const [j, cls] of run.classes.entries())
          expect(Math.abs((probs[i]?.[j] as number) - (p.probabilities?.[cls] as number)), format).toBeLessThan(
            tolerance,
          );
    }
    expect(existsSync(path.join(dir, 'export-savedmodel', 'saved_model', 'saved_model.pb'))).toBe(true);
  }, 240_000);
});
