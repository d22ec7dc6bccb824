// What the schema cannot say about a sweep: each parameter path is a key the
// experiment has, each value (or range end) gives a valid experiment, and the
// method fits the parameters. Errors point at the sweep's own keys.

import { type ConfigError, ConfigErrors, didYouMean, formatPath } from '../spec/errors.ts';
import type { Json, OutputSpec, Scheduler, Sweep, SweepParameter } from '../spec/experiment.ts';
import { EVALUATION_SET_METRICS, outputMetricNames, RANKING_METRICS } from '../spec/metric-names.ts';
import type { Locator } from './compose.ts';
import { applyOverrides, parsePath } from './overrides.ts';
import { validateExperiment } from './validate.ts';

type Schema = Record<string, unknown>;

export const MAX_TRIALS = 10_000;

const isRange = (p: SweepParameter): p is { min: number; max: number; scale?: 'linear' | 'log' } =>
  !Array.isArray(p) && 'min' in p;
/** The values a parameter can take, or a range's two ends. */
export const parameterValues = (p: SweepParameter): Json[] =>
  Array.isArray(p) ? p : 'values' in p ? p.values : [p.min, p.max];

export function checkSweep(value: Record<string, Json>, schema: Schema, locator: Locator): ConfigError[] {
  const sweep = value.sweep as unknown as Sweep | undefined;
  if (!sweep) return [];
  const errors: ConfigError[] = [];
  const at = (p: string, message: string, what: 'key' | 'value' = 'key') => {
    const where = locator.locate(p, what);
    errors.push({ file: where.file, line: where.pos.line, col: where.pos.col, path: p, message });
  };
  const data = value.data as { evaluation_sets?: Record<string, string> } | undefined;
  const sets = Object.keys(data?.evaluation_sets ?? {});
  const outputs = value.outputs as unknown as Record<string, OutputSpec> | undefined;
  // With outputs: the weighted losses, and each output's metrics on validation and on each evaluation set.
  const metrics: string[] = outputs
    ? ['val_loss', 'loss', ...outputMetricNames(outputs).flatMap((m) => [`val_${m}`, ...sets.map((s) => `${s}_${m}`)])]
    : [...RANKING_METRICS, ...sets.flatMap((s) => EVALUATION_SET_METRICS.map((m) => `${s}_${m}`))];
  if (!metrics.includes(sweep.metric)) {
    const hint = didYouMean(sweep.metric, metrics);
    at(
      'sweep.metric',
      `'${sweep.metric}' is not a metric of this experiment${hint ? `; did you mean '${hint}'?` : ''} (one of ${metrics.join(', ')})`,
      'value',
    );
  }
  if (sweep.method !== 'grid' && sweep.trials === undefined) {
    at('sweep.method', `method '${sweep.method}' needs trials: how many to run (e.g. trials: 16)`, 'value');
  }
  if (sweep.method === 'grid' && sweep.trials !== undefined) {
    at('sweep.trials', 'trials counts random draws; a grid runs every combination (use method: random)');
  }
  if (sweep.method === 'tpe' && sweep.seeds) {
    at(
      'sweep.seeds',
      "seeds repeats fixed trials; tpe proposes each trial from the others' results (sweep seed as a parameter instead)",
    );
  }
  if (sweep.scheduler) checkScheduler(value, sweep, at);
  let grid = 1;
  const { sweep: _, ...base } = value;
  for (const [key, param] of Object.entries(sweep.parameters)) {
    const here = formatPath(['sweep', 'parameters', key]);
    const path = parsePath(key);
    if (!path) {
      at(here, 'not a key path; write keys with dots and list indexes in brackets, e.g. model.layers[2].filters');
      continue;
    }
    if (path[0] === 'sweep' || path[0] === 'name') {
      at(here, `a sweep cannot change '${path[0]}'`);
      continue;
    }
    if (isRange(param)) {
      if (sweep.method === 'grid')
        at(here, 'a range {min, max} needs method: random or tpe; a grid needs a list of values');
      if (param.min > param.max) at(here, `min ${param.min} is above max ${param.max}`, 'value');
      if (param.scale === 'log' && param.min <= 0) at(here, 'a log scale needs min > 0', 'value');
    } else {
      grid *= parameterValues(param).length;
    }
    for (const v of parameterValues(param)) {
      const trial = structuredClone(base);
      try {
        applyOverrides(trial, [{ arg: `${key}=${JSON.stringify(v)}`, path, value: v }], schema);
      } catch (err) {
        if (!(err instanceof ConfigErrors)) throw err;
        at(here, err.errors[0]?.message ?? 'not a key of the experiment');
        break;
      }
      const first = validateExperiment(trial, schema, locator)[0];
      if (first) {
        at(here, `${JSON.stringify(v)} gives an invalid experiment: ${first.path}: ${first.message}`, 'value');
        break;
      }
    }
  }
  const total = (sweep.method === 'grid' ? grid : (sweep.trials ?? 1)) * (sweep.seeds?.length ?? 1);
  if (total > MAX_TRIALS) at('sweep', `${total} trials is more than ${MAX_TRIALS}; narrow the sweep`);
  return errors;
}

/** ASHA judges trials by the metric at its rungs: the metric must be there at every epoch, and the epochs fixed. */
function checkScheduler(
  value: Record<string, Json>,
  sweep: Sweep,
  at: (p: string, message: string, what?: 'key' | 'value') => void,
): void {
  const scheduler = sweep.scheduler as Scheduler;
  const training = value.training as { epochs?: number } | undefined;
  const data = value.data as { evaluation_every?: number } | undefined;
  const epochs = training?.epochs ?? 1;
  if (scheduler.min_epochs >= epochs) {
    at(
      'sweep.scheduler.min_epochs',
      `${scheduler.min_epochs} is not below training.epochs (${epochs}): no trial would be judged before its end`,
      'value',
    );
  }
  if (Object.keys(sweep.parameters).some((k) => k === 'training.epochs')) {
    at('sweep.scheduler', 'ASHA stops trials by epochs; it cannot be combined with sweeping training.epochs');
  }
  const perEpoch = (RANKING_METRICS as readonly string[]).includes(sweep.metric) || sweep.metric.startsWith('val_');
  if (!perEpoch && (data?.evaluation_every ?? 0) !== 1) {
    at(
      'sweep.scheduler',
      `ASHA compares trials at every rung, but ${sweep.metric} is scored only at the end; set data.evaluation_every: 1 or rank by a validation metric`,
    );
  }
}
