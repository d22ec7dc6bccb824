// One trial of a sweep as an experiment to run: the declared experiment with
// the trial's overrides applied and validated like any --set.
import type { Json } from '../config/compose.ts';
import { ConfigErrors } from '../config/errors.ts';
import { type Resolved, type ResolveOptions, resolveExperiment } from '../config/resolve.ts';
import { expandSweep, sweepId, type Trial, trialSets } from './expand.ts';

/** What a trial's run records (trial.json) and tags its MLflow run with. */
export interface TrialInfo {
  sweep_id: string;
  index: number;
  trials: number;
  overrides: Record<string, Json>;
}

export interface Planned {
  base: Resolved;
  sweepId: string;
  trials: Trial[];
}

/** The sweep a file declares, expanded. */
export function planSweep(file: string, options: ResolveOptions): Planned {
  const base = resolveExperiment(file, options);
  const sweep = base.experiment.sweep;
  if (!sweep) {
    throw new ConfigErrors([
      {
        file,
        line: 1,
        col: 1,
        path: 'sweep',
        message: 'this experiment has no sweep section; add sweep: {parameters: {...}} to run trials',
      },
    ]);
  }
  return { base, sweepId: sweepId(base.experiment), trials: expandSweep(sweep) };
}

/** Trial `index` of the file's sweep, resolved (without its sweep section) and ready to run. */
export function resolveTrial(file: string, options: ResolveOptions, index: number) {
  const plan = planSweep(file, options);
  const trial = plan.trials[index];
  if (!trial) {
    throw new ConfigErrors([
      {
        file: `--trial ${index}`,
        line: 1,
        col: 1,
        path: 'sweep',
        message: `no trial ${index}: the sweep has ${plan.trials.length} trials, 0 to ${plan.trials.length - 1}`,
      },
    ]);
  }
  const resolved = resolveExperiment(file, { ...options, set: [...(options.set ?? []), ...trialSets(trial)] });
  delete resolved.experiment.sweep;
  const info: TrialInfo = {
    sweep_id: plan.sweepId,
    index,
    trials: plan.trials.length,
    overrides: trial.overrides,
  };
  return { resolved, trial: info };
}
