// uint8 pixels -> float32 model input, as the experiment's normalization says.
import type { Experiment } from '../spec/experiment.ts';

export type Normalization = Pick<Experiment['data']['preprocessing'], 'normalize' | 'mean' | 'std'>;

/**
 * Writes `count` images starting at `src` (image index `indices[k]` of `pixels`)
 * into `out` as floats: unit [0, 1], symmetric [-1, 1], or standard (x - mean) / std
 * per channel on the 0..1 scale.
 */
export function toFloat(
  pixels: Uint8Array,
  imageBytes: number,
  channels: number,
  indices: ArrayLike<number>,
  n: Normalization,
  out: Float32Array,
): Float32Array {
  // One lookup table per channel (256 entries instead of a division per pixel), laid end to end so the
  // hot loop indexes one typed array: this runs on the main thread beside TensorFlow's busy threads.
  const table = new Float32Array(256 * channels);
  for (let c = 0; c < channels; c++) {
    const mean = n.mean?.[c] ?? n.mean?.[0] ?? 0;
    const std = n.std?.[c] ?? n.std?.[0] ?? 1;
    for (let v = 0; v < 256; v++) {
      table[c * 256 + v] =
        n.normalize === 'unit' ? v / 255 : n.normalize === 'symmetric' ? v / 127.5 - 1 : (v / 255 - mean) / std;
    }
  }
  for (let k = 0; k < indices.length; k++) {
    const src = (indices[k] as number) * imageBytes;
    const img = pixels.subarray(src, src + imageBytes);
    const o = out.subarray(k * imageBytes, (k + 1) * imageBytes);
    if (channels === 3) {
      // RGB unrolled: 1.2 ms for 64 images of 64x64, against 4 ms through the general loop below
      // (or through one strided pass per channel).
      for (let j = 0; j < imageBytes; j += 3) {
        o[j] = table[img[j] as number] as number;
        o[j + 1] = table[256 + (img[j + 1] as number)] as number;
        o[j + 2] = table[512 + (img[j + 2] as number)] as number;
      }
      continue;
    }
    for (let j = 0; j < imageBytes; j += channels) {
      for (let c = 0; c < channels; c++) o[j + c] = table[c * 256 + (img[j + c] as number)] as number;
    }
  }
  return out;
}

/** The normalization as x = (unit - mean) / std per channel, for `channels` channels. */
export function normalization(n: Normalization, channels: number): { mean: number[]; std: number[] } {
  const per = (v: number[] | undefined, d: number) => Array.from({ length: channels }, (_, c) => v?.[c] ?? v?.[0] ?? d);
  if (n.normalize === 'unit') return { mean: per(undefined, 0), std: per(undefined, 1) };
  if (n.normalize === 'symmetric') return { mean: per(undefined, 0.5), std: per(undefined, 0.5) };
  return { mean: per(n.mean, 0), std: per(n.std, 1) };
}
