// The web page's own preprocessing against run-exp's: the face cut (extract,
// fill, libvips' rotation) and sharp's resize, compared in Node on the page's
// functions; and in chromium, with each face detector, a face-crop model's web
// export on face-api's sample photos and portraits cut from them against
// `run-exp predict` (the same boxes, probabilities close), and the same model
// in report.html's panel (model and detector inlined).
import { copyFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { LayersModel } from '@tensorflow/tfjs-node';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { cutRegion } from '../../src/data/faces/crop.ts';
import { reportPanel } from '../../src/export/report-panel.ts';
import { cutRegion as pageCut, resample as pageResample } from '../../src/export/web/run-exp-web.js';
import { exportWeb } from '../../src/export/web.ts';
import { loadTensorflow } from '../../src/platform/tensorflow.ts';
import { type LoadedRun, predictFiles } from '../../src/report/predict.ts';
import { DETECTORS } from '../../src/spec/detectors.ts';
import { noise, tempDir } from '../data/fixtures.ts';
import { pagePredictions, staticServer } from '../support/web-page.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const demo = path.join(root, 'node_modules', '@vladmandic', 'face-api', 'demo');

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
};

describe("the web page's preprocessing", () => {
  it('cuts a face region as run-exp does, turned and filled, byte for byte', async () => {
    const [w, h] = [300, 260];
    const data = noise(w, h);
    for (const angle of [0, 0.12, -0.3, 0.7])
      for (const fill of ['black', 'edge', 'mirror'] as const)
        for (const cx of [140.3, 20.2]) {
          const region = { cx, cy: 120.7, side: 150.4, angle, fill };
          const theirs = await cutRegion({ data, width: w, height: h }, region);
          const ours = pageCut({ rgb: Float32Array.from(data), width: w, height: h }, region);
          expect(ours.width, `${angle} ${fill} ${cx}`).toBe(theirs.width);
          expect(maxDiff(ours.rgb, theirs.data), `${angle} ${fill} ${cx}`).toBe(0);
        }
  });

  it('resizes raw pixels as sharp does, byte for byte: reduce, whole shrinks, enlargement, both at once, in colour and grey', async () => {
    for (const [w, h, tw, th, fit] of [
      [170, 170, 150, 150, 'fill'],
      [470, 470, 150, 150, 'fill'],
      [1280, 853, 64, 64, 'fill'],
      [486, 661, 65, 40, 'fill'],
      [300, 400, 64, 64, 'cover'],
      [123, 77, 64, 64, 'contain'],
      [40, 30, 64, 64, 'fill'],
      [565, 43, 66, 49, 'fill'],
      [50, 50, 64, 64, 'cover'],
    ] as const) {
      const data = noise(w, h);
      const theirs = await sharp(data, { raw: { width: w, height: h, channels: 3 } })
        .resize({ width: tw, height: th, fit, position: 'centre', background: { r: 0, g: 0, b: 0 } })
        .raw()
        .toBuffer();
      const ours = pageResample({ rgb: Float32Array.from(data), width: w, height: h }, { size: [th, tw], fit }, false);
      expect(ours.length).toBe(theirs.length);
      expect(maxDiff(ours, theirs), `${w}x${h} -> ${tw}x${th} ${fit}`).toBe(0);
      // A grayscale model: sharp's greyscale (libvips' B_W) before the resize.
      const grey = await sharp(data, { raw: { width: w, height: h, channels: 3 } })
        .grayscale()
        .resize({ width: tw, height: th, fit, position: 'centre', background: { r: 0, g: 0, b: 0 } })
        .raw()
        .toBuffer();
      const page = { rgb: Float32Array.from(data), width: w, height: h };
      const ourGrey = pageResample(page, { size: [th, tw], fit, color: 'grayscale' }, false);
      expect(maxDiff(ourGrey, grey), `${w}x${h} -> ${tw}x${th} ${fit} grey`).toBe(0);
    }
  });

  for (const detector of Object.keys(DETECTORS))
    it(`a face-crop model in the page (${detector}): the same faces and probabilities as predict on real photos`, async () => {
      const { tf } = await loadTensorflow();
      const dir = tempDir('run-exp-web-faces-');
      const files = [1, 2, 3, 4, 5, 6].map((s) => {
        const f = path.join(dir, `sample${s}.jpg`);
        copyFileSync(path.join(demo, `sample${s}.jpg`), f);
        return f;
      });
      // Portraits cut from the group photo around each face (centres by eye): faces the short-range model finds.
      for (const [i, [cx, cy]] of [
        [517, 505],
        [944, 550],
        [1581, 346],
      ].entries()) {
        const f = path.join(dir, `portrait${i}.jpg`);
        await sharp(path.join(demo, 'sample1.jpg'))
          .extract({ left: (cx as number) - 200, top: (cy as number) - 200, width: 400, height: 400 })
          .resize(300, 300)
          .jpeg({ quality: 95 })
          .toFile(f);
        files.push(f);
      }
      // Any weights do: the comparison is of what the page and predict compute, not of what the model learned.
      const model: LayersModel = tf.sequential({
        layers: [
          tf.layers.conv2d({
            inputShape: [48, 48, 3],
            filters: 4,
            kernelSize: 3,
            activation: 'relu',
            kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }),
          }),
          tf.layers.globalAveragePooling2d({}),
          tf.layers.dense({
            units: 2,
            activation: 'softmax',
            kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }),
          }),
        ],
      });
      const run: LoadedRun = {
        dir,
        modelJson: '',
        classes: ['a', 'b'],
        testTimeFlip: true,
        model,
        preprocessing: {
          size: [48, 48],
          fit: 'cover',
          center_crop: 1,
          color: 'rgb',
          normalize: 'symmetric',
          crop: {
            type: 'face',
            detector,
            margin: 0.2,
            align: true,
            fill: 'mirror',
            on_miss: 'keep',
            min_confidence: 0.5,
            pad: 0,
          },
        } as LoadedRun['preprocessing'],
      };
      const ours = await predictFiles(tf, run, files, { cacheDir: null });
      expect(ours.filter((p) => p.face).length).toBeGreaterThanOrEqual(3);
      const out = path.join(dir, 'web');
      await exportWeb(tf, run, out);
      // report.html's panel: the same page code with the model and the detector inlined, read from a file.
      const panel = reportPanel(path.join(out, 'model', 'model.json'), run.preprocessing);
      expect(panel.inlined).toBe(true);
      const report = path.join(dir, 'panel.html');
      writeFileSync(
        report,
        `<!doctype html><html><head><meta charset="utf-8"></head><body>${panel.html}</body></html>`,
      );
      const site = await staticServer(out);
      try {
        for (const [page, url] of [
          ['web export', site.url],
          ['report panel', pathToFileURL(report).href],
        ] as const) {
          const got = await pagePredictions(url, files);
          for (const [i, p] of ours.entries()) {
            const name = `${page}: ${path.basename(files[i] as string)}`;
            // The page's cut and resize are libvips' to the byte; what is left is the browser's JPEG decode and float order.
            expect(got[i]?.face, name).toEqual(p.face?.box);
            for (const [cls, prob] of Object.entries(p.probabilities ?? {}))
              expect(Math.abs((got[i]?.probabilities[cls] as number) - prob), `${name} ${cls}`).toBeLessThan(1e-3);
          }
        }
      } finally {
        await site.close();
      }
    }, 180_000);
});
