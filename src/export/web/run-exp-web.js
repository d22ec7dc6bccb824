// run-exp's preprocessing and prediction in a browser, for a model exported by
// `run-exp export --format web`: the steps of run-exp's JPEG path
// (native/jpeg/jpeg.cc: EXIF orientation, a JPEG's shrink by 2, 4 or 8 on
// decode, centre crop, fit, an antialiased Lanczos-3 per axis), the
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

/** The image file as upright RGB bytes (EXIF orientation applied, alpha dropped), and whether it is a JPEG. */
async function decode(file) {
  const head = new Uint8Array(await file.slice(0, 2).arrayBuffer());
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
  return { rgb, width: bitmap.width, height: bitmap.height, jpeg: head[0] === 0xff && head[1] === 0xd8 };
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

/**
 * The model input of one image file: [height, width, 3] bytes after crop and resize, with the
 * geometry of run-exp's JPEG path (native/jpeg/jpeg.cc, itself sharp's): a JPEG shrunk first by
 * 2, 4 or 8 as libjpeg would, the centre crop, fit, and one antialiased Lanczos-3 pass per axis.
 */
export async function pixels(file, p) {
  const decoded = await decode(file);
  const uw = decoded.width;
  const uh = decoded.height;
  const [th, tw] = p.size;
  const cw = Math.max(1, Math.round(uw * p.center_crop));
  const ch = Math.max(1, Math.round(uh * p.center_crop));
  const extract = p.center_crop < 1;
  const shrinks = (inW, inH) => {
    let hs = inW / tw;
    let vs = inH / th;
    if (p.fit === 'cover') hs = vs = Math.min(hs, vs);
    if (p.fit === 'contain') hs = vs = Math.max(hs, vs);
    return [hs, vs];
  };
  let ratio = 1;
  if (decoded.jpeg && !extract) {
    const common = Math.min(...shrinks(cw, ch));
    ratio = common >= 8 ? 8 : common >= 4 ? 4 : common >= 2 ? 2 : 1;
    if (ratio > 1 && Math.trunc(common) === ratio) ratio /= 2;
  }
  let img = decoded.rgb;
  let stride = uw;
  if (ratio > 1) ({ rgb: img, width: stride } = blockMean(decoded.rgb, uw, uh, ratio));
  const iw = Math.min(Math.ceil(uw / ratio), Math.floor(uw / ratio));
  const ih = Math.min(Math.ceil(uh / ratio), Math.floor(uh / ratio));
  const inW = extract ? cw : iw;
  const inH = extract ? ch : ih;
  let ox = extract ? Math.floor((uw - cw) / 2) : 0;
  let oy = extract ? Math.floor((uh - ch) / 2) : 0;
  const [hs, vs] = shrinks(inW, inH);
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
export async function loadModel(url = 'model/model.json') {
  await tf.setBackend('cpu');
  const model = await tf.loadLayersModel(url);
  const meta = model.getUserDefinedMetadata().run_exp;
  const p = meta.preprocessing;
  const [h, w] = p.size;
  return {
    classes: meta.classes,
    async predict(file) {
      const x = normalize(await pixels(file, p), p);
      const probs = tf.tidy(() => {
        const input = tf.tensor4d(x, [1, h, w, 3]);
        const y = model.predict(input);
        return meta.test_time_flip ? y.add(model.predict(tf.reverse(input, 2))).div(2) : y;
      });
      const scores = Array.from(await probs.data());
      probs.dispose();
      const best = scores.indexOf(Math.max(...scores));
      return {
        label: meta.classes[best],
        probabilities: Object.fromEntries(meta.classes.map((c, i) => [c, scores[i]])),
      };
    },
  };
}
