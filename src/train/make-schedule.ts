// The LR schedule registry's behaviour: one factory per entry of spec/schedules.ts,
// from the entry's params to the learning rate of each epoch.
import type { EpochMetrics } from '../spec/events.ts';
import type { RegistryChoice } from '../spec/experiment.ts';
import type { SCHEDULES } from '../spec/schedules.ts';
import { Monitor } from './monitor.ts';

export interface Schedule {
  /** Learning rate for `epoch` (0-based). */
  lr(epoch: number): number;
  /** Feeds the end-of-epoch metrics to schedules that react to them (plateau). */
  observe(metrics: EpochMetrics): void;
}

type Factory = (n: (key: string) => number, choice: RegistryChoice, baseLr: number, epochs: number) => Schedule;

const fixed = (lr: (epoch: number) => number): Schedule => ({ lr, observe: () => {} });

/** Every registry entry's schedule: an entry without one does not compile. */
const FACTORIES: Record<keyof typeof SCHEDULES, Factory> = {
  constant: (_n, _c, baseLr) => fixed(() => baseLr),
  step: (n, _c, baseLr) => fixed((e) => baseLr * n('gamma') ** Math.floor(e / n('step_size'))),
  exponential: (n, _c, baseLr) => fixed((e) => baseLr * n('gamma') ** e),
  cosine: (n, _c, baseLr, epochs) =>
    fixed((e) => n('min_lr') + ((baseLr - n('min_lr')) * (1 + Math.cos((Math.PI * e) / Math.max(1, epochs - 1)))) / 2),
  // As Keras ReduceLROnPlateau (without cooldown): `patience` epochs in a row without improvement lower the rate.
  plateau: (n, choice, baseLr) => {
    const monitor = new Monitor({ metric: choice.monitor as string, patience: n('patience') });
    let rate = baseLr;
    return {
      lr: () => rate,
      observe(metrics) {
        monitor.observe(metrics);
        if (!monitor.exhausted) return;
        rate = Math.max(n('min_lr'), rate * n('factor'));
        monitor.wait = 0;
      },
    };
  },
};

export function makeSchedule(choice: RegistryChoice, baseLr: number, epochs: number): Schedule {
  const factory = FACTORIES[choice.type as keyof typeof SCHEDULES];
  return factory((k) => choice[k] as number, choice, baseLr, epochs);
}
