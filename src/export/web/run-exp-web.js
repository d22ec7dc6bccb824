// run-exp's preprocessing and prediction in a browser, for a model exported by
// `run-exp export --format web`: the steps of src/data/decode.ts (EXIF
// orientation, centre crop, resize by fit with an antialiased Lanczos-3 in two
// passes rounded to 8 bits between them, as libvips does), the normalization
// table of src/data/normalize.ts, and the test-time flip. The model and its
// metadata come from model/model.json; `tf` is the global of tf.min.js.
/* global tf */

/** The Lanczos-3 kernel. */
function lanczos3(x) {
  if (x === 0) return 1;
  if (x <= -3 || x >= 3) return 0;
  const px = Math.PI * x;
  return (3 * Math.sin(px) * Math.sin(px / 3)) / (px * px);
}

/** For each output position: the first source index and the normalized weights (edges extended). */
function taps(inLen, outLen) {
  const scale = inLen / outLen;
  const stretch = Math.max(scale, 1);
  const support = 3 * stretch;
  const out = [];
  for (let o = 0; o < outLen; o++) {
    const centre = (o + 0.5) * scale - 0.5;
    const first = Math.ceil(centre - support);
    const last = Math.floor(centre + support);
    const weights = [];
    let sum = 0;
    for (let i = first; i <= last; i++) {
      const w = lanczos3((i - centre) / stretch);
      weights.push(w);
      sum += w;
    }
    out.push({ first, weights: weights.map((w) => w / sum) });
  }
  return out;
}

const clampByte = (v) => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));

/** RGB bytes [h][w][3] resized to outW x outH: horizontal pass, then vertical, each rounded to bytes. */
function resize(src, w, h, outW, outH) {
  const mid = new Uint8Array(h * outW * 3);
  for (const [x, { first, weights }] of taps(w, outW).entries()) {
    for (let y = 0; y < h; y++) {
      for (let c = 0; c < 3; c++) {
        let v = 0;
        for (let k = 0; k < weights.length; k++) {
          const sx = Math.min(w - 1, Math.max(0, first + k));
          v += weights[k] * src[(y * w + sx) * 3 + c];
        }
        mid[(y * outW + x) * 3 + c] = clampByte(v);
      }
    }
  }
  const out = new Uint8Array(outH * outW * 3);
  for (const [y, { first, weights }] of taps(h, outH).entries()) {
    for (let x = 0; x < outW; x++) {
      for (let c = 0; c < 3; c++) {
        let v = 0;
        for (let k = 0; k < weights.length; k++) {
          const sy = Math.min(h - 1, Math.max(0, first + k));
          v += weights[k] * mid[(sy * outW + x) * 3 + c];
        }
        out[(y * outW + x) * 3 + c] = clampByte(v);
      }
    }
  }
  return out;
}

/** A region of RGB bytes. */
function extract(src, w, left, top, cw, ch) {
  const out = new Uint8Array(cw * ch * 3);
  for (let y = 0; y < ch; y++)
    out.set(src.subarray(((top + y) * w + left) * 3, ((top + y) * w + left + cw) * 3), y * cw * 3);
  return out;
}

/** The image file as upright RGB bytes (EXIF orientation applied, alpha dropped). */
async function decode(file) {
  const bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(bitmap, 0, 0);
  const rgba = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
  const rgb = new Uint8Array(bitmap.width * bitmap.height * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    rgb[j] = rgba[i];
    rgb[j + 1] = rgba[i + 1];
    rgb[j + 2] = rgba[i + 2];
  }
  return { rgb, width: bitmap.width, height: bitmap.height };
}

/** The model input of one image file: [height, width, 3] uint8 after crop and resize, as the run's preprocessing says. */
export async function pixels(file, p) {
  let { rgb, width, height } = await decode(file);
  if (p.center_crop < 1) {
    const cw = Math.max(1, Math.round(width * p.center_crop));
    const ch = Math.max(1, Math.round(height * p.center_crop));
    rgb = extract(rgb, width, Math.floor((width - cw) / 2), Math.floor((height - ch) / 2), cw, ch);
    width = cw;
    height = ch;
  }
  const [outH, outW] = p.size;
  if (p.fit === 'fill') return resize(rgb, width, height, outW, outH);
  // cover: scaled to cover the size, the centre cut out; contain: scaled to fit, centred on black.
  const factor = p.fit === 'cover' ? Math.min(width / outW, height / outH) : Math.max(width / outW, height / outH);
  const rw = Math.max(1, Math.round(width / factor));
  const rh = Math.max(1, Math.round(height / factor));
  const scaled = resize(rgb, width, height, rw, rh);
  if (p.fit === 'cover')
    return extract(scaled, rw, Math.floor((rw - outW) / 2), Math.floor((rh - outH) / 2), outW, outH);
  const out = new Uint8Array(outH * outW * 3);
  const left = Math.floor((outW - rw) / 2);
  const top = Math.floor((outH - rh) / 2);
  for (let y = 0; y < rh; y++) out.set(scaled.subarray(y * rw * 3, (y + 1) * rw * 3), ((top + y) * outW + left) * 3);
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
