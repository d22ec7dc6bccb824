// bench:drift: do the graph and eager engines train the same network? The
// seed recipe (experiments/baseline.yaml's model, optimizer and loss) trains
// from the same weights on the same batches of real faces for BENCH_STEPS
// steps, on each engine, and again from weights moved by a relative 1e-6
// (BENCH_EPS). Training is chaotic: float rounding grows step by step until
// two runs are as far apart as two seeds. If the engines compute the same
// step, graph against eager drifts no faster than a run against its perturbed
// copy, and the loss difference has no sign; a systematic difference shows as
// a faster drift from the first steps or a loss that stays on one side.
//
//   npm run bench:drift       (UTKFACE_DIR, BENCH_IMAGES, BENCH_STEPS, BENCH_EPS)
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LayersModel, Scalar, Tensor } from '@tensorflow/tfjs-node';
import { resolveExperiment } from '../../src/config/resolve.ts';
import { toFloat } from '../../src/data/normalize.ts';
import { GraphTrainer } from '../../src/engine/graph/graph-trainer.ts';
import { makeLoss } from '../../src/engine/losses.ts';
import { makeTrainingOptimizer } from '../../src/engine/optimizer-groups.ts';
import { buildExperimentModel } from '../../src/model/build.ts';
import { rng, shuffle } from '../../src/platform/random.ts';
import { loadTensorflow } from '../../src/platform/tensorflow.ts';
import { prepareFaces } from './faces.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const images = Number(process.env.BENCH_IMAGES ?? 4096);
const steps = Number(process.env.BENCH_STEPS ?? 600);
const eps = Number(process.env.BENCH_EPS ?? 1e-6);
const checkpoints = [1, 10, 50, 100, 200, 400, 600, 800, 1000, 1500, 2000].filter((k) => k <= steps);

const { tf } = await loadTensorflow({ threads: 1 });
const exp = resolveExperiment(path.join(here, '..', '..', 'experiments', 'baseline.yaml')).experiment;
const [h, w] = exp.data.preprocessing.size as [number, number];
if (h !== 64 || w !== 64) throw new Error('bench:drift prepares 64x64 faces, as baseline.yaml asks');
const batch = exp.training.batch_size;
const lr = exp.training.optimizer.lr as number;
const { data, labels: labelsFile } = await prepareFaces(images);
const pixels = readFileSync(data);
const labels = readFileSync(labelsFile);
const px = h * w * 3;

// One shuffled order per pass over the images, drawn once: every run sees the same batches.
const random = rng(12345);
const order: number[] = [];
while (order.length < steps * batch)
  order.push(
    ...shuffle(
      Array.from({ length: labels.length }, (_, i) => i),
      random,
    ),
  );
const batchAt = (k: number) => {
  const idx = order.slice(k * batch, (k + 1) * batch);
  const x = toFloat(pixels, px, 3, idx, { normalize: 'unit' }, new Float32Array(batch * px));
  const y = new Float32Array(batch * 2);
  for (const [i, j] of idx.entries()) y[i * 2 + (labels[j] as number)] = 1;
  return { x, y };
};

const start = (await buildExperimentModel(tf, exp, [h, w, 3], 2)).getWeights().map((t) => t.clone());
/** A model at the start weights, each moved by a relative `by` (uniform in +-by, a fixed draw). */
async function model(by: number): Promise<LayersModel> {
  const m = await buildExperimentModel(tf, exp, [h, w, 3], 2);
  const draw = rng(999);
  const move = () => 1 + by * (draw() * 2 - 1);
  m.setWeights(
    start.map((t) =>
      by
        ? tf.tensor(
            t.dataSync().map((v) => v * move()),
            t.shape,
          )
        : t.clone(),
    ),
  );
  return m;
}
const flat = (m: LayersModel) => Float32Array.from(m.getWeights().flatMap((t) => Array.from(t.dataSync())));

interface Trace {
  losses: number[];
  weights: Float32Array[];
}

async function eager(m: LayersModel): Promise<Trace> {
  const optimizer = makeTrainingOptimizer(tf, exp.training.optimizer);
  const lossFn = makeLoss(tf, exp.training.loss);
  const trace: Trace = { losses: [], weights: [] };
  for (let k = 0; k < steps; k++) {
    const { x, y } = batchAt(k);
    const loss = tf.tidy(() => {
      const [xt, yt] = [tf.tensor4d(x, [batch, h, w, 3]), tf.tensor2d(y, [batch, 2])];
      const { value, grads } = tf.variableGrads(() => lossFn(yt, m.apply(xt, { training: true }) as Tensor) as Scalar);
      optimizer.applyGradients(grads);
      return value.dataSync()[0] as number;
    });
    trace.losses.push(loss);
    if (checkpoints.includes(k + 1)) trace.weights.push(flat(m));
  }
  return trace;
}

async function graph(m: LayersModel): Promise<Trace> {
  const trainer = new GraphTrainer(tf, exp, m, 1);
  const trace: Trace = { losses: [], weights: [] };
  for (let k = 0; k < steps; k++) {
    const { x, y } = batchAt(k);
    trace.losses.push((await trainer.step(x, batch, y, lr, [exp.seed, k])).loss);
    if (checkpoints.includes(k + 1)) {
      trainer.saveWeights();
      trace.weights.push(flat(m));
    }
  }
  return trace;
}

const runs: Record<string, Trace> = {};
for (const [name, train, by] of [
  ['eager', eager, 0],
  ['graph', graph, 0],
  ['eager moved', eager, eps],
  ['graph moved', graph, eps],
] as const) {
  const t0 = performance.now();
  runs[name] = await train(await model(by));
  process.stderr.write(`${name}: ${steps} steps in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
}

/** Relative distance of two weight vectors. */
function distance(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    d += ((a[i] as number) - (b[i] as number)) ** 2;
    n += (b[i] as number) ** 2;
  }
  return Math.sqrt(d / n);
}
const pairs = [
  ['graph', 'eager'],
  ['eager moved', 'eager'],
  ['graph moved', 'graph'],
] as const;
const run = (name: string) => runs[name] as Trace;
const meanDiff = (a: string, b: string, from: number, to: number) => {
  const [la, lb] = [run(a).losses, run(b).losses];
  let s = 0;
  for (let i = from; i < to; i++) s += (la[i] as number) - (lb[i] as number);
  return s / (to - from);
};
const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
const windows = Array.from({ length: Math.ceil(steps / 100) }, (_, i) => [i * 100, Math.min(steps, (i + 1) * 100)]);
const lines = [
  `${images} UTKFace faces at 64x64, baseline.yaml's model, ${exp.training.optimizer.type} lr ${lr}, batch ${batch}, ${steps} steps, 1 thread; "moved": start weights x (1 +- ${eps}).`,
  '',
  `| step | ${pairs.map(([a, b]) => `${a} vs ${b}`).join(' | ')} |`,
  `| ---: | ${pairs.map(() => '---:').join(' | ')} |`,
  ...checkpoints.map(
    (k, i) =>
      `| ${k} | ${pairs.map(([a, b]) => distance(run(a).weights[i] as Float32Array, run(b).weights[i] as Float32Array).toExponential(2)).join(' | ')} |`,
  ),
  '',
  `| steps | mean loss, eager | ${pairs.map(([a, b]) => `loss ${a} - ${b}`).join(' | ')} |`,
  `| --- | ---: | ${pairs.map(() => '---:').join(' | ')} |`,
  ...windows.map(
    ([a, b]) =>
      `| ${a}-${b} | ${mean(run('eager').losses.slice(a, b)).toFixed(4)} | ${pairs.map(([p, q]) => meanDiff(p, q, a as number, b as number).toFixed(4)).join(' | ')} |`,
  ),
  `| all | | ${pairs.map(([p, q]) => meanDiff(p, q, 0, steps).toFixed(4)).join(' | ')} |`,
];
writeFileSync(
  path.join(here, 'drift-results.json'),
  `${JSON.stringify({ date: new Date().toISOString(), images, steps, eps, losses: Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, v.losses])) })}\n`,
);
process.stdout.write(`${lines.join('\n')}\n`);
