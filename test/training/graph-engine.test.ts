// The graph engine against the eager path, entry by entry of the registries:
// every layer type, loss and optimizer either trains the same in one graph run
// (loss, and the weights after a step, within float tolerance) or is listed
// here as eager-only, so a new entry cannot silently miss its graph form.
import type { LayersModel, Scalar, Tensor, Variable } from '@tensorflow/tfjs-node';
import { describe, expect, it } from 'vitest';
import { GraphTrainer, graphUnsupported } from '../../src/engine/graph/graph-trainer.ts';
import { makeLoss } from '../../src/engine/losses.ts';
import { makeTrainingOptimizer, optimizerState, tensorFromSaved } from '../../src/engine/optimizer-groups.ts';
import { buildModel } from '../../src/model/build.ts';
import { loadTensorflow, type Tf } from '../../src/platform/tensorflow.ts';
import type { Experiment, RegistryChoice } from '../../src/spec/experiment.ts';
import { LAYERS, type LayerTypeName } from '../../src/spec/layers.ts';
import { LOSSES } from '../../src/spec/losses.ts';
import { OPTIMIZERS } from '../../src/spec/optimizers.ts';
import { maxDiff } from '../support/max-diff.ts';

/** Registry entries that train eagerly only (the log names them when they force it). */
const EAGER_ONLY = { layers: [] as string[], optimizers: [] as string[], losses: [] };

/** A small model around each layer type: [input shape, layers before the softmax head]. */
const SAMPLES: Record<LayerTypeName, [[number, number, number], RegistryChoice[]]> = {
  conv2d: [
    [6, 6, 3],
    [{ type: 'conv2d', filters: 4, kernel_size: 3, strides: 2, padding: 'same', activation: 'relu' }],
  ],
  separableConv2d: [[6, 6, 3], [{ type: 'separableConv2d', filters: 4, kernel_size: 3, activation: 'elu' }]],
  depthwiseConv2d: [[6, 6, 3], [{ type: 'depthwiseConv2d', kernel_size: 3, activation: 'tanh' }]],
  maxPooling2d: [
    [6, 6, 3],
    [{ type: 'conv2d', filters: 4, kernel_size: 1 }, { type: 'maxPooling2d' }],
  ],
  averagePooling2d: [
    [6, 6, 3],
    [{ type: 'conv2d', filters: 4, kernel_size: 1 }, { type: 'averagePooling2d' }],
  ],
  globalAveragePooling2d: [
    [6, 6, 3],
    [{ type: 'conv2d', filters: 4, kernel_size: 3 }, { type: 'globalAveragePooling2d' }],
  ],
  globalMaxPooling2d: [
    [6, 6, 3],
    [{ type: 'conv2d', filters: 4, kernel_size: 3 }, { type: 'globalMaxPooling2d' }],
  ],
  batchNormalization: [
    [6, 6, 3],
    [{ type: 'conv2d', filters: 4, kernel_size: 3 }, { type: 'batchNormalization' }],
  ],
  layerNormalization: [
    [6, 6, 3],
    [{ type: 'flatten' }, { type: 'dense', units: 8 }, { type: 'layerNormalization' }],
  ],
  dropout: [
    [6, 6, 3],
    [{ type: 'flatten' }, { type: 'dropout', rate: 0 }],
  ],
  spatialDropout2d: [[6, 6, 3], [{ type: 'spatialDropout2d', rate: 0 }]],
  flatten: [[6, 6, 3], [{ type: 'flatten' }]],
  dense: [
    [6, 6, 3],
    [{ type: 'flatten' }, { type: 'dense', units: 5, activation: 'swish' }],
  ],
  activation: [[6, 6, 3], [{ type: 'activation', activation: 'selu' }]],
  zeroPadding2d: [
    [6, 6, 3],
    [
      { type: 'zeroPadding2d', padding: [1, 2] },
      { type: 'conv2d', filters: 2, kernel_size: 3 },
    ],
  ],
  add: [
    [6, 6, 3],
    [
      { type: 'conv2d', filters: 3, kernel_size: 1, name: 'c' },
      { type: 'add', inputs: ['input', 'c'] },
    ],
  ],
  multiply: [
    [6, 6, 3],
    [
      { type: 'conv2d', filters: 3, kernel_size: 1, name: 'c' },
      { type: 'multiply', inputs: ['input', 'c'] },
    ],
  ],
  average: [
    [6, 6, 3],
    [
      { type: 'conv2d', filters: 3, kernel_size: 1, name: 'c' },
      { type: 'average', inputs: ['input', 'c'] },
    ],
  ],
  concatenate: [
    [6, 6, 3],
    [
      { type: 'conv2d', filters: 2, kernel_size: 1, name: 'c' },
      { type: 'concatenate', inputs: ['input', 'c'] },
    ],
  ],
  reshape: [
    [6, 6, 3],
    [{ type: 'reshape', target_shape: [12, 9] }, { type: 'flatten' }],
  ],
};

const HEAD: RegistryChoice[] = [{ type: 'flatten' }, { type: 'dense', units: 2, activation: 'softmax' }];

/** The experiment keys the graph engine reads. */
function experiment(
  optimizer: Record<string, unknown>,
  loss: Record<string, unknown> = {},
  classWeights: Record<string, number> | null = null,
): Experiment {
  const type = (optimizer.type as keyof typeof OPTIMIZERS | undefined) ?? 'sgd';
  const defaults = Object.fromEntries(Object.entries(OPTIMIZERS[type].params).map(([k, p]) => [k, p.default]));
  return {
    seed: 3,
    data: { augmentation: [] },
    training: {
      optimizer: { ...defaults, type, lr: 0.1, ...optimizer },
      loss: { type: 'categorical_crossentropy', label_smoothing: 0, ...loss },
      class_weights: classWeights,
      ema: null,
    },
  } as unknown as Experiment;
}

/** Fills in a layer's registry defaults, as validation does, so that buildModel gets complete specs. */
function complete(spec: RegistryChoice): RegistryChoice {
  const params = LAYERS[spec.type as LayerTypeName].params as Record<string, { default?: unknown }>;
  const defaults = Object.fromEntries(
    Object.entries(params).flatMap(([k, p]) => (p.default === undefined ? [] : [[k, p.default]])),
  );
  return { ...defaults, ...spec } as RegistryChoice;
}

function model(tf: Tf, input: [number, number, number], layers: RegistryChoice[]): LayersModel {
  const flat = layers.some((l) => l.type === 'flatten' || l.type.startsWith('global'));
  const head = flat ? HEAD.slice(1) : HEAD;
  return buildModel(tf, [...layers, ...head].map(complete), { inputShape: input, seed: 11, numClasses: 2 });
}

/** `pixel(i)` gives the i-th input value; by default noise in [-1, 1). */
function batch(tf: Tf, input: [number, number, number], n = 6, pixel?: (i: number) => number) {
  let s = 7;
  const x = Float32Array.from({ length: n * input[0] * input[1] * input[2] }, (_, i) => {
    if (pixel) return pixel(i);
    s = (s * 16807) % 2147483647;
    return (s % 1000) / 500 - 1;
  });
  const y = Float32Array.from({ length: n * 2 }, (_, i) => ((i >> 1) % 2 === i % 2 ? 1 : 0));
  return { x, y, n, xt: tf.tensor4d(x, [n, ...input]), yt: tf.tensor2d(y, [n, 2]) };
}

const weightsOf = (m: LayersModel) => m.getWeights().map((w) => Array.from(w.dataSync()));

/** `steps` eager steps and `steps` graph steps from the same weights: losses and weights after. */
async function compare(
  tf: Tf,
  input: [number, number, number],
  layers: RegistryChoice[],
  exp: Experiment,
  steps = 1,
  lr = 0.1,
  pixel?: (i: number) => number,
  precision: 'float32' | 'bf16' = 'float32',
) {
  const eagerModel = model(tf, input, layers);
  const graphModel = model(tf, input, layers);
  graphModel.setWeights(eagerModel.getWeights());
  const { x, y, n, xt, yt } = batch(tf, input, 6, pixel);
  const optimizer = makeTrainingOptimizer(tf, { ...exp.training.optimizer, lr });
  const lossFn = makeLoss(tf, exp.training.loss);
  // class_weights: each example weighs by its class (column 1 of the one-hot labels is the second class).
  const cw = exp.training.class_weights as Record<string, number> | null;
  const w = cw ? Float32Array.from({ length: n }, (_, i) => (y[i * 2 + 1] ? (cw.b ?? 1) : (cw.a ?? 1))) : undefined;
  const wt = w ? tf.tensor1d(w) : undefined;
  const eager: number[] = [];
  const eagerStep = () => {
    const { value, grads } = tf.variableGrads(
      () => lossFn(yt, eagerModel.apply(xt, { training: true }) as Tensor, wt) as Scalar,
    );
    eager.push(value.dataSync()[0] as number);
    optimizer.applyGradients(grads);
    tf.dispose([value, ...Object.values(grads)]);
  };
  for (let s = 0; s < steps; s++) eagerStep();
  const trainer = new GraphTrainer(tf, exp, graphModel, 1, precision);
  const graph: number[] = [];
  for (let s = 0; s < steps; s++) graph.push((await trainer.step(x, n, y, lr, [1, s], w)).loss);
  trainer.saveWeights();
  return {
    eager,
    graph,
    weights: maxDiff(weightsOf(eagerModel), weightsOf(graphModel)),
    /**
     * The optimizer state through a checkpoint between engines: the graph's
     * into a fresh tfjs optimizer (compared with the eager one's), then into a
     * new graph that takes one more step beside one more eager step.
     */
    handOver: async () => {
      const order = graphModel.trainableWeights.map((v) => (v.read() as Variable).name);
      const handed = makeTrainingOptimizer(tf, { ...exp.training.optimizer, lr });
      await trainer.saveOptimizerState(handed, order);
      const [a, b] = [await optimizerState(tf, optimizer), await optimizerState(tf, handed)];
      const slots = (st: typeof a) =>
        st.flatMap((part) => part.weights.map((t) => Array.from(tensorFromSaved(tf, t).dataSync())));
      const extras = (st: typeof a) => st.map((part) => part.extras);
      const next = new GraphTrainer(tf, exp, graphModel, 1, precision);
      await next.loadOptimizerState(handed, order);
      const loss = (await next.step(x, n, y, lr, [1, steps], w)).loss;
      next.saveWeights();
      eagerStep();
      return {
        slots: maxDiff(slots(a), slots(b)),
        slotCounts: [slots(a).length, slots(b).length],
        extras: [extras(a), extras(b)],
        loss: Math.abs(loss - (eager.at(-1) as number)),
        weights: maxDiff(weightsOf(eagerModel), weightsOf(graphModel)),
      };
    },
  };
}

/** One SGD step's loss and weights agree between the engines. */
function expectSameStep(r: { graph: number[]; eager: number[]; weights: number }, what: string): void {
  expect(Math.abs((r.graph[0] as number) - (r.eager[0] as number)), `${what} loss`).toBeLessThan(1e-5);
  expect(r.weights, `${what} weights after a step`).toBeLessThan(1e-5);
}

describe('graph engine against eager', () => {
  it('every layer type trains the same in the graph (loss, and weights after an SGD step), or is listed eager-only', async () => {
    const { tf } = await loadTensorflow({ threads: 1 });
    expect(Object.keys(SAMPLES).sort()).toEqual(Object.keys(LAYERS).sort());
    for (const [type, [input, layers]] of Object.entries(SAMPLES)) {
      const m = model(tf, input, layers);
      const why = graphUnsupported(experiment({}), m);
      if (EAGER_ONLY.layers.includes(type)) {
        expect(why, type).toMatch(new RegExp(LAYERS[type as LayerTypeName].className));
        continue;
      }
      expect(why, type).toBeNull();
      expectSameStep(await compare(tf, input, layers, experiment({})), type);
    }
  });

  it('a 1x1 conv with stride 2 (emitted as a strided slice and a stride-1 conv) trains as eager, odd and even sizes, either padding', async () => {
    const { tf } = await loadTensorflow({ threads: 1 });
    for (const side of [6, 7])
      for (const padding of ['same', 'valid']) {
        const input: [number, number, number] = [side, side, 3];
        const layers: RegistryChoice[] = [
          { type: 'conv2d', filters: 4, kernel_size: 1, strides: 2, padding, activation: 'relu' },
          { type: 'flatten' },
          { type: 'dense', units: 2, activation: 'softmax' },
        ];
        expectSameStep(await compare(tf, input, layers, experiment({})), `${side}x${side} ${padding}`);
      }
  });

  it('max-pool windows whose maxima tie at positive values (flat regions of a photo) train the same in both engines', async () => {
    const { tf } = await loadTensorflow({ threads: 1 });
    const input: [number, number, number] = [8, 8, 3];
    const layers: RegistryChoice[] = [
      { type: 'conv2d', filters: 4, kernel_size: 3, padding: 'same', activation: 'relu' },
      { type: 'maxPooling2d', pool_size: 2 },
      { type: 'conv2d', filters: 4, kernel_size: 3, padding: 'same', activation: 'relu' },
      { type: 'maxPooling2d', pool_size: 2 },
    ];
    // Each image flat, one level per image and channel: away from the borders every window ties.
    const pixel = (i: number) => ((Math.floor(i / 192) * 5 + (i % 3)) % 4) / 4 + 0.25;
    expectSameStep(await compare(tf, input, layers, experiment({}), 1, 0.1, pixel), 'tied maxima');
  });

  it('dropout draws its mask from the step seed: the same seed drops the same units, another seed others, at the rate', async () => {
    const { tf } = await loadTensorflow({ threads: 1 });
    const input: [number, number, number] = [6, 6, 3];
    const layers: RegistryChoice[] = [{ type: 'flatten' }, { type: 'dropout', rate: 0.5 }];
    const losses = async (seed: number) => {
      const trainer = new GraphTrainer(tf, experiment({}), model(tf, input, layers), 1);
      const { x, y, n } = batch(tf, input);
      return (await trainer.step(x, n, y, 0, [seed, 0])).loss;
    };
    expect(await losses(1)).toBe(await losses(1));
    const seeds: number[] = [];
    for (let i = 0; i < 40; i++) seeds.push(await losses(i + 2));
    expect(new Set(seeds).size).toBeGreaterThan(30);
    // Inverted dropout keeps the expected activation: the mean loss over masks is near the no-dropout loss's scale.
    const mean = seeds.reduce((a, b) => a + b, 0) / seeds.length;
    const plain = await compare(tf, input, [{ type: 'flatten' }], experiment({}), 1, 0);
    expect(mean).toBeGreaterThan((plain.eager[0] as number) * 0.8);
    expect(mean).toBeLessThan((plain.eager[0] as number) * 1.5);
  });

  it("runs a conv's and a dense layer's ReLU fused into them (Grappler's remapper), so no ReLU runs on its own", async () => {
    const { tf } = await loadTensorflow({ threads: 1 });
    const input: [number, number, number] = [8, 8, 3];
    const layers: RegistryChoice[] = [
      { type: 'conv2d', filters: 4, kernel_size: 3, padding: 'same', activation: 'relu' },
      { type: 'flatten' },
      { type: 'dense', units: 6, activation: 'relu' },
    ];
    const trainer = new GraphTrainer(tf, experiment({}), model(tf, input, layers), 1);
    const { x, y, n } = batch(tf, input);
    trainer.runOptions = Uint8Array.of(0x08, 0x01); // RunOptions { trace_level: SOFTWARE_TRACE }
    await trainer.step(x, n, y, 0.1, [1, 0]);
    // Step stats label each kernel run "<node> = <op type>(<inputs>)". Where TensorFlow enables
    // oneDNN (CPUs with AVX512-VNNI, BF16 or AMX) its graph rewrite renames the fused ops _MklNative*.
    const labels = Buffer.from(trainer.metadata ?? []).toString('latin1');
    expect(labels).toMatch(/ = _(MklNative)?FusedConv2D\(/);
    expect(labels).toMatch(/ = _(MklNative)?FusedMatMul\(/);
    expect(labels).toMatch(/ = ReluGrad\(/);
    expect(labels).not.toMatch(/ = (_Mkl)?Relu\(/);
  });

  it('a step copies its inputs before it returns: the caller may refill them while it runs', async () => {
    const { tf } = await loadTensorflow({ threads: 1 });
    const input: [number, number, number] = [6, 6, 3];
    const m = model(tf, input, [{ type: 'conv2d', filters: 4, kernel_size: 3 }]);
    const { x, y, n } = batch(tf, input);
    const untouched = await new GraphTrainer(tf, experiment({}), m, 1).step(x, n, y, 0.1, [1, 0]);
    const running = new GraphTrainer(tf, experiment({}), m, 1).step(x, n, y, 0.1, [1, 0]);
    x.fill(0);
    y.fill(0.5);
    expect((await running).loss).toBe(untouched.loss);
  });

  it('each loss gives the eager loss and step, label smoothing included; the rest are listed', async () => {
    const { tf } = await loadTensorflow({ threads: 1 });
    const input: [number, number, number] = [4, 4, 2];
    const layers: RegistryChoice[] = [{ type: 'conv2d', filters: 3, kernel_size: 3, activation: 'relu' }];
    for (const type of Object.keys(LOSSES)) {
      if (EAGER_ONLY.losses.includes(type as never)) continue;
      for (const smoothing of type.endsWith('crossentropy') ? [0, 0.1] : [0]) {
        const r = await compare(tf, input, layers, experiment({}, { type, label_smoothing: smoothing }), 2);
        for (const s of [0, 1])
          expect(Math.abs((r.graph[s] as number) - (r.eager[s] as number)), `${type} ${smoothing}`).toBeLessThan(1e-5);
        expect(r.weights, type).toBeLessThan(1e-5);
      }
    }
  });

  it('every optimizer steps as tfjs does over several steps (lr_multipliers, class_weights too), and its state crosses between engines', async () => {
    const { tf } = await loadTensorflow({ threads: 1 });
    const input: [number, number, number] = [5, 5, 3];
    const layers: RegistryChoice[] = [
      { type: 'conv2d', filters: 4, kernel_size: 3, activation: 'relu', name: 'features' },
      { type: 'flatten' },
    ];
    const cases: [Record<string, unknown>, Record<string, number> | null][] = [
      [{}, null],
      [{ momentum: 0.9 }, null],
      [{ momentum: 0.9, nesterov: true }, null],
      [{ type: 'adam', lr: 0.01 }, null],
      [{ momentum: 0.9, lr_multipliers: { features: 0.1 } }, null],
      [{ type: 'adam', lr: 0.01, lr_multipliers: { features: 0 } }, null],
      [{ type: 'adamax', lr: 0.01 }, null],
      [{ type: 'rmsprop', lr: 0.01 }, null],
      [{ type: 'rmsprop', lr: 0.01, momentum: 0.9, centered: true }, null],
      [{ type: 'adagrad', lr: 0.05, initial_accumulator: 0.2 }, null],
      [{ type: 'adadelta', lr: 0.5, rho: 0.9 }, null],
      [
        { type: 'adam', lr: 0.01 },
        { a: 0.5, b: 3 },
      ],
      [{ momentum: 0.9 }, { a: 2, b: 1 }],
    ];
    for (const [c, cw] of cases) {
      const what = JSON.stringify([c, cw]);
      const exp = experiment(c, {}, cw);
      const r = await compare(tf, input, layers, exp, 4, exp.training.optimizer.lr as number);
      expect(
        r.graph.map((v, i) => Math.abs(v - (r.eager[i] as number))).every((d) => d < 1e-5),
        `${what} graph ${r.graph} eager ${r.eager}`,
      ).toBe(true);
      expect(r.weights, what).toBeLessThan(1e-5);
      const h = await r.handOver();
      expect(h.slotCounts[1], what).toBe(h.slotCounts[0]);
      expect(h.slots, what).toBeLessThan(1e-5);
      expect(h.extras[1], what).toEqual(h.extras[0]);
      expect(h.loss, what).toBeLessThan(1e-5);
      expect(h.weights, what).toBeLessThan(1e-5);
    }
    for (const type of Object.keys(OPTIMIZERS)) {
      const why = graphUnsupported(experiment({ type }), model(tf, input, layers));
      expect(why !== null, type).toBe(EAGER_ONLY.optimizers.includes(type));
      if (why) expect(why).toContain(type);
    }
  });

  it('bf16 (mixed precision): every layer type and optimizer trains close to float32, computing in bfloat16', async () => {
    const { tf } = await loadTensorflow({ threads: 1 });
    for (const [type, [input, layers]] of Object.entries(SAMPLES)) {
      const r = await compare(tf, input, layers, experiment({}), 1, 0.1, undefined, 'bf16');
      const d = Math.abs((r.graph[0] as number) - (r.eager[0] as number));
      // The engines agree within 1e-5 in float32: more apart, the step ran in bfloat16 (8-bit mantissas).
      expect(d, `${type} loss ${r.graph[0]} against float32's ${r.eager[0]}`).toBeGreaterThan(1e-5);
      expect(d, `${type} loss`).toBeLessThan(1e-2);
      expect(r.weights, `${type} weights after a step`).toBeLessThan(2e-3);
    }
    // Dropout draws the same units in either precision.
    const input: [number, number, number] = [5, 5, 3];
    const dropped: RegistryChoice[] = [
      { type: 'flatten' },
      { type: 'dense', units: 16 },
      { type: 'dropout', rate: 0.5 },
    ];
    const base = model(tf, input, dropped);
    const { x, y, n } = batch(tf, input);
    const losses = [];
    for (const precision of ['float32', 'bf16', 'float32'] as const) {
      const m = model(tf, input, dropped);
      m.setWeights(base.getWeights());
      const seed: [number, number] = [losses.length === 2 ? 9 : 1, 0];
      losses.push((await new GraphTrainer(tf, experiment({}), m, 1, precision).step(x, n, y, 0.1, seed)).loss);
    }
    const [f32, bf16, otherSeed] = losses as [number, number, number];
    expect(Math.abs(bf16 - f32)).toBeLessThan(5e-3);
    expect(Math.abs(otherSeed - f32)).toBeGreaterThan(Math.abs(bf16 - f32));
    // Optimizers update the float32 weights from the bfloat16 step's gradients.
    const layers: RegistryChoice[] = [
      { type: 'conv2d', filters: 4, kernel_size: 3, activation: 'relu', name: 'features' },
      { type: 'flatten' },
    ];
    for (const type of Object.keys(OPTIMIZERS)) {
      const r = await compare(tf, input, layers, experiment({ type, lr: 0.01 }), 4, 0.01, undefined, 'bf16');
      for (const [i, loss] of r.graph.entries())
        expect(Math.abs(loss - (r.eager[i] as number)), `${type} step ${i}`).toBeLessThan(5e-3);
      expect(r.weights, type).toBeLessThan(0.05);
    }
  });
});
