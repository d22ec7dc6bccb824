// Each output's metrics, on the examples that have its label: class outputs
// as the classification metrics (accuracy, macro F1, ROC AUC), numbers in
// their own unit (MAE, RMSE, R2, and MAE per band), sets per label (F1, their
// mean) and whole (subset accuracy).

import { bandOf } from '../data/bands.ts';
import { type OutputTargets, unitValue } from '../data/targets.ts';
import { outputUnits } from '../model/output-meta.ts';
import { evaluate } from './metrics.ts';

/** Predictions of one output for n examples: [n, units], as the model gives them (a number output: standardized). */
export type OutputPredictions = Float32Array;

/** A number output's predictions in the label's own unit (each row's first unit: a binned output's expectation). */
export function unscaled(t: OutputTargets, z: Float32Array): Float32Array {
  const spec = t.spec;
  if (spec.type !== 'number') return z;
  const units = outputUnits(t);
  return Float32Array.from({ length: z.length / units }, (_, i) =>
    unitValue(z[i * units] as number, t.scale, spec.transform),
  );
}

/** A set label's hits (tp), false alarms (fp) and misses (fn). */
export interface LabelCounts {
  tp: number;
  fp: number;
  fn: number;
}

/** A label's F1 from its counts (1 where it is neither present nor predicted: nothing to get wrong). */
export function labelF1(c: LabelCounts): number {
  return c.tp + c.fp + c.fn === 0 ? 1 : (2 * c.tp) / (2 * c.tp + c.fp + c.fn);
}

/**
 * A set output's counts for each of its `width` labels over examples (each
 * example's 0/1 truth and probabilities per label, a label predicted from
 * `threshold` on), and how many examples have their whole set right.
 */
export function setCounts(
  width: number,
  truth: ArrayLike<number>[],
  probs: ArrayLike<number>[],
  threshold: number,
): { perLabel: LabelCounts[]; exact: number } {
  const perLabel = Array.from({ length: width }, () => ({ tp: 0, fp: 0, fn: 0 }));
  let exact = 0;
  for (const [i, y] of truth.entries()) {
    let all = true;
    for (let k = 0; k < width; k++) {
      const yes = ((probs[i] as ArrayLike<number>)[k] as number) >= threshold;
      const has = y[k] === 1;
      const c = perLabel[k] as LabelCounts;
      if (yes && has) c.tp++;
      else if (yes) c.fp++;
      else if (has) c.fn++;
      if (yes !== has) all = false;
    }
    if (all) exact++;
  }
  return { perLabel, exact };
}

/** `<metric>` -> value for output `t` (null where no example has the label). */
export function outputMetrics(t: OutputTargets, pred: OutputPredictions): Record<string, number | null> {
  const rows: number[] = [];
  for (let i = 0; i < t.known.length; i++) if (t.known[i]) rows.push(i);
  const wanted = new Set(t.spec.metrics);
  const out: Record<string, number | null> = {};
  const put = (name: string, v: number | null) => {
    if (wanted.has(name.split('_')[0] as string) || wanted.has(name)) out[name] = rows.length ? v : null;
  };
  const spec = t.spec;
  if (spec.type === 'category' || spec.type === 'binary') {
    const k = spec.type === 'category' ? t.names.length : 2;
    const probs = new Float32Array(rows.length * k);
    const labels = new Int32Array(rows.length);
    for (const [j, i] of rows.entries()) {
      labels[j] = t.values[i] as number;
      if (spec.type === 'category') probs.set(pred.subarray(i * k, (i + 1) * k), j * k);
      else {
        probs[j * 2] = 1 - (pred[i] as number);
        probs[j * 2 + 1] = pred[i] as number;
      }
    }
    const e = evaluate(labels, probs, spec.type === 'category' ? t.names : ['no', 'yes']);
    put('accuracy', e.accuracy);
    put('f1', e.macro.f1);
    put('auc', e.auc);
    return out;
  }
  if (spec.type === 'number') {
    const value = unscaled(t, pred);
    let abs = 0;
    let sq = 0;
    let mean = 0;
    for (const i of rows) mean += t.values[i] as number;
    mean /= rows.length || 1;
    let total = 0;
    // Bands in ascending order (a band no example falls in is left out below).
    const bands = new Map<string, { abs: number; n: number }>(
      (spec.bands ?? []).map((b) => [bandOf(String(b), spec.bands), { abs: 0, n: 0 }]),
    );
    for (const i of rows) {
      const y = t.values[i] as number;
      const e = (value[i] as number) - y;
      abs += Math.abs(e);
      sq += e * e;
      total += (y - mean) ** 2;
      if (spec.bands) {
        const band = bandOf(String(y), spec.bands);
        const b = bands.get(band) ?? { abs: 0, n: 0 };
        b.abs += Math.abs(e);
        b.n++;
        bands.set(band, b);
      }
    }
    const n = rows.length || 1;
    put('mae', abs / n);
    put('rmse', Math.sqrt(sq / n));
    put('r2', total > 0 ? 1 - sq / total : null);
    if (wanted.has('mae')) for (const [band, b] of bands) if (b.n) out[`mae_${band}`] = b.abs / b.n;
    return out;
  }
  const { perLabel, exact } = setCounts(
    t.width,
    rows.map((i) => t.values.subarray(i * t.width, (i + 1) * t.width)),
    rows.map((i) => pred.subarray(i * t.width, (i + 1) * t.width)),
    spec.threshold,
  );
  const f1s: number[] = [];
  for (const [k, c] of perLabel.entries()) {
    const f1 = labelF1(c);
    f1s.push(f1);
    put(`f1_${t.names[k]}`, f1);
  }
  put('f1', f1s.reduce((a, b) => a + b, 0) / (f1s.length || 1));
  put('subset_accuracy', exact / (rows.length || 1));
  return out;
}
