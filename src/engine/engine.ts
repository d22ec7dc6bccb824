// The training engine: how one optimizer step runs. Two implementations share
// this interface (eager.ts: op by op from JavaScript; graph/graph-engine.ts:
// one TensorFlow graph per step), so the epoch loop, checkpoints and tests
// never ask which one they have.

/** One training batch: image positions in the data and their class indexes. */
export interface StepBatch {
  images: number[];
  labels: number[];
  /** Positions in the training split: where a model with several outputs finds each example's targets. */
  rows?: number[];
}

/** A step's mean loss (NaN when the loss or the model output was not finite) and predicted classes. */
export interface StepResult {
  loss: number;
  /** The predicted class of each example; undefined when the step was not finite, or the model has several outputs. */
  predicted: Int32Array | undefined;
}

/** One epoch's steps, in order. */
export interface EpochPlan {
  /** 0-based. */
  epoch: number;
  lr: number;
  batches: StepBatch[];
  /** The epoch's seeded stream for augmentation draws, taken batch after batch in order. */
  random: () => number;
}

export interface Engine {
  readonly kind: 'eager' | 'graph';
  /** Runs the epoch's steps one after another; leaving the loop early ends the epoch there. */
  steps(plan: EpochPlan): AsyncGenerator<StepResult>;
  /**
   * Weights and optimizer state as the engine holds them, back in the tfjs
   * model and optimizer: before anything reads them (validation, a
   * checkpoint, a stop, a failure).
   */
  sync(): Promise<void>;
}
