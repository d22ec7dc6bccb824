// bench/data augment: training throughput of the baseline model with and
// without experiments/faces-scratch.yaml's augmentation list, through run-exp's own
// training loop, on 64x64 images (synthetic pixels: the cost of augmentation
// does not depend on what the pixels show). Plain and augmented epochs
// alternate so that machine noise falls on both.
//
//   npm run bench:augment        (BENCH_IMAGES, default 4096; BENCH_ROUNDS, default 2)
import { writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveExperiment } from '../../src/config/resolve.ts';
import { pixelSources } from '../../src/data/batches.ts';
import type { PreparedData } from '../../src/data/prepare.ts';
import { makeEngine } from '../../src/engine/choose.ts';
import { makeOptimizer } from '../../src/engine/optimizers.ts';
import { buildModel } from '../../src/model/build.ts';
import { rng } from '../../src/platform/random.ts';
import { loadTensorflow } from '../../src/platform/tensorflow.ts';
import { train } from '../../src/train/train.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const images = Number(process.env.BENCH_IMAGES ?? 4096);
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);

const { tf } = await loadTensorflow();
const baseline = resolveExperiment(path.join(root, 'experiments', 'baseline.yaml')).experiment;
const augmentations = resolveExperiment(path.join(root, 'experiments', 'faces-scratch.yaml')).experiment.data
  .augmentation;

const random = rng(1);
const pixels = Uint8Array.from({ length: images * 64 * 64 * 3 }, () => Math.floor(random() * 256));
const labels = Int32Array.from({ length: images }, (_, i) => i % 2);
const data: PreparedData = {
  classes: ['a', 'b'],
  pixels,
  imageBytes: 64 * 64 * 3,
  shape: [64, 64, 3],
  splits: {
    train: { index: Int32Array.from(labels, (_, i) => i), labels, files: [] },
    validation: { index: new Int32Array(), labels: new Int32Array(), files: [] },
    test: { index: new Int32Array(), labels: new Int32Array(), files: [] },
  },
  counts: { train: [images / 2, images / 2], validation: [0, 0], test: [0, 0] },
  bad: [],
  stamps: [],
  hash: '',
  decoded: 0,
  reused: 0,
  warnings: [],
  evaluationSets: {},
};

async function epoch(augmented: boolean): Promise<number> {
  const exp = structuredClone(baseline);
  exp.training.epochs = 1;
  exp.data.augmentation = augmented ? augmentations : [];
  const model = buildModel(tf, exp.model.layers, { inputShape: [64, 64, 3], seed: 1, numClasses: 2 });
  // Eager, as the figures in RESULTS were measured: mixing augmentations train eagerly anyway.
  exp.training.engine = 'eager';
  const optimizer = makeOptimizer(tf, exp.training.optimizer);
  const sources = pixelSources(tf, exp, data);
  const parts = { tf, exp, model, optimizer, source: sources.data, classes: 2, classWeights: null, threads: 1 };
  const { engine } = await makeEngine(parts);
  const outcome = await train({ ...parts, data, engine, sources });
  model.dispose();
  return outcome.epochs[0]?.images_per_s ?? 0;
}

await epoch(false); // warm-up: kernels and memory
const plain: number[] = [];
const augmented: number[] = [];
for (let r = 0; r < rounds; r++) {
  plain.push(await epoch(false));
  augmented.push(await epoch(true));
}
const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
const cost = 1 - mean(augmented) / mean(plain);
const lines = [
  `Machine: ${os.cpus()[0]?.model}, ${os.availableParallelism()} cores. Baseline model, batch ${baseline.training.batch_size}, ${images} images of 64x64x3 per epoch, ${rounds} rounds.`,
  `Augmentation (experiments/faces-scratch.yaml): ${augmentations.map((a) => a.type).join(', ')}.`,
  '',
  '| training | images/s per epoch | mean |',
  '| --- | --- | ---: |',
  `| plain | ${plain.map((v) => v.toFixed(0)).join(', ')} | ${mean(plain).toFixed(0)} |`,
  `| augmented | ${augmented.map((v) => v.toFixed(0)).join(', ')} | ${mean(augmented).toFixed(0)} |`,
  '',
  `Throughput lost to augmentation: ${(cost * 100).toFixed(1)}% (target: at most 15%).`,
];
writeFileSync(
  path.join(here, 'augment-results.json'),
  `${JSON.stringify({ date: new Date().toISOString(), images, rounds, augmentations, plain, augmented, cost }, null, 2)}\n`,
);
process.stdout.write(`${lines.join('\n')}\n`);
