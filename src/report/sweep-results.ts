// A sweep's results so far, wherever its trials ran: MLflow's child runs
// (with what the run folders here add) when the sweep is tracked, else the
// run folders. Summaries, TPE proposals and --next all read them here.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { ResolveOptions } from '../config/resolve.ts';
import { type Observation, proposeTpe } from '../plan/tpe.ts';
import { type Planned, planSweep, resolveTrial, type TrialInfo } from '../plan/trial.ts';
import { clientOptionsFromEnv, type MlflowClient, mlflowClient } from '../record/mlflow-client.ts';
import { trackingUri } from '../record/mlflow-tracker.ts';
import type { Sweep } from '../spec/experiment.ts';
import { type SweepSummary, summarizeFolders, summarizeMlflow } from './sweep-summary.ts';

export interface Tracked {
  uri: string;
  client: MlflowClient;
  experiment: string;
}

/** The MLflow server the sweep is tracked in, if any. */
export function trackedIn(plan: Planned): Tracked | null {
  const exp = plan.base.experiment;
  const uri = trackingUri(exp.tracking.mlflow_uri);
  return uri
    ? { uri, client: mlflowClient(clientOptionsFromEnv(uri)), experiment: exp.tracking.experiment_name ?? exp.name }
    : null;
}

/** `curves`: every trial's metric by epoch from MLflow too (a request per trial; the run folders always give them). */
export async function sweepResults(
  plan: Planned,
  curves = false,
): Promise<{ summary: SweepSummary; experimentId: string | null }> {
  const exp = plan.base.experiment;
  const sweep = exp.sweep as Sweep;
  const tracked = trackedIn(plan);
  const experimentId = tracked ? await tracked.client.getExperimentByName(tracked.experiment) : null;
  const summary =
    tracked && experimentId
      ? await summarizeMlflow(
          tracked.client,
          experimentId,
          plan.sweepId,
          sweep,
          exp.training.epochs,
          plan.trials,
          exp.tracking.dir,
          curves,
        )
      : summarizeFolders(exp.tracking.dir, plan.sweepId, sweep, exp.training.epochs, plan.trials);
  return { summary, experimentId };
}

/** The trials with a result, as TPE learns from them: finished ones, and pruned ones at their rung. */
export function observations(summary: SweepSummary): Observation[] {
  return summary.rows.flatMap((r) =>
    (r.status === 'FINISHED' || r.status === 'PRUNED') && r.value !== null && Object.keys(r.overrides).length
      ? [{ overrides: r.overrides, value: r.value, epochs: r.epochs ?? 0 }]
      : [],
  );
}

/**
 * Trial `index` resolved and ready to run. A tpe trial's overrides are proposed now, from the
 * results so far; a resumed one keeps those its run folder recorded.
 */
export async function trialToRun(file: string, options: ResolveOptions, index: number, resume?: string) {
  const plan = planSweep(file, options);
  const sweep = plan.base.experiment.sweep as Sweep;
  if (sweep.method !== 'tpe') return resolveTrial(file, options, index);
  const overrides = resume
    ? (JSON.parse(readFileSync(path.join(resume, 'trial.json'), 'utf8')) as TrialInfo).overrides
    : proposeTpe(sweep, index, observations((await sweepResults(plan)).summary));
  return resolveTrial(file, options, index, overrides);
}
