// lr_multipliers: each group of layers steps at the base rate times its factor,
// and a grouped optimizer's state survives a checkpoint like a plain one's.
import type { LayersModel, Optimizer, Scalar, Tensor } from '@tensorflow/tfjs-node';
import { describe, expect, it } from 'vitest';
import {
  makeTrainingOptimizer,
  optimizerState,
  restoreOptimizerState,
  setLearningRate,
} from '../../src/engine/optimizer-groups.ts';
import { loadTensorflow } from '../../src/platform/tensorflow.ts';
import { OPTIMIZERS } from '../../src/spec/optimizers.ts';

async function setup() {
  const { tf } = await loadTensorflow();
  // Three dense layers named like a backbone, a backbone scope inside it, and a head.
  const model = (): LayersModel => {
    const input = tf.input({ shape: [4] });
    const a = tf.layers.dense({ units: 4, name: 'backbone/a', kernelInitializer: tf.initializers.ones() });
    const b = tf.layers.dense({ units: 4, name: 'backbone/late/b', kernelInitializer: tf.initializers.ones() });
    const head = tf.layers.dense({ units: 2, name: 'head', kernelInitializer: tf.initializers.ones() });
    return tf.model({ inputs: input, outputs: head.apply(b.apply(a.apply(input))) as never });
  };
  const x = tf.tensor2d([
    [1, 2, 3, 4],
    [0.5, -1, 2, 0],
  ]);
  // As the training loop does: gradients of the trainable weights, then one applyGradients.
  const step = (m: LayersModel, o: Optimizer) => {
    const { grads } = tf.variableGrads(() => (m.predict(x) as Tensor).square().mean() as Scalar);
    o.applyGradients(grads);
  };
  const weights = (m: LayersModel, name: string) => Array.from(m.getLayer(name).getWeights()[0]?.dataSync() ?? []);
  return { tf, model, step, weights };
}

describe('lr_multipliers', () => {
  it('scales each group: the most specific scope wins, 0 freezes, the rest learn at the base rate', async () => {
    const { tf, model, step, weights } = await setup();
    const plain = model();
    const grouped = model();
    const start = Object.fromEntries(['backbone/a', 'backbone/late/b', 'head'].map((n) => [n, weights(plain, n)]));
    step(plain, makeTrainingOptimizer(tf, { type: 'sgd', lr: 0.01, momentum: 0, nesterov: false }));
    const sgd = {
      type: 'sgd',
      lr: 0.01,
      momentum: 0,
      nesterov: false,
      lr_multipliers: { backbone: 0.1, 'backbone/late': 0 },
    };
    step(grouped, makeTrainingOptimizer(tf, sgd));
    const delta = (m: LayersModel, n: string) => weights(m, n).map((v, i) => v - (start[n]?.[i] as number));
    const ratio = (n: string) => {
      const d = delta(grouped, n);
      const p = delta(plain, n);
      return d.reduce((s, v) => s + v * v, 0) / p.reduce((s, v) => s + v * v, 0);
    };
    expect(Math.sqrt(ratio('backbone/a'))).toBeCloseTo(0.1, 4);
    expect(delta(grouped, 'backbone/late/b').every((v) => v === 0)).toBe(true);
    expect(ratio('head')).toBeCloseTo(1, 6);
  });

  it('a schedule sets every group at its multiple; the state goes through a checkpoint and on identically', async () => {
    const { tf, model, step, weights } = await setup();
    const adam = { type: 'adam', lr: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, lr_multipliers: { backbone: 0.5 } };
    const a = model();
    const oa = makeTrainingOptimizer(tf, adam);
    setLearningRate(oa, 0.02);
    const groups = (oa as unknown as { groups: { optimizer: { learningRate: number } }[] }).groups;
    expect(groups.map((g) => g.optimizer.learningRate)).toEqual([0.01, 0.02]);
    step(a, oa);
    const saved = JSON.parse(JSON.stringify(await optimizerState(tf, oa)));
    const b = model();
    b.setWeights(a.getWeights());
    const ob = makeTrainingOptimizer(tf, adam);
    setLearningRate(ob, 0.02);
    // The same variables must be known to the restored optimizer: it learns their slots by name.
    step(b, ob);
    b.setWeights(a.getWeights());
    await restoreOptimizerState(tf, ob, saved);
    step(a, oa);
    step(b, ob);
    for (const n of ['backbone/a', 'head']) {
      const wa = weights(a, n);
      const wb = weights(b, n);
      expect(Math.max(...wa.map((v, i) => Math.abs(v - (wb[i] as number)))), n).toBeLessThan(1e-6);
    }
  });

  it('every optimizer in the registry goes through a checkpoint and steps on identically', async () => {
    const { tf, model, step, weights } = await setup();
    for (const [type, entry] of Object.entries(OPTIMIZERS)) {
      const defaults = Object.fromEntries(Object.entries(entry.params).map(([k, p]) => [k, p.default]));
      // Steps that grow with this model's large gradients (SGD's; tfjs' Adadelta's first) need a small rate.
      const choice = { type, ...defaults, lr: type === 'sgd' || type === 'adadelta' ? 1e-6 : 0.01 };
      const a = model();
      const oa = makeTrainingOptimizer(tf, choice);
      step(a, oa);
      step(a, oa);
      const saved = JSON.parse(JSON.stringify(await optimizerState(tf, oa)));
      const b = model();
      const ob = makeTrainingOptimizer(tf, choice);
      step(b, ob);
      b.setWeights(a.getWeights());
      await restoreOptimizerState(tf, ob, saved);
      const before = weights(a, 'head');
      step(a, oa);
      step(b, ob);
      expect(weights(a, 'head'), type).not.toEqual(before);
      for (const n of ['backbone/a', 'head']) {
        const [wa, wb] = [weights(a, n), weights(b, n)];
        expect(Math.max(...wa.map((v, i) => Math.abs(v - (wb[i] as number)))), `${type} ${n}`).toBeLessThan(1e-6);
      }
    }
  });

  it("centred RMSProp divides by sqrt(ms - mg^2 + eps), as TensorFlow: a zero gradient leaves its weight as it is (tfjs' own gives NaN)", async () => {
    const { tf } = await loadTensorflow();
    const w = tf.variable(tf.tensor1d([1, 2]));
    const o = makeTrainingOptimizer(tf, {
      type: 'rmsprop',
      lr: 0.01,
      rho: 0.9,
      momentum: 0,
      epsilon: 1e-7,
      centered: true,
    });
    const { grads } = tf.variableGrads(() => w.mul(tf.tensor1d([0, 0.5])).sum() as Scalar, [w]);
    o.applyGradients(grads);
    const [a, b] = Array.from(w.dataSync());
    expect(a).toBe(1);
    expect(b).toBeCloseTo(2 - (0.01 * 0.5) / Math.sqrt(0.1 * 0.25 - 0.01 * 0.25 + 1e-7), 6);
  });
});
