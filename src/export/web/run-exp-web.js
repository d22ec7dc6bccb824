// @ts-nocheck: browser code (the global `tf` of tf.min.js), checked by the tests that run it.
// run-exp's preprocessing and prediction in a browser, for a model exported by
// `run-exp export --format web`: the steps of run-exp's JPEG path
// (native/jpeg/jpeg.cc: EXIF orientation, a JPEG's shrink by 2, 4 or 8 on
// decode, centre crop, fit, an antialiased Lanczos-3 per axis), the face crop
// (BlazeFace, the largest face, margin, eyes levelled, fill), the
// normalization table of src/data/normalize.ts, and the test-time flip. The model and its
// metadata come from model/model.json; `tf` is the global of tf.min.js.
/* global tf */

/** The Lanczos-3 kernel. */
function lanczos3(x) {
  const a = Math.abs(x);
  if (a < 1e-9) return 1;
  if (a >= 3) return 0;
  const px = Math.PI * a;
  return (3 * Math.sin(px) * Math.sin(px / 3)) / (px * px);
}

/** C's rint: to the nearest whole number, halves to even. */
function rint(v) {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** For each of `out` outputs over the input span [in0, in1) of an axis `inSize` long: first input and weights (antialiased). */
function axisWeights(inSize, in0, in1, out) {
  const scale = (in1 - in0) / out;
  const filterScale = Math.max(scale, 1);
  const support = 3 * filterScale;
  const stride = Math.ceil(support) * 2 + 1;
  const axis = [];
  for (let i = 0; i < out; i++) {
    const centre = in0 + (i + 0.5) * scale;
    const lo = Math.min(inSize - 1, Math.max(0, Math.floor(centre - support + 0.5)));
    const hi = Math.min(Math.min(inSize, lo + stride), Math.max(lo + 1, Math.floor(centre + support + 0.5)));
    const w = [];
    let sum = 0;
    for (let x = lo; x < hi; x++) {
      const v = lanczos3((x + 0.5 - centre) / filterScale);
      w.push(v);
      sum += v;
    }
    axis.push({ first: lo, weights: w.map((v) => (sum !== 0 ? v / sum : 0)) });
  }
  return axis;
}

const toByte = (v) => Math.min(255, Math.max(0, Math.round(v)));

/** The image file as upright RGB values (EXIF orientation applied, alpha dropped). */
async function decode(file) {
  const bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(bitmap, 0, 0);
  const rgba = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
  const rgb = new Float32Array(bitmap.width * bitmap.height * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    rgb[j] = rgba[i];
    rgb[j + 1] = rgba[i + 1];
    rgb[j + 2] = rgba[i + 2];
  }
  return { rgb, width: bitmap.width, height: bitmap.height };
}

/** The mean of each ratio x ratio block: what libjpeg's scaled decode gives, near enough. */
function blockMean(rgb, w, h, ratio) {
  const bw = Math.ceil(w / ratio);
  const bh = Math.ceil(h / ratio);
  const out = new Float32Array(bw * bh * 3);
  for (let by = 0; by < bh; by++)
    for (let bx = 0; bx < bw; bx++) {
      let r = 0;
      let g = 0;
      let b = 0;
      let n = 0;
      for (let y = by * ratio; y < Math.min(h, (by + 1) * ratio); y++)
        for (let x = bx * ratio; x < Math.min(w, (bx + 1) * ratio); x++) {
          const k = (y * w + x) * 3;
          r += rgb[k];
          g += rgb[k + 1];
          b += rgb[k + 2];
          n++;
        }
      const o = (by * bw + bx) * 3;
      out[o] = Math.round(r / n);
      out[o + 1] = Math.round(g / n);
      out[o + 2] = Math.round(b / n);
    }
  return { rgb: out, width: bw };
}

/** The horizontal and vertical reduction from inW x inH to the model's size, as `fit` decides them. */
function fitShrinks(inW, inH, p) {
  const [th, tw] = p.size;
  const hs = inW / tw;
  const vs = inH / th;
  if (p.fit === 'cover') return [Math.min(hs, vs), Math.min(hs, vs)];
  if (p.fit === 'contain') return [Math.max(hs, vs), Math.max(hs, vs)];
  return [hs, vs];
}

/** One axis of libvips' reduce: Lanczos-3 widened by the reduction, centre convention, edges repeated, rounded. */
function reduceAxis(get, n, out, put) {
  const scale = n / out;
  const stretch = Math.max(scale, 1);
  for (let i = 0; i < out; i++) {
    const c = (i + 0.5) * scale - 0.5;
    let sum = 0;
    let weights = 0;
    for (let x = Math.floor(c - 3 * stretch); x <= Math.ceil(c + 3 * stretch); x++) {
      const w = lanczos3((x - c) / stretch);
      sum += w * get(Math.min(n - 1, Math.max(0, x)));
      weights += w;
    }
    put(i, toByte(sum / weights));
  }
}

/**
 * What sharp does to an image it cannot shrink on load (PNG, WebP, a face cut): libvips' resize with
 * its default gap of 2, a box shrink by floor(factor / 2) per axis, then a Lanczos-3 reduce,
 * vertical then horizontal, rounded to bytes after each; cover cuts the centre, contain embeds.
 */
function resampleRaw(decoded, p) {
  const [th, tw] = p.size;
  let { rgb, width: w, height: h } = decoded;
  const centre = p.center_crop ?? 1;
  if (centre < 1) {
    const cw = Math.max(1, Math.round(w * centre));
    const ch = Math.max(1, Math.round(h * centre));
    const left = Math.floor((w - cw) / 2);
    const top = Math.floor((h - ch) / 2);
    const cut = new Float32Array(cw * ch * 3);
    for (let y = 0; y < ch; y++)
      cut.set(rgb.subarray(((top + y) * w + left) * 3, ((top + y) * w + left + cw) * 3), y * cw * 3);
    [rgb, w, h] = [cut, cw, ch];
  }
  const [hs, vs] = fitShrinks(w, h, p);
  const rw = p.fit === 'fill' ? tw : Math.max(1, Math.round(w / hs));
  const rh = p.fit === 'fill' ? th : Math.max(1, Math.round(h / vs));
  const kx = Math.max(1, Math.floor(w / rw / 2));
  const ky = Math.max(1, Math.floor(h / rh / 2));
  const sw = Math.floor(w / kx);
  const sh = Math.floor(h / ky);
  const shrunk = new Float32Array(sw * sh * 3);
  for (let y = 0; y < sh; y++)
    for (let x = 0; x < sw; x++)
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (let j = 0; j < ky; j++) for (let i = 0; i < kx; i++) sum += rgb[((y * ky + j) * w + x * kx + i) * 3 + c];
        shrunk[(y * sw + x) * 3 + c] = Math.round(sum / (kx * ky));
      }
  const mid = new Float32Array(sw * rh * 3);
  for (let x = 0; x < sw; x++)
    for (let c = 0; c < 3; c++)
      reduceAxis(
        (y) => shrunk[(y * sw + x) * 3 + c],
        sh,
        rh,
        (y, v) => {
          mid[(y * sw + x) * 3 + c] = v;
        },
      );
  const sized = new Uint8Array(rw * rh * 3);
  for (let y = 0; y < rh; y++)
    for (let c = 0; c < 3; c++)
      reduceAxis(
        (x) => mid[(y * sw + x) * 3 + c],
        sw,
        rw,
        (x, v) => {
          sized[(y * rw + x) * 3 + c] = v;
        },
      );
  if (rw === tw && rh === th) return sized;
  const out = new Uint8Array(th * tw * 3);
  // cover: the centre of the larger image; contain: the image in the centre of a black one.
  const [fromX, fromY, toX, toY] =
    p.fit === 'cover'
      ? [Math.ceil((rw - tw) / 2), Math.ceil((rh - th) / 2), 0, 0]
      : [0, 0, Math.floor((tw - rw) / 2), Math.floor((th - rh) / 2)];
  for (let y = 0; y < Math.min(th, rh); y++)
    for (let x = 0; x < Math.min(tw, rw); x++)
      for (let c = 0; c < 3; c++)
        out[((toY + y) * tw + toX + x) * 3 + c] = sized[((fromY + y) * rw + fromX + x) * 3 + c];
  return out;
}

/**
 * An upright RGB image resampled to `p.size` (height, width) as run-exp does: a JPEG file (`jpeg`)
 * as run-exp's JPEG path (native/jpeg/jpeg.cc, itself sharp's pipeline with shrink-on-load): shrunk
 * by 2, 4 or 8 as libjpeg would, the centre crop, fit, one antialiased Lanczos-3 pass per axis;
 * anything else as sharp resizes it (resampleRaw).
 */
export function resample(decoded, p, jpeg) {
  if (!jpeg) return resampleRaw(decoded, p);
  return resampleJpeg(decoded, p);
}

/** The shrink by 2, 4 or 8 that libjpeg applies on decode for this resize (1: none), as sharp chooses it. */
function loadShrink(decoded, p) {
  if ((p.center_crop ?? 1) < 1) return 1;
  const common = Math.min(...fitShrinks(decoded.width, decoded.height, p));
  let ratio = common >= 8 ? 8 : common >= 4 ? 4 : common >= 2 ? 2 : 1;
  if (ratio > 1 && Math.trunc(common) === ratio) ratio /= 2;
  return ratio;
}

/**
 * A JPEG file resized by sharp itself (what face detection and a face model's whole images get):
 * libjpeg's shrink on load (the block mean), then sharp's resize of what was decoded.
 */
function resampleSharpJpeg(decoded, p) {
  const ratio = loadShrink(decoded, p);
  if (ratio === 1) return resampleRaw(decoded, p);
  const { rgb, width: stride } = blockMean(decoded.rgb, decoded.width, decoded.height, ratio);
  const width = Math.floor(decoded.width / ratio);
  const height = Math.floor(decoded.height / ratio);
  const kept = new Float32Array(width * height * 3);
  for (let y = 0; y < height; y++) kept.set(rgb.subarray(y * stride * 3, (y * stride + width) * 3), y * width * 3);
  return resampleRaw({ rgb: kept, width, height }, p);
}

/** run-exp's own JPEG path (native/jpeg/jpeg.cc), which whole JPEGs take when the model has no face crop. */
function resampleJpeg(decoded, p) {
  const uw = decoded.width;
  const uh = decoded.height;
  const [th, tw] = p.size;
  const centre = p.center_crop ?? 1;
  const cw = Math.max(1, Math.round(uw * centre));
  const ch = Math.max(1, Math.round(uh * centre));
  const extract = centre < 1;
  const ratio = loadShrink(decoded, p);
  let img = decoded.rgb;
  let stride = uw;
  if (ratio > 1) ({ rgb: img, width: stride } = blockMean(decoded.rgb, uw, uh, ratio));
  const iw = Math.floor(uw / ratio);
  const ih = Math.floor(uh / ratio);
  const inW = extract ? cw : iw;
  const inH = extract ? ch : ih;
  let ox = extract ? Math.floor((uw - cw) / 2) : 0;
  let oy = extract ? Math.floor((uh - ch) / 2) : 0;
  const [hs, vs] = fitShrinks(inW, inH, p);
  const rw = p.fit === 'fill' ? tw : Math.max(1, rint(inW / hs));
  const rh = p.fit === 'fill' ? th : Math.max(1, rint(inH / vs));
  let dx = 0;
  let dy = 0;
  let dw = rw;
  let dh = rh;
  let left = 0;
  let top = 0;
  if (p.fit === 'cover') {
    dw = Math.min(rw, tw);
    dh = Math.min(rh, th);
    left = Math.trunc((rw - dw + 1) / 2);
    top = Math.trunc((rh - dh + 1) / 2);
  } else if (p.fit === 'contain') {
    dw = Math.min(rw, tw);
    dh = Math.min(rh, th);
    dx = Math.trunc((tw - dw) / 2);
    dy = Math.trunc((th - dh) / 2);
  }
  ox -= (rw * hs - inW) / 2;
  oy -= (rh * vs - inH) / 2;
  const ax = axisWeights(iw, ox + left * hs, ox + (left + dw) * hs, dw);
  const ay = axisWeights(ih, oy + top * vs, oy + (top + dh) * vs, dh);
  const out = new Uint8Array(th * tw * 3);
  const acc = new Float32Array(iw * 3);
  for (let j = 0; j < dh; j++) {
    acc.fill(0);
    const { first, weights } = ay[j];
    for (let n = 0; n < weights.length; n++) {
      const row = (first + n) * stride * 3;
      for (let x = 0; x < iw * 3; x++) acc[x] += weights[n] * img[row + x];
    }
    for (let i = 0; i < dw; i++) {
      const { first: fx, weights: wx } = ax[i];
      let r = 0;
      let g = 0;
      let b = 0;
      for (let n = 0; n < wx.length; n++) {
        const k = (fx + n) * 3;
        r += wx[n] * acc[k];
        g += wx[n] * acc[k + 1];
        b += wx[n] * acc[k + 2];
      }
      const o = ((dy + j) * tw + dx + i) * 3;
      out[o] = toByte(r);
      out[o + 1] = toByte(g);
      out[o + 2] = toByte(b);
    }
  }
  return out;
}

// ---- Face crop: BlazeFace as src/data/faces/blazeface.ts decodes it, the
// region of src/data/faces/crop.ts, cut and levelled as cutRegion does.

const SIZE = 256;
const FLOOR = 0.2;
const IOU = 0.3;
const MAX_FACES = 20;

function anchors() {
  const out = [];
  for (const [stride, perCell] of [
    [16, 2],
    [32, 6],
  ])
    for (let y = 0; y < SIZE / stride; y++)
      for (let x = 0; x < SIZE / stride; x++)
        for (let k = 0; k < perCell; k++) out.push([stride * (x + 0.5), stride * (y + 0.5)]);
  return out;
}
const ANCHORS = anchors();

function iou(a, b) {
  const w = Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  return (w * h) / (a[2] * a[3] + b[2] * b[3] - w * h);
}

function suppress(faces) {
  const kept = [];
  for (const f of faces.sort((a, b) => b.score - a.score)) {
    if (kept.length === MAX_FACES) break;
    if (kept.every((k) => iou(k.box, f.box) <= IOU)) kept.push(f);
  }
  return kept;
}

/** The faces BlazeFace finds in the image: boxes, scores and eyes in upright image pixels. */
async function detectFaces(detector, decoded, jpeg, pad) {
  const { width, height } = decoded;
  const scale = SIZE / (Math.max(width, height) * (1 + 2 * pad));
  const rw = Math.max(1, Math.min(SIZE, Math.round(width * scale)));
  const rh = Math.max(1, Math.min(SIZE, Math.round(height * scale)));
  const left = Math.floor((SIZE - rw) / 2);
  const top = Math.floor((SIZE - rh) / 2);
  const small = jpeg
    ? resampleSharpJpeg(decoded, { size: [rh, rw], fit: 'fill' })
    : resampleRaw(decoded, { size: [rh, rw], fit: 'fill' });
  const input = new Int32Array(SIZE * SIZE * 3);
  for (let y = 0; y < rh; y++)
    for (let x = 0; x < rw * 3; x++) input[((top + y) * SIZE + left) * 3 + x] = small[y * rw * 3 + x];
  const all = tf.tidy(() => {
    const x = tf.tensor4d(input, [1, SIZE, SIZE, 3], 'int32').toFloat().div(127.5).sub(1);
    const [s384, s512, r384, r512] = [...detector.execute(x)].sort((a, b) => a.size - b.size);
    return tf.concat([tf.concat([s512, r512], 2), tf.concat([s384, r384], 2)], 1);
  });
  const rows = await all.data();
  all.dispose();
  const sx = rw / width;
  const sy = rh / height;
  const found = [];
  for (let a = 0; a < ANCHORS.length; a++) {
    const r = rows.subarray(a * 17, (a + 1) * 17);
    const score = 1 / (1 + Math.exp(-r[0]));
    if (score < FLOOR) continue;
    const [ax, ay] = ANCHORS[a];
    const e0 = [r[5] + ax, r[6] + ay];
    const e1 = [r[7] + ax, r[8] + ay];
    found.push({
      box: [r[1] + ax - r[3] / 2, r[2] + ay - r[4] / 2, r[3], r[4]],
      score,
      eyes: e0[0] <= e1[0] ? [e0, e1] : [e1, e0],
    });
  }
  return suppress(found).map((f) => ({
    box: [(f.box[0] - left) / sx, (f.box[1] - top) / sy, f.box[2] / sx, f.box[3] / sy],
    score: f.score,
    eyes: f.eyes.map(([x, y]) => [(x - left) / sx, (y - top) / sy]),
  }));
}

/** A pixel index past an edge, as the fill says: null for black, else the index to read. */
function filled(i, size, fill) {
  if (i >= 0 && i < size) return i;
  if (fill === 'edge') return Math.min(size - 1, Math.max(0, i));
  if (fill === 'mirror') {
    const period = 2 * size;
    const m = ((i % period) + period) % period;
    return m < size ? m : period - 1 - m;
  }
  return null;
}

/**
 * The region's square cut out of the image as cutRegion does: the axis-aligned square that holds
 * it (filled where it leaves the image), turned by -angle about its centre (bilinear, black
 * outside), and its centre `round(side)` square kept.
 */
export function cutRegion(decoded, region) {
  const { width, height, rgb } = decoded;
  const turn = Math.abs(region.angle) > 1e-3;
  const reach = turn ? Math.abs(Math.cos(region.angle)) + Math.abs(Math.sin(region.angle)) : 1;
  const side = Math.max(1, Math.round(region.side * reach));
  const left = Math.round(region.cx - side / 2);
  const top = Math.round(region.cy - side / 2);
  const fill = region.fill ?? 'black';
  // The square, filled: reads of image pixels through `filled`.
  const at = (x, y, c) => {
    const ix = filled(x + left, width, fill);
    const iy = filled(y + top, height, fill);
    return ix === null || iy === null ? 0 : rgb[(iy * width + ix) * 3 + c];
  };
  if (!turn) {
    const out = new Float32Array(side * side * 3);
    for (let y = 0; y < side; y++)
      for (let x = 0; x < side; x++) for (let c = 0; c < 3; c++) out[(y * side + x) * 3 + c] = at(x, y, c);
    return { rgb: out, width: side, height: side };
  }
  // libvips' rotate (sharp.rotate(-angle)): X = a x + b y, Y = c x + d y about the square's corner, the
  // output the bounding box of its corners rounded to nearest, bilinear, then the centre cut out.
  const phi = -region.angle;
  const [a, b, c, d] = [Math.cos(phi), -Math.sin(phi), Math.sin(phi), Math.cos(phi)];
  const xs = [0, side * a, side * b, side * (a + b)];
  const ys = [0, side * c, side * d, side * (c + d)];
  const ol = Math.round(Math.min(...xs));
  const ot = Math.round(Math.min(...ys));
  const ow = Math.round(Math.max(...xs) - Math.min(...xs));
  const oh = Math.round(Math.max(...ys) - Math.min(...ys));
  const size = Math.max(1, Math.min(Math.round(region.side), ow, oh));
  const ex = Math.floor((ow - size) / 2) + ol;
  const ey = Math.floor((oh - size) / 2) + ot;
  const out = new Float32Array(size * size * 3);
  for (let v = 0; v < size; v++)
    for (let u = 0; u < size; u++) {
      // The inverse of the rotation is its transpose.
      const x = a * (u + ex) + c * (v + ey);
      const y = b * (u + ex) + d * (v + ey);
      const x0 = Math.floor(x);
      const y0 = Math.floor(y);
      const fx = x - x0;
      const fy = y - y0;
      for (let k = 0; k < 3; k++) {
        const px = (xx, yy) => (xx < 0 || yy < 0 || xx >= side || yy >= side ? 0 : at(xx, yy, k));
        const value =
          (1 - fy) * ((1 - fx) * px(x0, y0) + fx * px(x0 + 1, y0)) +
          fy * ((1 - fx) * px(x0, y0 + 1) + fx * px(x0 + 1, y0 + 1));
        out[(v * size + u) * 3 + k] = Math.round(value);
      }
    }
  return { rgb: out, width: size, height: size };
}

/**
 * The model input of one image file: [height, width, 3] bytes, as the run's preprocessing says;
 * with a face crop, also the face used ({ box, score }, null when none was found) or why there is
 * no input (`skip`).
 */
async function pixels(file, p, detector) {
  const head = new Uint8Array(await file.slice(0, 2).arrayBuffer());
  const jpeg = head[0] === 0xff && head[1] === 0xd8;
  const decoded = await decode(file);
  const crop = p.crop?.type === 'face' ? p.crop : null;
  if (!crop) return { bytes: resample(decoded, p, jpeg) };
  const faces = (await detectFaces(detector, decoded, jpeg, crop.pad ?? 0))
    .filter((f) => f.score >= crop.min_confidence)
    .sort((a, b) => b.box[2] * b.box[3] - a.box[2] * a.box[3]);
  const face = faces[0];
  if (!face) {
    if (crop.on_miss === 'skip') return { skip: 'no face found (crop.on_miss: skip)', face: null };
    const note = `no face found; predicted on the ${crop.on_miss === 'center' ? 'centred square' : 'whole image'}, as crop.on_miss is ${crop.on_miss}`;
    if (crop.on_miss !== 'center')
      return { bytes: jpeg ? resampleSharpJpeg(decoded, p) : resampleRaw(decoded, p), face: null, note };
    const side = Math.min(decoded.width, decoded.height);
    const cut = cutRegion(decoded, { cx: decoded.width / 2, cy: decoded.height / 2, side, angle: 0 });
    return { bytes: resampleRaw(cut, p), face: null, note };
  }
  const [x, y, w, h] = face.box;
  const [[lx, ly], [rx, ry]] = face.eyes;
  const region = {
    cx: x + w / 2,
    cy: y + h / 2,
    side: Math.max(w, h) * (1 + 2 * crop.margin),
    angle: crop.align ? Math.atan2(ry - ly, rx - lx) : 0,
    fill: crop.fill,
  };
  return {
    bytes: resampleRaw(cutRegion(decoded, region), p),
    face: { index: 0, box: face.box.map((v) => Math.round(v)), score: face.score },
  };
}

/** Bytes to the model's floats, through the same per-channel table as run-exp's normalization. */
function normalize(bytes, p) {
  const table = new Float32Array(256 * 3);
  for (let c = 0; c < 3; c++) {
    const mean = p.mean?.[c] ?? p.mean?.[0] ?? 0;
    const std = p.std?.[c] ?? p.std?.[0] ?? 1;
    for (let v = 0; v < 256; v++)
      table[c * 256 + v] =
        p.normalize === 'unit' ? v / 255 : p.normalize === 'symmetric' ? v / 127.5 - 1 : (v / 255 - mean) / std;
  }
  const out = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = table[(i % 3) * 256 + bytes[i]];
  return out;
}

/** Loads the exported model; `predict(file)` gives the label and the probability of each class. */
export async function loadModel(url = 'model/model.json', detectorUrl = 'detector/model.json') {
  await tf.setBackend('cpu');
  const model = await tf.loadLayersModel(url);
  const meta = model.getUserDefinedMetadata().run_exp;
  const p = meta.preprocessing;
  const [h, w] = p.size;
  const detector = p.crop?.type === 'face' ? await tf.loadGraphModel(detectorUrl) : null;
  return {
    classes: meta.classes,
    async predict(file) {
      const input = await pixels(file, p, detector);
      const about = {
        ...(input.face === undefined ? {} : { face: input.face }),
        ...(input.note ? { note: input.note } : {}),
      };
      if (input.skip) return { label: null, probabilities: null, ...about, note: input.skip };
      const x = normalize(input.bytes, p);
      const probs = tf.tidy(() => {
        const t = tf.tensor4d(x, [1, h, w, 3]);
        const y = model.predict(t);
        return meta.test_time_flip ? y.add(model.predict(tf.reverse(t, 2))).div(2) : y;
      });
      const scores = Array.from(await probs.data());
      probs.dispose();
      const best = scores.indexOf(Math.max(...scores));
      return {
        label: meta.classes[best],
        probabilities: Object.fromEntries(meta.classes.map((c, i) => [c, scores[i]])),
        ...about,
      };
    },
  };
}
