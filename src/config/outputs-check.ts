// What the schema cannot say about `outputs`: each output's label source
// exists in the experiment's data (a named group of data.pattern, or the
// class), band bounds ascend, band weights match the bands and class weights
// name the output's classes (when the file names them); and that every monitor names a metric the
// run records (which depend on the outputs). Manifest columns are checked when
// the manifest is read. Errors point at the keys.

import { AUGMENTATIONS, type AugmentationEntry } from '../spec/augmentations.ts';
import { type ConfigError, didYouMean } from '../spec/errors.ts';
import type { Experiment } from '../spec/experiment.ts';
import { monitorable } from '../spec/metric-names.ts';
import type { Locator } from './compose.ts';

/** The named groups of a regular expression's source, in order. */
export function groupNames(pattern: string): string[] {
  return [...pattern.matchAll(/\(\?<([A-Za-z_][A-Za-z0-9_]*)>/g)].map((m) => m[1] as string);
}

export function checkOutputs(exp: Experiment, locator: Locator): ConfigError[] {
  const errors: ConfigError[] = [];
  const at = (p: string, message: string) => {
    const where = locator.locate(p, 'value');
    errors.push({ file: where.file, line: where.pos.line, col: where.pos.col, path: p, message });
  };
  const allowed = monitorable(exp.outputs);
  const monitors: [string, string | undefined][] = [
    ['training.early_stopping.monitor', exp.training.early_stopping?.monitor],
    ['training.checkpoints.monitor', exp.training.checkpoints.monitor],
    [
      'training.lr_schedule.monitor',
      exp.training.lr_schedule.type === 'plateau' ? String(exp.training.lr_schedule.monitor ?? 'val_loss') : undefined,
    ],
  ];
  for (const [key, m] of monitors)
    if (m !== undefined && !allowed.includes(m)) {
      const hint = didYouMean(m, allowed);
      at(
        key,
        `'${m}' is not a metric this experiment records per epoch${hint ? `; did you mean '${hint}'?` : ''} (one of ${allowed.join(', ')})`,
      );
    }
  if (exp.outputs) {
    for (const [i, aug] of exp.data.augmentation.entries())
      if ((AUGMENTATIONS[aug.type as keyof typeof AUGMENTATIONS] as AugmentationEntry | undefined)?.stage === 'mix')
        at(
          `data.augmentation[${i}].type`,
          `${aug.type} mixes images and their one-hot class labels; a model with outputs has no single label to mix (drop it, or train one class output without outputs)`,
        );
    if (exp.training.class_weights !== null)
      at(
        'training.class_weights',
        "class weights weigh the data's classes; with outputs, give a class output its own class_weights (or a number output band_weights), and weigh whole outputs with loss_weight",
      );
  }
  const stratify = exp.data.split.stratify;
  if (stratify !== undefined) {
    const names = Object.keys(exp.outputs ?? {});
    const out = exp.outputs?.[stratify];
    const hint = didYouMean(stratify, names);
    if (!exp.outputs)
      at('data.split.stratify', "stratify names an output; without outputs the split keeps each class folder's share");
    else if (!out)
      at(
        'data.split.stratify',
        `'${stratify}' is not an output${hint ? `; did you mean '${hint}'?` : ''} (outputs: ${names.join(', ')})`,
      );
    else if (out.type === 'set' || (out.type === 'number' && !out.bands))
      at(
        'data.split.stratify',
        `'${stratify}' is a ${out.type} output${out.type === 'number' ? ' without bands' : ''}: the split keeps the shares of a category or binary output's classes, or of a number output's bands`,
      );
  }
  const { source, pattern } = exp.data;
  for (const [name, out] of Object.entries(exp.outputs ?? {})) {
    const here = `outputs.${name}`;
    if (source === 'folder' && out.from !== 'class')
      at(
        `${here}.from`,
        `'${out.from}' is not a label a folder source gives: its only label is the class folder (from: class); for more, use data.source filename (a pattern with named groups) or manifest (columns)`,
      );
    if (source === 'filename') {
      const groups = groupNames(pattern ?? '');
      const wanted = out.from === 'class' ? 'label' : out.from;
      if (!groups.includes(wanted)) {
        const hint = didYouMean(out.from, groups);
        at(
          `${here}.from`,
          `'${out.from}' is not a named group of data.pattern${hint ? `; did you mean '${hint}'?` : ''} (its groups: ${groups.join(', ') || 'none'}${out.from === 'class' ? '; from: class reads the group `label`' : ''})`,
        );
      }
    }
    if (out.type === 'number' && out.bands)
      for (let i = 1; i < out.bands.length; i++)
        if ((out.bands[i] as number) <= (out.bands[i - 1] as number)) {
          at(`${here}.bands`, `band bounds must ascend: ${out.bands.join(', ')}`);
          break;
        }
    if (out.type === 'number' && out.bins === 1)
      at(`${here}.bins`, 'one bin has nothing to choose between: give 0 (one regressed value) or at least 2 bins');
    if (out.type === 'number' && out.band_weights !== undefined) {
      const given = out.band_weights;
      if (!out.bands)
        at(`${here}.band_weights`, 'band_weights weigh bands: give the bands too (bands: [lower bounds])');
      else if (given !== 'balanced' && given.length !== out.bands.length)
        at(
          `${here}.band_weights`,
          `${given.length} weight(s) for ${out.bands.length} bands (${out.bands.join(', ')}): give one per band, or balanced`,
        );
    }
    if ((out.type === 'category' || out.type === 'binary') && out.class_weights && out.class_weights !== 'balanced') {
      const names =
        out.type === 'binary'
          ? [out.positive, `not ${out.positive}`]
          : (out.classes ?? (out.values ? [...new Set(Object.values(out.values))] : undefined));
      for (const name of names ? Object.keys(out.class_weights) : [])
        if (!names?.includes(name)) {
          const hint = didYouMean(name, names ?? []);
          at(
            `${here}.class_weights.${name}`,
            `'${name}' is not one of this output's classes${hint ? `; did you mean '${hint}'?` : ''} (${names?.join(', ')})`,
          );
        }
    }
    if (out.type === 'binary' && out.values && !Object.values(out.values).includes(out.positive))
      at(
        `${here}.positive`,
        `'${out.positive}' is none of the names in values (${[...new Set(Object.values(out.values))].join(', ')}): no image would be positive`,
      );
  }
  return errors;
}
