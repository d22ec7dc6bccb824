// The loss registry: one entry per loss `type`.
import type { Params } from './params.ts';

/** Label smoothing, as every cross-entropy takes it (the loss registry's and class outputs'). */
export const smoothing = {
  type: 'number',
  minimum: 0,
  maximum: 0.5,
  default: 0,
  doc: 'label smoothing: targets move this far towards uniform',
} as const;

export const LOSSES = {
  categorical_crossentropy: {
    doc: 'cross-entropy between one-hot labels and a softmax output (one unit per class)',
    params: { label_smoothing: smoothing },
  },
  binary_crossentropy: {
    doc: 'cross-entropy per output unit, for sigmoid outputs',
    params: { label_smoothing: smoothing },
  },
  mean_squared_error: { doc: 'mean squared error between one-hot labels and the output', params: {} },
  hinge: { doc: 'hinge loss on one-hot labels mapped to -1/+1', params: {} },
} as const satisfies Record<string, { doc: string; params: Params }>;
