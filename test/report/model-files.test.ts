// A run's model folder outside run-exp: stock @tensorflow/tfjs (the pure-JS
// package, in a process of its own) loads model.json, finds the classes and
// preprocessing in its metadata and predicts what run-exp predicts; MLflow's
// own Python reads MLmodel's signature, model_uuid and creation time.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { resolveExperiment } from '../../src/config/resolve.ts';
import { fileJobs, inputBatches } from '../../src/data/preprocess.ts';
import { loadTensorflow } from '../../src/platform/tensorflow.ts';
import { loadRun, predictFiles } from '../../src/report/predict.ts';
import { runExperiment } from '../../src/runner/run.ts';
import { tempDir } from '../data/fixtures.ts';
import { MLFLOW_BIN } from '../support/mlflow-server.ts';
import { dataset, experimentFile } from '../support/toy.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Runs the toy task (with `model` in place of its model when given) and returns the model folder, run-exp's predictions and the model input of four files. */
async function trained(dir: string, model: string, set: string[], size: number) {
  const { tf } = await loadTensorflow();
  await dataset(path.join(dir, 'images'), 6);
  const file = experimentFile(dir);
  if (model) writeFileSync(file, readFileSync(file, 'utf8').replace(/^model:\n( {2}.*\n)+/m, model));
  const result = await runExperiment(resolveExperiment(file, { env: {}, set }), {}, path.join(dir, 'cache'));
  expect(result.status).toBe('FINISHED');
  const modelDir = path.join(result.run.dir, 'model');
  const images = ['top/0.png', 'top/1.png', 'bottom/0.png', 'bottom/1.png'].map((f) => path.join(dir, 'images', f));
  const run = await loadRun(tf, modelDir);
  const ours = await predictFiles(tf, run, images);
  // The model input of those files, through the one preprocessing path, for the stock loader.
  let input: Float32Array = new Float32Array();
  for await (const batch of inputBatches(run.preprocessing, await fileJobs(images, run.preprocessing))) input = batch.x;
  const inputFile = path.join(dir, 'input.f32');
  writeFileSync(inputFile, Buffer.from(input.buffer));
  return { modelDir, run, ours, inputFile, shape: [images.length, size, size, 3] };
}

/** Stock @tensorflow/tfjs (pure JS, CPU backend) in a process of its own: the model folder's metadata and predictions. */
function stockPredict(dir: string, modelDir: string, inputFile: string, shape: number[]) {
  const probe = path.join(dir, 'stock.mjs');
  writeFileSync(
    probe,
    `import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
const require = createRequire(${JSON.stringify(path.join(root, 'package.json'))});
const tf = require('@tensorflow/tfjs');
await tf.setBackend('cpu');
const json = JSON.parse(readFileSync(${JSON.stringify(path.join(modelDir, 'model.json'))}, 'utf8'));
const weights = readFileSync(${JSON.stringify(path.join(modelDir, 'weights.bin'))});
const model = await tf.loadLayersModel(tf.io.fromMemory({
  modelTopology: json.modelTopology,
  weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
  weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
  userDefinedMetadata: json.userDefinedMetadata,
}));
const raw = readFileSync(${JSON.stringify(inputFile)});
const x = tf.tensor4d(new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4), ${JSON.stringify(shape)});
console.log(JSON.stringify({ backend: tf.getBackend(), meta: model.getUserDefinedMetadata(), probs: model.predict(x).arraySync() }));
`,
  );
  return JSON.parse(execFileSync(process.execPath, [probe], { encoding: 'utf8' }).trim().split('\n').at(-1) as string);
}

const SPATIAL = `model:
  layers:
    - { type: conv2d, filters: 4, kernel_size: 3, activation: relu }
    - { type: batchNormalization }
    - { type: spatialDropout2d, rate: 0.2 }
    - { type: maxPooling2d }
    - { type: flatten }
    - { type: dense, units: 2, activation: softmax }
`;
const BACKBONE = `model:
  backbone: { from: face_resnet, trainable: false }
  layers:
    - { type: dense, units: 2, activation: softmax }
`;

// A TF.js graph model (a small liveness CNN @vladmandic/human ships) read out at its flatten: inlined as standard layers.
const GRAPH = `model:
  backbone:
    path: ${path.join(root, 'node_modules', '@vladmandic', 'human', 'models', 'liveness.json')}
    output: StatefulPartitionedCall/sequential_1/flatten_1/Reshape
    trainable: false
  layers:
    - { type: dense, units: 2, activation: softmax }
`;

describe("a run's model folder", () => {
  it.each([
    ['the toy CNN', '', 16],
    ['a spatialDropout2d model', SPATIAL, 16],
    ['a face_resnet backbone model', BACKBONE, 150],
    ['a graph-model backbone model', GRAPH, 32],
  ])('of %s loads in stock @tensorflow/tfjs with its classes and predicts as run-exp does', async (_, model, size) => {
    const dir = tempDir();
    const set = [
      'training.epochs=2',
      'data.preprocessing.normalize=symmetric',
      `data.preprocessing.size=[${size},${size}]`,
    ];
    const { modelDir, run, ours, inputFile, shape } = await trained(dir, model, set, size);
    const topology = JSON.parse(readFileSync(path.join(modelDir, 'model.json'), 'utf8')).modelTopology;
    // Only TF.js's and Keras's own layer classes.
    expect(JSON.stringify(topology)).not.toMatch(/SpatialDropout2D|RunExp/);
    const stock = stockPredict(dir, modelDir, inputFile, shape);
    expect(stock.backend).toBe('cpu');
    expect(stock.meta.run_exp.classes).toEqual(run.classes);
    expect(stock.meta.run_exp.preprocessing).toMatchObject({ size: [size, size], normalize: 'symmetric' });
    for (const [i, p] of ours.entries())
      for (const [j, cls] of run.classes.entries())
        expect(Math.abs((stock.probs[i][j] as number) - (p.probabilities?.[cls] as number))).toBeLessThan(1e-5);
  });

  it("has an MLmodel that MLflow's Python reads: signature, model_uuid, creation time, preprocessing steps, input example", async () => {
    const dir = tempDir();
    const { modelDir } = await trained(dir, '', ['training.epochs=1'], 16);
    const mlmodel = parse(readFileSync(path.join(modelDir, 'MLmodel'), 'utf8'));
    const steps = mlmodel.metadata.run_exp.preprocessing_steps.map((s: { step: string }) => s.step);
    expect(steps).toEqual(['decode', 'resize', 'colour', 'normalize']);
    const python = path.join(path.dirname(MLFLOW_BIN), 'python');
    const read = execFileSync(
      python,
      [
        '-c',
        `import json, sys
from mlflow.models import Model
m = Model.load(sys.argv[1] + "/MLmodel")
x = m.load_input_example(sys.argv[1])
print(json.dumps({"inputs": m.signature.inputs.to_dict(), "outputs": m.signature.outputs.to_dict(),
  "uuid": m.model_uuid, "created": m.utc_time_created, "flavors": list(m.flavors),
  "example": [list(x.shape), int(x.min()), int(x.max())]}))`,
        modelDir,
      ],
      { encoding: 'utf8' },
    );
    const info = JSON.parse(read.trim().split('\n').at(-1) as string);
    // The python_function flavor's signature: pixels after decode and resize in, a probability per class out.
    expect(info.inputs).toEqual([{ type: 'tensor', 'tensor-spec': { dtype: 'uint8', shape: [-1, 16, 16, 3] } }]);
    expect(info.outputs).toEqual([
      { type: 'float', name: 'bottom', required: true },
      { type: 'float', name: 'top', required: true },
    ]);
    expect(info.uuid).toMatch(/^[0-9a-f]{32}$/);
    expect(info.created).toBeTruthy();
    expect(info.flavors).toEqual(['tfjs', 'python_function']);
    // The first validation image's pixels, the toy's dark and bright halves.
    expect(info.example[0]).toEqual([1, 16, 16, 3]);
    expect(info.example[1]).toBeLessThan(90);
    expect(info.example[2]).toBeGreaterThan(180);
    // model_summary.txt beside the model folder: layers and parameter count.
    const summary = readFileSync(path.join(modelDir, '..', 'model_summary.txt'), 'utf8');
    expect(summary).toMatch(/conv2d/i);
    expect(summary).toMatch(/Total params: \d/);
  });
});
