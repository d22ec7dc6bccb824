// The other trials of a sweep, as a trial's pruner sees them: their metric at
// a rung, read from the run folders here and, when the sweep is tracked, from
// its trials' runs in MLflow, so trials on other machines (CI jobs) prune each other.
import type { MlflowClient } from '../record/mlflow-client.ts';
import { ROLE_TAG, SWEEP_TAG, TRIAL_TAG } from '../record/mlflow-parent.ts';
import { readMetrics } from '../record/run-store.ts';
import { trialFolders } from './sweep-summary.ts';

export interface TrialStoreContext {
  sweepId: string;
  /** This trial's index: its own records are not another trial's. */
  index: number;
  metric: string;
  /** Where run folders are recorded here. */
  root: string;
  mlflow?: { client: MlflowClient; experiment: string };
  /** Told when MLflow cannot be read: the decision then rests on the run folders alone. */
  onWarning?: (message: string) => void;
}

const at = (metrics: Record<string, unknown>[], epoch: number, key: string): number | null => {
  const v = metrics.find((m) => m.epoch === epoch)?.[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
};

/** Every other trial's metric at `epoch`, by trial index: run folders first, then MLflow for the rest. */
export async function rungValues(ctx: TrialStoreContext, epoch: number): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const [index, t] of trialFolders(ctx.root, ctx.sweepId)) {
    if (index === ctx.index) continue;
    const v = at(readMetrics(t.run), epoch, ctx.metric);
    if (v !== null) out.set(index, v);
  }
  if (!ctx.mlflow) return out;
  try {
    const { client, experiment } = ctx.mlflow;
    const experimentId = await client.getExperimentByName(experiment);
    if (!experimentId) return out;
    const runs = await client.searchRuns(
      [experimentId],
      `tags.\`${SWEEP_TAG}\` = '${ctx.sweepId}' and tags.\`${ROLE_TAG}\` = 'trial'`,
    );
    for (const r of runs) {
      const index = Number(r.data.tags?.find((t) => t.key === TRIAL_TAG)?.value);
      if (!Number.isInteger(index) || index === ctx.index || out.has(index)) continue;
      const point = (await client.metricHistory(r.info.run_id, ctx.metric)).find((m) => m.step === epoch);
      if (point && Number.isFinite(point.value)) out.set(index, point.value);
    }
  } catch (err) {
    ctx.onWarning?.(
      `MLflow could not be read for the other trials (${err instanceof Error ? err.message : String(err)}); judged on the run folders here`,
    );
  }
  return out;
}
