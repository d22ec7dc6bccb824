// The face cut's pixel work done in JS (fills, the final centre square, the detector's
// black border) against the sharp pipelines it replaced: byte for byte.
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { cutRegion, type RawImage, type Region } from '../../src/data/faces/crop.ts';
import { detectorInput } from '../../src/data/faces/locate.ts';
import { noise } from './fixtures.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const demo = path.join(root, 'node_modules', '@vladmandic', 'face-api', 'demo');

const EXTEND_WITH = { black: 'background', edge: 'copy', mirror: 'mirror' } as const;
const BLACK = { r: 0, g: 0, b: 0 };

/** The sharp pipelines cutRegion ran before: extract + extend, rotate, extract. */
async function sharpCut(img: RawImage, region: Region): Promise<Buffer> {
  const raw = { raw: { width: img.width, height: img.height, channels: 3 as const } };
  const turn = Math.abs(region.angle) > 1e-3;
  const reach = turn ? Math.abs(Math.cos(region.angle)) + Math.abs(Math.sin(region.angle)) : 1;
  const side = Math.max(1, Math.round(region.side * reach));
  const left = Math.round(region.cx - side / 2);
  const top = Math.round(region.cy - side / 2);
  const [x0, y0] = [Math.max(0, left), Math.max(0, top)];
  const [x1, y1] = [Math.min(img.width, left + side), Math.min(img.height, top + side)];
  const square =
    x1 <= x0 || y1 <= y0
      ? Buffer.alloc(side * side * 3)
      : await sharp(img.data, raw)
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
  if (!turn) return square;
  const r = await sharp(square, { raw: { width: side, height: side, channels: 3 } })
    .rotate((-region.angle * 180) / Math.PI, { background: BLACK })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const out = Math.max(1, Math.min(Math.round(region.side), r.info.width, r.info.height));
  return sharp(r.data, { raw: { width: r.info.width, height: r.info.height, channels: 3 } })
    .extract({
      left: Math.floor((r.info.width - out) / 2),
      top: Math.floor((r.info.height - out) / 2),
      width: out,
      height: out,
    })
    .raw()
    .toBuffer();
}

describe('the face cut in JS', () => {
  it("cuts regions as sharp's extract, extend (black, edge, mirror), rotate and extract do, byte for byte", async () => {
    const img = { data: noise(200, 170), width: 200, height: 170 };
    // Inside; over one edge; over a corner; wider than the image (fills wider than the part they
    // mirror); a sliver inside; wholly outside.
    const places = [
      [100.2, 85.7, 90.4],
      [12.3, 80.1, 120.6],
      [190.5, 160.2, 100.3],
      [100, 85, 420.2],
      [-40.4, 85, 95.1],
      [-300, -300, 50],
    ] as const;
    for (const [cx, cy, side] of places)
      for (const angle of [0, 0.2, -0.45])
        for (const fill of ['black', 'edge', 'mirror'] as const) {
          const region = { cx, cy, side, angle, fill };
          const want = await sharpCut(img, region);
          const got = await cutRegion(img, region);
          expect(got.data.length, JSON.stringify(region)).toBe(want.length);
          expect(got.data.equals(want), JSON.stringify(region)).toBe(true);
        }
  });

  it("gives the detector sharp's resize and black border, byte for byte", async () => {
    for (const [file, size, pad] of [
      ['sample1.jpg', 256, 0.25],
      ['sample3.jpg', 128, 0.25],
      ['sample5.jpg', 128, 0],
    ] as const) {
      const full = path.join(demo, file);
      const got = await detectorInput(full, size, pad);
      const { data, info } = await sharp(full).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const scale = size / (Math.max(info.width, info.height) * (1 + 2 * pad));
      const rw = Math.max(1, Math.min(size, Math.round(info.width * scale)));
      const rh = Math.max(1, Math.min(size, Math.round(info.height * scale)));
      const [left, top] = [Math.floor((size - rw) / 2), Math.floor((size - rh) / 2)];
      const want = await sharp(data, { raw: { width: info.width, height: info.height, channels: 3 } })
        .resize({ width: rw, height: rh, fit: 'fill' })
        .extend({ left, top, right: size - rw - left, bottom: size - rh - top, background: BLACK })
        .raw()
        .toBuffer();
      expect(Buffer.from(got.pixels).equals(want), file).toBe(true);
    }
  });
});
