// Image fixtures the data tests make with sharp: small, exact, in a temp folder.
import { mkdirSync, mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import type { Preprocessing } from '../../src/data/decode.ts';

export function tempDir(prefix = 'run-exp-data-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A width x height RGB image: left half `left`, right half `right`. */
export function halves(width: number, height: number, left: number[], right: number[]): Buffer {
  const buf = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      buf.set(x < width / 2 ? left : right, (y * width + x) * 3);
    }
  }
  return buf;
}

export type Format = 'jpeg' | 'png' | 'webp' | 'gif';

export async function writeImage(
  file: string,
  raw: Buffer,
  width: number,
  height: number,
  options: { format?: Format; channels?: 1 | 2 | 3 | 4; orientation?: number } = {},
): Promise<string> {
  mkdirSync(path.dirname(file), { recursive: true });
  let img = sharp(raw, { raw: { width, height, channels: options.channels ?? 3 } });
  if (options.orientation) img = img.withMetadata({ orientation: options.orientation });
  const format = options.format ?? 'png';
  img =
    format === 'jpeg'
      ? img.jpeg({ quality: 100 })
      : format === 'webp'
        ? img.webp({ lossless: true })
        : format === 'gif'
          ? img.gif()
          : img.png();
  await img.toFile(file);
  return file;
}

/** `count` solid images per class under root/<class>/, coloured by class and index. */
export async function classFolders(
  root: string,
  counts: Record<string, number>,
  format: Format = 'png',
): Promise<void> {
  let shade = 10;
  for (const [cls, n] of Object.entries(counts)) {
    for (let i = 0; i < n; i++) {
      const v = (shade + i * 3) % 256;
      await writeImage(
        path.join(root, cls, `${cls}-${String(i).padStart(3, '0')}.${format === 'jpeg' ? 'jpg' : format}`),
        halves(8, 8, [v, v, v], [v, v, v]),
        8,
        8,
        {
          format,
        },
      );
    }
    shade += 100;
  }
}

/** Preprocessing options for the decoder: 4x4 RGB, stretched, uncropped, unless `over` says otherwise. */
export function preprocessing(over: Partial<Preprocessing> = {}): Preprocessing {
  return { size: [4, 4], fit: 'fill', center_crop: 1, color: 'rgb', ...over };
}

/** A w x h RGB image of seeded noise over a gradient: every pixel differs from its neighbours. */
export function noise(w: number, h: number): Buffer {
  const data = Buffer.alloc(w * h * 3);
  let s = 1;
  for (let i = 0; i < data.length; i++) {
    s = (s * 16807) % 2147483647;
    data[i] = (((i / 3) % w) * 0.7 + Math.floor(i / 3 / w) * 0.5 + (s % 40)) & 255;
  }
  return data;
}
