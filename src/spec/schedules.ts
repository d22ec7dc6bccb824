// The learning-rate schedule registry: one entry per schedule `type`. Epochs count from 0.
import { MONITOR_DOC } from './metric-names.ts';
import type { Params } from './params.ts';

export const SCHEDULES = {
  constant: { doc: 'the optimizer learning rate, unchanged', params: {} },
  step: {
    doc: 'multiply the rate by gamma every step_size epochs',
    params: {
      step_size: { type: 'integer', minimum: 1, required: true, doc: 'epochs between drops' },
      gamma: { type: 'number', exclusiveMinimum: 0, maximum: 1, default: 0.1, doc: 'factor applied at each drop' },
    },
  },
  exponential: {
    doc: 'multiply the rate by gamma after every epoch',
    params: { gamma: { type: 'number', exclusiveMinimum: 0, maximum: 1, required: true, doc: 'factor per epoch' } },
  },
  cosine: {
    doc: 'cosine decay from the rate to min_lr over the training epochs',
    params: { min_lr: { type: 'number', minimum: 0, default: 0, doc: 'rate at the last epoch' } },
  },
  plateau: {
    doc: 'multiply the rate by factor when the monitored metric stops improving',
    params: {
      monitor: { type: 'string', default: 'val_loss', doc: `metric watched: ${MONITOR_DOC}` },
      factor: { type: 'number', exclusiveMinimum: 0, maximum: 0.99, default: 0.1, doc: 'factor applied on a plateau' },
      patience: {
        type: 'integer',
        minimum: 0,
        default: 3,
        doc: 'epochs in a row without improvement after which the rate drops (as Keras ReduceLROnPlateau)',
      },
      min_lr: { type: 'number', minimum: 0, default: 0, doc: 'the rate never goes below this' },
    },
  },
} as const satisfies Record<string, { doc: string; params: Params }>;
