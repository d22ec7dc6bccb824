// The output-type registry: what a model can predict about an image besides
// (or instead of) its one class, each type's label source, loss and metrics.
import { smoothing } from './losses.ts';
import type { Params } from './params.ts';

const from = {
  type: 'string',
  required: true,
  doc: "where the label comes from: a named group of data.pattern (filename source), a manifest column (manifest source), or `class` (the class folder, or the source's own label)",
} as const;
const values = {
  type: 'map',
  doc: 'raw values to the names they stand for, e.g. {"0": male, "1": female}; with a map, a value it does not name is a missing label',
} as const;
const weight = {
  type: 'number',
  minimum: 0,
  default: 1,
  doc: "this output's loss counts this many times in the sum the model minimizes",
} as const;

const classWeights = {
  type: 'weights',
  per: 'name',
  doc: "each training example's loss times its class's weight: `balanced` (the training split's count of each class, inverted: total / (classes x count)), or class name -> weight (1 for those not named); binary names: the positive one and `not <positive>`",
} as const;

/** A class output's metrics, with its defaults. */
const classMetrics = <const D extends readonly string[]>(defaults: D) =>
  ({
    type: 'choices',
    values: ['accuracy', 'f1', 'auc'],
    default: defaults,
    doc: 'scored per epoch on validation (and at the end on each evaluation set)',
  }) as const;

export const OUTPUT_TYPES = {
  category: {
    doc: 'one class of several: a softmax head with a unit per class, categorical cross-entropy',
    params: {
      from,
      values,
      classes: { type: 'strings', minItems: 2, doc: 'the classes in order (default: the names found, sorted)' },
      label_smoothing: smoothing,
      class_weights: classWeights,
      loss_weight: weight,
      metrics: classMetrics(['accuracy', 'f1']),
    },
  },
  binary: {
    doc: 'yes or no: one sigmoid unit, binary cross-entropy',
    params: {
      from,
      values,
      positive: { type: 'string', required: true, doc: 'the name (after values) that means yes; any other is no' },
      label_smoothing: smoothing,
      class_weights: classWeights,
      loss_weight: weight,
      metrics: classMetrics(['accuracy', 'auc']),
    },
  },
  number: {
    doc: "a number: one linear unit trained on standardized targets, predicted and reported in the label's own unit",
    params: {
      from,
      loss: { type: 'enum', values: ['huber', 'mse', 'mae'], default: 'huber', doc: 'on the standardized target' },
      transform: {
        type: 'enum',
        values: ['none', 'log'],
        default: 'none',
        doc: "log: the model learns log(1 + value), standardized, so an error counts relative to the value (a year's error weighs more for a child than for an 80-year-old); predictions and metrics stay in the label's own unit",
      },
      huber_delta: {
        type: 'number',
        exclusiveMinimum: 0,
        default: 1,
        doc: 'huber: where the loss turns from squared to linear, in standard deviations',
      },
      bins: {
        type: 'integer',
        minimum: 0,
        default: 0,
        doc: "0: one linear unit regresses the value. N >= 2: a softmax over N bins spread evenly over the standardized value's [-4, 4] (clipped there), and the value is their expectation; the bins learn a Gaussian around the true value (cross-entropy, as DLDL) besides `loss` on the expectation. The output's units are then the value and the N probabilities",
      },
      bin_sigma: {
        type: 'number',
        exclusiveMinimum: 0,
        default: 0.1,
        doc: 'bins: the width of the Gaussian the bins learn, in standard deviations of the (learned) value',
      },
      bands: {
        type: 'numbers',
        doc: 'ascending lower bounds of bands the metrics are also reported per, e.g. ages [0, 13, 20, 40, 60]',
      },
      band_weights: {
        type: 'weights',
        per: 'band',
        doc: "each training example's loss times its band's weight (needs bands; a value below the first bound counts in the first band): `balanced` (total / (bands x count) over the training split), or a weight per band in order",
      },
      loss_weight: weight,
      metrics: {
        type: 'choices',
        values: ['mae', 'rmse', 'r2'],
        default: ['mae', 'rmse', 'r2'],
        doc: "in the label's own unit (r2: the share of the variance explained)",
      },
    },
  },
  set: {
    doc: 'any subset of labels (tags): a sigmoid unit per label, binary cross-entropy per label',
    params: {
      from,
      labels: { type: 'strings', minItems: 1, required: true, doc: 'every label a set may hold, in order' },
      separator: { type: 'string', default: '+', doc: 'what separates the labels in one raw value, e.g. "cat+dog"' },
      threshold: {
        type: 'number',
        exclusiveMinimum: 0,
        maximum: 1,
        default: 0.5,
        doc: 'a label is predicted where its probability reaches this',
      },
      loss_weight: weight,
      metrics: {
        type: 'choices',
        values: ['f1', 'subset_accuracy'],
        default: ['f1', 'subset_accuracy'],
        doc: "f1: each label's and their mean; subset_accuracy: the share of images whose whole set is right",
      },
    },
  },
} as const satisfies Record<string, { doc: string; params: Params }>;

export type OutputType = keyof typeof OUTPUT_TYPES;

/** Where a binned number output's bins lie (standardized value): N even bins over [-4, 4], their centres. */
export const BIN_SPAN = 4;
export function binCenters(bins: number): number[] {
  const width = (2 * BIN_SPAN) / bins;
  return Array.from({ length: bins }, (_, j) => -BIN_SPAN + (j + 0.5) * width);
}
