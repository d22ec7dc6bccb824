// Backbones read from disk (`model.backbone.path`): any TF.js layers model's
// layers are copied in under backbone/, with their weights, an input adapter
// for the normalization they expect, frozen batch norm in inference mode, and
// located errors for folders that are not layers models.
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LayersModel, Tensor, Tensor4D } from '@tensorflow/tfjs-node';
import { describe, expect, it } from 'vitest';
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

const HEAD = [{ type: 'dense', units: 2, activation: 'softmax' }];

function experiment(dir: string, backbone: object, layers: object[] = HEAD) {
  return {
    seed: 1,
    data: { preprocessing: { normalize: 'unit' } },
    model: {
      backbone: { trainable: false, path: dir, ...backbone },
      layers,
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

  it('a graph model is rebuilt as frozen standard layers: its features to the last bit, saved and loaded back', async () => {
    const { tf } = await loadTensorflow();
    const file = path.join(root, 'node_modules', '@vladmandic', 'human', 'models', 'emotion.json');
    const node = 'StatefulPartitionedCall/model_1/global_average_pooling2d_1/Mean';
    const model = await buildExperimentModel(tf, experiment(file, { output: node }), [64, 64, 1], 2);
    const backbone = model.layers.filter((l) => l.name.startsWith('backbone/'));
    // Fused convolutions, depthwise convolutions, pooling, residual adds: TF.js's own classes, frozen.
    expect(new Set(backbone.map((l) => l.getClassName()))).toEqual(
      new Set(['Conv2D', 'DepthwiseConv2D', 'MaxPooling2D', 'Add', 'Activation', 'GlobalAveragePooling2D']),
    );
    expect(backbone.every((l) => !l.trainable)).toBe(true);
    expect(model.trainableWeights.every((w) => !w.originalName.startsWith('backbone/'))).toBe(true);
    const x = tf.randomUniform([2, 64, 64, 1], 0, 1, 'float32', 9) as Tensor4D;
    const graph = await tf.loadGraphModel(`file://${file}`);
    const theirs = graph.execute(x, node) as Tensor;
    const features = (backbone.at(-1) as (typeof backbone)[number]).output;
    const ours = tf.model({ inputs: model.inputs, outputs: features as never });
    expect((ours.predict(x) as Tensor).sub(theirs).abs().max().dataSync()[0]).toBeLessThan(1e-6);
    const dir = tempDir();
    await model.save(`file://${dir}`);
    expect(readFileSync(path.join(dir, 'model.json'), 'utf8')).not.toMatch(/RunExp/);
    const loaded = await tf.loadLayersModel(`file://${path.join(dir, 'model.json')}`);
    const diff = (loaded.predict(x) as Tensor)
      .sub(model.predict(x) as Tensor)
      .abs()
      .max();
    expect(diff.dataSync()[0]).toBeLessThan(1e-6);
    await expect(buildExperimentModel(tf, experiment(file, { trainable: true }), [64, 64, 1], 2)).rejects.toThrow(
      /is a TF\.js graph model: a frozen feature extractor; use trainable: false/,
    );
  });

  it('more graphs inline exactly (padded channels, fused PReLU, constant scale and shift); one with an op no layer has stays one graph layer', async () => {
    const { tf } = await loadTensorflow();
    const models = path.join(root, 'node_modules', '@vladmandic', 'human', 'models');
    const flatten = [{ type: 'flatten' }, ...HEAD];
    for (const [name, size, node, head] of [
      ['blazeface', 256, 'StatefulPartitionedCall/functional_1/re_lu_30/Relu', flatten],
      ['iris', 64, 'Identity', flatten],
      ['liveness', 32, 'StatefulPartitionedCall/sequential_1/flatten_1/Reshape', HEAD],
    ] as const) {
      const file = path.join(models, `${name}.json`);
      const model = await buildExperimentModel(tf, experiment(file, { output: node }, head), [size, size, 3], 2);
      expect(
        model.layers.map((l) => l.getClassName()),
        name,
      ).not.toContain('RunExpGraphBackbone');
      const x = tf.randomUniform([1, size, size, 3], 0, 1, 'float32', 2) as Tensor4D;
      const graph = await tf.loadGraphModel(`file://${file}`);
      const theirs = graph.execute(x, node) as Tensor;
      const last = model.layers.filter((l) => l.name.startsWith('backbone/')).at(-1);
      const ours = tf.model({ inputs: model.inputs, outputs: last?.output as never }).predict(x) as Tensor;
      expect(
        ours
          .reshape([-1])
          .sub(theirs.reshape([-1]))
          .abs()
          .max()
          .dataSync()[0],
        name,
      ).toBeLessThan(1e-5);
    }
    // faceres clips with Minimum/Maximum against constants, which no standard layer does.
    const faceres = path.join(models, 'faceres.json');
    const model = await buildExperimentModel(
      tf,
      experiment(faceres, { output: 'global_pooling/Mean' }),
      [224, 224, 3],
      2,
    );
    expect(model.getLayer('backbone/graph').getClassName()).toBe('RunExpGraphBackbone');
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
