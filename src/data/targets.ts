// What a model with several outputs learns per image: each output's target,
// read from the item's raw labels (a named group of the file-name pattern, a
// manifest column, or the class) through its values map, and whether the
// image has that label at all (an empty value is missing, but for a set: the
// empty set). An image missing one output's label still
// trains the others; the counts of missing labels are part of the data line.
import { DataError } from '../spec/errors.ts';
import type { OutputSpec } from '../spec/experiment.ts';
import { bandIndex, bandOf } from './bands.ts';
import type { Item } from './sources.ts';

/** One output's targets for a list of items. */
export interface OutputTargets {
  name: string;
  spec: OutputSpec;
  /** category and binary: the class names (binary: [not positive, positive]); set: its labels; number: []. */
  names: string[];
  /** Values per item: category: the class index; binary: 0 or 1; number: the value; set: 0/1 per label. */
  width: number;
  values: Float32Array;
  /** 1 where the item has this output's label. */
  known: Uint8Array;
  /** Items without the label. */
  missing: number;
  /** number: the training split's mean and standard deviation: the model learns (value - mean) / std. */
  scale?: { mean: number; std: number };
  /** The training split's loss weight per class (category, binary) or per band (number); absent: all 1. */
  weights?: Float32Array;
}

/**
 * The class (category, binary) or band (number) item `i` of `t` is in: what
 * its loss weight and its split stratum go by. A number below the first band
 * counts in the first.
 */
export function slotIndex(t: OutputTargets, i: number): number {
  const v = t.values[i] as number;
  if (t.spec.type === 'number') return Math.max(0, bandIndex(v, t.spec.bands ?? []));
  return v;
}

/** The names of `t`'s slots: its class names, or its bands ("0-12", "60+"). */
export function slotNames(t: OutputTargets): string[] {
  const bands = t.spec.type === 'number' ? (t.spec.bands ?? []) : null;
  return bands ? bands.map((b) => bandOf(String(b), bands)) : t.names;
}

/**
 * Each output's loss weight per class or band from its spec (class_weights,
 * band_weights), set on the training split's targets only: validation and
 * evaluation losses stay plain means, as Keras' class_weight does.
 */
export function lossWeights(train: OutputTargets[]): void {
  for (const t of train) {
    const spec = t.spec;
    const given =
      spec.type === 'category' || spec.type === 'binary'
        ? spec.class_weights
        : spec.type === 'number'
          ? spec.band_weights
          : undefined;
    if (given === undefined) continue;
    const slots = slotNames(t).length;
    if (given !== 'balanced') {
      t.weights = Float32Array.from({ length: slots }, (_, k) =>
        Array.isArray(given) ? (given[k] as number) : (given[t.names[k] as string] ?? 1),
      );
      continue;
    }
    const counts = new Float64Array(slots);
    let total = 0;
    for (let i = 0; i < t.known.length; i++)
      if (t.known[i]) {
        const slot = slotIndex(t, i);
        counts[slot] = (counts[slot] as number) + 1;
        total++;
      }
    const present = counts.filter((n) => n > 0).length;
    // An empty class or band has no example to weigh: its weight is never used.
    t.weights = Float32Array.from(counts, (n) => (n > 0 ? total / (present * n) : 1));
  }
}

/** Each of `rows`' loss weight for output `t`: 0 without its label, else its class's or band's weight (1 by default). */
export function exampleWeights(t: OutputTargets, rows: ArrayLike<number>): Float32Array {
  const w = new Float32Array(rows.length);
  for (let k = 0; k < rows.length; k++) {
    const i = rows[k] as number;
    if (t.known[i]) w[k] = t.weights ? (t.weights[slotIndex(t, i)] as number) : 1;
  }
  return w;
}

/** A number output's value as the model learns it (before standardizing): the value, or log(1 + value). */
export function learnedValue(v: number, transform: 'none' | 'log' | undefined): number {
  return transform === 'log' ? Math.log1p(v) : v;
}

/** A number output's prediction `z` (standardized, learned) in the label's own unit. */
export function unitValue(
  z: number,
  scale: { mean: number; std: number } | undefined,
  transform?: 'none' | 'log',
): number {
  const { mean, std } = scale ?? { mean: 0, std: 1 };
  const v = z * std + mean;
  return transform === 'log' ? Math.expm1(v) : v;
}

/** Each number output's training mean and standard deviation (of the learned value), set on `sets`' targets alike. */
export function standardize(train: OutputTargets[], ...sets: (OutputTargets[] | undefined)[]): void {
  for (const [o, t] of train.entries()) {
    if (t.spec.type !== 'number') continue;
    let n = 0;
    let sum = 0;
    let sq = 0;
    for (let i = 0; i < t.known.length; i++)
      if (t.known[i]) {
        const v = learnedValue(t.values[i] as number, t.spec.transform);
        n++;
        sum += v;
        sq += v * v;
      }
    const mean = n ? sum / n : 0;
    const std = n ? Math.sqrt(Math.max(0, sq / n - mean * mean)) : 0;
    // A constant target (or none) keeps unit scale: nothing to divide by.
    const scale = { mean, std: std > 1e-12 ? std : 1 };
    for (const s of [train, ...sets]) if (s?.[o]) (s[o] as OutputTargets).scale = scale;
  }
}

/** The raw label of `item` for `from`: its class for `class`, else its named group or manifest column. */
function rawLabel(item: Item, from: string, classes: string[]): string | undefined {
  return from === 'class' ? classes[item.label] : item.attributes?.[from];
}

/** The name a raw value stands for: through the values map when there is one (unmapped: missing). */
function named(spec: { values?: Record<string, string> }, raw: string): string | undefined {
  return spec.values ? spec.values[raw] : raw;
}

/**
 * Each output's targets for `items`. `names` fixes each category output's
 * classes (the training data's, for evaluation sets); left out, a category
 * output's classes are its spec's or the names found, sorted.
 */
export function outputTargets(
  outputs: Record<string, OutputSpec>,
  items: Item[],
  classes: string[],
  where: string,
  names: Record<string, string[]> = {},
): OutputTargets[] {
  return Object.entries(outputs).map(([name, spec]) => oneOutput(name, spec, items, classes, where, names[name]));
}

/** One output's targets for `items` (outputTargets' work per output). */
function oneOutput(
  name: string,
  spec: OutputSpec,
  items: Item[],
  classes: string[],
  where: string,
  fixed: string[] | undefined,
): OutputTargets {
  const n = items.length;
  const raw = items.map((it) => rawLabel(it, spec.from, classes));
  const known = new Uint8Array(n);
  const fail = (i: number, what: string): never => {
    throw new DataError(`${where}: ${items[i]?.path}: output '${name}': ${what}`, `outputs.${name}`);
  };
  switch (spec.type) {
    case 'category': {
      const found = raw.map((r) => (r === undefined || r === '' ? undefined : named(spec, r)));
      const cls = fixed ?? spec.classes ?? [...new Set(found.filter((f): f is string => f !== undefined))].sort();
      const values = new Float32Array(n);
      found.forEach((f, i) => {
        if (f === undefined) return;
        const c = cls.indexOf(f);
        if (c < 0) fail(i, `'${f}' is not one of its classes ${cls.join(', ')}`);
        values[i] = c;
        known[i] = 1;
      });
      return done(name, spec, cls, 1, values, known);
    }
    case 'binary': {
      const values = new Float32Array(n);
      raw.forEach((r, i) => {
        const f = r === undefined || r === '' ? undefined : named(spec, r);
        if (f === undefined) return;
        values[i] = f === spec.positive ? 1 : 0;
        known[i] = 1;
      });
      return done(name, spec, [`not ${spec.positive}`, spec.positive], 1, values, known);
    }
    case 'number': {
      const values = new Float32Array(n);
      raw.forEach((r, i) => {
        if (r === undefined || r.trim() === '') return;
        const v = Number(r);
        if (!Number.isFinite(v)) fail(i, `'${r}' is not a number`);
        if (spec.transform === 'log' && v <= -1)
          fail(i, `${v} has no log(1 + value): transform log needs values above -1`);
        values[i] = v;
        known[i] = 1;
      });
      return done(name, spec, [], 1, values, known);
    }
    case 'set': {
      const width = spec.labels.length;
      const values = new Float32Array(n * width);
      // An empty value is the empty set; only a value that is not there at all is missing.
      raw.forEach((r, i) => {
        if (r === undefined) return;
        for (const label of r.split(spec.separator).map((s) => s.trim())) {
          if (label === '') continue;
          const k = spec.labels.indexOf(label);
          if (k < 0) fail(i, `'${label}' is not one of its labels ${spec.labels.join(', ')}`);
          values[i * width + k] = 1;
        }
        known[i] = 1;
      });
      return done(name, spec, spec.labels, width, values, known);
    }
  }
}

function done(
  name: string,
  spec: OutputSpec,
  names: string[],
  width: number,
  values: Float32Array,
  known: Uint8Array,
): OutputTargets {
  let missing = 0;
  for (const k of known) if (!k) missing++;
  return { name, spec, names, width, values, known, missing };
}

/**
 * An evaluation set's targets under the training data's outputs: a manifest
 * set's columns as training's sources say; a folder set's class folders label
 * each category (or binary) output whose names include them all (portraits'
 * male/female folders label a gender output), and no other output.
 */
export function evaluationTargets(
  train: OutputTargets[],
  items: Item[],
  setClasses: string[],
  where: string,
  manifest: boolean,
): OutputTargets[] {
  if (manifest)
    return outputTargets(
      Object.fromEntries(train.map((t) => [t.name, t.spec])),
      items,
      setClasses,
      where,
      Object.fromEntries(train.filter((t) => t.spec.type === 'category').map((t) => [t.name, t.names])),
    );
  return train.map((t) => {
    const labelled =
      (t.spec.type === 'category' || t.spec.type === 'binary') && setClasses.every((c) => t.names.includes(c));
    const values = new Float32Array(items.length * t.width);
    const known = new Uint8Array(items.length);
    if (labelled)
      items.forEach((it, i) => {
        const c = t.names.indexOf(setClasses[it.label] as string);
        values[i] = c;
        known[i] = 1;
      });
    return done(t.name, t.spec, t.names, t.width, values, known);
  });
}

/** Rows `rows` of one output's values and known flags, in that order (a split's share, a batch). */
export function gatherRows(t: OutputTargets, rows: ArrayLike<number>): { values: Float32Array; known: Uint8Array } {
  const values = new Float32Array(rows.length * t.width);
  const known = new Uint8Array(rows.length);
  for (let k = 0; k < rows.length; k++) {
    const i = rows[k] as number;
    values.set(t.values.subarray(i * t.width, (i + 1) * t.width), k * t.width);
    known[k] = t.known[i] as number;
  }
  return { values, known };
}

/** Rows `rows` of each output's targets, in that order (a split's share of the listing). */
export function takeRows(targets: OutputTargets[], rows: ArrayLike<number>): OutputTargets[] {
  return targets.map((t) => {
    const { values, known } = gatherRows(t, rows);
    return done(t.name, t.spec, t.names, t.width, values, known);
  });
}

/** The data line's part for missing labels: "age 12 missing, race 3 missing", or '' when none is. */
export function missingLine(targets: OutputTargets[]): string {
  return targets
    .filter((t) => t.missing > 0)
    .map((t) => `${t.name} ${t.missing} missing`)
    .join(', ');
}
