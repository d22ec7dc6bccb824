// The optimizer registry's factory: an optimizer entry of a resolved experiment -> tf.train optimizer.
import type { Optimizer } from '@tensorflow/tfjs-node';
import type { Tf } from '../backend/tensorflow.ts';
import type { RegistryChoice } from '../config/experiment.ts';
import type { OPTIMIZERS } from './optimizers.ts';

type Spec<K extends keyof typeof OPTIMIZERS> = { type: K } & {
  [P in keyof (typeof OPTIMIZERS)[K]['params']]: (typeof OPTIMIZERS)[K]['params'][P] extends { type: 'boolean' }
    ? boolean
    : number;
};

/** `lr` overrides the entry's rate (the LR schedule's value for this epoch). */
export function makeOptimizer(tf: Tf, choice: RegistryChoice, lr = choice.lr as number): Optimizer {
  switch (choice.type) {
    case 'sgd': {
      const o = choice as unknown as Spec<'sgd'>;
      return o.momentum > 0 ? tf.train.momentum(lr, o.momentum, o.nesterov) : tf.train.sgd(lr);
    }
    case 'adam': {
      const o = choice as unknown as Spec<'adam'>;
      return tf.train.adam(lr, o.beta1, o.beta2, o.epsilon);
    }
    case 'adamax': {
      const o = choice as unknown as Spec<'adamax'>;
      return tf.train.adamax(lr, o.beta1, o.beta2, o.epsilon);
    }
    case 'rmsprop': {
      const o = choice as unknown as Spec<'rmsprop'>;
      return tf.train.rmsprop(lr, o.rho, o.momentum, o.epsilon, o.centered);
    }
    case 'adagrad': {
      const o = choice as unknown as Spec<'adagrad'>;
      return tf.train.adagrad(lr, o.initial_accumulator);
    }
    case 'adadelta': {
      const o = choice as unknown as Spec<'adadelta'>;
      return tf.train.adadelta(lr, o.rho, o.epsilon);
    }
    default:
      throw new Error(`no optimizer factory for type '${choice.type}'`);
  }
}
