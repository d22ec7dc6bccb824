// One image file -> uint8 pixels of the configured size and colour, with sharp:
// JPEG, PNG, WebP, GIF (first frame), TIFF, AVIF; EXIF orientation applied;
// alpha dropped; optional centre crop or a region (a face) cut out first;
// resize by cover, contain or fill.

import sharp from 'sharp';
import type { Experiment } from '../spec/experiment.ts';
import { cutRegion, type RawImage, type Region } from './faces/crop.ts';
import { readBytes } from './read-bytes.ts';

type Full = Experiment['data']['preprocessing'];
/** What decoding needs; `crop` absent means none. */
export type Preprocessing = Pick<Full, 'size' | 'fit' | 'center_crop' | 'color'> & Partial<Pick<Full, 'crop'>>;

export function channelsOf(p: Pick<Preprocessing, 'color'>): number {
  return p.color === 'rgb' ? 3 : 1;
}

// failOn 'truncated': a cut-off JPEG or PNG is an error, not a grey half-image.
const open = (input: Buffer) => sharp(input, { failOn: 'truncated', pages: 1, autoOrient: true });

/** The whole image, upright, as RGB pixels: what face detection and cropping work on. */
export async function decodeRgb(file: string): Promise<RawImage> {
  const { data, info } = await open(await readBytes(file))
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected 3`);
  return { data, width: info.width, height: info.height };
}

/**
 * Decodes `file` into exactly height * width * channels bytes, row-major HWC;
 * with a `region`, only that square of the upright image. Throws on a bad file.
 */
export async function decodeImage(file: string, p: Preprocessing, region?: Region): Promise<Buffer> {
  const [height, width] = p.size;
  let img: sharp.Sharp;
  if (region) {
    const cut = await cutRegion(await decodeRgb(file), region);
    img = sharp(cut.data, { raw: { width: cut.width, height: cut.height, channels: 3 } });
  } else {
    img = open(await readBytes(file));
    if (p.center_crop < 1) {
      const meta = await img.metadata();
      const w = meta.autoOrient?.width ?? meta.width ?? 0;
      const h = meta.autoOrient?.height ?? meta.height ?? 0;
      const cw = Math.max(1, Math.round(w * p.center_crop));
      const ch = Math.max(1, Math.round(h * p.center_crop));
      img = img.extract({ left: Math.floor((w - cw) / 2), top: Math.floor((h - ch) / 2), width: cw, height: ch });
    }
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
