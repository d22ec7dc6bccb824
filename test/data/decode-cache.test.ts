import { copyFileSync, cpSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { loadPixels } from '../../src/data/cache.ts';
import { decodeImage } from '../../src/data/decode.ts';
import { toFloat } from '../../src/data/normalize.ts';
import { classFolders, halves, preprocessing, tempDir, writeImage } from './fixtures.ts';

const RED = [255, 0, 0];
const BLUE = [0, 0, 255];
const pre = preprocessing;
const pixel = (buf: Buffer, width: number, x: number, y: number, channels = 3) =>
  [...buf.subarray((y * width + x) * channels, (y * width + x + 1) * channels)] as [number, number, number];

describe('decoding with sharp', () => {
  it('reads JPEG, PNG, WebP and GIF to the configured size', async () => {
    const dir = tempDir();
    for (const format of ['jpeg', 'png', 'webp', 'gif'] as const) {
      const file = await writeImage(path.join(dir, `img.${format}`), halves(16, 16, RED, BLUE), 16, 16, { format });
      const out = await decodeImage(file, pre({ size: [4, 8] }));
      expect(out.length, format).toBe(4 * 8 * 3);
      const [lr, , lb] = pixel(out, 8, 0, 0);
      const [rr, , rb] = pixel(out, 8, 7, 3);
      expect([lr > 200, lb < 60, rr < 60, rb > 200], format).toEqual([true, true, true, true]);
    }
  });

  it('fill stretches, cover crops to the aspect ratio, contain letterboxes in black', async () => {
    const dir = tempDir();
    // 40x10: red left half, blue right half.
    const file = await writeImage(path.join(dir, 'wide.png'), halves(40, 10, RED, BLUE), 40, 10);
    const fill = await decodeImage(file, pre({ size: [4, 4], fit: 'fill' }));
    expect([pixel(fill, 4, 0, 0), pixel(fill, 4, 3, 0)]).toEqual([RED, BLUE]);
    const cover = await decodeImage(file, pre({ size: [4, 4], fit: 'cover' }));
    // The central 10x10 square: still red on the left, blue on the right.
    expect([pixel(cover, 4, 0, 2), pixel(cover, 4, 3, 2)]).toEqual([RED, BLUE]);
    const contain = await decodeImage(file, pre({ size: [8, 8], fit: 'contain' }));
    expect([
      pixel(contain, 8, 0, 0),
      pixel(contain, 8, 0, 4),
      pixel(contain, 8, 7, 4),
      pixel(contain, 8, 0, 7),
    ]).toEqual([[0, 0, 0], RED, BLUE, [0, 0, 0]]);
  });

  it('centre crop keeps the middle of each side', async () => {
    const dir = tempDir();
    // 12x12: a 4x4 green square in the middle of white.
    const raw = Buffer.alloc(12 * 12 * 3, 255);
    for (let y = 4; y < 8; y++) for (let x = 4; x < 8; x++) raw.set([0, 255, 0], (y * 12 + x) * 3);
    const file = await writeImage(path.join(dir, 'sq.png'), raw, 12, 12);
    const out = await decodeImage(file, pre({ size: [2, 2], center_crop: 1 / 3 }));
    expect([0, 1, 2, 3].map((i) => [...out.subarray(i * 3, i * 3 + 3)])).toEqual([
      [0, 255, 0],
      [0, 255, 0],
      [0, 255, 0],
      [0, 255, 0],
    ]);
  });

  it('grayscale output has one channel; grayscale and alpha inputs give three-channel RGB', async () => {
    const dir = tempDir();
    const lum = async (rgb: number[]) => {
      const f = await writeImage(path.join(dir, `c${rgb.join('-')}.png`), halves(4, 4, rgb, rgb), 4, 4);
      const gray = await decodeImage(f, pre({ color: 'grayscale' }));
      expect(gray.length).toBe(16);
      return gray[0] as number;
    };
    // Luminance weights green most, then red, then blue.
    const [red, green, blue] = [await lum(RED), await lum([0, 255, 0]), await lum(BLUE)];
    expect(green).toBeGreaterThan(red);
    expect(red).toBeGreaterThan(blue);
    expect(await lum([255, 255, 255])).toBe(255);
    const g = await writeImage(path.join(dir, 'g.png'), Buffer.alloc(16, 200), 4, 4, { channels: 1 });
    expect([...(await decodeImage(g, pre())).subarray(0, 3)]).toEqual([200, 200, 200]);
    const rgba = Buffer.alloc(4 * 4 * 4);
    for (let i = 0; i < 16; i++) rgba.set([10, 20, 30, i % 2 ? 0 : 255], i * 4);
    const a = await writeImage(path.join(dir, 'a.png'), rgba, 4, 4, { channels: 4 });
    const out = await decodeImage(a, pre());
    expect(out.length).toBe(48);
    expect([...out.subarray(0, 3)]).toEqual([10, 20, 30]);
  });

  it('honours EXIF orientation', async () => {
    const dir = tempDir();
    // Stored as 8x4 red|blue with orientation 6 (rotate 90 degrees clockwise to display): red ends up on top.
    const file = await writeImage(path.join(dir, 'rot.jpg'), halves(8, 4, RED, BLUE), 8, 4, {
      format: 'jpeg',
      orientation: 6,
    });
    expect((await sharp(file).metadata()).orientation).toBe(6);
    const out = await decodeImage(file, pre({ size: [8, 4] }));
    const [tr, , tb] = pixel(out, 4, 1, 0);
    const [br, , bb] = pixel(out, 4, 1, 7);
    expect([tr > 200, tb < 60, br < 60, bb > 200]).toEqual([true, true, true, true]);
  });

  it('normalizes to [0, 1], [-1, 1] or per-channel standard scores', () => {
    const px = new Uint8Array([0, 255, 51, 102, 204, 255]);
    const out = new Float32Array(3);
    expect([...toFloat(px, 3, 3, [1], { normalize: 'unit' }, out)].map((v) => +v.toFixed(4))).toEqual([0.4, 0.8, 1]);
    expect([...toFloat(px, 3, 3, [0], { normalize: 'symmetric' }, out)].map((v) => +v.toFixed(4))).toEqual([
      -1, 1, -0.6,
    ]);
    const std = toFloat(px, 3, 3, [1], { normalize: 'standard', mean: [0.5, 0.5, 0.5], std: [0.25, 0.5, 1] }, out);
    expect([...std].map((v) => +v.toFixed(4))).toEqual([-0.4, 0.6, 0.5]);
  });

  it('gathers images in the order asked, for RGB and for other channel counts alike', () => {
    // Three 2x1 images: RGB (6 bytes each), and the same bytes read as grayscale 6x1 or as 2-channel 3x1.
    const px = Uint8Array.from({ length: 18 }, (_, i) => i * 15);
    const expected = [2, 0].flatMap((k) => Array.from({ length: 6 }, (_, j) => +(((k * 6 + j) * 15) / 255).toFixed(4)));
    for (const channels of [3, 1, 2]) {
      const out = toFloat(px, 6, channels, [2, 0], { normalize: 'unit' }, new Float32Array(12));
      expect([...out].map((v) => +v.toFixed(4))).toEqual(expected);
    }
    const std = toFloat(px, 6, 2, [1], { normalize: 'standard', mean: [0, 1], std: [1, 0.5] }, new Float32Array(6));
    expect([...std].map((v) => +v.toFixed(4))).toEqual(
      [90, 105, 120, 135, 150, 165].map((v, j) => +(j % 2 ? (v / 255 - 1) / 0.5 : v / 255).toFixed(4)),
    );
  });
});

describe('bad files', () => {
  it('skips and lists a non-image, a truncated JPEG and a missing file, keeping the good ones', async () => {
    const dir = tempDir();
    await classFolders(dir, { a: 3 }, 'jpeg');
    const good = path.join(dir, 'a', 'a-000.jpg');
    writeFileSync(path.join(dir, 'a', 'notes.jpg'), 'this is not an image');
    const bytes = readFileSync(
      await writeImage(path.join(dir, 'big.jpg'), halves(64, 64, RED, BLUE), 64, 64, { format: 'jpeg' }),
    );
    writeFileSync(path.join(dir, 'a', 'cut.jpg'), bytes.subarray(0, Math.floor(bytes.length / 2)));
    const items = [
      good,
      path.join(dir, 'a', 'notes.jpg'),
      path.join(dir, 'a', 'cut.jpg'),
      path.join(dir, 'a', 'gone.jpg'),
      path.join(dir, 'a', 'a-001.jpg'),
    ].map((p) => ({ path: p, label: 0 }));
    const px = await loadPixels(items, pre(), { cacheDir: tempDir() });
    expect(px.items.map((i) => path.basename(i.path))).toEqual(['a-000.jpg', 'a-001.jpg']);
    expect(px.pixels.length).toBe(2 * 48);
    expect(px.bad.map((b) => path.basename(b.path))).toEqual(['notes.jpg', 'cut.jpg', 'gone.jpg']);
    expect(px.bad.every((b) => b.reason.length > 0)).toBe(true);
  });
});

describe('pixel cache', () => {
  it('hits on a second load, re-decodes exactly a changed file, and starts over for new options', async () => {
    const dir = tempDir();
    const cacheDir = tempDir();
    await classFolders(dir, { a: 4, b: 3 });
    const files = ['a-000', 'a-001', 'a-002', 'a-003'].map((f) => path.join(dir, 'a', `${f}.png`));
    const items = [
      ...files.map((p) => ({ path: p, label: 0 })),
      ...[0, 1, 2].map((i) => ({ path: path.join(dir, 'b', `b-00${i}.png`), label: 1 })),
    ];
    const first = await loadPixels(items, pre(), { cacheDir });
    expect([first.decoded, first.reused]).toEqual([7, 0]);
    const second = await loadPixels(items, pre(), { cacheDir });
    expect([second.decoded, second.reused]).toEqual([0, 7]);
    expect(Buffer.from(second.pixels).equals(Buffer.from(first.pixels))).toBe(true);
    expect(second.hash).toBe(first.hash);

    // A changed file: new content and mtime.
    await writeImage(files[1] as string, halves(8, 8, BLUE, BLUE), 8, 8);
    utimesSync(files[1] as string, new Date(), new Date(Date.now() + 5000));
    const third = await loadPixels(items, pre(), { cacheDir });
    expect([third.decoded, third.reused]).toEqual([1, 6]);
    expect(third.hash).not.toBe(first.hash);
    expect([...third.pixels.subarray(48, 51)]).toEqual(BLUE);
    expect(Buffer.from(third.pixels.subarray(0, 48)).equals(Buffer.from(first.pixels.subarray(0, 48)))).toBe(true);

    const other = await loadPixels(items, pre({ size: [2, 2] }), { cacheDir });
    expect([other.decoded, other.reused]).toEqual([7, 0]);
    expect(other.hash).not.toBe(third.hash);
  });

  it('a copy of the data set (new paths, new file times) finds every entry by content: pixels and face boxes, nothing decoded or detected', async () => {
    const cacheDir = tempDir();
    const dir = tempDir();
    await classFolders(dir, { a: 4, b: 3 });
    // Two face photos too, with a face crop: their boxes come back by content as well.
    const demo = path.join(
      path.dirname(fileURLToPath(import.meta.url)),
      '..',
      '..',
      'node_modules',
      '@vladmandic',
      'face-api',
      'demo',
    );
    mkdirSync(path.join(dir, 'faces'));
    for (const n of [1, 2]) copyFileSync(path.join(demo, `sample${n}.jpg`), path.join(dir, 'faces', `s${n}.jpg`));
    const listed = (root: string) => [
      ...['a', 'b'].flatMap((c) =>
        readdirSync(path.join(root, c))
          .sort()
          .map((f) => ({ path: path.join(root, c, f), label: c === 'a' ? 0 : 1 })),
      ),
    ];
    const faces = (root: string) => [1, 2].map((n) => ({ path: path.join(root, 'faces', `s${n}.jpg`), label: 0 }));
    const crop = pre({
      size: [32, 32],
      crop: {
        type: 'face',
        detector: 'blazeface',
        margin: 0.2,
        align: true,
        fill: 'black',
        on_miss: 'keep',
        min_confidence: 0.5,
        pad: 0,
      },
    } as never);
    const first = await loadPixels(listed(dir), pre(), { cacheDir });
    const firstFaces = await loadPixels(faces(dir), crop, { cacheDir });
    expect([first.decoded, firstFaces.decoded, firstFaces.faces?.detected]).toEqual([7, 2, 2]);

    // The copy: elsewhere, every file with a new time (as a fresh checkout or a re-provisioned share gives).
    const copy = path.join(tempDir(), 'data');
    cpSync(dir, copy, { recursive: true });
    const later = new Date(Date.now() + 60_000);
    for (const it of [...listed(copy), ...faces(copy)]) utimesSync(it.path, later, later);
    const again = await loadPixels(listed(copy), pre(), { cacheDir });
    expect([again.decoded, again.reused]).toEqual([0, 7]);
    expect(Buffer.from(again.pixels).equals(Buffer.from(first.pixels))).toBe(true);
    // The same data set: the same hash (and so the same cached features).
    expect(again.hash).toBe(first.hash);
    const againFaces = await loadPixels(faces(copy), crop, { cacheDir });
    expect([againFaces.decoded, againFaces.faces?.detected, againFaces.faces?.reused]).toEqual([0, 0, 2]);
    expect(Buffer.from(againFaces.pixels).equals(Buffer.from(firstFaces.pixels))).toBe(true);
    // And the copy's own entries now answer by path, size and time.
    expect((await loadPixels(listed(copy), pre(), { cacheDir })).decoded).toBe(0);
  }, 60_000);

  it('a stopped load rejects with the abort and caches what it decoded: the next load decodes only the rest', async () => {
    const dir = tempDir();
    const cacheDir = tempDir();
    await classFolders(dir, { a: 20, b: 20 });
    const items = ['a', 'b'].flatMap((cls, label) =>
      Array.from({ length: 20 }, (_, i) => ({
        path: path.join(dir, cls, `${cls}-${String(i).padStart(3, '0')}.png`),
        label,
      })),
    );
    const stop = new AbortController();
    const onProgress = (done: number) => {
      if (done === 10) stop.abort();
    };
    const stopped = loadPixels(items, pre(), { cacheDir, concurrency: 1, onProgress, signal: stop.signal });
    await expect(stopped).rejects.toThrow(expect.objectContaining({ name: 'AbortError' }));
    const rest = await loadPixels(items, pre(), { cacheDir });
    expect([rest.decoded, rest.reused]).toEqual([30, 10]);
    const fresh = await loadPixels(items, pre(), { cacheDir: tempDir() });
    expect(Buffer.from(rest.pixels).equals(Buffer.from(fresh.pixels))).toBe(true);
    expect(rest.hash).toBe(fresh.hash);
  });
});
