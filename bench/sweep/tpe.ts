// bench/sweep/tpe.ts: TPE against random search on cheap synthetic objectives
// with a known optimum (0), 30 trials, seeds 0-39: how often TPE's best beats
// random search's best, and the median of each. No training; seconds.
//
//   npm run bench:tpe

import { expandSweep } from '../../src/plan/expand.ts';
import { type Observation, proposeTpe } from '../../src/plan/tpe.ts';
import type { Json, Sweep } from '../../src/spec/experiment.ts';

const TRIALS = 30;
const SEEDS = 40;
const sweep = (seed: number): Sweep => ({
  method: 'tpe',
  trials: TRIALS,
  seed,
  metric: 'val_accuracy',
  goal: 'maximize',
  parameters: {
    lr: { min: 1e-5, max: 1, scale: 'log' },
    units: { min: 8, max: 256, type: 'int' },
    optimizer: ['sgd', 'adam', 'rmsprop'],
  },
});
const bowl = (o: Record<string, Json>) =>
  -((Math.log10(o.lr as number) + 2.5) ** 2) - (((o.units as number) - 96) / 64) ** 2;
const objectives: Record<string, (o: Record<string, Json>) => number> = {
  'bowl (log lr, width)': bowl,
  'bowl + optimizer (0.5 off unless adam)': (o) => bowl(o) - (o.optimizer === 'adam' ? 0 : 0.5),
  'bowl + optimizer (0, 0.15, 0.3)': (o) =>
    bowl(o) - ({ adam: 0, rmsprop: 0.15, sgd: 0.3 }[o.optimizer as string] ?? 0),
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
for (const [name, f] of Object.entries(objectives)) {
  const tpe: number[] = [];
  const random: number[] = [];
  for (let seed = 0; seed < SEEDS; seed++) {
    const history: Observation[] = [];
    for (let i = 0; i < TRIALS; i++) {
      const overrides = proposeTpe(sweep(seed), i, history);
      history.push({ overrides, value: f(overrides), epochs: 1 });
    }
    tpe.push(Math.max(...history.map((o) => o.value)));
    random.push(Math.max(...expandSweep({ ...sweep(seed), method: 'random' }).map((t) => f(t.overrides))));
  }
  const wins = tpe.filter((v, i) => v > (random[i] as number)).length;
  const first10 = tpe.slice(0, 10).filter((v, i) => v > (random[i] as number)).length;
  process.stdout.write(
    `${name}: TPE better in ${wins} of ${SEEDS} seeds (seeds 0-9: ${first10} of 10); median best TPE ${median(tpe).toFixed(3)}, random ${median(random).toFixed(3)}\n`,
  );
}
