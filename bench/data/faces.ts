// bench/data faces: cold preprocessing with face detection (experiments/faces-scratch.yaml's
// crop: BlazeFace, align, 64x64) on all UTKFace images and on the portraits,
// the detection rate of each, and the cached rerun. Then, on 2,048 UTKFace
// images: the detector alone (a TensorFlow session, and TF.js's graph executor
// as before) beside MediaPipe's face detector from PyPI on the same images, and
// faces.yaml's frozen backbone pass (a session, and tfjs predict as before).
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
import { detectorInput, locateFaces } from '../../src/data/faces/locate.ts';
import { listData } from '../../src/data/sources.ts';
import { BACKBONE_SCOPE } from '../../src/model/backbone.ts';
import { buildExperimentModel } from '../../src/model/build.ts';
import { fixedCut } from '../../src/model/cut.ts';
import { frozenSession } from '../../src/model/frozen-session.ts';
import { loadTensorflow } from '../../src/platform/tensorflow.ts';
import { DETECTORS } from '../../src/spec/detectors.ts';

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

const measure = async (dir: string) => {
  const items = listData({
    source: 'folder',
    path: dir,
    classes: ['male', 'female'],
    path_column: 'path',
    label_column: 'label',
  }).items;
  const start = performance.now();
  const px = await loadPixels(items, p, { cacheDir });
  const seconds = (performance.now() - start) / 1000;
  return { images: items.length, seconds, images_per_s: items.length / seconds, faces: px.faces, bad: px.bad.length };
};

const results: Record<
  string,
  { cold: Awaited<ReturnType<typeof measure>>; cached: Awaited<ReturnType<typeof measure>> }
> = {};
for (const [name, dir] of Object.entries(sets)) {
  const cold = await measure(dir);
  const cached = await measure(dir);
  results[name] = { cold, cached };
}
if (!given) rmSync(cacheDir, { recursive: true, force: true });

const lines = [
  `Machine: ${os.cpus()[0]?.model}, ${os.availableParallelism()} cores. Crop: ${JSON.stringify(p.crop)}, ${p.size.join('x')}.`,
  '',
  '| set | images | cold: seconds | cold: images/s | faces found | cached rerun: seconds | detected on rerun |',
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

const detector = await loadDetector(tf, 'blazeface');
const size = detector.inputSize;
const inputs = await Promise.all(sample.map((f) => detectorInput(f, size, p.crop?.type === 'face' ? p.crop.pad : 0)));
const batch = new Uint8Array(SAMPLE * size * size * 3);
for (const [i, x] of inputs.entries()) batch.set(x.pixels, i * size * size * 3);
const detectAll = async (detect: (px: Uint8Array, n: number) => Promise<unknown>) => {
  for (let b = 0; b < SAMPLE; b += 8) await detect(batch.subarray(b * size * size * 3, (b + 8) * size * size * 3), 8);
};
// Before: TF.js's graph executor on the model with its batch freed (as data/faces/blazeface.ts did).
const stock = await tf.loadGraphModel(
  tf.io.fileSystem(path.join(root, 'node_modules', DETECTORS.blazeface.package, DETECTORS.blazeface.model)),
);
const detection = {
  session_images_per_s: await rate(() => detectAll((px, n) => detector.detect(px, n)), SAMPLE),
  tfjs_executor_batch1_images_per_s: await rate(async () => {
    for (let i = 0; i < SAMPLE; i += 8)
      tf.tidy(() => {
        const x = tf.tensor4d(
          batch.subarray(i * size * size * 3, (i + 1) * size * size * 3),
          [1, size, size, 3],
          'int32',
        );
        for (const t of stock.execute(x.toFloat().div(127.5).sub(1)) as Tensor[]) t.dataSync();
      });
  }, SAMPLE / 8),
  with_decode_images_per_s: await rate(
    async () => locateFaces(await stampFiles(sample), p.crop as never, { cacheDir: null }),
    SAMPLE,
  ),
};

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
const extractor = tf.model({ inputs: model.inputs, outputs: fixedCut(model, BACKBONE_SCOPE) as SymbolicTensor });
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

const r1 = (v: number | null | undefined) => (v == null ? 'n/a' : v.toFixed(1));
lines.push(
  '',
  `Detection alone, ${SAMPLE} UTKFace images (detector inputs decoded first; MediaPipe's decoded with OpenCV):`,
  '',
  '| detector | images/s |',
  '| --- | ---: |',
  `| run-exp BlazeFace 256x256, TensorFlow session, batch 8 | ${r1(detection.session_images_per_s)} |`,
  `| the same model, TF.js graph executor, batch 1 (stock loadGraphModel) | ${r1(detection.tfjs_executor_batch1_images_per_s)} |`,
  `| run-exp, decode + pad + resize + detect (locateFaces, no cache) | ${r1(detection.with_decode_images_per_s)} |`,
  `| MediaPipe ${peer?.mediapipe ?? ''} short-range (128x128), found ${peer?.short_range?.found ?? 'n/a'} | ${r1(peer?.short_range?.images_per_s)} |`,
  `| MediaPipe ${peer?.mediapipe ?? ''} full-range (192x192), found ${peer?.full_range?.found ?? 'n/a'} | ${r1(peer?.full_range?.images_per_s)} |`,
  '',
  `faces.yaml's frozen backbone pass (${features.layer}, 150x150, batches of 64): session ${r1(features.session_images_per_s)} images/s, tfjs predict ${r1(features.tfjs_predict_images_per_s)} images/s.`,
);
writeFileSync(
  path.join(here, 'faces-results.json'),
  `${JSON.stringify({ date: new Date().toISOString(), machine: os.cpus()[0]?.model, crop: p.crop, size: p.size, results, detection, peer, features }, null, 2)}\n`,
);
process.stdout.write(`${lines.join('\n')}\n`);
