// uint8 pixels -> float32 model input, as the experiment's normalization says.
import type { Experiment } from '../config/experiment.ts';

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
  // One lookup table per channel: 256 entries instead of a division per pixel.
  const tables = Array.from({ length: channels }, (_, c) => {
    const t = new Float32Array(256);
    const mean = n.mean?.[c] ?? n.mean?.[0] ?? 0;
    const std = n.std?.[c] ?? n.std?.[0] ?? 1;
    for (let v = 0; v < 256; v++) {
      t[v] = n.normalize === 'unit' ? v / 255 : n.normalize === 'symmetric' ? v / 127.5 - 1 : (v / 255 - mean) / std;
    }
    return t;
  });
  for (let k = 0; k < indices.length; k++) {
    const src = (indices[k] as number) * imageBytes;
    const dst = k * imageBytes;
    for (let j = 0; j < imageBytes; j++) {
      out[dst + j] = (tables[j % channels] as Float32Array)[pixels[src + j] as number] as number;
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
