// One trial of a sweep as an experiment to run: the declared experiment with
// the trial's overrides applied and validated like any --set.

import { type Resolved, type ResolveOptions, resolveExperiment } from '../config/resolve.ts';
import { ConfigErrors } from '../spec/errors.ts';
import type { Json, Scheduler, Sweep } from '../spec/experiment.ts';
import { expandSweep, sweepId, type Trial, trialSets } from './expand.ts';

/** What a trial's run records (trial.json) and tags its MLflow run with. */
export interface TrialInfo {
  sweep_id: string;
  index: number;
  trials: number;
  overrides: Record<string, Json>;
  /** What ranks the trials, and the scheduler that stops losing ones early (ASHA). */
  metric: string;
  goal: 'maximize' | 'minimize';
  scheduler?: Scheduler;
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

/**
 * Trial `index` of the file's sweep, resolved (without its sweep section) and ready to run;
 * `proposed`: a tpe trial's overrides, which the sweep's own list cannot know.
 */
export function resolveTrial(file: string, options: ResolveOptions, index: number, proposed?: Record<string, Json>) {
  const plan = planSweep(file, options);
  const listed = plan.trials[index];
  const trial = listed && proposed ? { ...listed, overrides: proposed } : listed;
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
  const sweep = plan.base.experiment.sweep as Sweep;
  const info: TrialInfo = {
    sweep_id: plan.sweepId,
    index,
    trials: plan.trials.length,
    overrides: trial.overrides,
    metric: sweep.metric,
    goal: sweep.goal,
    scheduler: sweep.scheduler ?? undefined,
  };
  return { resolved, trial: info };
}
