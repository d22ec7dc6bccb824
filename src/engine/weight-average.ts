// `training.ema`: an exponential moving average of the weights training
// changes, updated after every step. The average is what gets evaluated and
// saved; training goes on from the raw weights. While the average is in the
// model the raw weights wait in its place, so a swap is an exchange, and a
// checkpoint written then holds the average as the model and the raw weights
// beside it.
import type { Tensor, Variable } from '@tensorflow/tfjs-node';
import type { Tf } from '../platform/tensorflow.ts';
import { type SavedTensor, savedTensor, tensorFromSaved } from './optimizer-groups.ts';

export interface WeightAverageState {
  steps: number;
  /** The weights waiting outside the model (raw while the average is in, and the reverse). */
  held: SavedTensor[];
}

export class WeightAverage {
  private steps = 0;
  /** True while the model holds the average. */
  private swapped = false;
  private readonly held: Variable[];

  constructor(
    private readonly tf: Tf,
    /** Every variable training may change, in a fixed order (frozen ones are left alone until they learn): the order of every list of weights it takes or gives. */
    readonly variables: Variable[],
    private readonly decay: number,
  ) {
    this.held = variables.map((v) => tf.variable(v.clone(), false));
  }

  /** The next update's decay: the warm-up of tf.train.ExponentialMovingAverage(num_updates), early on the average follows closely. */
  nextDecay(): number {
    const n = this.steps + 1;
    return Math.min(this.decay, (1 + n) / (10 + n));
  }

  /** Folds the current weights into the average: after each optimizer step, with the raw weights in the model. */
  update(): void {
    const d = this.nextDecay();
    this.steps++;
    this.tf.tidy(() => {
      for (const [i, v] of this.variables.entries()) {
        const avg = this.held[i] as Variable;
        // A weight that is not learning (yet) averages to what it is.
        avg.assign(v.trainable ? avg.mul(d).add(v.mul(1 - d)) : v.clone());
      }
    });
  }

  private exchange(): void {
    this.tf.tidy(() => {
      for (const [i, v] of this.variables.entries()) {
        const other = this.held[i] as Variable;
        const live = v.clone();
        v.assign(other);
        other.assign(live);
      }
    });
    this.swapped = !this.swapped;
  }

  /**
   * For an engine that folds the average in itself (the graph engine): a
   * step it made, after it made it with `nextDecay()`.
   */
  counted(): void {
    this.steps++;
  }

  /** The average, in `variables`' order, wherever it is now. */
  averaged(): Tensor[] {
    return this.swapped ? this.variables : this.held;
  }

  /** The average as an engine that folds it in itself computed it, in `variables`' order. */
  setAveraged(values: Float32Array[]): void {
    this.tf.tidy(() => {
      for (const [i, v] of this.averaged().entries())
        (v as Variable).assign(this.tf.tensor(values[i] as Float32Array, v.shape, 'float32'));
    });
  }

  /** Puts the average into the model (for evaluation and saving); a no-op when it is there. */
  useAverage(): void {
    if (!this.swapped) this.exchange();
  }

  /** Puts the raw weights back into the model (to train on); a no-op when they are there. */
  useRaw(): void {
    if (this.swapped) this.exchange();
  }

  /** What a checkpoint written with the average in the model needs besides it. */
  state(): WeightAverageState {
    return { steps: this.steps, held: this.held.map((v) => savedTensor(v.name, v)) };
  }

  /**
   * Restores from a checkpoint whose model (already loaded) held the average:
   * the model takes the saved raw weights and the average goes aside.
   */
  restore(state: WeightAverageState): void {
    if (state.held.length !== this.variables.length)
      throw new Error(
        `the checkpoint's weight average holds ${state.held.length} weights, the model trains ${this.variables.length}`,
      );
    this.steps = state.steps;
    this.tf.tidy(() => {
      for (const [i, v] of this.variables.entries()) {
        (this.held[i] as Variable).assign(v);
        v.assign(tensorFromSaved(this.tf, state.held[i] as SavedTensor) as Tensor);
      }
    });
    this.swapped = false;
  }

  dispose(): void {
    this.tf.dispose(this.held);
  }
}
