// A recorded model with several outputs on another data set: each output the
// set labels, scored as the run scores its evaluation sets. A folder set's
// class folders label the category outputs whose classes they are (portraits'
// male/female: gender); an experiment file's data (a file-name pattern, a
// manifest) labels every output its spec reads.
import { type FaceStats, type LoadOptions, loadPixels } from '../data/cache.ts';
import { type DataSpec, listData } from '../data/sources.ts';
import { evaluationTargets, type OutputTargets, outputTargets } from '../data/targets.ts';
import type { Tf } from '../platform/tensorflow.ts';
import { DataError } from '../spec/errors.ts';
import { outputsRecord, scoreOutputs } from '../train/evaluate.ts';
import { pixelSource } from './evaluate-run.ts';
import { type OutputsSet, outputsSet } from './outputs-report.ts';
import type { LoadedRun } from './predict.ts';

export interface OutputsEvaluation {
  images: number;
  bad: { path: string; reason: string }[];
  dataset_hash: string;
  faces?: FaceStats;
  /** The weighted loss over the outputs the set labels, and per output its labelled images, loss and metrics. */
  loss: number;
  outputs: Record<string, Record<string, number | null>>;
  /** Each image's labels and every output's units (predictions.json's and report.html's form). */
  set: OutputsSet;
}

/** The run's outputs as targets with no images yet: what evaluationTargets maps a set's labels onto. */
function outputTemplates(run: LoadedRun & { outputs: NonNullable<LoadedRun['outputs']> }): OutputTargets[] {
  return run.outputs.map((o) => {
    if (!o.spec)
      throw new DataError(
        `${run.dir}: output '${o.name}' does not say where its labels come from (a model folder saved before outputs carried their spec): evaluate from the run's folder`,
      );
    return {
      name: o.name,
      spec: o.spec,
      names: o.names,
      width: o.type === 'set' ? o.names.length : 1,
      values: new Float32Array(0),
      known: new Uint8Array(0),
      missing: 0,
      ...(o.scale ? { scale: o.scale } : {}),
    };
  });
}

/** Scores every output of `run` that `spec`'s images label. */
export async function evaluateOutputsOn(
  tf: Tf,
  run: LoadedRun & { outputs: NonNullable<LoadedRun['outputs']> },
  spec: DataSpec,
  options: LoadOptions = {},
): Promise<OutputsEvaluation> {
  const templates = outputTemplates(run);
  const folder = spec.source === 'folder';
  // A file-name or manifest set reads its labels from each output's source; a folder set from its class folders.
  const listing = listData(spec, !folder && !templates.some((t) => t.spec.from === 'class'));
  const items = [...listing.items, ...(listing.validation ?? []), ...(listing.test ?? [])];
  const p = run.preprocessing;
  const px = await loadPixels(items, p, options);
  const targets = folder
    ? evaluationTargets(templates, px.items, listing.classes, spec.path, false)
    : outputTargets(
        Object.fromEntries(templates.map((t) => [t.name, t.spec])),
        px.items,
        listing.classes,
        spec.path,
        Object.fromEntries(templates.filter((t) => t.spec.type === 'category').map((t) => [t.name, t.names])),
      );
  for (const [o, t] of targets.entries()) if (templates[o]?.scale) t.scale = templates[o]?.scale;
  if (targets.every((t) => t.missing === t.known.length))
    throw new DataError(
      `${spec.path} labels none of this model's outputs (${templates.map((t) => `${t.name}: ${t.spec.type}${t.names.length ? ` of ${t.names.join('/')}` : ''}`).join(', ')}): give a folder per class of a category output, or an experiment file whose data names each output's source`,
    );
  const source = pixelSource(tf, px.pixels, px.imageBytes, p);
  const index = Int32Array.from(px.items, (_, i) => i);
  const score = scoreOutputs(tf, { batchSize: 64, testTimeFlip: run.testTimeFlip }, source, index, targets, run.model);
  const record = outputsRecord(score, targets);
  const predictions = targets.map((t) => score?.outputs[t.name]?.predictions ?? new Float32Array(0));
  return {
    images: px.items.length,
    bad: px.bad,
    dataset_hash: px.hash,
    ...(px.faces ? { faces: px.faces } : {}),
    loss: record?.loss ?? 0,
    outputs: record?.outputs ?? {},
    set: outputsSet(
      px.items.map((it) => it.path),
      targets,
      predictions,
    ),
  };
}
