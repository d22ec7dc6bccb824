// The LR schedule registry's factory: a schedule entry -> the learning rate of each epoch.
import type { RegistryChoice } from '../spec/experiment.ts';

export interface Schedule {
  /** Learning rate for `epoch` (0-based). */
  lr(epoch: number): number;
  /** Feeds the end-of-epoch metrics to schedules that react to them (plateau). */
  observe(metrics: Record<string, number>): void;
}

export function makeSchedule(choice: RegistryChoice, baseLr: number, epochs: number): Schedule {
  const n = (k: string) => choice[k] as number;
  const fixed = (lr: (epoch: number) => number): Schedule => ({ lr, observe: () => {} });
  switch (choice.type) {
    case 'constant':
      return fixed(() => baseLr);
    case 'step':
      return fixed((e) => baseLr * n('gamma') ** Math.floor(e / n('step_size')));
    case 'exponential':
      return fixed((e) => baseLr * n('gamma') ** e);
    case 'cosine':
      return fixed(
        (e) => n('min_lr') + ((baseLr - n('min_lr')) * (1 + Math.cos((Math.PI * e) / Math.max(1, epochs - 1)))) / 2,
      );
    case 'plateau': {
      const monitor = choice.monitor as string;
      const lower = !monitor.includes('accuracy');
      let rate = baseLr;
      let best = lower ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
      let waited = 0;
      return {
        lr: () => rate,
        observe(metrics) {
          const v = metrics[monitor];
          if (v === undefined) return;
          if (lower ? v < best : v > best) {
            best = v;
            waited = 0;
          } else if (++waited > n('patience')) {
            rate = Math.max(n('min_lr'), rate * n('factor'));
            waited = 0;
          }
        },
      };
    }
    default:
      throw new Error(`no schedule for type '${choice.type}'`);
  }
}
