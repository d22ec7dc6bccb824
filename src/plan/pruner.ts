// Whether a trial goes on past a rung (asha.ts): its metric there against
// every other trial of the sweep that reached the same epoch. Where those
// values come from (run folders here, MLflow for trials on other machines) is
// the caller's: report/trial-store.ts reads them.
import type { Scheduler } from '../spec/experiment.ts';
import { judge, type RungDecision, rungs } from './asha.ts';

export interface PrunerContext {
  scheduler: Scheduler;
  goal: 'maximize' | 'minimize';
  epochs: number;
  /** Every other trial's metric at `epoch`, by trial index. */
  others(epoch: number): Promise<Map<number, number>>;
}

export interface Verdict extends RungDecision {
  rung: number;
  value: number;
}

/** The pruner of one trial: at each rung, the verdict on the trial's metric there; elsewhere null (nothing to judge). */
export function makePruner(ctx: PrunerContext) {
  const judged = new Set(rungs(ctx.scheduler, ctx.epochs));
  return async (epoch: number, value: number | null): Promise<Verdict | null> => {
    if (!judged.has(epoch) || value === null || !Number.isFinite(value)) return null;
    const others = [...(await ctx.others(epoch)).values()];
    return { rung: epoch, value, ...judge(value, others, ctx.scheduler.reduction_factor, ctx.goal) };
  };
}
