// The JPEG fast path (native/jpeg through libtensorflow's libjpeg-turbo) against sharp on the same files.
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { loadPixels } from '../../src/data/cache.ts';
import { decodeImage, type Preprocessing } from '../../src/data/decode.ts';
import { decodeJpegs, jpegFastPath } from '../../src/data/jpeg-fast.ts';
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
