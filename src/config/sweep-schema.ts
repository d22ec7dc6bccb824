// The `sweep:` section: trials that each override some keys of the experiment,
// addressed by the same paths as --set.
import { EVALUATION_SET_METRICS, RANKING_METRICS } from '../spec/metric-names.ts';

type Schema = Record<string, unknown>;

const VALUES: Schema = { type: 'array', minItems: 1, title: 'a list of values', description: 'a list of values' };

export function sweepSchema(): Schema {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['parameters'],
    description:
      'hyperparameter sweep: each trial overrides some keys of this experiment (run-exp sweep; run-exp <file> --trial i)',
    properties: {
      method: {
        enum: ['grid', 'random', 'tpe'],
        default: 'grid',
        description:
          'grid: every combination of the values; random: `trials` draws; tpe: `trials` proposals, each from the trials finished before it (tree-structured Parzen estimator)',
      },
      trials: {
        type: 'integer',
        minimum: 1,
        maximum: 10000,
        description: 'how many trials to draw (method: random) or propose (method: tpe)',
      },
      seed: { type: 'integer', minimum: 0, default: 0, description: 'seed of the random draws' },
      metric: {
        type: 'string',
        minLength: 1,
        default: 'val_accuracy',
        description: `the metric (at the last epoch) that ranks trials: ${RANKING_METRICS.join(', ')}, or <set>_<metric> of an evaluation set (${EVALUATION_SET_METRICS.join(', ')}); a set that picks trials is a validation set from then on`,
      },
      goal: { enum: ['maximize', 'minimize'], default: 'maximize', description: 'whether a higher metric is better' },
      seeds: {
        type: 'array',
        minItems: 1,
        uniqueItems: true,
        items: { type: 'integer', minimum: 0 },
        description: "repeat every trial with each of these experiment seeds (default: the experiment's own seed)",
      },
      scheduler: {
        // null: none (a --set sweep.scheduler=null runs the same trials in full, to compare)
        type: ['object', 'null'],
        additionalProperties: false,
        required: ['type'],
        description:
          "stops losing trials early: asynchronous successive halving (ASHA); rungs at min_epochs * reduction_factor^k below the experiment's epochs; null for none",
        properties: {
          type: { enum: ['asha'], description: 'asha: asynchronous successive halving' },
          reduction_factor: {
            type: 'integer',
            minimum: 2,
            default: 3,
            description: 'at each rung only the top 1/reduction_factor of the trials that reached it go on',
          },
          min_epochs: {
            type: 'integer',
            minimum: 1,
            default: 1,
            description: 'the first rung: epochs before any trial is judged',
          },
        },
      },
      parameters: {
        type: 'object',
        minProperties: 1,
        description: 'key path (as in --set) -> a list of values, {values: [...]}, or a range {min, max, scale, type}',
        additionalProperties: {
          oneOf: [
            VALUES,
            {
              type: 'object',
              additionalProperties: false,
              required: ['values'],
              properties: { values: VALUES },
              title: '{values: [...]}',
              description: '{values: [...]}',
            },
            {
              type: 'object',
              additionalProperties: false,
              required: ['min', 'max'],
              title: 'a range {min, max, scale, type}',
              description: 'a range {min, max, scale, type}',
              properties: {
                min: { type: 'number', description: 'lowest value' },
                max: { type: 'number', description: 'highest value' },
                scale: {
                  enum: ['linear', 'log'],
                  default: 'linear',
                  description: 'how draws spread between min and max',
                },
                type: { enum: ['float', 'int'], default: 'float', description: 'int rounds each draw' },
              },
            },
          ],
        },
      },
    },
  };
}
