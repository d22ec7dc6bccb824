// bench/data faces: cold preprocessing with face detection (experiments/faces-scratch.yaml's
// crop: align, 48x48) with each detector of the registry on all UTKFace images and on the
// portraits, the detection rate of each, and the cached rerun. Then, on 2,048 UTKFace
// images: each detector alone (a TensorFlow session; 'blazeface' also by TF.js's graph
// executor as before) beside MediaPipe's face detector from PyPI on the same images, the
// detector's input and faces.yaml's face cut by the native face path and by sharp, and
// faces.yaml's frozen backbone pass (a session, and tfjs predict as before), and its
// fine-tuning step (the graph engine on the layers after the cached cut, batches of 64).
//
//   npm run bench:faces [-- --cache-dir DIR]   (UTKFACE_DIR, PORTRAITS_DIR; BENCH_MEDIAPIPE_PYTHON)
// DIR must be new or empty (a cold cache); by default a temporary folder, removed after.
// MediaPipe runs in bench/.work/venv-mediapipe (made on first use), unless BENCH_MEDIAPIPE_PYTHON names a Python.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SymbolicTensor, Tensor } from '@tensorflow/tfjs-node';
import { resolveExperiment } from '../../src/config/resolve.ts';
import { loadPixels } from '../../src/data/cache.ts';
import { stampFiles } from '../../src/data/cache-files.ts';
import { loadDetector } from '../../src/data/faces/detectors.ts';
import { DETECT_BATCH, detectorInput, detectorInputs, locateFaces } from '../../src/data/faces/locate.ts';
import { decodeJobs, imageJobs } from '../../src/data/preprocess.ts';
import { listData } from '../../src/data/sources.ts';
import { GraphTrainer } from '../../src/engine/graph/graph-trainer.ts';
import { BACKBONE_SCOPE } from '../../src/model/backbone.ts';
import { buildExperimentModel } from '../../src/model/build.ts';
import { fixedCut, modelAfter } from '../../src/model/cut.ts';
import { frozenSession } from '../../src/model/frozen-session.ts';
import { loadTensorflow } from '../../src/platform/tensorflow.ts';
import { DETECTORS, type DetectorName } from '../../src/spec/detectors.ts';
import type { FaceCrop } from '../../src/spec/experiment.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const at = process.argv.indexOf('--cache-dir');
const given = at > 0 ? path.resolve(process.argv[at + 1] as string) : null;
if (given && existsSync(given) && readdirSync(given).length > 0)
  throw new Error(`${given} is not empty: a cold run needs an empty cache`);
const cacheDir = given ?? mkdtempSync(path.join(os.tmpdir(), 'run-exp-bench-faces-'));

// Augmentation does not touch preprocessing: left out so the file resolves on its own.
const exp = resolveExperiment(path.join(root, 'experiments', 'faces-scratch.yaml'), {
  set: ['data.augmentation=[]'],
}).experiment;
const p = exp.data.preprocessing;
const sets = { utkface: exp.data.path, portraits: exp.data.evaluation_sets.portraits as string };

const measure = async (dir: string, detector: DetectorName) => {
  const items = listData({
    source: 'folder',
    path: dir,
    classes: ['male', 'female'],
    path_column: 'path',
    label_column: 'label',
  }).items;
  const start = performance.now();
  const px = await loadPixels(items, { ...p, crop: { ...(p.crop as FaceCrop), detector } }, { cacheDir });
  const seconds = (performance.now() - start) / 1000;
  return { images: items.length, seconds, images_per_s: items.length / seconds, faces: px.faces, bad: px.bad.length };
};

const detectors = Object.keys(DETECTORS) as DetectorName[];
const results: Record<
  string,
  { cold: Awaited<ReturnType<typeof measure>>; cached: Awaited<ReturnType<typeof measure>> }
> = {};
for (const detector of detectors)
  for (const [name, dir] of Object.entries(sets)) {
    const cold = await measure(dir, detector);
    const cached = await measure(dir, detector);
    results[`${name}, ${detector}`] = { cold, cached };
  }
if (!given) rmSync(cacheDir, { recursive: true, force: true });

const lines = [
  `Machine: ${os.cpus()[0]?.model}, ${os.availableParallelism()} cores. Crop: ${JSON.stringify(p.crop)} (each detector), ${p.size.join('x')}.`,
  '',
  '| set, detector | images | cold: seconds | cold: images/s | faces found | cached rerun: seconds | detected on rerun |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...Object.entries(results).map(
    ([name, r]) =>
      `| ${name} | ${r.cold.images} | ${r.cold.seconds.toFixed(1)} | ${r.cold.images_per_s.toFixed(1)} | ${r.cold.faces?.found} (${(((r.cold.faces?.found ?? 0) / (r.cold.faces?.images || 1)) * 100).toFixed(1)}%) | ${r.cached.seconds.toFixed(2)} | ${r.cached.faces?.detected} |`,
  ),
];
// The detector and the feature pass alone, on the same 2,048 UTKFace images (every k-th file by name).
const SAMPLE = 2048;
const utk = listData({
  source: 'folder',
  path: sets.utkface,
  classes: ['male', 'female'],
  path_column: 'path',
  label_column: 'label',
}).items.map((it) => it.path);
const sample = Array.from({ length: SAMPLE }, (_, i) => utk[Math.floor((i * utk.length) / SAMPLE)] as string);
const { tf, threads } = await loadTensorflow();
const rate = async (run: () => Promise<unknown>, images: number) => {
  await run(); // warm-up: graph optimization, first allocations
  const start = performance.now();
  await run();
  return images / ((performance.now() - start) / 1000);
};

const pad = (p.crop as FaceCrop).pad;
/** One detector on the sample: as a session on decoded inputs, then with decoding (locateFaces, no cache). */
async function detectorRates(name: DetectorName) {
  const detector = await loadDetector(tf, name);
  const size = detector.inputSize;
  const inputs = await Promise.all(sample.map((f) => detectorInput(f, size, pad)));
  const batch = new Uint8Array(SAMPLE * size * size * 3);
  for (const [i, x] of inputs.entries()) batch.set(x.pixels, i * size * size * 3);
  const crop = { ...(p.crop as FaceCrop), detector: name };
  let found = 0;
  const located = async () => {
    const faces = (await locateFaces(await stampFiles(sample), crop, { cacheDir: null })).faces;
    found = [...faces.values()].filter((f) => f.faces.some((x) => x.score >= crop.min_confidence)).length;
  };
  const rates = {
    input: size,
    session_images_per_s: await rate(async () => {
      for (let b = 0; b < SAMPLE; b += DETECT_BATCH)
        await detector.detect(
          batch.subarray(b * size * size * 3, (b + DETECT_BATCH) * size * size * 3),
          Math.min(DETECT_BATCH, SAMPLE - b),
        );
    }, SAMPLE),
    with_decode_images_per_s: await rate(located, SAMPLE),
  };
  return { rates: { ...rates, found }, batch };
}
// One after the other: each has the cores to itself.
const detection: Record<
  string,
  { input: number; session_images_per_s: number; with_decode_images_per_s: number; found: number }
> = {};
let stockBatch = new Uint8Array();
for (const d of detectors) {
  const { rates, batch } = await detectorRates(d);
  detection[d] = rates;
  if (d === 'blazeface') stockBatch = batch;
}
// The detector's input and faces.yaml's face cut (150x150, aligned, mirror-filled) on the sample:
// the native face path against sharp alone (RUN_EXP_JPEG=sharp), the same code otherwise.
const facesCrop = resolveExperiment(path.join(root, 'experiments', 'faces.yaml'), { env: {} }).experiment.data
  .preprocessing;
const facesSize = DETECTORS[(facesCrop.crop as FaceCrop).detector as DetectorName].inputSize;
const located = await locateFaces(await stampFiles(sample), facesCrop.crop as FaceCrop, { cacheDir: null });
const cutJobs = imageJobs(sample, facesCrop, located.faces).filter((j) => j.region);
const cutBytes = facesCrop.size[0] * facesCrop.size[1] * 3;
const cutPixels = new Uint8Array(cutJobs.length * cutBytes);
const preprocessRates = async () => ({
  detector_input_images_per_s: await rate(() => detectorInputs(sample, facesSize, pad), SAMPLE),
  face_cut_images_per_s: await rate(
    () =>
      decodeJobs(
        cutJobs,
        facesCrop,
        cutPixels,
        cutJobs.map((_, i) => i * cutBytes),
      ),
    cutJobs.length,
  ),
});
const preprocess = {
  native: await preprocessRates(),
  sharp: { detector_input_images_per_s: 0, face_cut_images_per_s: 0 },
};
process.env.RUN_EXP_JPEG = 'sharp';
preprocess.sharp = await preprocessRates();
delete process.env.RUN_EXP_JPEG;

// Before: TF.js's graph executor, one image at a time, on the 256x256 model (as data/faces/blazeface.ts did).
const stock = await tf.loadGraphModel(
  tf.io.fileSystem(path.join(root, 'node_modules', DETECTORS.blazeface.package, DETECTORS.blazeface.model)),
);
const stockSize = DETECTORS.blazeface.inputSize;
const tfjsExecutorBatch1 = await rate(async () => {
  for (let i = 0; i < SAMPLE; i += 8)
    tf.tidy(() => {
      const x = tf.tensor4d(
        stockBatch.subarray(i * stockSize * stockSize * 3, (i + 1) * stockSize * stockSize * 3),
        [1, stockSize, stockSize, 3],
        'int32',
      );
      for (const t of stock.execute(x.toFloat().div(127.5).sub(1)) as Tensor[]) t.dataSync();
    });
}, SAMPLE / 8);

function mediapipePython(): string {
  if (process.env.BENCH_MEDIAPIPE_PYTHON) return process.env.BENCH_MEDIAPIPE_PYTHON;
  const venv = path.join(root, 'bench', '.work', 'venv-mediapipe');
  const python = path.join(venv, 'bin', 'python');
  if (!existsSync(python)) {
    mkdirSync(path.dirname(venv), { recursive: true });
    spawnSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
    // 0.10.14: the last wheels that ship the face detection models (1.x dropped mp.solutions' bundled models).
    spawnSync(path.join(venv, 'bin', 'pip'), ['install', '-q', 'mediapipe==0.10.14'], { stdio: 'inherit' });
  }
  return python;
}
const list = path.join(mkdtempSync(path.join(os.tmpdir(), 'run-exp-bench-mp-')), 'images.txt');
writeFileSync(list, sample.join('\n'));
const mp = spawnSync(mediapipePython(), [path.join(here, 'mediapipe_faces.py'), list], { encoding: 'utf8' });
const peer =
  mp.status === 0
    ? (JSON.parse(mp.stdout.trim().split('\n').at(-1) as string) as Record<
        string,
        { images_per_s: number; found: number }
      >)
    : null;
if (!peer) process.stderr.write(`MediaPipe did not run: ${mp.stderr}\n`);

// faces.yaml's frozen part (face_resnet to its fine-tuned stages) at 150x150, batches of 64.
const facesExp = resolveExperiment(path.join(root, 'experiments', 'faces.yaml'), { env: {} }).experiment;
const model = await buildExperimentModel(tf, facesExp, [150, 150, 3], 2);
const cut = fixedCut(model, BACKBONE_SCOPE) as SymbolicTensor;
const extractor = tf.model({ inputs: model.inputs, outputs: cut });
const session = frozenSession(extractor, threads).run;
const FEATURES = 512;
const x = new Float32Array(64 * 150 * 150 * 3).map((_, i) => ((i * 7919) % 251) / 255);
const xt = tf.tensor4d(x, [64, 150, 150, 3]);
const features = {
  layer: extractor.outputs[0]?.sourceLayer.name,
  session_images_per_s: session
    ? await rate(async () => {
        for (let b = 0; b < FEATURES; b += 64) await session(x, 64);
      }, FEATURES)
    : null,
  tfjs_predict_images_per_s: await rate(async () => {
    for (let b = 0; b < FEATURES; b += 64) tf.tidy(() => (extractor.predict(xt) as Tensor).dataSync());
  }, FEATURES),
};

// One fine-tuning step of faces.yaml (the backbone's end unfrozen) on the cut's rows: what each of its
// fine-tuning epochs repeats 346 times. Random rows: the step's time does not depend on their values.
const trainer = new GraphTrainer(tf, facesExp, modelAfter(tf, model, cut), threads);
const perRow = (cut.shape.slice(1) as number[]).reduce((a, b) => a * b, 1);
const rows = new Float32Array(64 * perRow).map((_, i) => ((i * 7919) % 251) / 255);
const labels = new Float32Array(128).map((_, i) => (i % 2 === (i >> 1) % 2 ? 1 : 0));
const STEPS = 30;
const step = (i: number) => trainer.step(rows, 64, labels, 1e-4, [1, i]);
const fineTuning = {
  images_per_s: await rate(async () => {
    for (let i = 0; i < STEPS; i++) await step(i);
  }, STEPS * 64),
};

const r1 = (v: number | null | undefined) => (v == null ? 'n/a' : v.toFixed(1));
lines.push(
  '',
  `Detection alone, ${SAMPLE} UTKFace images (detector inputs decoded first; MediaPipe's decoded with OpenCV):`,
  '',
  '| detector | images/s |',
  '| --- | ---: |',
  ...Object.entries(detection).flatMap(([name, d]) => [
    `| run-exp ${name} ${d.input}x${d.input}, TensorFlow session, batch ${DETECT_BATCH} (found ${d.found}) | ${r1(d.session_images_per_s)} |`,
    `| run-exp ${name}, decode + pad + resize + detect (locateFaces, no cache) | ${r1(d.with_decode_images_per_s)} |`,
  ]),
  `| blazeface, TF.js graph executor, batch 1 (stock loadGraphModel) | ${r1(tfjsExecutorBatch1)} |`,
  `| MediaPipe ${peer?.mediapipe ?? ''} short-range (128x128), found ${peer?.short_range?.found ?? 'n/a'} | ${r1(peer?.short_range?.images_per_s)} |`,
  `| MediaPipe ${peer?.mediapipe ?? ''} full-range (192x192), found ${peer?.full_range?.found ?? 'n/a'} | ${r1(peer?.full_range?.images_per_s)} |`,
  '',
  `Preprocessing alone, the same images (faces.yaml: detector input ${facesSize}x${facesSize}, pad ${pad}; face cut ${facesCrop.size.join('x')} of ${cutJobs.length} faces):`,
  '',
  '| step | native face path: images/s | sharp: images/s | speed-up |',
  '| --- | ---: | ---: | ---: |',
  `| detector input (decode, resize, border) | ${r1(preprocess.native.detector_input_images_per_s)} | ${r1(preprocess.sharp.detector_input_images_per_s)} | ${(preprocess.native.detector_input_images_per_s / preprocess.sharp.detector_input_images_per_s).toFixed(2)}x |`,
  `| face cut (decode, fill, turn, resize) | ${r1(preprocess.native.face_cut_images_per_s)} | ${r1(preprocess.sharp.face_cut_images_per_s)} | ${(preprocess.native.face_cut_images_per_s / preprocess.sharp.face_cut_images_per_s).toFixed(2)}x |`,
  '',
  `faces.yaml's frozen backbone pass (${features.layer}, 150x150, batches of 64): session ${r1(features.session_images_per_s)} images/s, tfjs predict ${r1(features.tfjs_predict_images_per_s)} images/s.`,
  `faces.yaml's fine-tuning step (graph engine, after ${features.layer}, batches of 64): ${r1(fineTuning.images_per_s)} images/s.`,
);
writeFileSync(
  path.join(here, 'faces-results.json'),
  `${JSON.stringify({ date: new Date().toISOString(), machine: os.cpus()[0]?.model, crop: p.crop, size: p.size, results, detection: { ...detection, blazeface_tfjs_executor_batch1_images_per_s: tfjsExecutorBatch1 }, preprocess, peer, features, fine_tuning: fineTuning }, null, 2)}\n`,
);
process.stdout.write(`${lines.join('\n')}\n`);
