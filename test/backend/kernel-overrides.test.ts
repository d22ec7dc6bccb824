import type { Tensor, Tensor4D } from '@tensorflow/tfjs-node';
import { expect, it } from 'vitest';
import { loadTensorflow } from '../../src/platform/tensorflow.ts';

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

it("max-pool gradients go to each window's first maximum, as TensorFlow's: tied positive maxima (a photo's flat regions) included", async () => {
  const { tf } = await loadTensorflow();
  // Small integers after a ReLU: most windows tie, many of them at positive values.
  const [n, size, c] = [2, 12, 3];
  const data = Float32Array.from({ length: n * size * size * c }, (_, i) => Math.max(0, ((i * 7919) % 5) - 1));
  for (const [pool, stride] of [
    [2, 2],
    [3, 3],
    [3, 2], // overlapping windows
  ] as const) {
    const got = tf.tidy(() => {
      const x = tf.tensor4d(data, [n, size, size, c]);
      const dy = tf
        .range(1, 1 + tf.maxPool(x, pool, stride, 'valid').size)
        .reshape(tf.maxPool(x, pool, stride, 'valid').shape);
      return Array.from(
        tf
          .grad((t: Tensor) =>
            tf
              .maxPool(t as Tensor4D, pool, stride, 'valid')
              .mul(dy)
              .sum(),
          )(x)
          .dataSync(),
      );
    });
    // Reference: scan each window row by row, the first strictly greater value wins.
    const out = Math.floor((size - pool) / stride) + 1;
    const want = new Array<number>(data.length).fill(0);
    const at = (b: number, h: number, w: number, ch: number) => ((b * size + h) * size + w) * c + ch;
    let g = 0;
    for (let b = 0; b < n; b++)
      for (let oh = 0; oh < out; oh++)
        for (let ow = 0; ow < out; ow++)
          for (let ch = 0; ch < c; ch++) {
            g++;
            let best = -1;
            for (let i = 0; i < pool; i++)
              for (let j = 0; j < pool; j++) {
                const k = at(b, oh * stride + i, ow * stride + j, ch);
                if (best < 0 || (data[k] as number) > (data[best] as number)) best = k;
              }
            want[best] = (want[best] as number) + g;
          }
    expect(got, `pool ${pool} stride ${stride}`).toEqual(want);
  }
});
