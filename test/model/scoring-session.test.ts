// The model as a session for scoring it while it trains: tfjs predict's
// outputs, every output of a model with several, and the weights as load()
// found them.
import type { SymbolicTensor, Tensor } from '@tensorflow/tfjs-node';
import { describe, expect, it } from 'vitest';
import { scoringSession } from '../../src/model/scoring-session.ts';
import { loadTensorflow } from '../../src/platform/tensorflow.ts';

describe('scoring session', () => {
  it("gives tfjs predict's outputs (batch norm and dropout in inference mode, two outputs) for the weights load() found", async () => {
    const { tf } = await loadTensorflow();
    const input = tf.input({ shape: [12, 12, 3] });
    let h = tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same' }).apply(input);
    h = tf.layers.batchNormalization().apply(h);
    h = tf.layers.activation({ activation: 'relu' }).apply(h);
    h = tf.layers.maxPooling2d({ poolSize: 2 }).apply(h);
    h = tf.layers.flatten().apply(h);
    h = tf.layers.dropout({ rate: 0.5 }).apply(h);
    const classes = tf.layers.dense({ units: 3, activation: 'softmax' }).apply(h) as SymbolicTensor;
    const value = tf.layers.dense({ units: 1 }).apply(h) as SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: [classes, value] });
    // Batch norm's moving statistics away from 0 and 1, so inference mode shows.
    const bn = model.layers.find((l) => l.getClassName() === 'BatchNormalization');
    bn?.setWeights(bn.getWeights().map((w, i) => tf.randomUniform(w.shape, i === 3 ? 0.5 : -1, i === 3 ? 2 : 1)));
    const x = tf.randomNormal([5, 12, 12, 3]);
    const { session, why } = scoringSession(tf, model, 1);
    expect(why).toBe('');
    if (!session) throw new Error('no scoring session');
    const same = (a: unknown, b: unknown) => {
      const [ta, tb] = [a as Tensor[], b as Tensor[]];
      expect(ta.map((t) => t.shape)).toEqual(tb.map((t) => t.shape));
      for (const [o, t] of ta.entries()) {
        const want = tb[o]?.dataSync() as Float32Array;
        const got = t.dataSync() as Float32Array;
        for (const [i, v] of want.entries())
          expect(Math.abs((got[i] as number) - v)).toBeLessThan(1e-5 * (1 + Math.abs(v)));
      }
    };
    const scorer = session.load();
    same(scorer.predict(x), model.predict(x));
    // Training moves the weights: the session scores what it loaded until the next load().
    const before = (scorer.predict(x) as Tensor[]).map((t) => t.dataSync().slice());
    model.setWeights(model.getWeights().map((w) => w.mul(1.1)));
    const stale = (scorer.predict(x) as Tensor[]).map((t) => t.dataSync());
    expect(stale).toEqual(before);
    same(session.load().predict(x), model.predict(x));
  });

  it('says why a model without a graph form scores through tfjs', async () => {
    const { tf } = await loadTensorflow();
    const model = tf.sequential({
      layers: [
        tf.layers.inputLayer({ inputShape: [4] }),
        tf.layers.gaussianNoise({ stddev: 0.1 }),
        tf.layers.dense({ units: 2 }),
      ],
    });
    const { session, why } = scoringSession(tf, model, 1);
    expect(session).toBeNull();
    expect(why).toMatch(/no graph form for layer .*GaussianNoise/);
  });
});
