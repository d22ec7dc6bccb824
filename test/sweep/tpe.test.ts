// TPE: seeded proposals, and better than random search on a cheap objective with a known optimum.
import { describe, expect, it } from 'vitest';
import { expandSweep } from '../../src/plan/expand.ts';
import { type Observation, proposeTpe, startupTrials } from '../../src/plan/tpe.ts';
import type { Json, Sweep } from '../../src/spec/experiment.ts';

const sweep = (seed: number, goal: Sweep['goal'] = 'maximize'): Sweep => ({
  method: 'tpe',
  trials: 30,
  seed,
  metric: 'val_accuracy',
  goal,
  parameters: {
    'training.optimizer.lr': { min: 1e-5, max: 1, scale: 'log' },
    'model.layers[0].units': { min: 8, max: 256, type: 'int' },
    'training.optimizer.type': ['sgd', 'adam', 'rmsprop'],
  },
});

// Best (0) at lr 10^-2.5, 96 units, adam.
const objective = (o: Record<string, Json>) =>
  -((Math.log10(o['training.optimizer.lr'] as number) + 2.5) ** 2) -
  (((o['model.layers[0].units'] as number) - 96) / 64) ** 2 -
  (o['training.optimizer.type'] === 'adam' ? 0 : 0.5);

function runTpe(s: Sweep, f = objective): Observation[] {
  const history: Observation[] = [];
  for (let i = 0; i < (s.trials as number); i++) {
    const overrides = proposeTpe(s, i, history);
    history.push({ overrides, value: f(overrides), epochs: 1 });
  }
  return history;
}

describe('tpe', () => {
  it('gives the same proposals for the same seed and results, other ones for another seed', () => {
    const a = runTpe(sweep(7)).map((o) => o.overrides);
    expect(runTpe(sweep(7)).map((o) => o.overrides)).toEqual(a);
    expect(runTpe(sweep(8)).map((o) => o.overrides)).not.toEqual(a);
  });

  it('keeps every proposal inside its parameter: ranges, whole numbers, listed values', () => {
    for (const o of runTpe(sweep(3))) {
      const lr = o.overrides['training.optimizer.lr'] as number;
      const units = o.overrides['model.layers[0].units'] as number;
      expect(lr).toBeGreaterThanOrEqual(1e-5);
      expect(lr).toBeLessThanOrEqual(1);
      expect(Number.isInteger(units) && units >= 8 && units <= 256).toBe(true);
      expect(['sgd', 'adam', 'rmsprop']).toContain(o.overrides['training.optimizer.type']);
    }
  });

  it('draws at random until the startup trials have results, then follows the good ones', () => {
    const s = sweep(1);
    const startup = startupTrials(30);
    expect(startup).toBe(5);
    const history = runTpe(s);
    // The last ten proposals sit closer to the optimum than the random start.
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(history.slice(20).map((o) => o.value))).toBeGreaterThan(
      mean(history.slice(0, startup).map((o) => o.value)),
    );
  });

  it('beats random search after 30 trials in at least 8 of 10 seeds', () => {
    let wins = 0;
    for (let seed = 0; seed < 10; seed++) {
      const tpe = Math.max(...runTpe(sweep(seed)).map((o) => o.value));
      const random = Math.max(...expandSweep({ ...sweep(seed), method: 'random' }).map((t) => objective(t.overrides)));
      if (tpe > random) wins++;
    }
    expect(wins).toBeGreaterThanOrEqual(8);
  });

  it('minimizes as well as it maximizes', () => {
    const negated = (o: Record<string, Json>) => -objective(o);
    const best = Math.min(...runTpe(sweep(4, 'minimize'), negated).map((o) => o.value));
    const random = Math.min(...expandSweep({ ...sweep(4), method: 'random' }).map((t) => negated(t.overrides)));
    expect(best).toBeLessThan(random);
  });

  it('ranks a trial pruned early below every trial that trained longer', () => {
    const s = sweep(5);
    const history: Observation[] = runTpe(s).slice(0, 12);
    // The best-scoring trial, marked pruned at epoch 1 among trials of 3 epochs: no longer the model to follow.
    const withPruned = history.map((o, i) => ({ ...o, epochs: i === 0 ? 1 : 3, value: i === 0 ? 10 : o.value }));
    const unpruned = history.map((o, i) => ({ ...o, epochs: 3, value: i === 0 ? 10 : o.value }));
    expect(proposeTpe(s, 12, withPruned)).not.toEqual(proposeTpe(s, 12, unpruned));
  });
});
