// One image file -> uint8 pixels of the configured size and colour, with sharp:
// JPEG, PNG, WebP, GIF (first frame), TIFF, AVIF; EXIF orientation applied;
// alpha dropped; optional centre crop; resize by cover, contain or fill.
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import type { Experiment } from '../config/experiment.ts';

export type Preprocessing = Pick<Experiment['data']['preprocessing'], 'size' | 'fit' | 'center_crop' | 'color'>;

export function channelsOf(p: Preprocessing): number {
  return p.color === 'rgb' ? 3 : 1;
}

/** Decodes `file` into exactly height * width * channels bytes, row-major HWC; throws on a bad file. */
export async function decodeImage(file: string, p: Preprocessing): Promise<Buffer> {
  const [height, width] = p.size;
  const input = await readFile(file);
  // failOn 'truncated': a cut-off JPEG or PNG is an error, not a grey half-image.
  let img = sharp(input, { failOn: 'truncated', pages: 1, autoOrient: true });
  if (p.center_crop < 1) {
    const meta = await img.metadata();
    const w = meta.autoOrient?.width ?? meta.width ?? 0;
    const h = meta.autoOrient?.height ?? meta.height ?? 0;
    const cw = Math.max(1, Math.round(w * p.center_crop));
    const ch = Math.max(1, Math.round(h * p.center_crop));
    img = img.extract({ left: Math.floor((w - cw) / 2), top: Math.floor((h - ch) / 2), width: cw, height: ch });
  }
  img = img.resize({ width, height, fit: p.fit, position: 'centre', background: { r: 0, g: 0, b: 0 } });
  img = p.color === 'rgb' ? img.removeAlpha().toColourspace('srgb') : img.removeAlpha().grayscale();
  const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
  const channels = channelsOf(p);
  if (info.width !== width || info.height !== height || info.channels !== channels) {
    throw new Error(
      `decoded to ${info.width}x${info.height}x${info.channels}, expected ${width}x${height}x${channels}`,
    );
  }
  return data;
}
