// The web export and serve's page in Debian's chromium: photos of other sizes
// and formats (JPEG, PNG, an EXIF-rotated JPEG) chosen one by one give
// `run-exp predict`'s labels, and probabilities within 0.01 (the page resizes
// with its own Lanczos-3; predict's JPEG path shrinks in the DCT first).
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/program.ts';
import { resolveExperiment } from '../../src/config/resolve.ts';
import { loadTensorflow } from '../../src/platform/tensorflow.ts';
import { loadRun, predictFiles } from '../../src/report/predict.ts';
import { runExperiment } from '../../src/runner/run.ts';
import { startServer } from '../../src/serve/server.ts';
import { tempDir } from '../data/fixtures.ts';
import { dataset, experimentFile } from '../support/toy.ts';
import { pagePredictions, staticServer } from '../support/web-page.ts';

// The README's screenshots are this test's: RUN_EXP_UPDATE_SCREENSHOTS=1 writes them into docs/.
const shots =
  process.env.RUN_EXP_UPDATE_SCREENSHOTS === '1' ? path.resolve(import.meta.dirname, '..', '..', 'docs') : os.tmpdir();

/** Photos unlike the training images: larger, not square, JPEG and PNG, one stored sideways with an EXIF orientation. */
async function photos(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const [i, [w, h, top, format]] of (
    [
      [240, 180, true, 'jpeg'],
      [180, 240, false, 'jpeg'],
      [300, 300, true, 'png'],
      [97, 131, false, 'png'],
      [320, 200, false, 'jpeg'],
      [200, 320, true, 'rotated'],
    ] as const
  ).entries()) {
    const raw = Buffer.alloc(w * h * 3);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const bright = y < h / 2 === top;
        raw.fill((bright ? 190 : 30) + ((x * 7 + y * 13 + i * 5) % 40), (y * w + x) * 3, (y * w + x + 1) * 3);
      }
    const file = path.join(dir, `photo${i}.${format === 'png' ? 'png' : 'jpg'}`);
    let img = sharp(raw, { raw: { width: w, height: h, channels: 3 } });
    // Stored turned a quarter clockwise, with EXIF orientation 8 saying how to put it upright again.
    if (format === 'rotated') img = sharp(await img.rotate(90).png().toBuffer()).withMetadata({ orientation: 8 });
    await (format === 'png' ? img.png() : img.jpeg({ quality: 90 })).toFile(file);
    out.push(file);
  }
  return out;
}

describe('the model in a page', () => {
  it("the web export, from a plain static server, and serve's page give predict's labels", async () => {
    const { tf } = await loadTensorflow();
    const dir = tempDir('run-exp-web-');
    await dataset(path.join(dir, 'images'), 6);
    const set = [
      'training.epochs=3',
      'data.preprocessing.size=[24,24]',
      'data.preprocessing.fit=cover',
      'data.test_time_flip=true',
    ];
    const result = await runExperiment(
      resolveExperiment(experimentFile(dir), { env: {}, set }),
      {},
      path.join(dir, 'cache'),
    );
    const run = await loadRun(tf, result.run.dir);
    const files = await photos(dir);
    const ours = await predictFiles(tf, run, files);

    const out = path.join(dir, 'web');
    const said: string[] = [];
    const code = await main(['export', '--run', result.run.dir, '--format', 'web', '--out', out], {
      out: (s) => said.push(s),
      err: (s) => said.push(s),
      env: {},
    });
    expect(code, said.join('')).toBe(0);
    expect(said.join('')).toMatch(/exported web: .*index\.html/);

    const site = await staticServer(out);
    const server = await startServer(tf, run, {
      host: '127.0.0.1',
      port: 0,
      maxBodyBytes: 1 << 20,
      maxPixels: 1e7,
      maxBatch: 8,
      version: 'test',
      title: 'run-exp serve',
    });
    try {
      for (const [page, url, shot] of [
        ['web export', site.url, 'web-export.png'],
        ['serve page', `${server.url}/`, 'serve-page.png'],
      ] as const) {
        const got = await pagePredictions(url, files, path.join(shots, shot));
        for (const [i, p] of ours.entries()) {
          expect(got[i]?.label, `${page}: ${path.basename(files[i] as string)}`).toBe(p.label);
          for (const [cls, prob] of Object.entries(p.probabilities ?? {}))
            expect(Math.abs((got[i]?.probabilities[cls] as number) - prob), `${page} ${i} ${cls}`).toBeLessThan(0.01);
        }
      }
    } finally {
      await site.close();
      await server.close();
    }
  }, 180_000);

  it("a grayscale model in the page: sharp's greyscale before its resize, run-exp's JPEG path after its own", async () => {
    const { tf } = await loadTensorflow();
    const dir = tempDir('run-exp-web-grey-');
    await dataset(path.join(dir, 'images'), 6);
    const set = ['training.epochs=3', 'data.preprocessing.size=[24,24]', 'data.preprocessing.color=grayscale'];
    const result = await runExperiment(
      resolveExperiment(experimentFile(dir), { env: {}, set }),
      {},
      path.join(dir, 'cache'),
    );
    const run = await loadRun(tf, result.run.dir);
    // Besides the photos, one smaller than the model's input: enlarged by sharp, not run-exp's JPEG path.
    const small = path.join(dir, 'small.jpg');
    await sharp({ create: { width: 16, height: 20, channels: 3, background: { r: 200, g: 90, b: 30 } } })
      .jpeg()
      .toFile(small);
    const files = [...(await photos(dir)), small];
    const ours = await predictFiles(tf, run, files);
    const out = path.join(dir, 'web');
    const said: string[] = [];
    const io = { out: (s: string) => said.push(s), err: (s: string) => said.push(s), env: {} };
    expect(await main(['export', '--run', result.run.dir, '--format', 'web', '--out', out], io), said.join('')).toBe(0);
    const site = await staticServer(out);
    try {
      const got = await pagePredictions(site.url, files);
      for (const [i, p] of ours.entries()) {
        expect(got[i]?.label, path.basename(files[i] as string)).toBe(p.label);
        for (const [cls, prob] of Object.entries(p.probabilities ?? {}))
          expect(Math.abs((got[i]?.probabilities[cls] as number) - prob), `${i} ${cls}`).toBeLessThan(0.01);
      }
    } finally {
      await site.close();
    }
  }, 180_000);
});
