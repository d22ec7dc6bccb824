import type { Tensor, Tensor4D } from '@tensorflow/tfjs-node';
import { expect, it } from 'vitest';
import { stockKernel } from '../../src/backend/kernel-overrides.ts';
import { loadTensorflow } from '../../src/backend/tensorflow.ts';

it('the replacement Step kernel matches tfjs semantics, NaN and alpha included', async () => {
  const { tf } = await loadTensorflow();
  const x = tf.tensor1d([-2, -0, 0, 1e-30, 3, Number.NaN]);
  expect(Array.from(tf.step(x).dataSync())).toEqual([0, 0, 0, 1, 1, Number.NaN]);
  expect(Array.from(tf.step(x, 0.5).dataSync())).toEqual([0.5, 0.5, 0.5, 1, 1, Number.NaN]);
});

it('ReLU gradients are unchanged and leak no tensors', async () => {
  const { tf } = await loadTensorflow();
  const before = tf.memory().numTensors;
  const g = tf.tidy(() =>
    tf.grad((v: import('@tensorflow/tfjs-node').Tensor) => tf.relu(v).mul(2).sum())(tf.tensor1d([-1, 0, 0.5, 4])),
  );
  expect(Array.from(g.dataSync())).toEqual([0, 0, 2, 2]);
  g.dispose();
  expect(tf.memory().numTensors).toBe(before);
});

it('1x1 strided filter gradients equal the plain matrix product, for few and many channels', async () => {
  const { tf } = await loadTensorflow();
  for (const [cin, size, stride] of [
    [3, 33, 2],
    [8, 16, 3],
    [64, 9, 2],
  ] as const) {
    tf.tidy(() => {
      const x = tf.randomNormal([2, size, size, cin], 0, 1, 'float32', 3) as Tensor4D;
      const w = tf.randomNormal([1, 1, cin, 5], 0, 1, 'float32', 4) as Tensor4D;
      const dy = tf.randomNormal(tf.conv2d(x, w, stride, 'same').shape, 0, 1, 'float32', 5);
      const got = tf.grad((f: Tensor) =>
        tf
          .conv2d(x, f as Tensor4D, stride, 'same')
          .mul(dy)
          .sum(),
      )(w);
      const sub = tf.stridedSlice(x, [0, 0, 0, 0], x.shape, [1, stride, stride, 1]).reshape([-1, cin]);
      const want = tf.matMul(sub, dy.reshape([-1, 5]), true, false).reshape([1, 1, cin, 5]);
      expect(tf.max(tf.abs(got.sub(want))).dataSync()[0]).toBeLessThan(1e-3);
    });
  }
});

it('max-pool gradients match TensorFlow where windows have one maximum, and ReLU stacks match exactly', async () => {
  const { tf } = await loadTensorflow();
  const stockMaxPoolGrad = (dy: Tensor, input: Tensor, output: Tensor, attrs: object) =>
    stockKernel('MaxPoolGrad')?.({
      inputs: { dy, input, output },
      attrs: attrs as never,
      backend: tf.backend(),
    }) as Tensor;
  tf.tidy(() => {
    for (const [size, pool, stride, padding] of [
      [8, 2, 2, 'valid'],
      [12, 3, 3, 'valid'],
      [8, 2, 2, 'same'],
      [9, 2, 2, 'valid'], // not divisible: TensorFlow's own kernel
      [8, 3, 1, 'same'], // overlapping windows: TensorFlow's own kernel
    ] as const) {
      const x = tf.randomNormal([2, size, size, 3], 0, 1, 'float32', 11) as Tensor4D;
      const y = tf.maxPool(x, pool, stride, padding);
      const got = tf.grad((t: Tensor) =>
        tf
          .maxPool(t as Tensor4D, pool, stride, padding)
          .mul(3)
          .sum(),
      )(x);
      const want = stockMaxPoolGrad(tf.fill(y.shape, 3), x, y, { filterSize: pool, strides: stride, pad: padding });
      expect(tf.max(tf.abs(got.sub(want))).dataSync()[0], `${size} ${pool}/${stride} ${padding}`).toBe(0);
    }
    // conv -> ReLU -> pool: ReLU zeros tie in a window, yet the filter gradient is exact.
    const x = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 12) as Tensor4D;
    const w = tf.randomNormal([3, 3, 3, 4], 0, 1, 'float32', 13) as Tensor4D;
    const got = tf.grad((f: Tensor) =>
      tf.maxPool(tf.relu(tf.conv2d(x, f as Tensor4D, 1, 'same')), 2, 2, 'valid').sum(),
    )(w);
    const pre = tf.conv2d(x, w, 1, 'same');
    const post = tf.relu(pre);
    const pooled = tf.maxPool(post, 2, 2, 'valid');
    const dPost = stockMaxPoolGrad(tf.onesLike(pooled), post, pooled, { filterSize: 2, strides: 2, pad: 'valid' });
    const dPre = dPost.mul(pre.greater(0).cast('float32')) as Tensor4D;
    const want = tf.grad((f: Tensor) =>
      tf
        .conv2d(x, f as Tensor4D, 1, 'same')
        .mul(dPre)
        .sum(),
    )(w);
    expect(tf.max(tf.abs(got.sub(want))).dataSync()[0]).toBeLessThan(1e-4);
  });
});
