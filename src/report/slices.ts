// Slices: the model's accuracy per value of an attribute of the images (an age
// band, a race code, a manifest column), worst first, with a 95% interval, so
// that a failure concentrated in one group shows without a throwaway script.

import * as path from 'node:path';
import { bandOf } from '../data/bands.ts';
import type { ReportSpec } from '../spec/experiment.ts';

export interface Slice {
  attribute: string;
  value: string;
  images: number;
  correct: number;
  accuracy: number;
  /** Wilson score interval, 95%. */
  low: number;
  high: number;
}

/** Each attribute's value for one file (absent where the file does not say). */
export type Attributes = Record<string, string>;

/**
 * The attributes of a file: the named groups of `patterns` on its name
 * (numbers put in `bands`' bands), and its manifest row's `columns`.
 */
export function attributesOf(
  file: string,
  spec: ReportSpec['slices'],
  patterns: RegExp[],
  row: Record<string, string> | undefined,
): Attributes {
  const out: Attributes = {};
  const name = path.basename(file);
  for (const re of patterns) {
    for (const [k, v] of Object.entries(re.exec(name)?.groups ?? {}))
      if (k !== 'label' && v !== undefined) out[k] = bandOf(v, spec.bands[k]);
  }
  for (const c of spec.columns) if (row?.[c] !== undefined) out[c] = bandOf(row[c] as string, spec.bands[c]);
  return out;
}

/** Wilson's 95% interval for `k` successes in `n`. */
export function wilson(k: number, n: number): [number, number] {
  if (n === 0) return [0, 1];
  const z = 1.96;
  const p = k / n;
  const d = 1 + (z * z) / n;
  const centre = (p + (z * z) / (2 * n)) / d;
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d;
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

/** Accuracy per attribute value; per attribute, worst first (then by size). */
export function slices(attributes: Attributes[], correct: boolean[]): Slice[] {
  const groups = new Map<string, { attribute: string; value: string; n: number; k: number }>();
  for (const [i, attrs] of attributes.entries()) {
    for (const [attribute, value] of Object.entries(attrs)) {
      const key = `${attribute}\0${value}`;
      const g = groups.get(key) ?? { attribute, value, n: 0, k: 0 };
      g.n++;
      if (correct[i]) g.k++;
      groups.set(key, g);
    }
  }
  return [...groups.values()]
    .map((g) => {
      const [low, high] = wilson(g.k, g.n);
      return { attribute: g.attribute, value: g.value, images: g.n, correct: g.k, accuracy: g.k / g.n, low, high };
    })
    .sort((a, b) => a.attribute.localeCompare(b.attribute) || a.accuracy - b.accuracy || b.images - a.images);
}
