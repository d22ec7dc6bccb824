// Whether a trial goes on past a rung (asha.ts): its metric there against
// every other trial of the sweep that reached the same epoch, read from the
// run folders here and, when the sweep is tracked, from its trials' runs in
// MLflow, so trials on other machines (CI jobs) prune each other.

import type { MlflowClient } from '../record/mlflow-client.ts';
import { ROLE_TAG, SWEEP_TAG, TRIAL_TAG } from '../record/mlflow-parent.ts';
import { readMetrics } from '../record/run-store.ts';
import { trialFolders } from '../report/sweep-summary.ts';
import type { Scheduler } from '../spec/experiment.ts';
import { judge, type RungDecision, rungs } from './asha.ts';

export interface PrunerContext {
  sweepId: string;
  /** This trial's index: its own records are not another trial's. */
  index: number;
  scheduler: Scheduler;
  metric: string;
  goal: 'maximize' | 'minimize';
  epochs: number;
  /** Where run folders are recorded here. */
  root: string;
  mlflow?: { client: MlflowClient; experiment: string };
  /** Told when MLflow cannot be read: the decision then rests on the run folders alone. */
  onWarning?: (message: string) => void;
}

export interface Verdict extends RungDecision {
  rung: number;
  value: number;
}

const at = (metrics: Record<string, unknown>[], epoch: number, key: string): number | null => {
  const v = metrics.find((m) => m.epoch === epoch)?.[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
};

/** Every other trial's metric at `epoch`, by trial index: run folders first, then MLflow for the rest. */
export async function rungValues(ctx: PrunerContext, epoch: number): Promise<Map<number, number>> {
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

/** The pruner of one trial: at each rung, the verdict; elsewhere null (nothing to judge). */
export function makePruner(ctx: PrunerContext) {
  const judged = new Set(rungs(ctx.scheduler, ctx.epochs));
  return async (epoch: number, metrics: Record<string, unknown>): Promise<Verdict | null> => {
    const value = metrics[ctx.metric];
    if (!judged.has(epoch) || typeof value !== 'number' || !Number.isFinite(value)) return null;
    const others = [...(await rungValues(ctx, epoch)).values()];
    return { rung: epoch, value, ...judge(value, others, ctx.scheduler.reduction_factor, ctx.goal) };
  };
}
