// The loss registry's behaviour, each entry's two implementations side by
// side: tfjs ops for the eager engine and TensorFlow graph ops for the graph
// engine, op for op the same: (smoothed) one-hot targets against the clipped
// probabilities, as a batch mean.
import type { Scalar, Tensor } from '@tensorflow/tfjs-node';
import type { Tf } from '../platform/tensorflow.ts';
import type { Output } from '../platform/tf-graph.ts';
import type { RegistryChoice } from '../spec/experiment.ts';
import type { LOSSES } from '../spec/losses.ts';

/** Mean loss over the batch; with `weights` (one per example), the mean of each example's loss times its weight. */
export type LossFn = (labels: Tensor, predictions: Tensor, weights?: Tensor) => Scalar;

const EPS = 1e-7;

/** What a loss's graph form builds from: labels, probabilities, and TensorFlow ops. */
export interface LossContext {
  y: Output;
  p: Output;
  c(value: number): Output;
  op(type: string, ...inputs: Output[]): Output;
  sum(x: Output, axis: number): Output;
}

interface LossEngine {
  /**
   * false: one value per example (summed over classes); true: one per class
   * of each example, averaged over classes (weighted) or over everything.
   */
  perClass: boolean;
  eager(tf: Tf, y: Tensor, p: Tensor, smoothing: number): Tensor;
  graph(l: LossContext, smoothing: number, classes: number): Output;
}

const clip = (l: LossContext, x: Output) => l.op('Minimum', l.op('Maximum', x, l.c(EPS)), l.c(1 - EPS));

/** Every registry entry's two implementations: an entry without them does not compile. */
const ENGINES: Record<keyof typeof LOSSES, LossEngine> = {
  categorical_crossentropy: {
    perClass: false,
    eager: (_tf, y, p, s) => {
      const k = y.shape.at(-1) as number;
      const target = s > 0 ? y.mul(1 - s).add(s / k) : y;
      return target
        .mul(p.clipByValue(EPS, 1 - EPS).log())
        .sum(-1)
        .neg();
    },
    graph: (l, s, k) => {
      const target = s > 0 ? l.op('AddV2', l.op('Mul', l.y, l.c(1 - s)), l.c(s / k)) : l.y;
      return l.op('Neg', l.sum(l.op('Mul', target, l.op('Log', clip(l, l.p))), 1));
    },
  },
  binary_crossentropy: {
    perClass: true,
    eager: (tf, y, p, s) => {
      const target = s > 0 ? y.mul(1 - s).add(s / 2) : y;
      const q = p.clipByValue(EPS, 1 - EPS);
      return target
        .mul(q.log())
        .add(tf.scalar(1).sub(target).mul(tf.scalar(1).sub(q).log()))
        .neg();
    },
    graph: (l, s) => {
      const target = s > 0 ? l.op('AddV2', l.op('Mul', l.y, l.c(1 - s)), l.c(s / 2)) : l.y;
      const q = clip(l, l.p);
      return l.op(
        'Neg',
        l.op(
          'AddV2',
          l.op('Mul', target, l.op('Log', q)),
          l.op('Mul', l.op('Sub', l.c(1), target), l.op('Log', l.op('Sub', l.c(1), q))),
        ),
      );
    },
  },
  mean_squared_error: {
    perClass: true,
    eager: (_tf, y, p) => y.sub(p).square(),
    graph: (l) => l.op('Square', l.op('Sub', l.y, l.p)),
  },
  hinge: {
    perClass: true,
    eager: (tf, y, p) => tf.relu(tf.scalar(1).sub(y.mul(2).sub(1).mul(p))),
    graph: (l) => l.op('Relu', l.op('Sub', l.c(1), l.op('Mul', l.op('Sub', l.op('Mul', l.y, l.c(2)), l.c(1)), l.p))),
  },
};

const engineOf = (choice: RegistryChoice) => ENGINES[choice.type as keyof typeof LOSSES];
const smoothingOf = (choice: RegistryChoice) =>
  typeof choice.label_smoothing === 'number' ? choice.label_smoothing : 0;

/** Each example's loss (a per-class loss averaged over the classes): what an output's masked mean takes. */
export function exampleLoss(tf: Tf, type: keyof typeof LOSSES, y: Tensor, p: Tensor, smoothing: number): Tensor {
  const loss = ENGINES[type];
  const l = loss.eager(tf, y, p, smoothing);
  return loss.perClass ? l.mean(-1) : l;
}

export function makeLoss(tf: Tf, choice: RegistryChoice): LossFn {
  const loss = engineOf(choice);
  const s = smoothingOf(choice);
  return (y, p, weights) =>
    tf.tidy(() => {
      const l = loss.eager(tf, y, p, s);
      if (!weights) return l.mean() as Scalar;
      // As Keras weighs by class_weight: each example's loss times its weight, over the batch size.
      return (loss.perClass ? l.mean(-1) : l).mul(weights).mean() as Scalar;
    });
}

/** The graph form of the entry: per example or per class of each example, as `perClass` says. */
export function graphLoss(
  choice: RegistryChoice,
  l: LossContext,
  classes: number,
): { value: Output; perClass: boolean } {
  const loss = engineOf(choice);
  return { value: loss.graph(l, smoothingOf(choice), classes), perClass: loss.perClass };
}
