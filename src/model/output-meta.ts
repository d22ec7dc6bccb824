// What a saved model with several outputs says about them (model.json's and
// MLmodel's run_exp metadata, in the model's output order), and how one row
// of its outputs reads: a category's label and probabilities, a binary
// output's, a number in its own unit, a set's labels.
import { type OutputTargets, unitValue } from '../data/targets.ts';
import type { OutputSpec } from '../spec/experiment.ts';

export interface OutputMeta {
  name: string;
  type: OutputSpec['type'];
  /** category: its classes; binary: [not positive, positive]; set: its labels; number: []. */
  names: string[];
  /** Units of the output layer (a binned number: its value, then each bin's probability). */
  units: number;
  /** number: the model gives (value - mean) / std (with transform log: of log(1 + value)). */
  scale?: { mean: number; std: number };
  /** number: log when the model learns log(1 + value). */
  transform?: 'log';
  /** set: a label is predicted from this probability on. */
  threshold?: number;
  /** The output as the experiment declared it: where new data's labels come from, the loss and metrics to score it by (models saved before 2026-12-03 lack it; their run folder's config.yaml has it). */
  spec?: OutputSpec;
}

export type OutputPrediction =
  | { label: string; probabilities: Record<string, number> }
  | { value: number }
  | { labels: string[]; probabilities: Record<string, number> };

/** Units of an output in the model: a category's classes, a set's labels, a binned number's value and bins, else one. */
export function outputUnits(t: OutputTargets): number {
  if (t.spec.type === 'category') return t.names.length;
  return t.spec.type === 'number' ? 1 + t.spec.bins : t.width;
}

export function outputMetaOf(targets: OutputTargets[]): OutputMeta[] {
  return targets.map((t) => ({
    name: t.name,
    type: t.spec.type,
    names: t.names,
    units: outputUnits(t),
    ...(t.scale ? { scale: t.scale } : {}),
    ...(t.spec.type === 'number' && t.spec.transform === 'log' ? { transform: 'log' as const } : {}),
    ...(t.spec.type === 'set' ? { threshold: t.spec.threshold } : {}),
    spec: t.spec,
  }));
}

/** The columns of a prediction table, in the order of a row's units: <output>_<class or label>, or <output>. */
export function outputColumns(outputs: OutputMeta[]): string[] {
  return outputs.flatMap((o) =>
    o.type === 'category' || o.type === 'set' ? o.names.map((n) => `${o.name}_${n}`) : [o.name],
  );
}

/** Each output of one row (its outputs' units back to back, in order). */
export function readOutputs(outputs: OutputMeta[], row: ArrayLike<number>): Record<string, OutputPrediction> {
  const out: Record<string, OutputPrediction> = {};
  let at = 0;
  for (const o of outputs) {
    const units = Array.from({ length: o.units }, (_, k) => row[at + k] as number);
    at += o.units;
    if (o.type === 'number') {
      out[o.name] = { value: unitValue(units[0] as number, o.scale, o.transform) };
    } else if (o.type === 'set') {
      out[o.name] = {
        labels: o.names.filter((_, k) => (units[k] as number) >= (o.threshold ?? 0.5)),
        probabilities: Object.fromEntries(o.names.map((n, k) => [n, units[k] as number])),
      };
    } else {
      const probs = o.type === 'binary' ? [1 - (units[0] as number), units[0] as number] : units;
      out[o.name] = {
        label: o.names[probs.indexOf(Math.max(...probs))] as string,
        probabilities: Object.fromEntries(o.names.map((n, k) => [n, probs[k] as number])),
      };
    }
  }
  return out;
}
