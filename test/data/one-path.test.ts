// One preprocessing path: a file gives the same model input, byte for byte,
// whether training, evaluate, predict or serve reads it (with and without a face
// crop, JPEG through the fast path, PNG through sharp, a photo without a face).
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LayersModel, Tensor } from '@tensorflow/tfjs-node';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { resolveExperiment } from '../../src/config/resolve.ts';
import { batchTensor } from '../../src/data/batches.ts';
import { prepareData } from '../../src/data/prepare.ts';
import { loadTensorflow, type Tf } from '../../src/platform/tensorflow.ts';
import { evaluateOn } from '../../src/report/evaluate-run.ts';
import { type LoadedRun, predictFiles } from '../../src/report/predict.ts';
import { startServer } from '../../src/serve/server.ts';
import { tempDir } from './fixtures.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const demo = path.join(root, 'node_modules', '@vladmandic', 'face-api', 'demo');

/** Two classes of real photos (faces), a PNG and a photo without a face. */
async function photos(dir: string): Promise<string[]> {
  const files: string[] = [];
  for (const [cls, samples] of [
    ['a', [1, 2, 3]],
    ['b', [4, 5, 6]],
  ] as const) {
    mkdirSync(path.join(dir, cls), { recursive: true });
    for (const s of samples) {
      const file = path.join(dir, cls, `sample${s}.jpg`);
      copyFileSync(path.join(demo, `sample${s}.jpg`), file);
      files.push(file);
    }
  }
  const png = path.join(dir, 'a', 'cut.png');
  await sharp(path.join(demo, 'sample2.jpg'))
    .extract({ left: 600, top: 100, width: 700, height: 800 })
    .png()
    .toFile(png);
  const noFace = path.join(dir, 'b', 'noise.png');
  const noise = Buffer.alloc(120 * 90 * 3);
  for (let i = 0; i < noise.length; i++) noise[i] = (i * 7919) % 251;
  await sharp(noise, { raw: { width: 120, height: 90, channels: 3 } })
    .png()
    .toFile(noFace);
  return [...files, png, noFace];
}

/** A stand-in model that keeps every input it is given (and answers 0.5 for each class). */
function spyModel(tf: Tf, seen: Float32Array[]): LayersModel {
  return {
    predict: (x: Tensor) => {
      const [n, ...rest] = x.shape as number[];
      const size = rest.reduce((a, b) => a * b, 1);
      const data = x.dataSync() as Float32Array;
      for (let i = 0; i < (n as number); i++) seen.push(data.slice(i * size, (i + 1) * size));
      return tf.fill([n as number, 2], 0.5);
    },
  } as unknown as LayersModel;
}

const digest = (row: Float32Array) => createHash('sha256').update(Buffer.from(row.buffer)).digest('hex');

const CASES = {
  'whole images, symmetric': '{ size: [40, 32], normalize: symmetric }',
  'face crops, standard': `{ size: [36, 36], normalize: standard, mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3],
      crop: { type: face, detector: blazeface, margin: 0.1, align: true, fill: mirror, on_miss: keep } }`,
};

describe('one preprocessing path', () => {
  for (const [name, preprocessing] of Object.entries(CASES)) {
    it(`training, evaluate, predict and serve give a file the same model input (${name})`, async () => {
      const { tf } = await loadTensorflow();
      const dir = tempDir('run-exp-onepath-');
      const files = await photos(path.join(dir, 'images'));
      const cacheDir = path.join(dir, 'cache');
      writeFileSync(
        path.join(dir, 'exp.yaml'),
        `name: onepath\nseed: 1\ndata:\n  path: ./images\n  classes: [a, b]\n  split: { validation: 0.25 }\n  preprocessing: ${preprocessing}\nmodel:\n  layers:\n    - { type: flatten }\n    - { type: dense, units: 2, activation: softmax }\ntraining:\n  epochs: 1\ntracking:\n  dir: ${path.join(dir, 'runs')}\n`,
      );
      const { experiment: exp } = resolveExperiment(path.join(dir, 'exp.yaml'), { env: {} });
      // Training: the cached pixels of every split, batched as training batches them.
      const data = await prepareData(exp, { cacheDir });
      const trained = new Map<string, string>();
      for (const split of ['train', 'validation', 'test'] as const) {
        const { files: names, index } = data.splits[split];
        for (const [k, file] of names.entries()) {
          const x = batchTensor(tf, exp, data, [index[k] as number]);
          trained.set(path.resolve(file), digest(x.dataSync() as Float32Array));
          x.dispose();
        }
      }
      expect([...trained.keys()].sort()).toEqual(files.map((f) => path.resolve(f)).sort());
      // Predict and evaluate, with the run's recorded preprocessing and a model that keeps its inputs.
      const seen: Float32Array[] = [];
      const run: LoadedRun = {
        dir,
        modelJson: '',
        preprocessing: exp.data.preprocessing,
        testTimeFlip: false,
        classes: ['a', 'b'],
        model: spyModel(tf, seen),
      };
      const predicted = await predictFiles(tf, run, files, { cacheDir });
      expect(predicted.map((p) => p.error)).toEqual(files.map(() => undefined));
      const byPredict = new Map(files.map((f, i) => [path.resolve(f), digest(seen[i] as Float32Array)]));
      expect(byPredict).toEqual(trained);
      seen.length = 0;
      await evaluateOn(tf, run, exp.data, { cacheDir });
      expect(seen.map(digest).sort()).toEqual([...trained.values()].sort());
      // Serve: each file's bytes posted to a real server, one request at a time.
      seen.length = 0;
      const server = await startServer(tf, run, {
        host: '127.0.0.1',
        port: 0,
        maxBodyBytes: 1 << 24,
        maxPixels: 5e7,
        maxBatch: 8,
        version: 'test',
        title: 'test',
      });
      try {
        for (const f of files) {
          const res = await fetch(`${server.url}/invocations`, {
            method: 'POST',
            body: readFileSync(f),
            headers: { 'content-type': 'application/octet-stream' },
          });
          expect(res.status).toBe(200);
        }
        const byServe = new Map(files.map((f, i) => [path.resolve(f), digest(seen[i] as Float32Array)]));
        expect(byServe).toEqual(trained);
        // All at once too (a face crop's detection runs for each request side by side).
        const statuses = await Promise.all(
          files.map(async (f) => {
            const res = await fetch(`${server.url}/invocations`, {
              method: 'POST',
              body: readFileSync(f),
              headers: { 'content-type': 'image/jpeg' },
            });
            return res.status;
          }),
        );
        expect(statuses).toEqual(files.map(() => 200));
      } finally {
        await server.close();
      }
      // The photo without a face: the whole image, in every path, and said so by predict.
      const noFace = predicted.find((p) => p.file.endsWith('noise.png'));
      if (name.startsWith('face')) expect(noFace?.note).toMatch(/no face found; predicted on the whole image/);
    });
  }
});
