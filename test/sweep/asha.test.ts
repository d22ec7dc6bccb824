// ASHA: rung arithmetic, the decision at a rung, and the pruner reading the
// other trials' rung values from run folders (as a sweep's workers leave them).
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { judge, rungs } from '../../src/plan/asha.ts';
import { makePruner } from '../../src/plan/pruner.ts';
import { rungValues } from '../../src/report/trial-store.ts';
import { tempDir } from '../data/fixtures.ts';

const asha = (reduction_factor: number, min_epochs: number) => ({
  type: 'asha' as const,
  reduction_factor,
  min_epochs,
});

describe('rungs', () => {
  it('sit at min_epochs * reduction_factor^k below the last epoch', () => {
    expect(rungs(asha(3, 1), 9)).toEqual([1, 3]);
    expect(rungs(asha(3, 1), 10)).toEqual([1, 3, 9]);
    expect(rungs(asha(2, 1), 8)).toEqual([1, 2, 4]);
    expect(rungs(asha(3, 2), 20)).toEqual([2, 6, 18]);
    expect(rungs(asha(4, 1), 2)).toEqual([1]);
    expect(rungs(asha(3, 5), 5)).toEqual([]);
  });
});

describe('the decision at a rung', () => {
  it('keeps the top floor(n / reduction_factor) of the trials that reached it, at least one', () => {
    const others = [0.9, 0.8, 0.7, 0.6, 0.5];
    // Six trials at the rung, reduction factor 3: the best two go on.
    expect(judge(0.85, others, 3, 'maximize')).toEqual({ goOn: true, rank: 2, of: 6, keep: 2 });
    expect(judge(0.75, others, 3, 'maximize')).toEqual({ goOn: false, rank: 3, of: 6, keep: 2 });
    expect(judge(0.95, others, 3, 'maximize').goOn).toBe(true);
    // The first trial at a rung always goes on; the second only if it is the better of the two.
    expect(judge(0.1, [], 3, 'maximize')).toEqual({ goOn: true, rank: 1, of: 1, keep: 1 });
    expect(judge(0.6, [0.7], 3, 'maximize').goOn).toBe(false);
    expect(judge(0.8, [0.7], 3, 'maximize').goOn).toBe(true);
  });

  it('ranks a loss the other way round', () => {
    expect(judge(0.2, [0.3, 0.4, 0.5, 0.6, 0.7], 3, 'minimize')).toEqual({ goOn: true, rank: 1, of: 6, keep: 2 });
    expect(judge(0.45, [0.3, 0.4, 0.5, 0.6, 0.7], 3, 'minimize').goOn).toBe(false);
  });

  it('lets a tie with the last place kept go on', () => {
    expect(judge(0.8, [0.9, 0.8, 0.7, 0.6, 0.5], 3, 'maximize').goOn).toBe(true);
  });
});

/** A trial's run folder as a worker leaves it: status, trial.json and its epochs so far. */
function trialRun(root: string, id: string, sweepId: string, index: number, status: string, values: number[]) {
  const dir = path.join(root, 'toy', id);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'status.json'), JSON.stringify({ status, started: `2026-11-29T00:00:0${index}Z` }));
  writeFileSync(
    path.join(dir, 'trial.json'),
    JSON.stringify({ sweep_id: sweepId, index, trials: 9, overrides: {}, metric: 'val_accuracy', goal: 'maximize' }),
  );
  writeFileSync(
    path.join(dir, 'metrics.jsonl'),
    values.map((v, i) => `${JSON.stringify({ epoch: i + 1, val_accuracy: v })}\n`).join(''),
  );
}

describe('the pruner', () => {
  const root = tempDir('run-exp-asha-');
  trialRun(root, 'a', 's1', 0, 'FINISHED', [0.6, 0.7, 0.8, 0.85, 0.9, 0.9, 0.9, 0.9, 0.9]);
  trialRun(root, 'b', 's1', 1, 'PRUNED', [0.5]);
  trialRun(root, 'c', 's1', 2, 'PRUNED', [0.55, 0.6, 0.62]);
  trialRun(root, 'd', 's1', 3, 'RUNNING', [0.65, 0.72]);
  // Another sweep's trial in the same folder is no competitor.
  trialRun(root, 'e', 's2', 4, 'FINISHED', [0.99, 0.99, 0.99]);
  const ctx = {
    sweepId: 's1',
    index: 5,
    scheduler: asha(3, 1),
    metric: 'val_accuracy',
    goal: 'maximize' as const,
    epochs: 9,
    root,
  };

  it("reads every other trial's metric at the rung from the run folders", async () => {
    expect(await rungValues(ctx, 1)).toEqual(
      new Map([
        [0, 0.6],
        [1, 0.5],
        [2, 0.55],
        [3, 0.65],
      ]),
    );
    expect(await rungValues(ctx, 3)).toEqual(
      new Map([
        [0, 0.8],
        [2, 0.62],
      ]),
    );
  });

  it('judges only at rungs, against the trials that reached them', async () => {
    const prune = makePruner({ ...ctx, others: (epoch) => rungValues(ctx, epoch) });
    expect(await prune(2, 0.1)).toBeNull();
    // Rung 1: five trials, the best one goes on; 0.7 beats them all.
    expect(await prune(1, 0.7)).toMatchObject({ rung: 1, goOn: true, rank: 1, of: 5, keep: 1 });
    expect(await prune(1, 0.62)).toMatchObject({ goOn: false, rank: 2 });
    // Rung 3: three trials, one goes on: 0.8 ties the best.
    expect(await prune(3, 0.8)).toMatchObject({ goOn: true, of: 3 });
    expect(await prune(3, 0.79)).toMatchObject({ goOn: false, rank: 2 });
    // Nothing to judge without the metric.
    expect(await prune(1, null)).toBeNull();
  });

  it("does not count the trial's own earlier runs as a competitor", async () => {
    expect((await rungValues({ ...ctx, index: 0 }, 1)).has(0)).toBe(false);
  });
});
