// config -> validated experiment: compose the file (extends, ${VAR}), apply
// --set overrides, upgrade old versions, validate and fill every default.
import { AUGMENTATIONS } from '../spec/augmentations.ts';
import { CROPS } from '../spec/crops.ts';
import { type ConfigError, ConfigErrors, uniqueErrors } from '../spec/errors.ts';
import type { Experiment, Json } from '../spec/experiment.ts';
import { LAYERS } from '../spec/layers.ts';
import { LOSSES } from '../spec/losses.ts';
import { OPTIMIZERS } from '../spec/optimizers.ts';
import { OUTPUT_TYPES } from '../spec/outputs.ts';
import { fillEntry } from '../spec/params.ts';
import { SCHEDULES } from '../spec/schedules.ts';
import { expandBlocks, originOf } from './blocks.ts';
import { type Composed, compose, Locator } from './compose.ts';
import { checkOutputs } from './outputs-check.ts';
import { applyOverrides, parseOverride } from './overrides.ts';
import { CONFIG_VERSION, experimentSchema } from './schema.ts';
import { checkSweep } from './sweep-check.ts';
import { validateExperiment } from './validate.ts';

export interface ResolveOptions {
  env?: NodeJS.ProcessEnv;
  /** `--set` arguments, KEY.PATH=VALUE, applied in order. */
  set?: string[];
}

export interface Resolved {
  experiment: Experiment;
  locator: Locator;
  files: string[];
  /** Where a path of the (block-expanded) experiment was written. */
  origin: (path: string) => string;
}

/** Each older format version's step to the next; version 1 is the first. */
const UPGRADES: Record<number, (cfg: Record<string, Json>) => void> = {};

const schema = experimentSchema();

export function resolveExperiment(file: string, options: ResolveOptions = {}): Resolved {
  const composed: Composed = compose(file, options.env ?? process.env);
  const value = composed.value;
  let locator = composed.locator;
  for (let v = typeof value.version === 'number' ? value.version : CONFIG_VERSION; v < CONFIG_VERSION; v++) {
    UPGRADES[v]?.(value);
    value.version = v + 1;
  }
  const overrides = (options.set ?? []).map(parseOverride);
  applyOverrides(value, overrides, schema);
  for (const o of overrides) {
    const at = new Map([
      [
        o.path
          .map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`))
          .join('')
          .replace(/^\./, ''),
        { line: 1, col: 1 },
      ],
    ]);
    locator = new Locator([{ file: `--set ${o.arg}`, keys: at, values: at }]).before(locator);
  }
  // Shorthands: `optimizer: adam` and `loss: hinge` mean `{type: ...}`.
  const training = value.training;
  if (training && typeof training === 'object' && !Array.isArray(training)) {
    for (const k of ['optimizer', 'loss', 'lr_schedule'])
      if (typeof training[k] === 'string') training[k] = { type: training[k] };
  }
  const expansion = expandBlocks(value.model);
  const at = (path: string): ConfigError => {
    const where = locator.locate(path);
    return { file: where.file, line: where.pos.line, col: where.pos.col, path, message: '' };
  };
  if (expansion.errors.length) throw new ConfigErrors(expansion.errors.map((e) => ({ ...at(e.path), ...e })));
  // A problem in an expanded layer is reported where that layer (or the parameter it took) was written.
  const origin = (path: string) => originOf(path, expansion.origins);
  const relocated = validateExperiment(value, schema, locator).map((e) =>
    origin(e.path) === e.path ? e : { ...e, ...at(origin(e.path)), message: e.message },
  );
  // A block written once and used many times would repeat its errors.
  const errors = uniqueErrors(relocated);
  if (errors.length === 0) errors.push(...checkSweep(value, schema, locator));
  if (errors.length) throw new ConfigErrors(errors);
  const exp = value as unknown as Experiment;
  const outputErrors = checkOutputs(exp, locator);
  if (outputErrors.length) throw new ConfigErrors(outputErrors);
  for (const out of Object.values(exp.outputs ?? {})) {
    fillEntry(out, OUTPUT_TYPES);
    out.head ??= []; // defaults inside a registry's branches are not filled by the schema
    for (const layer of out.head) fillEntry(layer, LAYERS);
  }
  for (const layer of exp.model.layers) fillEntry(layer, LAYERS);
  for (const aug of exp.data.augmentation) fillEntry(aug, AUGMENTATIONS);
  fillEntry(exp.data.preprocessing.crop, CROPS);
  fillEntry(exp.training.optimizer, OPTIMIZERS);
  fillEntry(exp.training.loss, LOSSES);
  fillEntry(exp.training.lr_schedule, SCHEDULES);
  return { experiment: exp, locator, files: composed.files, origin };
}
