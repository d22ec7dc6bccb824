// The optimizer registry: one entry per optimizer `type`, its params, defaults and docs.
import type { Params } from './params.ts';

const lr = (d: number) =>
  ({ type: 'number', exclusiveMinimum: 0, maximum: 10, default: d, doc: 'learning rate' }) as const;
const epsilon = {
  type: 'number',
  exclusiveMinimum: 0,
  default: 1e-7,
  doc: 'added to denominators for stability',
} as const;
const beta = (d: number, what: string) =>
  ({ type: 'number', minimum: 0, maximum: 0.9999999, default: d, doc: `decay rate of the ${what}` }) as const;

export const OPTIMIZERS = {
  sgd: {
    doc: 'stochastic gradient descent, optionally with (Nesterov) momentum',
    params: {
      lr: lr(0.01),
      momentum: { type: 'number', minimum: 0, maximum: 0.9999999, default: 0, doc: 'momentum; 0 is plain SGD' },
      nesterov: { type: 'boolean', default: false, doc: 'Nesterov momentum (needs momentum > 0)' },
    },
  },
  adam: {
    doc: 'Adam',
    params: { lr: lr(0.001), beta1: beta(0.9, 'first moment'), beta2: beta(0.999, 'second moment'), epsilon },
  },
  adamax: {
    doc: 'Adamax, Adam with the infinity norm',
    params: { lr: lr(0.002), beta1: beta(0.9, 'first moment'), beta2: beta(0.999, 'infinity norm'), epsilon },
  },
  rmsprop: {
    doc: 'RMSProp',
    params: {
      lr: lr(0.001),
      rho: beta(0.9, 'squared-gradient average'),
      momentum: { type: 'number', minimum: 0, maximum: 0.9999999, default: 0, doc: 'momentum' },
      epsilon,
      centered: { type: 'boolean', default: false, doc: 'normalize by the centred second moment' },
    },
  },
  adagrad: {
    doc: 'Adagrad',
    params: {
      lr: lr(0.01),
      initial_accumulator: { type: 'number', minimum: 0, default: 0.1, doc: 'starting value of the accumulators' },
    },
  },
  adadelta: {
    doc: 'Adadelta',
    // Keras' default rate; tfjs's Adadelta overshoots badly at the paper's 1.0.
    params: { lr: lr(0.001), rho: beta(0.95, 'update average'), epsilon },
  },
} as const satisfies Record<string, { doc: string; params: Params }>;
