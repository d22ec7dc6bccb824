// The optimizer registry's behaviour, each entry's two implementations side
// by side: the tf.train optimizer the eager engine steps, and the graph
// engine's update of one variable, the same arithmetic as that tf.train
// optimizer (float32): TensorFlow's fused kernel where one computes it (one pass
// over the weights, equal to rounding), else op for op in tfjs' order; with the
// state it keeps under the names and in the order tfjs keeps it, so checkpoints
// are the same in both engines.
import type { NamedTensorMap, Optimizer, Tensor, Variable } from '@tensorflow/tfjs-node';
import type { Tf } from '../platform/tensorflow.ts';
import type { Output } from '../platform/tf-graph.ts';
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

/** What an optimizer's graph form builds one variable's update from. */
export interface UpdateContext {
  grad: Output;
  /** The variable's rate this step (the fed rate times its lr_multiplier). */
  lr: Output;
  num(key: string): number;
  flag(key: string): boolean;
  c(value: number): Output;
  op(type: string, ...inputs: Output[]): Output;
  /** A kernel with attributes of its own (T is set), which writes the variable itself. */
  kernel(type: string, inputs: Output[], attrs?: Record<string, { kind: 'bool'; value: boolean }>): string;
  /** The variable's state `suffix` (tfjs' name), a new one starting at `initial`. */
  slot(suffix: string, initial?: number): { handle: Output; read: Output };
  variable: Output;
  assign(handle: Output, value: Output): string;
  /** The variable moved by `step` (already signed). */
  move(step: Output): string;
  /** The fed beta1^t and beta2^t of the variable's optimizer part (as TensorFlow's fused kernels take them). */
  betaPowers(): [Output, Output];
}

interface OptimizerEngine<K extends keyof typeof OPTIMIZERS> {
  eager(tf: Tf, o: Spec<K>, lr: number): Optimizer;
  /** The per-variable state, named as tfjs names it, in the order its getWeights lists it. */
  slots(o: Spec<K>): readonly string[];
  /** The ops that write the variable and its state. */
  graph(u: UpdateContext): string[];
}

const EPS = 1e-7;
/** TensorFlow's fused update kernels without a lock: one step runs at a time. */
const UNLOCKED = { use_locking: { kind: 'bool', value: false } } as const;

const mul = (u: UpdateContext, a: Output, b: Output) => u.op('Mul', a, b);
const add = (u: UpdateContext, a: Output, b: Output) => u.op('AddV2', a, b);
const div = (u: UpdateContext, a: Output, b: Output) => u.op('RealDiv', a, b);
/** x * rate + y * (1 - rate): the moving averages every adaptive optimizer keeps. */
const decay = (u: UpdateContext, x: Output, rate: number, y: Output) =>
  add(u, mul(u, x, u.c(rate)), mul(u, y, u.c(1 - rate)));

/** Every registry entry's two implementations: an entry without them does not compile. */
const ENGINES: { [K in keyof typeof OPTIMIZERS]: OptimizerEngine<K> } = {
  sgd: {
    eager: (tf, o, lr) => (o.momentum > 0 ? tf.train.momentum(lr, o.momentum, o.nesterov) : tf.train.sgd(lr)),
    // Plain SGD keeps nothing.
    slots: (o) => (o.momentum > 0 ? ['momentum'] : []),
    graph: (u) => {
      if (u.num('momentum') === 0) return [u.kernel('ResourceApplyGradientDescent', [u.variable, u.lr, u.grad])];
      const m = u.slot('momentum');
      return [
        u.kernel('ResourceApplyMomentum', [u.variable, m.handle, u.lr, u.grad, u.c(u.num('momentum'))], {
          ...UNLOCKED,
          use_nesterov: { kind: 'bool', value: u.flag('nesterov') },
        }),
      ];
    },
  },
  adam: {
    eager: (tf, o, lr) => tf.train.adam(lr, o.beta1, o.beta2, o.epsilon),
    slots: () => ['m', 'v'],
    graph: (u) => {
      // TensorFlow's fused ApplyAdam (one pass over the weights, where tfjs' form is a dozen) in tfjs' arithmetic:
      // its rate lr * sqrt(1 - beta2^t) / (1 - beta1^t) and an epsilon of epsilon * sqrt(1 - beta2^t) give
      // lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + epsilon), tfjs' update, to rounding.
      const [p1, p2] = u.betaPowers();
      const [m, v] = [u.slot('m'), u.slot('v')];
      const epsilon = mul(u, u.c(u.num('epsilon')), u.op('Sqrt', u.op('Sub', u.c(1), p2)));
      return [
        u.kernel(
          'ResourceApplyAdam',
          [u.variable, m.handle, v.handle, p1, p2, u.lr, u.c(u.num('beta1')), u.c(u.num('beta2')), epsilon, u.grad],
          { ...UNLOCKED, use_nesterov: { kind: 'bool', value: false } },
        ),
      ];
    },
  },
  adamax: {
    eager: (tf, o, lr) => checkpointable(tf.train.adamax(lr, o.beta1, o.beta2, o.epsilon)),
    slots: () => ['m', 'v'],
    // TensorFlow's fused AdaMax is tfjs' (whose rate is divided by 1 + iteration * decay, with decay 0).
    graph: (u) => {
      const [p1] = u.betaPowers();
      const [m, n] = [u.slot('m'), u.slot('v')];
      const args = [p1, u.lr, u.c(u.num('beta1')), u.c(u.num('beta2')), u.c(u.num('epsilon'))];
      return [u.kernel('ResourceApplyAdaMax', [u.variable, m.handle, n.handle, ...args, u.grad], UNLOCKED)];
    },
  },
  rmsprop: {
    eager: (tf, o, lr) => {
      const rmsprop = tf.train.rmsprop(lr, o.rho, o.momentum, o.epsilon, o.centered);
      return o.centered ? centred(tf, rmsprop) : rmsprop;
    },
    // The mean gradients only when centred.
    slots: (o) => (o.centered ? ['rms', 'momentum', 'mg'] : ['rms', 'momentum']),
    // TensorFlow's fused kernels are tfjs' RMSProp and the centred form above: sqrt(ms + eps), sqrt(ms - mg^2 + eps).
    graph: (u) => {
      const [ms, mom] = [u.slot('rms'), u.slot('momentum')];
      const args = [u.lr, u.c(u.num('rho')), u.c(u.num('momentum')), u.c(u.num('epsilon')), u.grad];
      return [
        u.flag('centered')
          ? u.kernel(
              'ResourceApplyCenteredRMSProp',
              [u.variable, u.slot('mg').handle, ms.handle, mom.handle, ...args],
              UNLOCKED,
            )
          : u.kernel('ResourceApplyRMSProp', [u.variable, ms.handle, mom.handle, ...args], UNLOCKED),
      ];
    },
  },
  adagrad: {
    eager: (tf, o, lr) => tf.train.adagrad(lr, o.initial_accumulator),
    slots: () => ['accumulator'],
    graph: (u) => {
      const acc = u.slot('accumulator', u.num('initial_accumulator'));
      const acc1 = add(u, acc.read, u.op('Square', u.grad));
      return [
        u.assign(acc.handle, acc1),
        u.move(mul(u, div(u, u.grad, u.op('Sqrt', add(u, acc1, u.c(EPS)))), u.op('Neg', u.lr))),
      ];
    },
  },
  adadelta: {
    eager: (tf, o, lr) => tf.train.adadelta(lr, o.rho, o.epsilon),
    slots: () => ['accum_grad', 'accum_var'],
    graph: (u) => {
      const [accG, accU] = [u.slot('accum_grad'), u.slot('accum_var')];
      const eps = u.c(u.num('epsilon'));
      const accG1 = decay(u, accG.read, u.num('rho'), u.op('Square', u.grad));
      // tfjs divides by the accumulated gradient from before this step's: kept, for the same steps.
      const updates = mul(
        u,
        div(u, u.op('Sqrt', add(u, accU.read, eps)), u.op('Sqrt', add(u, accG.read, eps))),
        u.grad,
      );
      const accU1 = decay(u, accU.read, u.num('rho'), u.op('Square', updates));
      return [u.assign(accG.handle, accG1), u.assign(accU.handle, accU1), u.move(mul(u, updates, u.op('Neg', u.lr)))];
    },
  },
};

type Name = keyof typeof OPTIMIZERS;
const engineOf = (choice: RegistryChoice) => ENGINES[choice.type as Name] as unknown as OptimizerEngine<Name>;

/** `lr` overrides the entry's rate (the LR schedule's value for this epoch). */
export function makeOptimizer(tf: Tf, choice: RegistryChoice, lr = choice.lr as number): Optimizer {
  return engineOf(choice).eager(tf, choice as unknown as Spec<Name>, lr);
}

/** The state the entry keeps per variable, in tfjs' order (Adam: every first moment, then every second). */
export const optimizerSlots = (choice: RegistryChoice): readonly string[] =>
  engineOf(choice).slots(choice as unknown as Spec<Name>);

/** The graph form of the entry's update of one variable. */
export const optimizerUpdate = (choice: RegistryChoice, u: UpdateContext): string[] => engineOf(choice).graph(u);
