// @ts-nocheck: browser code (the global `tf` of tf.min.js), checked by the tests that run it.
// run-exp's preprocessing and prediction in a browser, for a model exported by
// `run-exp export --format web`: the steps of run-exp's JPEG path
// (native/jpeg/jpeg.cc: EXIF orientation, a JPEG's shrink by 2, 4 or 8 on
// decode, centre crop, fit, an antialiased Lanczos-3 per axis), the face crop
// (BlazeFace, the largest face, margin, eyes levelled, fill; its detector input,
// cut and resize computed with libvips' own fixed-point arithmetic, so they equal
// sharp's byte for byte), the normalization table of src/data/normalize.ts, and
// the test-time flip. The model and its
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

/** libvips' Lanczos-3, in its own sinc form (so its fixed-point masks come out the same). */
function vipsLanczos3(x) {
  const sinc = (v) => (v === 0 ? 1 : Math.sin(v * Math.PI) / (v * Math.PI));
  return x >= -3 && x <= 3 ? sinc(x) * sinc(x / 3) : 0;
}

/** libvips' shrinkh/shrinkv of a line of bytes by whole `k` (ceil, the edge repeated): its multiply-shift mean. */
function vipsShrink(line, k) {
  const n = line.length;
  const out = new Float32Array(Math.ceil(n / k));
  const mult = Math.floor(2 ** 32 / (256 * k));
  for (let o = 0; o < out.length; o++) {
    let sum = Math.floor(k / 2);
    for (let j = 0; j < k; j++) sum += line[Math.min(n - 1, o * k + j)];
    out[o] = Math.floor((sum * mult) / 2 ** 24);
  }
  return out;
}

/**
 * libvips' reduceh/reducev of a line of bytes by `shrink` >= 1, as its uchar path computes it: a whole
 * shrink by floor(factor / gap 2) first, then Lanczos-3 masks at 1/64 positions in 1/4096 units, the
 * edge repeated, rounded by shift. Byte for byte what sharp gives. The sample position is summed
 * along the line and restarted every `strip` outputs (libvips computes it per region).
 */
function vipsReduce(line, shrink, strip = Number.POSITIVE_INFINITY) {
  const n = line.length;
  const size = Math.trunc(n / shrink + 0.5);
  let extra = size * shrink - n;
  let residual = shrink;
  let src = line;
  const k = Math.max(1, Math.floor(n / size / 2));
  if (k > 1) {
    src = vipsShrink(line, k);
    extra /= k;
    residual /= k;
  }
  if (residual === 1) return src;
  const points = 2 * rint(3 * residual) + 1;
  const masks = [];
  for (let t = 0; t <= 64; t++) {
    const half = t / 64 + points / 2 - 1;
    const c = [];
    for (let i = 0; i < points; i++) c.push(vipsLanczos3((i - half) * (1 / residual)));
    const sum = c.reduce((a, b) => a + b, 0);
    masks.push(c.map((v) => Math.trunc((v / sum) * 4096)));
  }
  const pad = Math.ceil(points / 2) - 1;
  const at = (i) => src[Math.min(src.length - 1, Math.max(0, i - pad))];
  const out = new Float32Array(size);
  const start = (o) => (o + 0.5) * residual - 0.5 - ((1 + extra) / 2 - 1);
  let pos = 0;
  for (let o = 0; o < size; o++) {
    if (o % strip === 0) pos = start(o);
    const first = Math.trunc(pos);
    const mask = masks[((Math.trunc(pos * 128) & 127) + 1) >> 1];
    let sum = 2048;
    for (let i = 0; i < points; i++) sum += mask[i] * at(first + i);
    out[o] = Math.min(255, Math.max(0, sum >> 12));
    pos += residual;
  }
  return out;
}

/** libvips' Catmull-Rom masks at 1/64 positions, in 1/4096 units (its bicubic interpolator's table). */
const CATMULL = Array.from({ length: 65 }, (_, t) => {
  const x = t / 64;
  const cr1 = 1 - x;
  const cr3 = cr1 * (-0.5 * x);
  const cone = cr1 * cr3;
  const cfou = x * cr3;
  const cr4 = cfou - cone;
  return [cone, cr1 - cone + cr4, x - cfou - cr4, cfou].map((c) => Math.trunc(c * 4096));
});

/** C's round-half-away-from-zero to int (VIPS_ROUND_INT). */
const roundInt = (v) => Math.trunc(v > 0 ? v + 0.5 : v - 0.5);

/**
 * libvips' affine of an RGB byte image, as its uchar path computes it: output = [a b; c d] (input +
 * shift), the output the bounding box of the unshifted input's corners rounded; each output pixel the
 * interpolation (bilinear, or bicubic with `bicubic`) at its inverse image, in fixed point, the
 * input's edges repeated (`copy`) or black. Sharp's rotate (bilinear) and resize's enlargement
 * (bicubic) are this.
 */
function vipsAffine(img, [a, b, c, d], { bicubic = false, shift = 0, copy = false } = {}) {
  const { rgb, width: w, height: h, bands = 3 } = img;
  const offset = bicubic ? 1 : 0;
  const border = offset + 1;
  // The output area comes from the corners before the shift is applied (as vips_affine_build orders it).
  const xs = [0, 0, w, w].map((x, i) => a * x + b * [0, h, 0, h][i]);
  const ys = [0, 0, w, w].map((x, i) => c * x + d * [0, h, 0, h][i]);
  const [left, top] = [roundInt(Math.min(...xs)), roundInt(Math.min(...ys))];
  const ow = roundInt(Math.max(...xs) - Math.min(...xs));
  const oh = roundInt(Math.max(...ys) - Math.min(...ys));
  const inv = 1 / (a * d - b * c);
  const [ia, ib, ic, id] = [inv * d, -inv * b, -inv * c, inv * a];
  // The input as libvips embeds it: `border` pixels around, edges repeated or black.
  const at = (u, v, k) => {
    let x = u - border;
    let y = v - border;
    if (copy) {
      x = Math.min(w - 1, Math.max(0, x));
      y = Math.min(h - 1, Math.max(0, y));
    } else if (x < 0 || y < 0 || x >= w || y >= h) return 0;
    return rgb[(y * w + x) * bands + k];
  };
  const out = new Float32Array(ow * oh * bands);
  for (let y = 0; y < oh; y++) {
    let ix = ia * left + ib * (y + top) - (shift - 1) + offset;
    let iy = ic * left + id * (y + top) - (shift - 1) + offset;
    for (let x = 0; x < ow; x++, ix += ia, iy += ic) {
      const [fx, fy] = [Math.floor(ix), Math.floor(iy)];
      if (fx < offset || fx > offset + w || fy < offset || fy > offset + h) continue; // black
      const [px, py] = [Math.trunc(ix), Math.trunc(iy)];
      for (let k = 0; k < bands; k++) {
        let v;
        if (bicubic) {
          const cx = CATMULL[((Math.trunc(ix * 128) & 127) + 1) >> 1];
          const cy = CATMULL[((Math.trunc(iy * 128) & 127) + 1) >> 1];
          let sum = 2048;
          for (let j = 0; j < 4; j++) {
            let row = 2048;
            for (let i = 0; i < 4; i++) row += cx[i] * at(px - 1 + i, py - 1 + j, k);
            sum += cy[j] * (row >> 12);
          }
          v = Math.min(255, Math.max(0, sum >> 12));
        } else {
          const X = Math.trunc((ix - px) * 4096);
          const Y = Math.trunc((iy - py) * 4096);
          const c4 = (Y * X) >> 12;
          const c2 = ((4096 - Y) * X) >> 12;
          const c3 = Y - c4;
          const c1 = 4096 - Y - c2;
          v =
            (c1 * at(px, py, k) +
              c2 * at(px + 1, py, k) +
              c3 * at(px, py + 1, k) +
              c4 * at(px + 1, py + 1, k) +
              2048) >>
            12;
        }
        out[(y * ow + x) * bands + k] = v;
      }
    }
  }
  return { rgb: out, width: ow, height: oh, bands };
}

/** `img` with `fn` applied to every line along one axis (each column for 'v', each row for 'h') of each band. */
function mapLines(img, axis, fn) {
  const { rgb, width, height, bands = 3 } = img;
  const vertical = axis === 'v';
  const [count, length] = vertical ? [width, height] : [height, width];
  let out = null;
  let size = 0;
  const line = new Float32Array(length);
  for (let a = 0; a < count; a++)
    for (let c = 0; c < bands; c++) {
      for (let i = 0; i < length; i++) line[i] = rgb[(vertical ? i * width + a : a * width + i) * bands + c];
      const done = fn(line);
      if (!out) {
        size = done.length;
        out = new Float32Array(count * size * bands);
      }
      for (let i = 0; i < size; i++) out[(vertical ? i * width + a : a * size + i) * bands + c] = done[i];
    }
  return vertical ? { rgb: out, width, height: size, bands } : { rgb: out, width: size, height, bands };
}

/**
 * libvips' resize as sharp calls it (scale 1 / hshrink, vscale 1 / vshrink): reducev, then reduceh,
 * then an affine for any axis that grows.
 */
function vipsResize(img, hshrink, vshrink) {
  const hscale = Math.max(1 / hshrink, 1 / img.width);
  const vscale = Math.max(1 / vshrink, 1 / img.height);
  let out = img;
  // reducev's regions are libvips' fat strips, 16 lines high; reduceh's span the whole width.
  if (vscale < 1) out = mapLines(out, 'v', (line) => vipsReduce(line, 1 / vscale, 16));
  if (hscale < 1) out = mapLines(out, 'h', (line) => vipsReduce(line, 1 / hscale));
  if (hscale > 1 || vscale > 1)
    out = vipsAffine(out, [Math.max(1, hscale), 0, 0, Math.max(1, vscale)], { bicubic: true, shift: 0.5, copy: true });
  return out;
}

/**
 * What sharp does to an image it cannot shrink on load (PNG, WebP, a face cut): libvips' resize
 * (vipsResize); cover cuts the centre, contain embeds.
 */
function resampleRaw(decoded, p) {
  const [th, tw] = p.size;
  let { rgb, width: w, height: h } = decoded;
  const n = decoded.bands ?? 3;
  const centre = p.center_crop ?? 1;
  if (centre < 1) {
    const cw = Math.max(1, Math.round(w * centre));
    const ch = Math.max(1, Math.round(h * centre));
    const left = Math.floor((w - cw) / 2);
    const top = Math.floor((h - ch) / 2);
    const cut = new Float32Array(cw * ch * n);
    for (let y = 0; y < ch; y++)
      cut.set(rgb.subarray(((top + y) * w + left) * n, ((top + y) * w + left + cw) * n), y * cw * n);
    [rgb, w, h] = [cut, cw, ch];
  }
  const [hs, vs] = fitShrinks(w, h, p);
  const resized = vipsResize({ rgb, width: w, height: h, bands: n }, hs, vs);
  const { width: rw, height: rh } = resized;
  const sized = Uint8Array.from(resized.rgb);
  if (rw === tw && rh === th) return sized;
  const out = new Uint8Array(th * tw * n);
  // cover: the centre of the larger image; contain: the image in the centre of a black one.
  const [fromX, fromY, toX, toY] =
    p.fit === 'cover'
      ? [Math.ceil((rw - tw) / 2), Math.ceil((rh - th) / 2), 0, 0]
      : [0, 0, Math.floor((tw - rw) / 2), Math.floor((th - rh) / 2)];
  for (let y = 0; y < Math.min(th, rh); y++)
    for (let x = 0; x < Math.min(tw, rw); x++)
      for (let c = 0; c < n; c++)
        out[((toY + y) * tw + toX + x) * n + c] = sized[((fromY + y) * rw + fromX + x) * n + c];
  return out;
}

/**
 * An upright RGB image resampled to `p.size` (height, width) as run-exp does: a JPEG file (`jpeg`)
 * as run-exp's JPEG path (native/jpeg/jpeg.cc, itself sharp's pipeline with shrink-on-load): shrunk
 * by 2, 4 or 8 as libjpeg would, the centre crop, fit, one antialiased Lanczos-3 pass per axis;
 * anything else as sharp resizes it (resampleRaw).
 */
export function resample(decoded, p, jpeg) {
  const grey = p.color === 'grayscale';
  const centre = p.center_crop ?? 1;
  const cut = [decoded.width, decoded.height].map((n) => Math.max(1, Math.round(n * centre)));
  // run-exp's JPEG path declines to enlarge; sharp does it (grey before the resize).
  if (!jpeg || Math.min(...fitShrinks(cut[0], cut[1], p)) < 1)
    return resampleRaw(grey ? vipsGrey(decoded) : decoded, p);
  const bytes = resampleJpeg(decoded, p);
  return grey ? jpegGrey(bytes) : bytes;
}

/** 32-bit float arithmetic, as libvips' colour code does it in C floats. */
const f32 = Math.fround;

/** C's 1.0F + 0.055F. */
const ONE_055 = f32(1 + f32(0.055));

/** libvips' sRGB <-> linear tables for 8 bits (LabQ2sRGB.c's calcul_tables, in floats). */
const SRGB_TABLES = (() => {
  const toLinear = new Float32Array(256);
  const toSrgb = new Int32Array(257);
  for (let i = 0; i < 256; i++) {
    const f = f32(i / 255);
    const v = f <= 0.0031308 ? f32(f32(12.92) * f) : f32(f32(ONE_055 * f32(f ** f32(1 / f32(2.4)))) - f32(0.055));
    toSrgb[i] = rint(f32(255 * v));
    toLinear[i] = f <= 0.04045 ? f32(f / f32(12.92)) : f32(f32(f32(f + f32(0.055)) / ONE_055) ** f32(2.4));
  }
  toSrgb[256] = toSrgb[255];
  return { toLinear, toSrgb };
})();

/** sharp's greyscale() (libvips' sRGB -> B_W: the luminance of linear RGB, back to sRGB through its table), one band. */
function vipsGrey(img) {
  const { toLinear, toSrgb } = SRGB_TABLES;
  const n = img.width * img.height;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const [r, g, b] = [0, 1, 2].map((c) => toLinear[img.rgb[i * 3 + c]]);
    const y = f32(f32(f32(f32(0.2126) * r) + f32(f32(0.7152) * g)) + f32(f32(0.0722) * b));
    const yf = Math.min(255, Math.max(0, f32(y * 255)));
    const yi = Math.trunc(yf);
    out[i] = rint(f32(toSrgb[yi] + f32(f32(toSrgb[yi + 1] - toSrgb[yi]) * f32(yf - yi))));
  }
  return { rgb: out, width: img.width, height: img.height, bands: 1 };
}

/** run-exp's JPEG path's greyscale (native/jpeg/jpeg.cc, after its resize): the luminance of linear RGB, in doubles. */
function jpegGrey(bytes) {
  const linear = (v) => (v / 255 <= 0.04045 ? v / 255 / 12.92 : ((v / 255 + 0.055) / 1.055) ** 2.4);
  const srgb = (v) => 255 * (v <= 0.0031308 ? v * 12.92 : 1.055 * v ** (1 / 2.4) - 0.055);
  const out = new Uint8Array(bytes.length / 3);
  for (let i = 0; i < out.length; i++)
    out[i] = toByte(
      srgb(0.2126 * linear(bytes[i * 3]) + 0.7152 * linear(bytes[i * 3 + 1]) + 0.0722 * linear(bytes[i * 3 + 2])),
    );
  return out;
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
 * A JPEG file resized by sharp itself (what a face model gets of a photo without a face, on_miss: keep):
 * libjpeg's shrink on load (the block mean), then sharp's resize of what was decoded.
 */
function resampleSharpJpeg(decoded, p) {
  const ratio = loadShrink(decoded, p);
  let img = decoded;
  if (ratio > 1) {
    const { rgb, width: stride } = blockMean(decoded.rgb, decoded.width, decoded.height, ratio);
    const width = Math.floor(decoded.width / ratio);
    const height = Math.floor(decoded.height / ratio);
    const kept = new Float32Array(width * height * 3);
    for (let y = 0; y < height; y++) kept.set(rgb.subarray(y * stride * 3, (y * stride + width) * 3), y * width * 3);
    img = { rgb: kept, width, height };
  }
  return resampleRaw(coloured(img, p), p);
}

/** An RGB image in the model's colour, as sharp makes it before resizing. */
const coloured = (img, p) => (p.color === 'grayscale' ? vipsGrey(img) : img);

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

const FLOOR = 0.2;
const IOU = 0.3;
const MAX_FACES = 20;

/** Anchor centres for a square input of `size`: 16x16 cells x 2, then 8x8 cells x 6. */
function anchors(size) {
  const out = [];
  for (const [stride, perCell] of [
    [size / 16, 2],
    [size / 8, 6],
  ])
    for (let y = 0; y < size / stride; y++)
      for (let x = 0; x < size / stride; x++)
        for (let k = 0; k < perCell; k++) out.push([stride * (x + 0.5), stride * (y + 0.5)]);
  return out;
}

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
async function detectFaces(detector, decoded, pad) {
  const { width, height } = decoded;
  // The model's own input size: 256 for 'blazeface', 128 for 'blazeface_short'.
  const size = detector.inputs[0].shape[1];
  const anchor = anchors(size);
  const scale = size / (Math.max(width, height) * (1 + 2 * pad));
  const rw = Math.max(1, Math.min(size, Math.round(width * scale)));
  const rh = Math.max(1, Math.min(size, Math.round(height * scale)));
  const left = Math.floor((size - rw) / 2);
  const top = Math.floor((size - rh) / 2);
  // run-exp resizes the full decode for detection (src/data/faces/locate.ts), as here.
  const small = resampleRaw(decoded, { size: [rh, rw], fit: 'fill' });
  const input = new Int32Array(size * size * 3);
  for (let y = 0; y < rh; y++)
    for (let x = 0; x < rw * 3; x++) input[((top + y) * size + left) * 3 + x] = small[y * rw * 3 + x];
  const all = tf.tidy(() => {
    const x = tf.tensor4d(input, [1, size, size, 3], 'int32').toFloat().div(127.5).sub(1);
    const [s384, s512, r384, r512] = [...detector.execute(x)].sort((a, b) => a.size - b.size);
    return tf.concat([tf.concat([s512, r512], 2), tf.concat([s384, r384], 2)], 1);
  });
  const rows = await all.data();
  all.dispose();
  const sx = rw / width;
  const sy = rh / height;
  const found = [];
  for (let a = 0; a < anchor.length; a++) {
    const r = rows.subarray(a * 17, (a + 1) * 17);
    const score = 1 / (1 + Math.exp(-r[0]));
    if (score < FLOOR) continue;
    const [ax, ay] = anchor[a];
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
  const square = new Float32Array(side * side * 3);
  for (let y = 0; y < side; y++)
    for (let x = 0; x < side; x++) for (let c = 0; c < 3; c++) square[(y * side + x) * 3 + c] = at(x, y, c);
  if (!turn) return { rgb: square, width: side, height: side };
  // sharp.rotate(degrees) is libvips' rotate: an affine by the angle (bilinear, black outside); then its centre cut out.
  const rad = ((-region.angle * 180) / Math.PI / 360) * 2 * Math.PI;
  const [a, b] = [Math.cos(rad), -Math.sin(rad)];
  const turned = vipsAffine({ rgb: square, width: side, height: side }, [a, b, -b, a]);
  const size = Math.max(1, Math.min(Math.round(region.side), turned.width, turned.height));
  const ex = Math.floor((turned.width - size) / 2);
  const ey = Math.floor((turned.height - size) / 2);
  const out = new Float32Array(size * size * 3);
  for (let y = 0; y < size; y++)
    out.set(
      turned.rgb.subarray(((ey + y) * turned.width + ex) * 3, ((ey + y) * turned.width + ex + size) * 3),
      y * size * 3,
    );
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
  const faces = (await detectFaces(detector, decoded, crop.pad ?? 0))
    .filter((f) => f.score >= crop.min_confidence)
    .sort((a, b) => b.box[2] * b.box[3] - a.box[2] * a.box[3]);
  const face = faces[0];
  if (!face) {
    if (crop.on_miss === 'skip') return { skip: 'no face found (crop.on_miss: skip)', face: null };
    const note = `no face found; predicted on the ${crop.on_miss === 'center' ? 'centred square' : 'whole image'}, as crop.on_miss is ${crop.on_miss}`;
    if (crop.on_miss !== 'center')
      return { bytes: jpeg ? resampleSharpJpeg(decoded, p) : resampleRaw(coloured(decoded, p), p), face: null, note };
    const side = Math.min(decoded.width, decoded.height);
    const cut = cutRegion(decoded, { cx: decoded.width / 2, cy: decoded.height / 2, side, angle: 0 });
    return { bytes: resampleRaw(coloured(cut, p), p), face: null, note };
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
    bytes: resampleRaw(coloured(cutRegion(decoded, region), p), p),
    face: { index: 0, box: face.box.map((v) => Math.round(v)), score: face.score },
  };
}

/** Bytes to the model's floats, through the same per-channel table as run-exp's normalization. */
function normalize(bytes, p, channels) {
  const table = new Float32Array(256 * channels);
  for (let c = 0; c < channels; c++) {
    const mean = p.mean?.[c] ?? p.mean?.[0] ?? 0;
    const std = p.std?.[c] ?? p.std?.[0] ?? 1;
    for (let v = 0; v < 256; v++)
      table[c * 256 + v] =
        p.normalize === 'unit' ? v / 255 : p.normalize === 'symmetric' ? v / 127.5 - 1 : (v / 255 - mean) / std;
  }
  const out = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = table[(i % channels) * 256 + bytes[i]];
  return out;
}

/**
 * Each output of one row of a model with several outputs (its outputs' units
 * back to back): a category's or binary output's label and probabilities, a
 * number in its own unit, a set's labels. The page's copy of
 * src/model/output-meta.ts's readOutputs (a test holds them equal).
 */
export function readOutputs(outputs, row) {
  const out = {};
  let at = 0;
  for (const o of outputs) {
    const units = Array.from({ length: o.units }, (_, k) => row[at + k]);
    at += o.units;
    if (o.type === 'number') {
      const { mean, std } = o.scale ?? { mean: 0, std: 1 };
      const v = units[0] * std + mean;
      out[o.name] = { value: o.transform === 'log' ? Math.expm1(v) : v };
    } else if (o.type === 'set') {
      out[o.name] = {
        labels: o.names.filter((_, k) => units[k] >= (o.threshold ?? 0.5)),
        probabilities: Object.fromEntries(o.names.map((n, k) => [n, units[k]])),
      };
    } else {
      const probs = o.type === 'binary' ? [1 - units[0], units[0]] : units;
      out[o.name] = {
        label: o.names[probs.indexOf(Math.max(...probs))],
        probabilities: Object.fromEntries(o.names.map((n, k) => [n, probs[k]])),
      };
    }
  }
  return out;
}

/** Loads the exported model; `predict(file)` gives the label and the probability of each class (several outputs: each output's answer). */
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
      const channels = p.color === 'grayscale' ? 1 : 3;
      const x = normalize(input.bytes, p, channels);
      const probs = tf.tidy(() => {
        const t = tf.tensor4d(x, [1, h, w, channels]);
        // Several outputs side by side, as one row.
        const row = (y) => (Array.isArray(y) ? tf.concat(y, 1) : y);
        const y = row(model.predict(t));
        return meta.test_time_flip ? y.add(row(model.predict(tf.reverse(t, 2)))).div(2) : y;
      });
      const scores = Array.from(await probs.data());
      probs.dispose();
      if (meta.outputs) return { label: null, outputs: readOutputs(meta.outputs, scores), ...about };
      const best = scores.indexOf(Math.max(...scores));
      return {
        label: meta.classes[best],
        probabilities: Object.fromEntries(meta.classes.map((c, i) => [c, scores[i]])),
        ...about,
      };
    },
  };
}
