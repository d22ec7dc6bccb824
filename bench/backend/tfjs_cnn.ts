// The seed-like CNN on run-exp's TensorFlow.js backend (eager, or the graph
// engine with BENCH_ENGINE=graph), over full epochs of the prepared faces. Usage: tfjs_cnn.ts DATA.u8 LABELS.u8 THREADS EPOCHS -> one JSON line.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { toFloat } from '../../src/data/normalize.ts';
import { GraphTrainer } from '../../src/engine/graph/graph-trainer.ts';
import { loadTensorflow } from '../../src/platform/tensorflow.ts';
import type { Experiment } from '../../src/spec/experiment.ts';

const [data, labelsFile, threadsArg, epochsArg] = process.argv.slice(2) as [string, string, string, string];
const threads = Number(threadsArg);
const epochs = Number(epochsArg);
const { tf } = await loadTensorflow({ threads });

const labels = readFileSync(labelsFile);
const pixels = readFileSync(data);
const n = labels.length;
const px = 64 * 64 * 3;
const batch = 64;

const model = tf.sequential({
  layers: [
    tf.layers.conv2d({ inputShape: [64, 64, 3], filters: 32, kernelSize: 3, padding: 'same', activation: 'relu' }),
    tf.layers.maxPooling2d({ poolSize: 2 }),
    tf.layers.conv2d({ filters: 64, kernelSize: 3, padding: 'same', activation: 'relu' }),
    tf.layers.maxPooling2d({ poolSize: 2 }),
    tf.layers.conv2d({ filters: 128, kernelSize: 3, padding: 'same', activation: 'relu' }),
    tf.layers.maxPooling2d({ poolSize: 2 }),
    tf.layers.flatten(),
    tf.layers.dense({ units: 128, activation: 'relu' }),
    tf.layers.dense({ units: 2, activation: 'softmax' }),
  ],
});
model.compile({ optimizer: tf.train.momentum(0.01, 0.9), loss: 'categoricalCrossentropy' });
// BENCH_ENGINE=graph: the same model, loss and optimizer through run-exp's graph engine (one session run a step);
// BENCH_PRECISION=bf16: in mixed precision (training.precision: bf16).
const bf16 = process.env.BENCH_PRECISION === 'bf16';
const graph =
  process.env.BENCH_ENGINE === 'graph'
    ? new GraphTrainer(
        tf,
        {
          seed: 1,
          data: { augmentation: [] },
          training: {
            optimizer: { type: 'sgd', lr: 0.01, momentum: 0.9, nesterov: false },
            loss: { type: 'categorical_crossentropy', label_smoothing: 0 },
            class_weights: null,
          },
        } as unknown as Experiment,
        model,
        threads,
        bf16 ? 'bf16' : 'float32',
      )
    : null;

// Pixels stay uint8 in memory (as in run-exp's cache); each batch is gathered
// and scaled to float32 on the fly, so memory never holds the set as float32.
const xb = new Float32Array(batch * px);
const yb = new Float32Array(batch * 2);
const times: number[] = [];
const losses: number[] = [];
/** Batch `b` of `order` into xb / yb; returns its size. */
const fill = (order: Uint32Array, b: number) => {
  const size = Math.min(batch, n - b);
  yb.fill(0);
  const idx = order.subarray(b, b + size);
  toFloat(pixels, px, 3, idx, { normalize: 'unit' }, xb);
  for (const [i, k] of idx.entries()) yb[i * 2 + (labels[k] as number)] = 1;
  return size;
};
for (let epoch = 0; epoch < epochs; epoch++) {
  const order = tf.util.createShuffledIndices(n);
  const start = performance.now();
  let total = 0;
  let size = fill(order, 0);
  for (let b = 0; b < n; b += batch) {
    if (graph) {
      // As run-exp's runner does: the step copies its inputs, then the next batch is made while it runs.
      const running = graph.step(xb.subarray(0, size * px), size, yb.subarray(0, size * 2), 0.01, [1, b]);
      const next = b + batch < n ? fill(order, b + batch) : 0;
      total += (await running).loss * size;
      size = next;
      continue;
    }
    const x = tf.tensor4d(xb.subarray(0, size * px), [size, 64, 64, 3]);
    const y = tf.tensor2d(yb.subarray(0, size * 2), [size, 2]);
    total += ((await model.trainOnBatch(x, y)) as number) * size;
    x.dispose();
    y.dispose();
    if (b + batch < n) size = fill(order, b + batch);
  }
  times.push((performance.now() - start) / 1000);
  losses.push(total / n);
}
// BENCH_TRACE=<dir> (graph engine): after the timed epochs, 10 more steps with a software trace,
// each step's RunMetadata (step stats) written to <dir>/step-<i>.pb for bench/backend/profile_ops.py.
if (graph && process.env.BENCH_TRACE) {
  mkdirSync(process.env.BENCH_TRACE, { recursive: true });
  graph.runOptions = Uint8Array.of(0x08, 0x01); // RunOptions { trace_level: SOFTWARE_TRACE }
  const order = tf.util.createShuffledIndices(n);
  for (let i = 0; i < 10; i++) {
    const idx = order.subarray(i * batch, (i + 1) * batch);
    toFloat(pixels, px, 3, idx, { normalize: 'unit' }, xb);
    yb.fill(0);
    for (const [j, k] of idx.entries()) yb[j * 2 + (labels[k] as number)] = 1;
    await graph.step(xb, batch, yb, 0.01, [2, i]);
    writeFileSync(path.join(process.env.BENCH_TRACE, `step-${i}.pb`), graph.metadata ?? new Uint8Array());
  }
}
// biome-ignore lint/suspicious/noExplicitAny: the binding is untyped
const libtf = (tf.backend() as any).binding.TF_Version as string;
process.stdout.write(
  `${JSON.stringify({
    framework: graph
      ? `run-exp graph engine${bf16 ? ' bf16' : ''}`
      : process.env.RUN_EXP_KERNEL_OVERRIDES === '0'
        ? 'tfjs-node (stock kernels)'
        : 'run-exp eager (tfjs-node)',
    version: `tfjs ${tf.version.tfjs}, libtensorflow ${libtf}`,
    threads,
    images: n,
    epoch_seconds: times,
    loss: losses,
  })}\n`,
);
