// From a detected face to the square region of the image the model sees: the
// face box grown by the margin, optionally rotated so that the eyes are level.
import sharp from 'sharp';
import type { Face } from '../../spec/detectors.ts';
import type { CropFill, FaceCrop } from '../../spec/experiment.ts';

/** A square in image pixels: centre, side, the rotation (radians) that levels the eyes, and what fills it outside the image (black unless set). */
export interface Region {
  cx: number;
  cy: number;
  side: number;
  angle: number;
  fill?: CropFill;
}

export interface RawImage {
  data: Buffer;
  width: number;
  height: number;
}

/** The faces scored at least `minConfidence`, largest first. */
export function rankFaces(faces: Face[], minConfidence: number): Face[] {
  return faces.filter((f) => f.score >= minConfidence).sort((a, b) => b.box[2] * b.box[3] - a.box[2] * a.box[3]);
}

/** The face a crop uses: the largest one at or above `min_confidence`, or null. */
export function chooseFace(faces: Face[], minConfidence: number): Face | null {
  return rankFaces(faces, minConfidence)[0] ?? null;
}

export function faceRegion(face: Face, crop: Pick<FaceCrop, 'margin' | 'align'> & { fill?: CropFill }): Region {
  const [x, y, w, h] = face.box;
  const [[lx, ly], [rx, ry]] = face.eyes;
  return {
    cx: x + w / 2,
    cy: y + h / 2,
    side: Math.max(w, h) * (1 + 2 * crop.margin),
    angle: crop.align ? Math.atan2(ry - ly, rx - lx) : 0,
    fill: crop.fill,
  };
}

/** The fraction of a region's square that lies outside a width x height image (filled by `fill`); rotation ignored. */
export function outsideFraction(region: Region, width: number, height: number): number {
  const half = region.side / 2;
  const span = (c: number, size: number) => Math.max(0, Math.min(c + half, size) - Math.max(c - half, 0));
  return 1 - (span(region.cx, width) * span(region.cy, height)) / (region.side * region.side);
}

/** The largest centred square: what `on_miss: center` crops. */
export function centerRegion(width: number, height: number): Region {
  return { cx: width / 2, cy: height / 2, side: Math.min(width, height), angle: 0 };
}

const BLACK = { r: 0, g: 0, b: 0 };

/** Where a pixel index past an edge of [0, size) reads, as libvips' extend does: -1 for black. */
function fillIndex(i: number, size: number, fill: CropFill): number {
  if (i >= 0 && i < size) return i;
  if (fill === 'edge') return Math.min(size - 1, Math.max(0, i));
  if (fill === 'mirror') {
    const period = 2 * size;
    const m = ((i % period) + period) % period;
    return m < size ? m : period - 1 - m;
  }
  return -1;
}

/**
 * The width x height window of `img` from (left, top), where it leaves the image filled
 * as `fill` says from the image's part [x0, x1) x [y0, y1): what sharp's extract of that
 * part and extend give (byte for byte), by row copies rather than a pipeline.
 */
export function windowOf(
  img: RawImage,
  part: { x0: number; y0: number; x1: number; y1: number },
  at: { left: number; top: number; width: number; height: number },
  fill: CropFill,
): RawImage {
  const { width, height } = at;
  const out = Buffer.alloc(width * height * 3);
  const cols = Int32Array.from({ length: width }, (_, x) => {
    const i = fillIndex(at.left + x - part.x0, part.x1 - part.x0, fill);
    return i < 0 ? -1 : part.x0 + i;
  });
  // The columns that read the part's own pixels in order: one copy per row; the rest pixel by pixel.
  const first = Math.max(0, part.x0 - at.left);
  const last = Math.min(width, part.x1 - at.left);
  const run = last > first;
  const spans = run ? [[0, first] as const, [last, width] as const] : [[0, width] as const];
  for (let y = 0; y < height; y++) {
    const r = fillIndex(at.top + y - part.y0, part.y1 - part.y0, fill);
    if (r < 0) continue;
    const row = (part.y0 + r) * img.width;
    if (run) img.data.copy(out, (y * width + first) * 3, (row + at.left + first) * 3, (row + at.left + last) * 3);
    for (const [from, to] of spans)
      for (let x = from; x < to; x++) {
        const c = cols[x] as number;
        if (c < 0) continue;
        const [o, src] = [(y * width + x) * 3, (row + c) * 3];
        out[o] = img.data[src] as number;
        out[o + 1] = img.data[src + 1] as number;
        out[o + 2] = img.data[src + 2] as number;
      }
  }
  return { data: out, width, height };
}

/**
 * Cuts `region` out of an RGB image into a side x side square (filled as
 * `region.fill` says where it leaves the image), rotated by -angle about its centre so a tilted face ends
 * upright. Returns raw RGB pixels of the square.
 */
export async function cutRegion(img: RawImage, region: Region): Promise<RawImage> {
  const turn = Math.abs(region.angle) > 1e-3;
  // With a rotation, first cut the axis-aligned square that holds the rotated one.
  const reach = turn ? Math.abs(Math.cos(region.angle)) + Math.abs(Math.sin(region.angle)) : 1;
  const side = Math.max(1, Math.round(region.side * reach));
  const left = Math.round(region.cx - side / 2);
  const top = Math.round(region.cy - side / 2);
  const part = {
    x0: Math.max(0, left),
    y0: Math.max(0, top),
    x1: Math.min(img.width, left + side),
    y1: Math.min(img.height, top + side),
  };
  const square =
    part.x1 <= part.x0 || part.y1 <= part.y0
      ? { data: Buffer.alloc(side * side * 3), width: side, height: side }
      : windowOf(img, part, { left, top, width: side, height: side }, region.fill ?? 'black');
  if (!turn) return square;
  const rotated = await sharp(square.data, { raw: { width: side, height: side, channels: 3 } })
    .rotate((-region.angle * 180) / Math.PI, { background: BLACK })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const { width, height } = rotated.info;
  const out = Math.max(1, Math.min(Math.round(region.side), width, height));
  const inside = { x0: 0, y0: 0, x1: width, y1: height };
  const centre = { left: Math.floor((width - out) / 2), top: Math.floor((height - out) / 2), width: out, height: out };
  return windowOf({ data: rotated.data, width, height }, inside, centre, 'black');
}
