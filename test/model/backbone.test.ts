// Pretrained backbones: the catalog's face_resnet rebuilt from tf.layers gives
// face-api's own descriptors; frozen layers stay put while the head learns;
// weights are checked; the model folder holds everything predict needs.
import { cpSync, mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LayersModel, Tensor, Tensor4D } from '@tensorflow/tfjs-node';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { resolveExperiment } from '../../src/config/resolve.ts';
import { type InputSource, pixelSources, type Sources } from '../../src/data/batches.ts';
import { prepareData } from '../../src/data/prepare.ts';
import { makeEngine } from '../../src/engine/choose.ts';
import { BACKBONE_SCOPE } from '../../src/model/backbone.ts';
import { buildExperimentModel } from '../../src/model/build.ts';
import { fixedCut } from '../../src/model/cut.ts';
import { cachedFeatures, featuresCacheable, type HeadOnlyStage } from '../../src/model/features.ts';
import { loadTensorflow } from '../../src/platform/tensorflow.ts';
import { runExperiment } from '../../src/runner/run.ts';
import { BACKBONES } from '../../src/spec/backbones.ts';
import type { Experiment } from '../../src/spec/experiment.ts';
import { train } from '../../src/train/train.ts';
import { tempDir } from '../data/fixtures.ts';
import { cli } from '../support/cli.ts';
import { dataset, deterministic } from '../support/toy.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const faceApi = path.join(root, 'node_modules', '@vladmandic', 'face-api');

/** The smallest experiment a backbone model needs: data settings, a head, a loss. */
function experiment(normalize: 'unit' | 'symmetric', trainable: boolean | { from: string } = false) {
  return {
    seed: 1,
    data: { preprocessing: { normalize } },
    model: {
      backbone: { from: 'face_resnet', trainable },
      layers: [{ type: 'dense', units: 2, activation: 'softmax', name: 'head' }],
    },
    training: { loss: { type: 'categorical_crossentropy' } },
  } as unknown as Experiment;
}

/** A face from face-api's demo photos, 150x150 RGB, 0..255. */
async function face(): Promise<Buffer> {
  return sharp(path.join(faceApi, 'demo', 'sample2.jpg'))
    .resize(150, 150)
    .removeAlpha()
    .raw()
    .toBuffer();
}

const weightsOf = (model: LayersModel, name: string) =>
  model
    .getLayer(name)
    .getWeights()
    .map((w) => Array.from(w.dataSync()));

/** A toy experiment: a frozen face_resnet and a softmax head on 150x150 images, no augmentation. */
function toyExperiment(dir: string, trainable = 'false', epochs = 1): string {
  const file = path.join(dir, 'exp.yaml');
  writeFileSync(
    file,
    `name: toy
data:
  path: ./images
  split: { validation: 0.25 }
  preprocessing: { size: [150, 150] }
model:
  backbone: { from: face_resnet, trainable: ${trainable} }
  layers:
    - { type: dense, units: 2, activation: softmax }
training:
  epochs: ${epochs}
  batch_size: 4
  optimizer: adam
tracking:
  dir: ${path.join(dir, 'runs')}
`,
  );
  return file;
}

/** The toy experiment with `trainable` on 8 prepared images (4 a class), cached in the run's own folder. */
async function toyData(trainable: string, epochs = 1) {
  const dir = tempDir();
  await dataset(path.join(dir, 'images'), 4);
  const { experiment: exp } = resolveExperiment(toyExperiment(dir, trainable, epochs), { env: {} });
  const cache = path.join(dir, 'cache');
  return { dir, exp, cache, data: await prepareData(exp, { cacheDir: cache }) };
}

describe('backbones', () => {
  it("face_resnet gives face-api's own 128-d descriptors, whatever the input normalization", async () => {
    const { tf } = await loadTensorflow();
    const faceapi = await import('@vladmandic/face-api/dist/face-api.node.js');
    await faceapi.nets.faceRecognitionNet.loadFromDisk(path.join(faceApi, 'model'));
    const x255 = tf.tensor3d(await face(), [150, 150, 3], 'int32').toFloat();
    const reference = (await faceapi.nets.faceRecognitionNet.forward([x255 as never])) as unknown as Tensor;
    for (const normalize of ['unit', 'symmetric'] as const) {
      const model = await buildExperimentModel(tf, experiment(normalize), [150, 150, 3], 2);
      const features = tf.model({ inputs: model.inputs, outputs: model.getLayer('backbone/fc').output as never });
      const unit = x255.div(255).expandDims(0);
      const x = normalize === 'unit' ? unit : unit.mul(2).sub(1);
      const ours = features.predict(x) as Tensor;
      expect(ours.shape).toEqual([1, 128]);
      expect(ours.sub(reference).abs().max().dataSync()[0], normalize).toBeLessThan(1e-4);
    }
  });

  it('frozen by default: one training step moves the head and not the backbone; { from } unfreezes the end', async () => {
    const { tf } = await loadTensorflow();
    const x = tf.randomUniform([4, 150, 150, 3], 0, 1, 'float32', 7) as Tensor4D;
    const y = tf.oneHot(tf.tensor1d([0, 1, 0, 1], 'int32'), 2);
    const step = (model: LayersModel) => {
      const optimizer = tf.train.sgd(0.1);
      optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as Tensor) as never);
    };
    const frozen = await buildExperimentModel(tf, experiment('unit'), [150, 150, 3], 2);
    const [early, late, head] = ['backbone/conv32_down', 'backbone/fc', 'head'].map((n) => weightsOf(frozen, n));
    expect(frozen.trainableWeights.map((w) => w.originalName)).toEqual(['head/kernel', 'head/bias']);
    step(frozen);
    expect(weightsOf(frozen, 'backbone/conv32_down')).toEqual(early);
    expect(weightsOf(frozen, 'backbone/fc')).toEqual(late);
    expect(weightsOf(frozen, 'head')).not.toEqual(head);

    const tuned = await buildExperimentModel(
      tf,
      experiment('unit', { from: 'backbone/conv256_2/conv1' }),
      [150, 150, 3],
      2,
    );
    const before = ['backbone/conv256_1/conv2', 'backbone/conv256_2/conv1'].map((n) => weightsOf(tuned, n));
    step(tuned);
    expect(weightsOf(tuned, 'backbone/conv256_1/conv2')).toEqual(before[0]);
    expect(weightsOf(tuned, 'backbone/conv256_2/conv1')).not.toEqual(before[1]);
  });

  it('the saved model holds the backbone: reloaded from its folder alone, the same predictions', async () => {
    const { tf } = await loadTensorflow();
    const model = await buildExperimentModel(tf, experiment('symmetric'), [150, 150, 3], 2);
    const dir = mkdtempSync(path.join(tmpdir(), 'run-exp-backbone-'));
    await model.save(`file://${dir}`);
    const loaded = await tf.loadLayersModel(`file://${path.join(dir, 'model.json')}`);
    const x = tf
      .tensor4d(await face(), [1, 150, 150, 3], 'int32')
      .toFloat()
      .div(127.5)
      .sub(1);
    const diff = (loaded.predict(x) as Tensor)
      .sub(model.predict(x) as Tensor)
      .abs()
      .max();
    expect(diff.dataSync()[0]).toBeLessThan(1e-6);
    expect(loaded.layers.map((l) => l.name)).toContain('backbone/conv128_down/shortcut');
  });

  it('frozen features are computed once and cached; the head on them predicts as the whole model on the images', async () => {
    const { tf } = await loadTensorflow();
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 4);
    const { experiment: exp } = resolveExperiment(toyExperiment(dir), { env: {} });
    const cache = path.join(dir, 'cache');
    const data = await prepareData(exp, { cacheDir: cache });
    const model = await buildExperimentModel(tf, exp, data.shape, 2);
    const progress: number[][] = [];
    const onProgress = (done: number, total: number) => progress.push([done, total]);
    const first = await cachedFeatures(tf, exp, data, model, cache, onProgress);
    expect(first?.stats).toEqual({ layer: 'backbone/fc', values: 128, computed: 8, reused: 0, via: 'session' });
    expect([progress[0], progress.at(-1)]).toEqual([
      [0, 8],
      [8, 8],
    ]);
    progress.length = 0;
    const again = await cachedFeatures(tf, exp, data, model, cache, onProgress);
    expect(again?.stats).toEqual({ layer: 'backbone/fc', values: 128, computed: 0, reused: 8, via: 'session' });
    expect(progress).toEqual([]);
    const all = Array.from({ length: 8 }, (_, i) => i);
    const viaFeatures = again?.head.predict(again.sources.data(all)) as Tensor;
    const viaImages = model.predict(pixelSources(tf, exp, data).data(all)) as Tensor;
    expect(viaFeatures.shape).toEqual([8, 2]);
    expect(viaFeatures.sub(viaImages).abs().max().dataSync()[0]).toBeLessThan(1e-5);

    // A copy of the data elsewhere, every file with a new time: its features are found, not computed.
    const copy = tempDir();
    cpSync(path.join(dir, 'images'), path.join(copy, 'images'), { recursive: true });
    const later = new Date(Date.now() + 60_000);
    for (const f of readdirSync(path.join(copy, 'images'), { recursive: true, withFileTypes: true }))
      if (f.isFile()) utimesSync(path.join(f.parentPath, f.name), later, later);
    const copied = resolveExperiment(toyExperiment(copy), { env: {} }).experiment;
    const copyData = await prepareData(copied, { cacheDir: cache });
    expect([copyData.decoded, copyData.hash]).toEqual([0, data.hash]);
    const fromCopy = await cachedFeatures(tf, copied, copyData, model, cache);
    expect(fromCopy?.stats).toMatchObject({ computed: 0, reused: 8 });
  });

  /** The toy backbone experiment with `set`, its cached features, the 8 images as pixels and a distance. */
  async function cachedToy(set: string[]) {
    const { tf } = await loadTensorflow();
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 4);
    const { experiment: exp } = resolveExperiment(toyExperiment(dir), { env: {}, set });
    const cache = path.join(dir, 'cache');
    const data = await prepareData(exp, { cacheDir: cache });
    const model = await buildExperimentModel(tf, exp, data.shape, 2);
    const cached = await cachedFeatures(tf, exp, data, model, cache);
    const all = Array.from({ length: 8 }, (_, i) => i);
    const images = pixelSources(tf, exp, data).data(all);
    const near = (a: Tensor, b: Tensor) => a.sub(b).abs().max().dataSync()[0] as number;
    return { tf, dir, exp, data, model, cached, head: cached?.head as LayersModel, all, images, near };
  }

  it('a horizontal flip as the only augmentation is cached too: training batches take the mirrored rows', async () => {
    const { tf, dir, exp, model, cached, head, all, images, near } = await cachedToy([
      'data.augmentation=[{type: flip_horizontal, probability: 1}]',
    ]);
    expect(featuresCacheable(exp)).toBe(true);
    // Every training image twice (as it is and mirrored), the evaluation sets once.
    expect(cached?.stats.computed).toBe(16);
    // With a random (training), the mirrored image's features; without (validation), the image's own.
    const trained = head.predict(cached?.sources.data(all, () => 0) as Tensor) as Tensor;
    expect(near(trained, model.predict(tf.reverse(images, 2)) as Tensor)).toBeLessThan(1e-5);
    const validated = head.predict(cached?.sources.data(all) as Tensor) as Tensor;
    expect(near(validated, model.predict(images) as Tensor)).toBeLessThan(1e-5);
    expect(
      featuresCacheable(
        resolveExperiment(toyExperiment(dir), {
          env: {},
          set: ['data.augmentation=[{type: flip_horizontal}, {type: rotate, degrees: 5}]'],
        }).experiment,
      ),
    ).toBe(false);
  });

  it('test_time_flip caches the mirror images of the scored images (validation, test) and scores on both rows', async () => {
    const { tf, data, model, cached, head, all, images, near } = await cachedToy(['data.test_time_flip=true']);
    const scored = [...data.splits.validation.index, ...data.splits.test.index];
    expect(scored.length).toBeGreaterThan(0);
    // Every image once, and the mirror images of the scored ones only: nothing scores a training image mirrored.
    expect(cached?.stats.computed).toBe(8 + scored.length);
    const mirrored = cached?.sources.data.mirrored?.(scored) as Tensor;
    const expected = model.predict(tf.reverse(tf.gather(images, scored), 2)) as Tensor;
    expect(near(head.predict(mirrored) as Tensor, expected)).toBeLessThan(1e-5);
    const training = all.find((i) => !scored.includes(i)) as number;
    expect(() => cached?.sources.data.mirrored?.([training])).toThrow(/no mirrored row/);
    // Training batches still take the images as they are: no flip augmentation was asked for.
    expect(
      near(head.predict(cached?.sources.data(all, () => 0) as Tensor) as Tensor, model.predict(images) as Tensor),
    ).toBeLessThan(1e-5);
  });

  it('fine-tuning the last blocks caches the frozen part: the cut is the one tensor before them', async () => {
    const { tf } = await loadTensorflow();
    const cutOf = async (trainable: boolean | { from: string }) =>
      fixedCut(await buildExperimentModel(tf, experiment('unit', trainable), [150, 150, 3], 2), BACKBONE_SCOPE);
    expect((await cutOf(false))?.sourceLayer.name).toBe('backbone/fc');
    // A block's first conv: its input also feeds the shortcut, so the cut is the block's input.
    expect((await cutOf({ from: 'backbone/conv256_down/conv1' }))?.sourceLayer.name).toBe('backbone/conv128_2/relu');
    expect((await cutOf({ from: 'backbone/conv256_2/conv1' }))?.shape).toEqual([null, 4, 4, 256]);
    expect(await cutOf({ from: 'backbone/conv32_down' })).toBeNull();
    expect(await cutOf(true)).toBeNull();

    const { exp, cache, data } = await toyData("{ from: 'backbone/conv256_2/conv1' }");
    const model = await buildExperimentModel(tf, exp, data.shape, 2);
    const tail = await cachedFeatures(tf, exp, data, model, cache);
    expect(tail?.stats).toMatchObject({ layer: 'backbone/conv256_1/relu', values: 4096, computed: 8 });
    expect(tail?.head.trainableWeights.map((w) => w.originalName)).toEqual(
      model.trainableWeights.map((w) => w.originalName),
    );
    const all = Array.from({ length: 8 }, (_, i) => i);
    const viaFeatures = tail?.head.predict(tail.sources.data(all)) as Tensor;
    const viaImages = model.predict(pixelSources(tf, exp, data).data(all)) as Tensor;
    expect(viaFeatures.sub(viaImages).abs().max().dataSync()[0]).toBeLessThan(1e-5);
  });

  it('in bf16 the fixed part computes in bfloat16: entries of its own, near float32', async () => {
    const { tf } = await loadTensorflow();
    const { exp, cache, data } = await toyData("{ from: 'backbone/conv256_2/conv1' }");
    const model = await buildExperimentModel(tf, exp, data.shape, 2);
    const all = Array.from({ length: 8 }, (_, i) => i);
    const f32 = await cachedFeatures(tf, exp, data, model, cache);
    const bf16 = await cachedFeatures(tf, exp, data, model, cache, undefined, 'bf16');
    expect(bf16?.stats).toMatchObject({ computed: 8, reused: 0, via: 'session, bf16' });
    const [a, b] = [f32, bf16].map((c) => c?.sources.data(all) as Tensor);
    const scale = a?.abs().max().dataSync()[0] as number;
    const diff = (a as Tensor)
      .sub(b as Tensor)
      .abs()
      .max()
      .dataSync()[0] as number;
    // bfloat16 keeps 8 bits of mantissa: near, not equal.
    expect(diff).toBeGreaterThan(0);
    expect(diff / scale).toBeLessThan(0.05);
    expect((await cachedFeatures(tf, exp, data, model, cache))?.stats).toMatchObject({ computed: 0, reused: 8 });
    expect((await cachedFeatures(tf, exp, data, model, cache, undefined, 'bf16'))?.stats).toMatchObject({
      computed: 0,
      reused: 8,
    });
  });

  it('at_epoch: the backbone stays frozen until that epoch, then its end learns on the cached frozen part', async () => {
    const { tf } = await loadTensorflow();
    const { exp, cache, data } = await toyData("{ from: 'backbone/conv256_2/conv1', at_epoch: 2 }", 2);
    const model = await buildExperimentModel(tf, exp, data.shape, 2);
    const cached = await cachedFeatures(tf, exp, data, model, cache);
    expect(cached?.stats.layer).toBe('backbone/conv256_1/relu');
    const snapshots = [weightsOf(model, 'backbone/conv256_2/conv1')];
    const headName = model.layers.at(-1)?.name as string;
    const heads = [weightsOf(model, headName)];
    const net = cached?.head as LayersModel;
    const snapshot = {
      onEpochEnd: () => {
        snapshots.push(weightsOf(model, 'backbone/conv256_2/conv1'));
        heads.push(weightsOf(model, headName));
      },
    };
    const sources = cached?.sources as Sources;
    const optimizer = tf.train.adam(0.01);
    const parts = { tf, exp, model: net, optimizer, source: sources.data, classes: 2, classWeights: null, threads: 1 };
    const { engine } = await makeEngine(parts);
    const outcome = await train({ ...parts, data, engine, sources, callbacks: [snapshot] });
    expect(outcome.status).toBe('FINISHED');
    expect(snapshots[1]).toEqual(snapshots[0]);
    expect(heads[1]).not.toEqual(heads[0]);
    expect(snapshots[2]).not.toEqual(snapshots[1]);
    // Afterwards the model is as the experiment says (what model.json records).
    expect(model.getLayer('backbone/conv256_2/conv1').trainable).toBe(true);
  });

  it("before a later unfreezing the head trains on the whole backbone's cached output, as through its frozen layers", async () => {
    const { tf } = await loadTensorflow();
    const { exp, cache, data } = await toyData("{ from: 'backbone/conv256_2/conv1', at_epoch: 2 }", 3);
    // The same run twice from the same weights: its head-only epoch on the backbone's output, and through the layers.
    const trained = async (staged: boolean) => {
      const model = await buildExperimentModel(tf, exp, data.shape, 2);
      const cached = await cachedFeatures(tf, exp, data, model, cache);
      const sources = cached?.sources as Sources;
      const optimizer = tf.train.adam(0.01);
      const net = cached?.head as LayersModel;
      const parts = {
        tf,
        exp,
        model: net,
        optimizer,
        source: sources.data,
        classes: 2,
        classWeights: null,
        threads: 1,
      };
      // Counts the rows the head-only stage feeds: the staged run's first epoch takes its 6 training rows there.
      let fed = 0;
      const stage = cached?.headOnly as HeadOnlyStage;
      const rows = stage.source.floats as NonNullable<InputSource['floats']>;
      const source = Object.assign((i: number[] | Int32Array, random?: () => number) => stage.source(i, random), {
        floats: (i: number[] | Int32Array, random?: () => number) => {
          fed += i.length;
          return rows(i, random);
        },
      });
      const headOnly = staged ? { headOnly: { ...stage, source } } : {};
      const { engine } = await makeEngine({ ...parts, ...headOnly });
      const outcome = await train({ ...parts, data, engine, sources });
      return { cached, outcome, fed, weights: model.getWeights().map((w) => Array.from(w.dataSync())) };
    };
    const staged = await trained(true);
    expect(staged.cached?.stats.headOnly).toEqual({
      layer: 'backbone/fc',
      values: 128,
      computed: 8,
      reused: 0,
      epochs: 1,
    });
    expect(staged.cached?.headOnly?.model.inputs[0]?.shape).toEqual([null, 128]);
    expect(staged.fed).toBe(6);
    const through = await trained(false);
    expect(through.cached?.stats.headOnly).toMatchObject({ computed: 0, reused: 8 });
    expect(through.fed).toBe(0);
    const [a, b] = [staged, through].map((r) => r.outcome.epochs);
    expect(a).toHaveLength(3);
    for (const [i, m] of (a ?? []).entries())
      expect(Math.abs(m.loss - (b?.[i]?.loss as number)), `epoch ${i + 1}`).toBeLessThan(1e-5);
    for (const [i, w] of staged.weights.entries())
      expect(w.reduce((m, v, j) => Math.max(m, Math.abs(v - (through.weights[i]?.[j] as number))), 0)).toBeLessThan(
        1e-4,
      );
  });

  // With training.ema too: the average follows the backbone's end from where it starts learning.
  for (const extra of [[], ['training.ema={decay: 0.9}']])
    it(`both engines train across an Adam unfreeze alike, and neither moves the fixed shortcut projections (${extra.join(', ') || 'raw weights'})`, async () => {
      const dir = tempDir();
      await dataset(path.join(dir, 'images'), 4);
      // From conv128_down: the part that learns holds two fixed shortcut convs (layers built with trainable: false).
      const file = toyExperiment(dir, "{ from: 'backbone/conv128_down/conv1', at_epoch: 2 }", 3);
      const cache = path.join(dir, 'cache');
      const run = (engine: string) =>
        runExperiment(resolveExperiment(file, { env: {}, set: [`training.engine=${engine}`, ...extra] }), {}, cache);
      const [eager, graph] = [await run('eager'), await run('graph')];
      for (const [i, m] of eager.epochs.entries()) {
        expect(Math.abs(m.loss - (graph.epochs[i]?.loss as number))).toBeLessThan(1e-4);
        expect(Math.abs((m.val_loss as number) - (graph.epochs[i]?.val_loss as number))).toBeLessThan(1e-4);
      }
      const { tf } = await loadTensorflow();
      const built = await buildExperimentModel(tf, resolveExperiment(file, { env: {} }).experiment, [150, 150, 3], 2);
      const shortcut = 'backbone/conv128_down/shortcut';
      expect(weightsOf(graph.model as LayersModel, shortcut)).toEqual(weightsOf(built, shortcut));
    });

  // 6 training images, batch 4: 2 batches an epoch. Stopped in epoch 3 after the backbone started learning, and
  // in epoch 2 of 3 still frozen (the head-only stage, on the whole backbone's cached output).
  for (const { atEpoch, stopAt, when } of [
    { atEpoch: 2, stopAt: 5, when: 'after unfreezing' },
    { atEpoch: 3, stopAt: 3, when: 'before unfreezing' },
  ])
    it(`resumed ${when} (grouped Adam, cached frozen part), a run ends as an uninterrupted one`, async () => {
      const dir = tempDir();
      await dataset(path.join(dir, 'images'), 4);
      const file = toyExperiment(dir, `{ from: 'backbone/conv256_2/conv1', at_epoch: ${atEpoch} }`, 3);
      const set = ['training.optimizer={type: adam, lr: 0.01, lr_multipliers: {backbone: 0.1}}'];
      const resolved = () => resolveExperiment(file, { env: {}, set });
      const cache = path.join(dir, 'cache');
      const whole = await runExperiment(resolved(), {}, cache);
      let batches = 0;
      const killed = await runExperiment(
        resolved(),
        { onBatch: () => batches++, shouldStop: () => batches === stopAt },
        cache,
      );
      expect(killed.status).toBe('KILLED');
      const resumed = await runExperiment(resolved(), {}, cache, killed.run.dir);
      expect(resumed.status).toBe('FINISHED');
      expect(deterministic(resumed.epochs)).toEqual(deterministic(whole.epochs));
      const a = whole.model?.getWeights().map((w) => Array.from(w.dataSync()));
      expect(resumed.model?.getWeights().map((w) => Array.from(w.dataSync()))).toEqual(a);
    });

  it('a run with a backbone records its identity, and predict works from the run folder', async () => {
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 6);
    const file = toyExperiment(dir);
    const { code, out } = await cli([file, '--quiet']);
    expect(code, out).toBe(0);
    const runs = path.join(dir, 'runs', 'toy');
    const [id] = readdirSync(runs);
    const run = path.join(runs, id as string);
    const env = JSON.parse(readFileSync(path.join(run, 'environment.json'), 'utf8'));
    expect(env.backbone).toEqual({
      name: 'face_resnet',
      package: '@vladmandic/face-api',
      version: '1.7.15',
      licence: BACKBONES.face_resnet.licence,
      files: BACKBONES.face_resnet.files,
    });
    // Its report too: the validation set's confusion cells and the crops the backbone saw.
    const report = readFileSync(path.join(run, 'report.html'), 'utf8');
    expect(report).toMatch(/data-cell="validation-0-0" data-count="\d+"/);
    expect(report).toContain('<img class="crop" src="data:image/jpeg;base64,');
    const image = path.join(dir, 'images', 'top', '0.png');
    const predicted = await cli(['predict', '--run', run, image, '--json']);
    expect(predicted.code, predicted.err).toBe(0);
    const [row] = JSON.parse(predicted.out) as { label: string; probabilities: Record<string, number> }[];
    expect(['top', 'bottom']).toContain(row?.label);
  });
});
