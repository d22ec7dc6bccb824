// The optimizer registry's factory: an optimizer entry of a resolved experiment -> tf.train optimizer.
import type { NamedTensorMap, Optimizer, Tensor, Variable } from '@tensorflow/tfjs-node';
import type { Tf } from '../platform/tensorflow.ts';
import type { RegistryChoice } from '../spec/experiment.ts';
import type { OPTIMIZERS } from '../spec/optimizers.ts';

type NamedTensor = { name: string; tensor: Tensor };

type Spec<K extends keyof typeof OPTIMIZERS> = { type: K } & {
  [P in keyof (typeof OPTIMIZERS)[K]['params']]: (typeof OPTIMIZERS)[K]['params'][P] extends { type: 'boolean' }
    ? boolean
    : number;
};

interface Slot {
  originalName: string;
  variable: Variable;
}

/**
 * tfjs' Adamax has no getWeights/setWeights (it throws), so a checkpoint could
 * not hold it: these give its moments in Adam's layout (step count, every
 * first moment, every infinity norm). Its step and beta1 power are scalar
 * variables, which the checkpoint keeps as they are.
 */
function checkpointable(optimizer: Optimizer): Optimizer {
  const o = optimizer as unknown as {
    accumulatedFirstMoment: Slot[];
    accumulatedWeightedInfNorm: Slot[];
    saveIterations(): Promise<NamedTensor>;
    extractIterations(w: NamedTensor[]): Promise<NamedTensor[]>;
  };
  const named = (slots: Slot[]) => slots.map((v) => ({ name: v.originalName, tensor: v.variable as Tensor }));
  const slots = (weights: NamedTensor[]) =>
    weights.map((w) => ({ originalName: w.name, variable: w.tensor.variable(false) }));
  return Object.assign(optimizer, {
    getWeights: async () => [
      await o.saveIterations(),
      ...named(o.accumulatedFirstMoment),
      ...named(o.accumulatedWeightedInfNorm),
    ],
    setWeights: async (weights: NamedTensor[]) => {
      const rest = await o.extractIterations(weights);
      const n = rest.length / 2;
      o.accumulatedFirstMoment = slots(rest.slice(0, n));
      o.accumulatedWeightedInfNorm = slots(rest.slice(n));
    },
  });
}

/**
 * Centred RMSProp as TensorFlow and Keras compute it, sqrt(ms - mg^2 + eps):
 * tfjs subtracts epsilon instead (sqrt(ms - (mg^2 + eps))), which is NaN
 * wherever the gradients are small, a dead ReLU's zeros among them.
 */
function centred(tf: Tf, optimizer: Optimizer): Optimizer {
  const o = optimizer as unknown as {
    accumulatedMeanSquares: Slot[];
    accumulatedMoments: Slot[];
    accumulatedMeanGrads: Slot[];
    learningRate: number;
    decay: number;
    momentum: number;
    epsilon: number;
    incrementIterations(): void;
  };
  const registered = tf.engine().registeredVariables;
  return Object.assign(optimizer, {
    applyGradients: (grads: NamedTensorMap | NamedTensor[]) => {
      const list = Array.isArray(grads) ? grads : Object.entries(grads).map(([name, tensor]) => ({ name, tensor }));
      for (const [i, { name, tensor: g }] of list.entries()) {
        const value = registered[name] as Variable;
        // Slots by position and named as tfjs' own, so checkpoints hold the same state.
        const slot = (slots: Slot[], suffix: string) => {
          slots[i] ??= {
            originalName: `${name}/${suffix}`,
            variable: tf.tidy(() => tf.zerosLike(value).variable(false)),
          };
          return (slots[i] as Slot).variable;
        };
        const ms = slot(o.accumulatedMeanSquares, 'rms');
        const mom = slot(o.accumulatedMoments, 'momentum');
        const mg = slot(o.accumulatedMeanGrads, 'mg');
        if (!g) continue;
        tf.tidy(() => {
          const ms1 = ms.mul(o.decay).add(g.square().mul(1 - o.decay));
          const mg1 = mg.mul(o.decay).add(g.mul(1 - o.decay));
          const mom1 = mom.mul(o.momentum).add(g.mul(o.learningRate).div(ms1.sub(mg1.square()).add(o.epsilon).sqrt()));
          ms.assign(ms1);
          mg.assign(mg1);
          mom.assign(mom1);
          value.assign(value.sub(mom1));
        });
      }
      o.incrementIterations();
    },
  });
}

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
      return checkpointable(tf.train.adamax(lr, o.beta1, o.beta2, o.epsilon));
    }
    case 'rmsprop': {
      const o = choice as unknown as Spec<'rmsprop'>;
      const rmsprop = tf.train.rmsprop(lr, o.rho, o.momentum, o.epsilon, o.centered);
      return o.centered ? centred(tf, rmsprop) : rmsprop;
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
