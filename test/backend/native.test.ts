import { describe, expect, it } from 'vitest';
import { loadTensorflow } from '../../src/platform/tensorflow.ts';

describe('native backend', () => {
  it('runs on libtensorflow, not the pure-JS CPU backend', async () => {
    const { tf, native } = await loadTensorflow();
    expect(native).toBe(true);
    expect(tf.getBackend()).toBe('tensorflow');
  });

  it('trains a small CNN for a few steps and the loss falls', async () => {
    const { tf } = await loadTensorflow();
    // Two classes that differ in where the bright half of the image is.
    const n = 64;
    const xs = tf.tidy(() => {
      const noise = tf.randomUniform([n, 16, 16, 3], 0, 0.3, 'float32', 7);
      const left = tf.concat([tf.ones([n / 2, 16, 8, 3]), tf.zeros([n / 2, 16, 8, 3])], 2);
      const right = tf.reverse(left, 2);
      return noise.add(tf.concat([left, right], 0));
    });
    const ys = tf.oneHot(
      tf.tensor1d(
        [...Array(n)].map((_, i) => (i < n / 2 ? 0 : 1)),
        'int32',
      ),
      2,
    );
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({
          inputShape: [16, 16, 3],
          filters: 8,
          kernelSize: 3,
          activation: 'relu',
          kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
        }),
        tf.layers.maxPooling2d({ poolSize: 2 }),
        tf.layers.flatten(),
        tf.layers.dense({
          units: 2,
          activation: 'softmax',
          kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }),
        }),
      ],
    });
    model.compile({ optimizer: tf.train.sgd(0.1), loss: 'categoricalCrossentropy' });
    const losses: number[] = [];
    for (let step = 0; step < 20; step++) losses.push((await model.trainOnBatch(xs, ys)) as number);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses.at(-1)).toBeLessThan((losses[0] as number) * 0.5);
  });
});
