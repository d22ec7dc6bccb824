// Training in two stages with their own engines: a backbone frozen whole until
// an epoch trains its head on the backbone's cached output, then its end learns
// too on the rows before it. The stages share the model's weights and the
// optimizer: each engine is made when its stage begins, from what the one
// before it synced back.
import type { Engine } from './engine.ts';

/** Epochs before `until` run on `early()`'s engine, the rest on `later()`'s; each made on first use. */
export function stagedEngine(
  kind: Engine['kind'],
  until: number,
  early: () => Promise<Engine>,
  later: () => Promise<Engine>,
): Engine {
  let first: Promise<Engine> | undefined;
  let second: Promise<Engine> | undefined;
  let current: Promise<Engine> | undefined;
  const stage = async (epoch: number): Promise<Engine> => {
    if (epoch < until) {
      first ??= early();
      return first;
    }
    if (!second) {
      // The early stage's weights and optimizer state go back to tfjs before the next engine reads them.
      if (first) await (await first).sync();
      second = later();
    }
    return second;
  };
  return {
    kind,
    async *steps(plan) {
      current = stage(plan.epoch);
      yield* (await current).steps(plan);
    },
    async sync() {
      if (current) await (await current).sync();
    },
  };
}
