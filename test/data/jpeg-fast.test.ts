// The JPEG fast path (native/jpeg through libtensorflow's libjpeg-turbo) against sharp on the same files.
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { loadPixels } from '../../src/data/cache.ts';
import { decodeImage, type Preprocessing } from '../../src/data/decode.ts';
import type { Region } from '../../src/data/faces/crop.ts';
import { detectorInput, detectorInputs } from '../../src/data/faces/locate.ts';
import { decodeJpegs, fastDetectorInputs, fastFaceCrops, jpegFastPath } from '../../src/data/jpeg-fast.ts';
import { preprocessing, tempDir, writeImage } from './fixtures.ts';

const pre = (over: Partial<Preprocessing> = {}) => preprocessing({ size: [64, 64], ...over });

/** A textured width x height RGB image: gradients, a ring and stripes, so that resampling differences show. */
function texture(width: number, height: number): Buffer {
  const buf = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const r = Math.hypot(x - width * 0.4, y - height * 0.45);
      buf[(y * width + x) * 3] = (x * 255) / width;
      buf[(y * width + x) * 3 + 1] = r > 30 && r < 45 ? 230 : (y * 200) / height;
      buf[(y * width + x) * 3 + 2] = (Math.floor(x / 7) + Math.floor(y / 11)) % 2 ? 200 : 40;
    }
  }
  return buf;
}

async function jpeg(file: string, width: number, height: number, orientation?: number): Promise<string> {
  await sharp(texture(width, height), { raw: { width, height, channels: 3 } })
    .withMetadata(orientation ? { orientation } : {})
    .jpeg({ quality: 90 })
    .toFile(file);
  return file;
}

/** Decodes `files` with the fast path: pixels per file (null when it declined) and the indices it declined. */
async function fast(files: string[], p: Preprocessing): Promise<{ out: (Uint8Array | null)[]; left: number[] }> {
  const bytes = p.size[0] * p.size[1] * (p.color === 'rgb' ? 3 : 1);
  const buf = new Uint8Array(files.length * bytes);
  const left = await decodeJpegs(
    files,
    files.map((_, i) => i * bytes),
    buf,
    p,
    2,
    () => {},
  );
  return { out: files.map((_, i) => (left.includes(i) ? null : buf.subarray(i * bytes, (i + 1) * bytes))), left };
}

const mad = (a: Uint8Array, b: Uint8Array) => {
  expect(a.length).toBe(b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs((a[i] as number) - (b[i] as number));
  return sum / a.length;
};

describe('JPEG fast path', () => {
  it('is built and finds the decoder in libtensorflow', () => {
    expect(jpegFastPath()).toEqual({ available: true, why: '' });
  });

  it('agrees with sharp within 2 (of 255) on average: fill, cover, contain, centre crop, grayscale, other sizes and aspect ratios', async () => {
    const dir = tempDir();
    const files = [
      await jpeg(path.join(dir, 'square.jpg'), 200, 200),
      await jpeg(path.join(dir, 'wide.jpg'), 301, 180),
    ];
    const cases: Partial<Preprocessing>[] = [
      {},
      { fit: 'cover', size: [48, 64] },
      { fit: 'cover', size: [64, 48] },
      { fit: 'contain', size: [64, 40] },
      { fit: 'contain', size: [40, 64] },
      { center_crop: 0.8 },
      { center_crop: 0.7, fit: 'cover', size: [30, 50] },
      { color: 'grayscale' },
      { size: [150, 150] },
      { size: [17, 23] },
    ];
    for (const c of cases) {
      const p = pre(c);
      const { out, left } = await fast(files, p);
      expect(left, JSON.stringify(c)).toEqual([]);
      for (const [i, file] of files.entries()) {
        const d = mad(out[i] as Uint8Array, await decodeImage(file, p));
        expect(d, `${path.basename(file)} ${JSON.stringify(c)}`).toBeLessThan(2);
      }
    }
  });

  it('honours every EXIF orientation as sharp does', async () => {
    const dir = tempDir();
    for (let o = 1; o <= 8; o++) {
      const file = await jpeg(path.join(dir, `o${o}.jpg`), 120, 80, o);
      const p = pre({ size: [32, 48] });
      const { out, left } = await fast([file], p);
      expect(left).toEqual([]);
      expect(mad(out[0] as Uint8Array, await decodeImage(file, p)), `orientation ${o}`).toBeLessThan(2);
    }
  });

  it('leaves enlargements to sharp', async () => {
    const file = await jpeg(path.join(tempDir(), 'small.jpg'), 40, 40);
    expect((await fast([file], pre())).left).toEqual([0]);
  });

  it('leaves to sharp what it would not decode as sharp does; loadPixels then lists bad files with sharp’s reasons', async () => {
    const dir = tempDir();
    const good = await jpeg(path.join(dir, 'good.jpg'), 100, 100);
    const png = await writeImage(path.join(dir, 'img.png'), texture(50, 50), 50, 50);
    const cmyk = path.join(dir, 'cmyk.jpg');
    await sharp(texture(50, 50), { raw: { width: 50, height: 50, channels: 3 } })
      .toColourspace('cmyk')
      .jpeg()
      .toFile(cmyk);
    const icc = path.join(dir, 'p3.jpg');
    await sharp(texture(50, 50), { raw: { width: 50, height: 50, channels: 3 } })
      .withIccProfile('p3')
      .jpeg()
      .toFile(icc);
    const cut = path.join(dir, 'cut.jpg');
    writeFileSync(cut, readFileSync(good).subarray(0, 2000));
    const text = path.join(dir, 'notes.jpg');
    writeFileSync(text, 'not an image');
    const gone = path.join(dir, 'gone.jpg');

    const files = [good, png, cmyk, icc, cut, text, gone];
    expect((await fast(files, pre())).left).toEqual([1, 2, 3, 4, 5, 6]);

    const px = await loadPixels(
      files.map((f) => ({ path: f, label: 0 })),
      pre(),
      { cacheDir: tempDir() },
    );
    expect(px.items.map((i) => path.basename(i.path))).toEqual(['good.jpg', 'img.png', 'cmyk.jpg', 'p3.jpg']);
    // As without the fast path: the same files, with sharp's reasons (libvips' error text for the cut
    // file is sometimes "Unknown error" when several decodes fail at once, with or without the fast path).
    expect(px.bad.map((b) => path.basename(b.path))).toEqual(['cut.jpg', 'notes.jpg', 'gone.jpg']);
    expect(px.bad.map((b) => b.reason)).toEqual([
      expect.any(String),
      await decodeImage(text, pre()).catch((err: Error) => err.message),
      'cannot read the file',
    ]);
    // What sharp took over matches sharp; what the fast path decoded matches within tolerance.
    const bytes = 64 * 64 * 3;
    for (const [k, f] of [png, cmyk, icc].entries())
      expect(
        Buffer.from(px.pixels.subarray((k + 1) * bytes, (k + 2) * bytes)).equals(await decodeImage(f, pre())),
      ).toBe(true);
    expect(mad(px.pixels.subarray(0, bytes), await decodeImage(good, pre()))).toBeLessThan(2);
  });
});

describe('the native face path', () => {
  /** JPEGs a face path meets: small and large, turned by EXIF, too small for the detector's input (enlarged). */
  async function files(dir: string): Promise<string[]> {
    return Promise.all([
      jpeg(path.join(dir, 'crop.jpg'), 200, 200),
      jpeg(path.join(dir, 'photo.jpg'), 640, 480, 6),
      jpeg(path.join(dir, 'wide.jpg'), 300, 170, 3),
      jpeg(path.join(dir, 'tiny.jpg'), 90, 70),
    ]);
  }

  it("gives the detector sharp's input byte for byte, and leaves what is not a JPEG to sharp", async () => {
    const dir = tempDir();
    const jpegs = await files(dir);
    const png = await writeImage(path.join(dir, 'img.png'), texture(120, 90), 120, 90);
    for (const [size, pad] of [
      [256, 0.25],
      [128, 0],
    ] as const) {
      const placed = await fastDetectorInputs([...jpegs, png], size, pad, new Uint8Array(5 * size * size * 3), 2);
      expect(placed.map((p) => p !== null)).toEqual([true, true, true, true, false]);
      const got = await detectorInputs([...jpegs, png], size, pad);
      for (const [i, file] of [...jpegs, png].entries()) {
        const want = await detectorInput(file, size, pad);
        expect(Buffer.from(got[i]?.pixels as Uint8Array).equals(want.pixels as Buffer), `${file} ${size}`).toBe(true);
        expect([got[i]?.width, got[i]?.height]).toEqual([want.width, want.height]);
        const face = {
          box: [10, 20, 30, 40],
          score: 0.9,
          eyes: [
            [15, 25],
            [30, 26],
          ],
        } as const;
        expect(got[i]?.back(structuredClone(face) as never)).toEqual(want.back(structuredClone(face) as never));
      }
    }
  });

  it('cuts faces as sharp does, byte for byte: inside, over edges, wider than the image, outside; turned; each fill; shrunk and enlarged; cover and contain; not grey', async () => {
    const jpegs = await files(tempDir());
    // Centre and side as fractions of the upright image's shorter side.
    const places = [
      [0.5, 0.5, 0.45],
      [0.06, 0.4, 0.6],
      [0.95, 0.9, 0.5],
      [0.5, 0.5, 2.1],
      [-1.5, -1.5, 0.25],
    ] as const;
    const sizes = [
      pre({ size: [150, 150] }),
      pre({ size: [48, 48] }),
      pre({ size: [40, 60], fit: 'contain' }),
      pre({ size: [60, 40] }),
    ];
    const jobs: { file: string; region: Region }[] = [];
    for (const file of jpegs) {
      const m = await sharp(file).rotate().metadata();
      const short = Math.min(m.width ?? 0, m.height ?? 0);
      for (const [k, [x, y, side]] of places.entries())
        for (const [a, angle] of [0, 0.2, -0.45].entries()) {
          const fill = (['black', 'edge', 'mirror'] as const)[(k + a) % 3];
          jobs.push({ file, region: { cx: x * short + 0.3, cy: y * short, side: side * short + 0.7, angle, fill } });
        }
    }
    for (const p of sizes) {
      const bytes = p.size[0] * p.size[1] * 3;
      const out = new Uint8Array(jobs.length * bytes);
      const left = await fastFaceCrops(
        jobs.map((j) => j.file),
        jobs.map((j) => j.region),
        p,
        out,
        jobs.map((_, i) => i * bytes),
        2,
        () => {},
      );
      expect(left).toEqual([]);
      for (const [i, j] of jobs.entries()) {
        const want = await decodeImage(j.file, p, j.region);
        const got = Buffer.from(out.subarray(i * bytes, (i + 1) * bytes));
        expect(got.equals(want), `${j.file} ${JSON.stringify(j.region)} ${p.size} ${p.fit}`).toBe(true);
      }
    }
    const grey = pre({ color: 'grayscale' });
    const left = await fastFaceCrops(
      [jpegs[0] as string],
      [jobs[0]?.region as Region],
      grey,
      new Uint8Array(64 * 64),
      [0],
      1,
      () => {},
    );
    expect(left).toEqual([0]);
  });
});
