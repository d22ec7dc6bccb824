// data: list the files, split them, decode them through the cache; the same for
// each evaluation set. The result is everything training needs and everything
// a run records about its data.

import { DataError } from '../spec/errors.ts';
import type { Experiment } from '../spec/experiment.ts';
import { type BadFile, type FaceStats, type LoadOptions, loadPixels } from './cache.ts';
import type { FileStamp } from './cache-files.ts';
import { channelsOf } from './decode.ts';
import { type DataSpec, type Item, listData } from './sources.ts';
import { stratifiedSplit } from './split.ts';
import {
  evaluationTargets,
  lossWeights,
  type OutputTargets,
  outputTargets,
  slotIndex,
  slotNames,
  standardize,
  takeRows,
} from './targets.ts';

export interface PreparedData {
  classes: string[];
  /** Pixels of every usable image, train then validation then test. */
  pixels: Uint8Array;
  imageBytes: number;
  /** [height, width, channels] of one image. */
  shape: [number, number, number];
  /** Image indexes into `pixels` and their labels (with outputs: each output's targets), per split. */
  splits: Record<
    'train' | 'validation' | 'test',
    { index: Int32Array; labels: Int32Array; files: string[]; targets?: OutputTargets[] }
  >;
  /** Images per class and split. */
  counts: Record<'train' | 'validation' | 'test', number[]>;
  bad: BadFile[];
  hash: string;
  /** Path, size and mtime of every training-data file, as `hash` saw them. */
  stamps: FileStamp[];
  decoded: number;
  reused: number;
  warnings: string[];
  /** With a face crop: how many images had a face. */
  faces?: FaceStats;
  evaluationSets: Record<string, EvaluationSet>;
}

/** A data set from elsewhere, preprocessed like the training data, labels in the training classes' order. */
export interface EvaluationSet {
  path: string;
  pixels: Uint8Array;
  labels: Int32Array;
  /** With outputs: each output's targets (an output the set does not label is missing on every image). */
  targets?: OutputTargets[];
  files: string[];
  bad: BadFile[];
  hash: string;
  faces?: FaceStats;
}

/** A split of more than this many times as many images in one class as in another gets a warning. */
const IMBALANCE = 3;

export async function prepareData(exp: Experiment, options: LoadOptions = {}): Promise<PreparedData> {
  const outputs = exp.outputs;
  const listing = listData(exp.data, outputs ? !Object.values(outputs).some((o) => o.from === 'class') : false);
  const { classes } = listing;
  const seed = exp.data.split.seed ?? exp.seed;
  const targets = outputs ? outputTargets(outputs, listing.items, classes, exp.data.path) : undefined;
  const rowOf = new Map(listing.items.map((it, i) => [it, i]));
  // With outputs, the split keeps one output's proportions (data.split.stratify, else the first class-like
  // output): its classes or bands, its missing labels a stratum of their own.
  const by = exp.data.split.stratify;
  const strata = targets?.find((t) => (by ? t.name === by : t.spec.type === 'category' || t.spec.type === 'binary'));
  const slots = strata ? slotNames(strata) : [];
  const stratumOf = (it: Item) => {
    const i = rowOf.get(it) as number;
    return strata?.known[i] ? slotIndex(strata, i) : slots.length;
  };
  const strataNames = strata ? [...slots, `${strata.name} missing`] : targets ? ['all'] : classes;
  const parts: Record<'train' | 'validation' | 'test', Item[]> = listing.validation
    ? { train: listing.items, validation: listing.validation, test: listing.test ?? [] }
    : stratifiedSplit(
        listing.items,
        strataNames,
        { validation: exp.data.split.validation, test: exp.data.split.test },
        seed,
        targets !== undefined,
        targets ? stratumOf : undefined,
      );
  if (listing.validation && listing.test === undefined && exp.data.split.test > 0) {
    parts.test = stratifiedSplit(listing.items, classes, { validation: 0, test: exp.data.split.test }, seed).test;
  }
  const all = [...parts.train, ...parts.validation, ...parts.test];
  // Evaluation sets are listed first: a missing folder or other classes stop the run before any decoding.
  // With outputs, a set keeps its own class names: they label outputs, not the training classes.
  const listings = Object.entries(exp.data.evaluation_sets).map(([name, where]) => {
    const own = targets ? setListing(name, where, true) : null;
    return [name, where, own ? own.items : evaluationListing(name, where, classes), own?.classes ?? classes] as const;
  });
  const px = await loadPixels(all, exp.data.preprocessing, options);
  const unreadable = px.bad.filter((b) => !b.no_face);
  if (unreadable.length > 0 && exp.data.on_bad_file === 'fail') {
    const list = unreadable.slice(0, 10).map((b) => `  ${b.path}: ${b.reason}`);
    throw new DataError(`${unreadable.length} file(s) could not be read (data.on_bad_file: fail):\n${list.join('\n')}`);
  }
  // Map each surviving item back to its split.
  const slotOf = new Map(px.items.map((it, i) => [it, i]));
  const splits = {} as PreparedData['splits'];
  const counts = {} as PreparedData['counts'];
  for (const name of ['train', 'validation', 'test'] as const) {
    const kept = parts[name].filter((it) => slotOf.has(it));
    splits[name] = {
      index: Int32Array.from(kept, (it) => slotOf.get(it) as number),
      labels: Int32Array.from(kept, (it) => it.label),
      files: kept.map((it) => it.path),
      ...(targets
        ? {
            targets: takeRows(
              targets,
              kept.map((it) => rowOf.get(it) as number),
            ),
          }
        : {}),
    };
    counts[name] = classes.map((_, c) => kept.filter((it) => it.label === c).length);
  }
  for (const [c, cls] of classes.entries()) {
    if ((counts.train[c] ?? 0) === 0)
      throw new DataError(`class '${cls}' has no training images left after the split and bad-file removal`);
  }
  const warnings: string[] = [];
  const train = counts.train;
  const max = Math.max(...train);
  const min = Math.min(...train);
  if (max > IMBALANCE * min) {
    warnings.push(
      `strong class imbalance in training data: ${classes.map((c, i) => `${c} ${train[i]}`).join(', ')}; consider training.class_weights: balanced`,
    );
  }
  if (unreadable.length > 0) warnings.push(`${unreadable.length} bad file(s) skipped (listed in the run's records)`);
  const faceless = px.bad.length - unreadable.length;
  if (faceless > 0)
    warnings.push(`${faceless} image(s) without a face left out (crop.on_miss: skip; listed in the run's records)`);
  const evaluationSets: Record<string, EvaluationSet> = {};
  for (const [name, where, items, setClasses] of listings) {
    const set = await loadPixels(items, exp.data.preprocessing, options);
    evaluationSets[name] = {
      path: where,
      pixels: set.pixels,
      labels: Int32Array.from(set.items, (it) => it.label),
      ...(targets ? { targets: evaluationTargets(targets, set.items, setClasses, where, isManifest(where)) } : {}),
      files: set.items.map((it) => it.path),
      bad: set.bad,
      hash: set.hash,
      faces: set.faces,
    };
  }
  // Number outputs: every split and set on the training split's scale; loss weights from the training split.
  if (splits.train.targets) {
    standardize(
      splits.train.targets,
      splits.validation.targets,
      splits.test.targets,
      ...Object.values(evaluationSets).map((e) => e.targets),
    );
    lossWeights(splits.train.targets);
  }
  const [h, w] = exp.data.preprocessing.size;
  return {
    classes,
    pixels: px.pixels,
    imageBytes: px.imageBytes,
    shape: [h, w, channelsOf(exp.data.preprocessing)],
    splits,
    counts,
    bad: px.bad,
    hash: px.hash,
    stamps: px.stamps,
    decoded: px.decoded,
    reused: px.reused,
    warnings,
    faces: px.faces,
    evaluationSets,
  };
}

const isManifest = (where: string) => /\.(csv|jsonl?)$/i.test(where);

/** An evaluation set as it lists itself: a folder (one sub-folder per class) or a manifest (`classless`: no label column needed). */
function setListing(name: string, where: string, classless = false): ReturnType<typeof listData> {
  const spec: DataSpec = isManifest(where)
    ? { source: 'manifest', path: where, path_column: 'path', label_column: 'label' }
    : { source: 'folder', path: where, path_column: 'path', label_column: 'label' };
  try {
    return listData(spec, classless && isManifest(where));
  } catch (err) {
    throw new DataError(err instanceof Error ? err.message : String(err), `data.evaluation_sets.${name}`);
  }
}

/** A folder (one sub-folder per class) or a manifest; its classes must be among the training classes. */
export function evaluationListing(name: string, where: string, classes: string[]): Item[] {
  const listing = setListing(name, where);
  const foreign = listing.classes.filter((c) => !classes.includes(c));
  if (foreign.length > 0) {
    throw new DataError(
      `${where} has class(es) ${foreign.map((c) => `'${c}'`).join(', ')} that the training data does not; an evaluation set's classes must be among the training classes: ${classes.join(', ')}`,
      `data.evaluation_sets.${name}`,
    );
  }
  return listing.items.map((it) => ({ ...it, label: classes.indexOf(listing.classes[it.label] as string) }));
}
