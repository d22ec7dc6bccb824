// bench/data face-api-age: the pretrained face-api age estimate on a run's own
// UTKFace validation images (its split.json), per age band, beside the run's
// age output on the same images (its evaluation.json). face-api's SSD
// detector finds the face; where it finds none, its age net sees the whole
// crop (UTKFace images are face crops already), and the line says how often.
//
//   npm run bench:age -- <run folder of utkface-multitask.yaml>
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Tensor3D } from '@tensorflow/tfjs-node';
import { bandOf } from '../../src/data/bands.ts';
import { loadTensorflow } from '../../src/platform/tensorflow.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const run = process.argv[2];
if (!run) throw new Error('usage: npm run bench:age -- <run folder>');
const bands = [0, 13, 20, 40, 60];

const { tf } = await loadTensorflow();
const faceapi = await import('@vladmandic/face-api/dist/face-api.node.js');
const models = path.join(root, 'node_modules', '@vladmandic', 'face-api', 'model');
await faceapi.nets.ssdMobilenetv1.loadFromDisk(models);
await faceapi.nets.ageGenderNet.loadFromDisk(models);
const detectorOptions = new faceapi.SsdMobilenetv1Options({ minConfidence: 0.3 });

const files: string[] = JSON.parse(readFileSync(path.join(run, 'split.json'), 'utf8')).validation;
const errors = new Map<string, number[]>();
let detected = 0;
const started = performance.now();
for (const file of files) {
  const age = Number(path.basename(file).split('_')[0]);
  const image = tf.node.decodeImage(readFileSync(file), 3) as Tensor3D;
  const face = await faceapi.detectSingleFace(image as never, detectorOptions).withAgeAndGender();
  let estimate: number;
  if (face) {
    detected++;
    estimate = face.age;
  } else {
    const whole = (await faceapi.nets.ageGenderNet.predictAgeAndGender(image as never)) as { age: number };
    estimate = whole.age;
  }
  image.dispose();
  for (const key of [bandOf(String(age), bands), 'all']) {
    const list = errors.get(key) ?? [];
    list.push(Math.abs(estimate - age));
    errors.set(key, list);
  }
}
const seconds = (performance.now() - started) / 1000;

const ours = JSON.parse(readFileSync(path.join(run, 'evaluation.json'), 'utf8')).validation.outputs.age as Record<
  string,
  number
>;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const rows = ['0-12', '13-19', '20-39', '40-59', '60+', 'all'].map((band) => {
  const e = errors.get(band) ?? [];
  const run = band === 'all' ? ours.mae : ours[`mae_${band}`];
  return { band, images: e.length, faceApi: e.length ? mean(e) : null, run: run ?? null };
});
console.log(
  `face-api age on ${files.length} validation images of ${run}: SSD found a face in ${detected} (${(
    (100 * detected) / files.length
  ).toFixed(1)}%), the rest scored whole; ${seconds.toFixed(0)} s`,
);
console.log('| age band | images | run-exp (this run) | face-api |\n| --- | ---: | ---: | ---: |');
for (const r of rows)
  console.log(`| ${r.band} | ${r.images} | ${r.run?.toFixed(2) ?? '-'} | ${r.faceApi?.toFixed(2) ?? '-'} |`);
writeFileSync(
  path.join(here, 'face-api-age-results.json'),
  `${JSON.stringify({ run: path.resolve(run), images: files.length, detected, seconds, rows }, null, 2)}\n`,
);
