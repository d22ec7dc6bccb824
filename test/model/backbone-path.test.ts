// Backbones read from disk (`model.backbone.path`): any TF.js layers model's
// layers are copied in under backbone/, with their weights, an input adapter
// for the normalization they expect, frozen batch norm in inference mode, and
// located errors for folders that are not layers models.
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LayersModel, Tensor, Tensor4D } from '@tensorflow/tfjs-node';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/model/backbones/graph-layer.ts';
import { buildExperimentModel } from '../../src/model/build.ts';
import { loadTensorflow, type Tf } from '../../src/platform/tensorflow.ts';
import type { Experiment } from '../../src/spec/experiment.ts';
import { tempDir } from '../data/fixtures.ts';
import { cli } from '../support/cli.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A small Keras-style network (conv, batch norm, pooling, a named feature layer, a classifier) saved as TF.js. */
async function savedNetwork(tf: Tf, dir: string): Promise<LayersModel> {
  const input = tf.input({ shape: [16, 16, 3] });
  let x = tf.layers.conv2d({ filters: 4, kernelSize: 3, name: 'conv', seed: 1 } as never).apply(input);
  x = tf.layers.batchNormalization({ name: 'bn' }).apply(x);
  x = tf.layers.activation({ activation: 'relu', name: 'relu' }).apply(x);
  x = tf.layers.globalAveragePooling2d({ name: 'features' }).apply(x);
  const out = tf.layers.dense({ units: 10, activation: 'softmax', name: 'classes' }).apply(x);
  const model = tf.model({ inputs: input, outputs: out as never });
  // Batch-norm statistics that are not the defaults, so inference mode shows.
  const bn = model.getLayer('bn');
  bn.setWeights([tf.ones([4]), tf.zeros([4]), tf.fill([4], 0.3), tf.fill([4], 2)]);
  await model.save(`file://${dir}`);
  return model;
}

function experiment(dir: string, backbone: object) {
  return {
    seed: 1,
    data: { preprocessing: { normalize: 'unit' } },
    model: {
      backbone: { trainable: false, path: dir, ...backbone },
      layers: [{ type: 'dense', units: 2, activation: 'softmax' }],
    },
    training: { loss: { type: 'categorical_crossentropy' } },
  } as unknown as Experiment;
}

describe('backbones by path', () => {
  it("copies a layers model in as backbone/<name>: the features at `output` equal the source's, adapted to its normalization", async () => {
    const { tf } = await loadTensorflow();
    const dir = tempDir();
    const source = await savedNetwork(tf, dir);
    const model = await buildExperimentModel(
      tf,
      experiment(dir, { output: 'features', normalize: 'symmetric' }),
      [16, 16, 3],
      2,
    );
    expect(model.layers.map((l) => l.name)).toEqual(
      expect.arrayContaining(['backbone/input_scale', 'backbone/conv', 'backbone/bn', 'backbone/features']),
    );
    expect(model.layers.map((l) => l.name)).not.toContain('backbone/classes');
    const unit = tf.randomUniform([2, 16, 16, 3], 0, 1, 'float32', 3) as Tensor4D;
    const theirs = tf.model({ inputs: source.inputs, outputs: source.getLayer('features').output as never });
    const ours = tf.model({ inputs: model.inputs, outputs: model.getLayer('backbone/features').output as never });
    // The run's data is unit [0, 1]; the backbone expects symmetric [-1, 1].
    const diff = (ours.predict(unit) as Tensor)
      .sub(theirs.predict(unit.mul(2).sub(1)) as Tensor)
      .abs()
      .max();
    expect(diff.dataSync()[0]).toBeLessThan(1e-5);
    // Frozen: only the head learns.
    expect(model.trainableWeights.map((w) => w.originalName.startsWith('backbone/'))).toEqual([false, false]);
  });

  it('fine-tunes from a named layer; frozen batch norm runs in inference mode and keeps its statistics', async () => {
    const { tf } = await loadTensorflow();
    const dir = tempDir();
    await savedNetwork(tf, dir);
    const model = await buildExperimentModel(
      tf,
      experiment(dir, { output: 'features', trainable: { from: 'backbone/relu' } }),
      [16, 16, 3],
      2,
    );
    const x = tf.randomUniform([4, 16, 16, 3], 0, 1, 'float32', 5) as Tensor4D;
    const y = tf.oneHot(tf.tensor1d([0, 1, 0, 1], 'int32'), 2);
    const bn = () =>
      model
        .getLayer('backbone/bn')
        .getWeights()
        .map((w) => Array.from(w.dataSync()));
    const before = bn();
    // In training mode, a frozen batch norm gives what it gives in inference.
    const features = tf.model({ inputs: model.inputs, outputs: model.getLayer('backbone/bn').output as never });
    const train = features.apply(x, { training: true }) as Tensor;
    const infer = features.predict(x) as Tensor;
    expect(train.sub(infer).abs().max().dataSync()[0]).toBeLessThan(1e-6);
    tf.train
      .sgd(0.1)
      .minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as Tensor) as never);
    expect(bn()).toEqual(before);
    expect(model.getLayer('backbone/conv').trainable).toBe(false);
  });

  it('a graph model becomes one frozen layer: its features, saved and loaded back from the run model alone', async () => {
    const { tf } = await loadTensorflow();
    const file = path.join(root, 'node_modules', '@vladmandic', 'human', 'models', 'emotion.json');
    const node = 'StatefulPartitionedCall/model_1/global_average_pooling2d_1/Mean';
    const exp = experiment(file, { output: node });
    const model = await buildExperimentModel(tf, exp, [64, 64, 1], 2);
    expect(model.getLayer('backbone/graph').trainable).toBe(false);
    expect(model.trainableWeights.every((w) => !w.originalName.startsWith('backbone/'))).toBe(true);
    const x = tf.randomUniform([2, 64, 64, 1], 0, 1, 'float32', 9) as Tensor4D;
    const graph = await tf.loadGraphModel(`file://${file}`);
    const theirs = graph.execute(x, node) as Tensor;
    const ours = tf.model({ inputs: model.inputs, outputs: model.getLayer('backbone/graph').output as never });
    expect((ours.predict(x) as Tensor).sub(theirs).abs().max().dataSync()[0]).toBeLessThan(1e-5);
    const dir = tempDir();
    await model.save(`file://${dir}`);
    const loaded = await loadModel(tf, path.join(dir, 'model.json'));
    const diff = (loaded.predict(x) as Tensor)
      .sub(model.predict(x) as Tensor)
      .abs()
      .max();
    expect(diff.dataSync()[0]).toBeLessThan(1e-6);
    await expect(buildExperimentModel(tf, experiment(file, { trainable: true }), [64, 64, 1], 2)).rejects.toThrow(
      /is a TF\.js graph model: a frozen feature extractor; use trainable: false/,
    );
  });

  it('a folder without a readable model.json gives a located error, exit 2', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'missing.yaml');
    writeFileSync(
      file,
      `name: t
data: { path: ./images, classes: [a, b], preprocessing: { size: [16, 16] } }
model:
  backbone: { path: ./nothing-here }
  layers:
    - { type: dense, units: 2, activation: softmax }
training: { epochs: 1, optimizer: adam }
`,
    );
    const missing = await cli(['validate', file]);
    expect(missing.code).toBe(2);
    expect(missing.out).toMatch(
      /missing\.yaml:4:21 +model\.backbone\.path +cannot read .*nothing-here\/model\.json \(ENOENT\); give a TF\.js layers model folder/,
    );
  });
});
