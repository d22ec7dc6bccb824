// Face-aware cropping on real photos that an npm package ships (the group
// photos of @vladmandic/face-api's demo) and on images the tests make from them.
import { copyFileSync, mkdirSync, statSync, utimesSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { facesLine } from '../../src/cli/faces-line.ts';
import { loadPixels } from '../../src/data/cache.ts';
import { decodeImage, type Preprocessing } from '../../src/data/decode.ts';
import { centerRegion, chooseFace, faceRegion, outsideFraction } from '../../src/data/faces/crop.ts';
import { locateFaces } from '../../src/data/faces/locate.ts';
import type { Face } from '../../src/spec/detectors.ts';
import type { FaceCrop } from '../../src/spec/experiment.ts';
import { tempDir } from './fixtures.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const demo = path.join(root, 'node_modules', '@vladmandic', 'face-api', 'demo');
/** Three women side by side, 1920x1280. */
const group = path.join(demo, 'sample1.jpg');

const CROP: FaceCrop = {
  type: 'face',
  detector: 'blazeface',
  margin: 0,
  min_confidence: 0.5,
  align: true,
  fill: 'black',
  on_miss: 'keep',
  pad: 0.25,
};

const stamp = (file: string) => ({ path: file, size: statSync(file).size, mtimeMs: statSync(file).mtimeMs });

async function facesIn(file: string, crop: FaceCrop = CROP, cacheDir = tempDir()): Promise<Face[]> {
  const located = await locateFaces([stamp(file)], crop, { cacheDir });
  return (located.faces.get(file)?.faces ?? []).filter((f) => f.score >= crop.min_confidence);
}

const eyeAngle = (f: Face) => {
  const [[lx, ly], [rx, ry]] = f.eyes;
  return (Math.atan2(ry - ly, rx - lx) * 180) / Math.PI;
};

/** A square cut of `file` around `face`: `side` times the face box, the face filling it when side < 1. */
async function cutAround(file: string, face: Face, side: number, out: string, rotate = 0): Promise<string> {
  const [x, y, w, h] = face.box;
  const s = Math.round(Math.max(w, h) * side);
  let img = sharp(file).extract({
    left: Math.round(x + w / 2 - s / 2),
    top: Math.round(y + h / 2 - s / 2),
    width: s,
    height: s,
  });
  if (rotate) img = sharp(await img.png().toBuffer()).rotate(rotate, { background: '#808080' });
  await img.resize(300, 300).jpeg({ quality: 95 }).toFile(out);
  return out;
}

describe('face detection', () => {
  it('finds the three faces of a group photo, each box around its two eyes', async () => {
    const faces = (await facesIn(group)).sort((a, b) => a.box[0] - b.box[0]);
    expect(faces).toHaveLength(3);
    // Face centres by eye, at full size: (517, 505), (944, 550), (1581, 346).
    const centres = faces.map((f) => [f.box[0] + f.box[2] / 2, f.box[1] + f.box[3] / 2]);
    for (const [i, [cx, cy]] of [
      [517, 505],
      [944, 550],
      [1581, 346],
    ].entries()) {
      expect(
        Math.hypot((centres[i]?.[0] as number) - (cx as number), (centres[i]?.[1] as number) - (cy as number)),
      ).toBeLessThan(30);
    }
    for (const f of faces) {
      expect(f.box[2]).toBeGreaterThan(120);
      expect(f.box[2]).toBeLessThan(260);
      for (const [ex, ey] of f.eyes) {
        expect(ex).toBeGreaterThan(f.box[0]);
        expect(ex).toBeLessThan(f.box[0] + f.box[2]);
        expect(ey).toBeGreaterThan(f.box[1]);
        expect(ey).toBeLessThan(f.box[1] + f.box[3] / 2 + 5);
      }
      expect(f.eyes[0][0]).toBeLessThan(f.eyes[1][0]);
    }
    // The largest is the one a crop uses.
    expect(chooseFace(faces, 0.5)).toBe([...faces].sort((a, b) => b.box[2] * b.box[3] - a.box[2] * a.box[3])[0]);
  });

  it('padding before detection finds a tight crop (a face filling the frame, as in UTKFace) with confidence', async () => {
    const dir = tempDir();
    const [face] = (await facesIn(group)).sort((a, b) => b.score - a.score);
    const tight = await cutAround(group, face as Face, 0.7, path.join(dir, 'tight.jpg'));
    const strict = { ...CROP, min_confidence: 0.75 };
    expect(await facesIn(tight, { ...strict, pad: 0 })).toHaveLength(0);
    const padded = await facesIn(tight, strict);
    expect(padded).toHaveLength(1);
    // The face fills the 300x300 frame: its box is about as large as the image.
    expect((padded[0] as Face).box[2]).toBeGreaterThan(250);
    // So any margin reaches past the image: the crop says how much of it is black.
    const region = (margin: number) => faceRegion(padded[0] as Face, { margin, align: false });
    expect(outsideFraction(region(0), 300, 300)).toBeLessThan(0.25);
    expect(outsideFraction(region(0.25), 300, 300)).toBeGreaterThan(outsideFraction(region(0), 300, 300) + 0.2);
    expect(outsideFraction({ cx: 50, cy: 50, side: 100, angle: 0 }, 100, 100)).toBe(0);
    expect(outsideFraction({ cx: 0, cy: 50, side: 100, angle: 0 }, 100, 100)).toBe(0.5);
  });

  it('blazeface_short (128x128) finds the face of a portrait where blazeface does (eyes within a quarter of their distance), and a tight crop', async () => {
    const dir = tempDir();
    const short: FaceCrop = { ...CROP, detector: 'blazeface_short' };
    const faces = (await facesIn(group)).sort((a, b) => b.score - a.score);
    for (const [i, face] of faces.entries()) {
      // Portrait framing: the face about half the frame.
      const portrait = await cutAround(group, face, 2, path.join(dir, `portrait${i}.jpg`));
      const [full] = (await facesIn(portrait)) as [Face];
      const found = await facesIn(portrait, short);
      expect(found, portrait).toHaveLength(1);
      const [[lx, ly], [rx, ry]] = full.eyes;
      for (const [k, [x, y]] of (found[0] as Face).eyes.entries()) {
        const [ex, ey] = full.eyes[k] as [number, number];
        expect(Math.hypot(x - ex, y - ey), `${portrait} eye ${k}`).toBeLessThan(Math.hypot(rx - lx, ry - ly) / 4);
      }
      // A face filling the frame, as in UTKFace: found with the padding, both eyes inside its box.
      const tight = await cutAround(group, face, 1, path.join(dir, `tight${i}.jpg`));
      const [t, ...more] = await facesIn(tight, short);
      expect(more, tight).toHaveLength(0);
      for (const [x, y] of (t as Face).eyes) {
        expect(x).toBeGreaterThan((t as Face).box[0]);
        expect(x).toBeLessThan((t as Face).box[0] + (t as Face).box[2]);
        expect(y).toBeGreaterThan((t as Face).box[1]);
        expect(y).toBeLessThan((t as Face).box[1] + (t as Face).box[3] / 2 + 5);
      }
    }
  });

  it('the eyes it finds turn with the face: a photo turned by 20 degrees gives eyes about 20 degrees steeper', async () => {
    const dir = tempDir();
    const [face] = (await facesIn(group)).sort((a, b) => b.score - a.score);
    const upright = await cutAround(group, face as Face, 2, path.join(dir, 'upright.jpg'));
    const turned = await cutAround(group, face as Face, 2, path.join(dir, 'turned.jpg'), 20);
    const [u] = await facesIn(upright);
    const [t] = await facesIn(turned);
    // sharp turns clockwise: the right eye goes down by about 20 degrees.
    expect(eyeAngle(t as Face) - eyeAngle(u as Face)).toBeGreaterThan(15);
    expect(eyeAngle(t as Face) - eyeAngle(u as Face)).toBeLessThan(25);
  });

  it('align: the cut is turned so that the eyes end level (two dots as eyes, 20 degrees apart)', async () => {
    const dir = tempDir();
    const raw = Buffer.alloc(200 * 200);
    const rise = 60 * Math.tan((20 * Math.PI) / 180);
    const eyes: Face['eyes'] = [
      [70, 90],
      [130, 90 + rise],
    ];
    for (const [ex, ey] of eyes)
      for (let y = -3; y <= 3; y++)
        for (let x = -3; x <= 3; x++) raw[Math.round(ey + y) * 200 + Math.round(ex + x)] = 255;
    const file = path.join(dir, 'dots.png');
    await sharp(raw, { raw: { width: 200, height: 200, channels: 1 } })
      .png()
      .toFile(file);
    const face: Face = { box: [50, 50, 100, 100], score: 1, eyes };
    const p: Preprocessing = { size: [120, 120], fit: 'fill', center_crop: 1, color: 'grayscale' };
    /** Centre of the bright pixels in the left and right halves. */
    const dots = (px: Buffer) =>
      [0, 60].map((x0) => {
        let n = 0;
        let sy = 0;
        for (let y = 0; y < 120; y++)
          for (let x = x0; x < x0 + 60; x++)
            if ((px[y * 120 + x] as number) > 100) {
              n++;
              sy += y;
            }
        return sy / n;
      });
    const [ly, ry] = dots(await decodeImage(file, p, faceRegion(face, { margin: 0.2, align: true })));
    expect(Math.abs((ly as number) - (ry as number))).toBeLessThan(1.5);
    const [uy, vy] = dots(await decodeImage(file, p, faceRegion(face, { margin: 0.2, align: false })));
    expect((vy as number) - (uy as number)).toBeGreaterThan(15);
  });
  it('fill: the part of a crop outside the image is black, the edge pixels repeated, or the image mirrored', async () => {
    // 100x100, red rising left to right, green top to bottom, blue 200: no pixel is dark.
    const raw = Buffer.alloc(100 * 100 * 3);
    for (let y = 0; y < 100; y++)
      for (let x = 0; x < 100; x++) raw.set([50 + 2 * x, 50 + 2 * y, 200], (y * 100 + x) * 3);
    const file = path.join(tempDir(), 'ramp.png');
    await sharp(raw, { raw: { width: 100, height: 100, channels: 3 } })
      .png()
      .toFile(file);
    const p: Preprocessing = { size: [60, 60], fit: 'fill', center_crop: 1, color: 'rgb' };
    // A 60x60 square whose right half (x 100-130) lies outside the image; then the same square turned by 10 degrees.
    const cut = (fill: 'black' | 'edge' | 'mirror', angle = 0) =>
      decodeImage(file, p, { cx: 100, cy: 50, side: 60, angle: (angle * Math.PI) / 180, fill });
    const at = (px: Buffer, x: number, y: number) => Array.from(px.subarray((y * 60 + x) * 3, (y * 60 + x) * 3 + 3));
    const black = await cut('black');
    expect(at(black, 45, 30)).toEqual([0, 0, 0]);
    expect(at(black, 15, 30)[2]).toBe(200);
    // Column 45 of the cut is x = 115 of the image: repeated edge x = 99, mirrored x = 84 (libvips mirrors about the edge pixel's outer side).
    const edge = await cut('edge');
    expect(at(edge, 45, 30)[0]).toBeCloseTo(50 + 2 * 99, -1);
    const mirror = await cut('mirror');
    expect(Math.abs((at(mirror, 45, 30)[0] as number) - (50 + 2 * 84))).toBeLessThanOrEqual(3);
    expect(at(mirror, 45, 30)[1]).toBe(at(black, 15, 30)[1]);
    // Turned: the corners come from inside the first, wider cut, so no black enters either way.
    /** Pixels whose blue (200 everywhere in the image) is gone: filled black. */
    const dark = (px: Buffer) => px.filter((v, i) => i % 3 === 2 && v < 150).length;
    for (const fill of ['edge', 'mirror'] as const) expect(dark(await cut(fill, 10))).toBe(0);
    expect(dark(await cut('black', 10))).toBeGreaterThan(60 * 25);
  });
  it('the data line says how much of a crop lies outside its image, and with black what would fill it instead', () => {
    const stats = { images: 10, found: 10, detected: 10, reused: 0, outside: 0.121 };
    expect(facesLine({ ...stats, fill: 'black' })).toContain(
      '12.1% of the average crop lies outside its image (black)',
    );
    expect(facesLine({ ...stats, fill: 'black' })).toContain('crop.fill: mirror');
    expect(facesLine({ ...stats, fill: 'mirror' })).toContain('(filled: mirror)');
  });
});

describe('face crops through the pixel cache', () => {
  async function setup() {
    const dir = tempDir();
    const images = path.join(dir, 'images');
    mkdirSync(images, { recursive: true });
    const face = path.join(images, 'group.jpg');
    copyFileSync(group, face);
    // No face: a smooth colour gradient, 120x80.
    const raw = Buffer.alloc(120 * 80 * 3);
    for (let i = 0; i < 120 * 80; i++) raw.set([i % 120, 80, (i / 120) * 3], i * 3);
    const blank = path.join(images, 'blank.png');
    await sharp(raw, { raw: { width: 120, height: 80, channels: 3 } })
      .png()
      .toFile(blank);
    return { dir, face, blank, items: [face, blank].map((p, label) => ({ path: p, label })) };
  }
  const p = (crop: Partial<FaceCrop>): Preprocessing => ({
    size: [32, 32],
    fit: 'fill',
    center_crop: 1,
    color: 'rgb',
    crop: { ...CROP, ...crop },
  });

  it('on_miss: keep uses the whole image, center its centred square, skip leaves it out and lists it', async () => {
    const { dir, face, blank, items } = await setup();
    const cacheDir = path.join(dir, 'cache');
    const keep = await loadPixels(items, p({ on_miss: 'keep' }), { cacheDir });
    expect(keep.faces).toMatchObject({ images: 2, found: 1 });
    expect(keep.items.map((i) => i.path)).toEqual([face, blank]);
    const whole = await decodeImage(blank, { size: [32, 32], fit: 'fill', center_crop: 1, color: 'rgb' });
    expect(Buffer.from(keep.pixels.subarray(keep.imageBytes))).toEqual(whole);

    const center = await loadPixels(items, p({ on_miss: 'center' }), { cacheDir });
    const square = await decodeImage(
      blank,
      { size: [32, 32], fit: 'fill', center_crop: 1, color: 'rgb' },
      centerRegion(120, 80),
    );
    expect(Buffer.from(center.pixels.subarray(center.imageBytes))).toEqual(square);
    expect(square).not.toEqual(whole);

    const skip = await loadPixels(items, p({ on_miss: 'skip' }), { cacheDir });
    expect(skip.items.map((i) => i.path)).toEqual([face]);
    expect(skip.bad).toEqual([{ path: blank, reason: 'no face found (crop.on_miss: skip)', no_face: true }]);
    // The face image is its largest face, not the whole photo.
    expect(Buffer.from(skip.pixels)).not.toEqual(
      await decodeImage(face, { size: [32, 32], fit: 'fill', center_crop: 1, color: 'rgb' }),
    );
  });

  it('a second run detects nothing and decodes nothing; another margin re-crops from the cached boxes; a touched file is found by content, a changed one detected again', async () => {
    const { dir, face, items } = await setup();
    const cacheDir = path.join(dir, 'cache');
    const first = await loadPixels(items, p({}), { cacheDir });
    expect(first.faces).toMatchObject({ detected: 2, reused: 0 });
    const second = await loadPixels(items, p({}), { cacheDir });
    expect(second.faces).toMatchObject({ detected: 0, reused: 2 });
    expect(second.decoded).toBe(0);
    expect(Buffer.from(second.pixels)).toEqual(Buffer.from(first.pixels));
    const wider = await loadPixels(items, p({ margin: 0.3 }), { cacheDir });
    expect(wider.faces).toMatchObject({ detected: 0, reused: 2 });
    expect(wider.decoded).toBe(2);
    // New times, same bytes (a copied or re-provisioned data set): found by content.
    const later = new Date(Date.now() + 5000);
    utimesSync(face, later, later);
    const touched = await loadPixels(items, p({}), { cacheDir });
    expect(touched.faces).toMatchObject({ detected: 0, reused: 2 });
    expect(touched.decoded).toBe(0);
    // New bytes: detected and decoded again.
    await sharp(group).flop().jpeg().toFile(face);
    const changed = await loadPixels(items, p({}), { cacheDir });
    expect(changed.faces).toMatchObject({ detected: 1, reused: 1 });
    expect(changed.decoded).toBe(1);
  });
});
