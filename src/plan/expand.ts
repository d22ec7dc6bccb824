// A sweep's trials: grid (every combination, the last parameter varying
// fastest) or seeded random draws, each repeated over `seeds`. A trial is a
// list of --set overrides on the experiment it was declared in. A tpe sweep's
// trials are numbered here but get their overrides when they start (tpe.ts).
import { createHash } from 'node:crypto';
import { parameterValues } from '../config/sweep-check.ts';
import { rng } from '../platform/random.ts';
import type { Experiment, Json, Sweep } from '../spec/experiment.ts';

export interface Trial {
  index: number;
  /** Key path -> value, in the sweep's parameter order (then `seed` for repeats). */
  overrides: Record<string, Json>;
}

/** One random value of a parameter: a list's item, or a draw from a range (log-uniform on a log scale). */
export function drawValue(param: Sweep['parameters'][string], random: () => number): Json {
  if (Array.isArray(param) || 'values' in param) {
    const values = parameterValues(param);
    return values[Math.floor(random() * values.length)] as Json;
  }
  const r = random();
  const x =
    param.scale === 'log'
      ? Math.exp(Math.log(param.min) + r * (Math.log(param.max) - Math.log(param.min)))
      : param.min + r * (param.max - param.min);
  // Six significant digits: trial lists stay readable and the values round-trip through --set.
  return param.type === 'int' ? Math.round(x) : Number(x.toPrecision(6));
}

export function expandSweep(sweep: Sweep): Trial[] {
  const keys = Object.keys(sweep.parameters);
  let combos: Record<string, Json>[];
  if (sweep.method === 'tpe') {
    combos = Array.from({ length: sweep.trials ?? 1 }, () => ({}));
  } else if (sweep.method === 'random') {
    const random = rng(sweep.seed);
    combos = Array.from({ length: sweep.trials ?? 1 }, () =>
      Object.fromEntries(keys.map((k) => [k, drawValue(sweep.parameters[k] as Sweep['parameters'][string], random)])),
    );
  } else {
    combos = [{}];
    for (const k of keys) {
      const values = parameterValues(sweep.parameters[k] as Sweep['parameters'][string]);
      combos = combos.flatMap((c) => values.map((v) => ({ ...c, [k]: v })));
    }
  }
  const seeded = sweep.seeds
    ? combos.flatMap((c) => (sweep.seeds as number[]).map((seed) => ({ ...c, seed })))
    : combos;
  return seeded.map((overrides, index) => ({ index, overrides }));
}

/** A trial's overrides as --set arguments (values as JSON, which --set reads as YAML). */
export function trialSets(trial: Trial): string[] {
  return Object.entries(trial.overrides).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
}

/** JSON with every mapping's keys sorted: the same experiment however its keys were ordered (--set adds them late). */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v).filter(([, x]) => x !== undefined);
    return `{${entries
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * The sweep's identity: the experiment as declared, sweep included, so the same file and --set
 * give the same id on every machine. Where runs are recorded and how many threads train them
 * are left out: they change no trial's result (CI jobs and --parallel workers set them).
 */
export function sweepId(experiment: Experiment): string {
  const { tracking: _, ...rest } = experiment;
  const { threads: __, ...training } = rest.training;
  const hash = createHash('sha256')
    .update(canonical({ ...rest, training }))
    .digest('hex');
  return `${experiment.name}-${hash.slice(0, 10)}`;
}
