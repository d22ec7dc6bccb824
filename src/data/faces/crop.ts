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
const EXTEND_WITH = { black: 'background', edge: 'copy', mirror: 'mirror' } as const;

/**
 * Cuts `region` out of an RGB image into a side x side square (filled as
 * `region.fill` says where it leaves the image), rotated by -angle about its centre so a tilted face ends
 * upright. Returns raw RGB pixels of the square.
 */
export async function cutRegion(img: RawImage, region: Region): Promise<RawImage> {
  const raw = { raw: { width: img.width, height: img.height, channels: 3 as const } };
  const turn = Math.abs(region.angle) > 1e-3;
  // With a rotation, first cut the axis-aligned square that holds the rotated one.
  const reach = turn ? Math.abs(Math.cos(region.angle)) + Math.abs(Math.sin(region.angle)) : 1;
  const side = Math.max(1, Math.round(region.side * reach));
  const left = Math.round(region.cx - side / 2);
  const top = Math.round(region.cy - side / 2);
  const x0 = Math.max(0, left);
  const y0 = Math.max(0, top);
  const x1 = Math.min(img.width, left + side);
  const y1 = Math.min(img.height, top + side);
  let square: Buffer;
  if (x1 <= x0 || y1 <= y0) {
    square = Buffer.alloc(side * side * 3);
  } else {
    square = await sharp(img.data, raw)
      .extract({ left: x0, top: y0, width: x1 - x0, height: y1 - y0 })
      .extend({
        left: x0 - left,
        top: y0 - top,
        right: left + side - x1,
        bottom: top + side - y1,
        background: BLACK,
        extendWith: EXTEND_WITH[region.fill ?? 'black'],
      })
      .raw()
      .toBuffer();
  }
  if (!turn) return { data: square, width: side, height: side };
  const rotated = await sharp(square, { raw: { width: side, height: side, channels: 3 } })
    .rotate((-region.angle * 180) / Math.PI, { background: BLACK })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const out = Math.max(1, Math.min(Math.round(region.side), rotated.info.width, rotated.info.height));
  const data = await sharp(rotated.data, {
    raw: { width: rotated.info.width, height: rotated.info.height, channels: 3 },
  })
    .extract({
      left: Math.floor((rotated.info.width - out) / 2),
      top: Math.floor((rotated.info.height - out) / 2),
      width: out,
      height: out,
    })
    .raw()
    .toBuffer();
  return { data, width: out, height: out };
}
