// Asynchronous successive halving (ASHA, Li et al. 2020): rungs at min_epochs,
// min_epochs * eta, min_epochs * eta^2, ... below the experiment's epochs. A
// trial that completes a rung's epoch goes on only while its metric is among
// the top 1/eta of every trial that has reached that rung so far, itself
// included; it never waits for the others, so workers are never idle.
import type { Scheduler } from '../spec/experiment.ts';

/** The epochs at which a trial is judged: every rung below the last epoch (a trial at the last epoch is done). */
export function rungs(scheduler: Scheduler, epochs: number): number[] {
  const out: number[] = [];
  for (let r = scheduler.min_epochs; r < epochs; r *= scheduler.reduction_factor) out.push(r);
  return out;
}

export interface RungDecision {
  /** False: the trial stops here, pruned. */
  goOn: boolean;
  /** Its place at the rung (1 = best) among `of` trials, and how many of them go on. */
  rank: number;
  of: number;
  keep: number;
}

/**
 * The decision for a trial scoring `value` at a rung where the other trials scored `others`.
 * The top floor(n / eta) go on, at least one: the first trial to reach a rung always does.
 * Ties with the last place kept go on too.
 */
export function judge(
  value: number,
  others: number[],
  reductionFactor: number,
  goal: 'maximize' | 'minimize',
): RungDecision {
  const better = (a: number, b: number) => (goal === 'maximize' ? a > b : a < b);
  const all = [...others, value].sort((a, b) => (better(a, b) ? -1 : better(b, a) ? 1 : 0));
  const keep = Math.max(1, Math.floor(all.length / reductionFactor));
  const cutoff = all[keep - 1] as number;
  return {
    goOn: !better(cutoff, value),
    rank: 1 + others.filter((o) => better(o, value)).length,
    of: all.length,
    keep,
  };
}
