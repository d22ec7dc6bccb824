// The experiment JSON Schema, assembled from the registries so that each
// parameter is declared once. schemas/experiment.schema.json is this object,
// written by `npm run schema` and checked by a test.

import { AUGMENTATIONS } from '../spec/augmentations.ts';
import { BACKBONES } from '../spec/backbones.ts';
import { CROPS } from '../spec/crops.ts';
import { LAYER_GRAPH_KEYS, LAYERS } from '../spec/layers.ts';
import { LOSSES } from '../spec/losses.ts';
import { MONITOR_DOC } from '../spec/metric-names.ts';
import { OPTIMIZERS } from '../spec/optimizers.ts';
import { OUTPUT_TYPES } from '../spec/outputs.ts';
import { type JsonSchema, registrySchema } from '../spec/params.ts';
import { SCHEDULES } from '../spec/schedules.ts';
import { BLOCK_TYPE } from './blocks.ts';
import { sweepSchema } from './sweep-schema.ts';

/** Layer items: a registry layer, or a use of a block (expanded before validation; listed for editors). */
function layerItems(): JsonSchema {
  const items = registrySchema(LAYERS, LAYER_GRAPH_KEYS) as {
    properties: { type: { enum: string[] } };
    oneOf: JsonSchema[];
  };
  items.properties.type.enum.push(BLOCK_TYPE);
  items.oneOf.push({
    type: 'object',
    description: 'a use of a block declared under model.blocks; other keys set its parameters',
    properties: {
      type: { const: BLOCK_TYPE },
      block: { type: 'string', description: 'the name of the block under model.blocks' },
      repeat: { type: 'integer', minimum: 1, maximum: 64, default: 1, description: 'how many times in a row' },
      ...LAYER_GRAPH_KEYS,
    },
    required: ['type', 'block'],
  });
  return items;
}

export const CONFIG_VERSION = 1;
export const SCHEMA_ID = 'https://run-exp.dev/schemas/experiment.schema.json';

const obj = (description: string, properties: Record<string, JsonSchema>, required: string[] = []): JsonSchema => ({
  type: 'object',
  description,
  properties,
  required,
  additionalProperties: false,
});
/** An optional section whose own defaults are filled in when it is left out. */
const section = (description: string, properties: Record<string, JsonSchema>): JsonSchema => ({
  ...obj(description, properties),
  default: {},
});

const fraction = (description: string, d: number): JsonSchema => ({
  type: 'number',
  minimum: 0,
  exclusiveMaximum: 1,
  default: d,
  description,
});

const METRICS = ['accuracy', 'precision', 'recall', 'f1', 'auc'];
// A metric name; which ones a run has depends on its outputs, so config/outputs-check.ts checks it.
const MONITOR = { type: 'string', pattern: '^[a-z][a-z0-9_-]*$', default: 'val_loss' };
// How pixels become model input: for the data, and for what a backbone read from disk expects.
const NORMALIZATION: Record<string, JsonSchema> = {
  normalize: {
    enum: ['unit', 'symmetric', 'standard'],
    default: 'unit',
    description: 'unit: [0, 1]; symmetric: [-1, 1]; standard: (x - mean) / std per channel',
  },
  mean: {
    type: 'array',
    items: { type: 'number' },
    minItems: 1,
    maxItems: 3,
    description: 'standard: per-channel mean (0..1 scale)',
  },
  std: {
    type: 'array',
    items: { type: 'number', exclusiveMinimum: 0 },
    minItems: 1,
    maxItems: 3,
    description: 'standard: per-channel std (0..1 scale)',
  },
};

export function experimentSchema(): JsonSchema {
  const data = obj(
    'where the images come from and how they are prepared',
    {
      source: {
        enum: ['folder', 'filename', 'manifest'],
        default: 'folder',
        description:
          'folder: one sub-folder per class; filename: labels parsed from file names; manifest: a CSV or JSON-lines file of path and label',
      },
      path: {
        type: 'string',
        minLength: 1,
        description: 'the image folder (or the manifest file), relative to this file',
      },
      validation_path: {
        type: 'string',
        minLength: 1,
        description: 'a separate validation folder; replaces the split',
      },
      test_path: { type: 'string', minLength: 1, description: 'a separate test folder' },
      classes: {
        type: 'array',
        items: { type: 'string', minLength: 1 },
        minItems: 2,
        uniqueItems: true,
        description: 'class names in output order (default: as found, sorted)',
      },
      pattern: {
        type: 'string',
        minLength: 1,
        format: 'regex',
        description: 'filename source: a regular expression with a named group `label` matched against each file name',
      },
      label_map: {
        type: 'object',
        additionalProperties: { type: 'string', minLength: 1 },
        description: 'filename source: value of the `label` group -> class name',
      },
      path_column: { type: 'string', default: 'path', description: 'manifest source: the column of image paths' },
      label_column: { type: 'string', default: 'label', description: 'manifest source: the column of labels' },
      split: section('held-out fractions, stratified by class and seeded', {
        validation: fraction('fraction held out for validation', 0.05),
        test: fraction('fraction held out for testing', 0),
        seed: { type: 'integer', description: 'split seed (default: the experiment seed)' },
        stratify: {
          type: 'string',
          minLength: 1,
          description:
            'with outputs: the output whose proportions every split keeps (a category or binary output by class, a number output by its bands; default: the first category or binary output)',
        },
      }),
      preprocessing: section('how each image becomes a tensor', {
        size: {
          type: 'array',
          items: { type: 'integer', minimum: 8, maximum: 1024 },
          minItems: 2,
          maxItems: 2,
          default: [64, 64],
          description: '[height, width] after resizing',
        },
        fit: {
          enum: ['cover', 'contain', 'fill'],
          default: 'fill',
          description: 'cover: crop to the aspect ratio; contain: letterbox; fill: stretch',
        },
        center_crop: {
          type: 'number',
          exclusiveMinimum: 0,
          maximum: 1,
          default: 1,
          description: 'keep this central fraction of each side before resizing (1: no crop)',
        },
        crop: {
          ...registrySchema(CROPS),
          default: { type: 'none' },
          description: 'cut each image to a region before resizing: none, or face (a detected face)',
        },
        color: { enum: ['rgb', 'grayscale'], default: 'rgb', description: 'channels of the model input' },
        ...NORMALIZATION,
      }),
      augmentation: {
        type: 'array',
        default: [],
        description: 'random changes applied to training images, per epoch',
        items: registrySchema(AUGMENTATIONS),
      },
      test_time_flip: {
        type: 'boolean',
        default: false,
        description:
          "score each image by the mean of the model's class probabilities on it and on its mirror image: validation, evaluation sets, evaluate and predict (recorded with the model)",
      },
      evaluation_sets: {
        type: 'object',
        default: {},
        propertyNames: {
          pattern: '^[A-Za-z][A-Za-z0-9_]*$',
          maxLength: 40,
          description: 'letters, digits and _, starting with a letter, at most 40 characters',
        },
        additionalProperties: { type: 'string', minLength: 1 },
        description:
          'name -> image folder (one sub-folder per class) or CSV / JSON-lines manifest, relative to this file: data from elsewhere, evaluated with the final model of every run and reported as <name>_accuracy and the rest. Its classes must be among the training classes. A set used to pick trials or settings has become a validation set: keep another one untouched to report',
      },
      evaluation_every: {
        type: 'integer',
        minimum: 0,
        default: 0,
        description: 'also evaluate the evaluation sets every N epochs (0: only at the end)',
      },
      on_bad_file: {
        enum: ['skip', 'fail'],
        default: 'skip',
        description: 'skip: a corrupt or non-image file is listed and left out; fail: the run stops before training',
      },
    },
    ['path'],
  );

  const training = section('how the model is trained', {
    epochs: { type: 'integer', minimum: 1, maximum: 100000, default: 10, description: 'passes over the training set' },
    batch_size: { type: 'integer', minimum: 1, maximum: 65536, default: 32, description: 'images per step' },
    optimizer: {
      ...registrySchema(OPTIMIZERS, {
        lr_multipliers: {
          type: 'object',
          propertyNames: {
            pattern: '^[A-Za-z][A-Za-z0-9_]*(/[A-Za-z0-9_]+)*$',
            description: 'a layer name or scope, e.g. backbone or stage2',
          },
          additionalProperties: { type: 'number', minimum: 0, maximum: 100 },
          description:
            'layer name or scope -> factor on the learning rate of its weights (backbone: 0.1 fine-tunes a backbone gently; 0 freezes); the most specific scope wins, other weights learn at the base rate',
        },
      }),
      default: { type: 'sgd' },
      description: 'the optimizer and its params',
    },
    loss: { ...registrySchema(LOSSES), default: { type: 'categorical_crossentropy' }, description: 'the loss' },
    metrics: {
      type: 'array',
      items: { enum: METRICS },
      uniqueItems: true,
      default: ['accuracy'],
      description: 'metrics shown each epoch (loss always is)',
    },
    lr_schedule: { ...registrySchema(SCHEDULES), default: { type: 'constant' }, description: 'learning-rate schedule' },
    early_stopping: {
      ...obj('stop when the monitored metric stops improving', {
        monitor: { ...MONITOR, description: `metric watched: ${MONITOR_DOC}` },
        mode: { enum: ['auto', 'min', 'max'], default: 'auto', description: 'auto: min for losses, max otherwise' },
        patience: {
          type: 'integer',
          minimum: 0,
          default: 5,
          description: 'epochs in a row without improvement after which training stops (as Keras EarlyStopping)',
        },
        min_delta: {
          type: 'number',
          minimum: 0,
          default: 0,
          description: 'smallest change that counts as improvement',
        },
        restore_best_weights: { type: 'boolean', default: true, description: 'end with the weights of the best epoch' },
      }),
      type: ['object', 'null'],
      default: null,
    },
    ema: {
      ...obj(
        'keep an exponential moving average of the weights, updated after every step; validation, the evaluation sets, checkpoints/best and the saved model use the averaged weights (as Keras use_ema and timm ModelEma)',
        {
          decay: {
            type: 'number',
            exclusiveMinimum: 0,
            exclusiveMaximum: 1,
            default: 0.999,
            description:
              'the average keeps this share of itself each step, warmed up as TensorFlow ExponentialMovingAverage does: min(decay, (1 + step) / (10 + step)); 0.999 averages over about the last 1,000 steps',
          },
        },
      ),
      type: ['object', 'null'],
      default: null,
    },
    class_weights: {
      description:
        "each training example's loss times its class's weight (as Keras class_weight): balanced, weights inversely proportional to the training split's class counts; or class name -> weight (1 for classes not named)",
      default: null,
      oneOf: [
        { type: 'null' },
        { const: 'balanced' },
        { type: 'object', additionalProperties: { type: 'number', exclusiveMinimum: 0 }, minProperties: 1 },
      ],
    },
    checkpoints: section('what is saved while training', {
      every: { type: 'integer', minimum: 1, default: 1, description: 'save the latest weights every N epochs' },
      best: { type: 'boolean', default: true, description: 'also keep the best weights' },
      monitor: { ...MONITOR, description: `metric that decides the best epoch: ${MONITOR_DOC}` },
    }),
    engine: {
      enum: ['graph', 'eager'],
      default: 'graph',
      description:
        'graph (the default): each training step is one TensorFlow graph run (forward, loss, gradients, update), which TensorFlow optimizes as a whole; an experiment without a graph form, or a machine without graph mode, trains eagerly (the log says why). eager: op by op from JavaScript',
    },
    precision: {
      enum: ['float32', 'bf16'],
      default: 'float32',
      description:
        "bf16: mixed precision, as Keras mixed_bfloat16 (layers compute in bfloat16 on the CPU's bfloat16 units; weights, optimizer state, batch norm, the output layer and the loss stay float32); on the graph engine, on a CPU whose bfloat16 units beat float32 (AMX-BF16, or AVX512_BF16 on AMD). Elsewhere the run trains in float32 and its log says why",
    },
    threads: {
      type: 'integer',
      minimum: 1,
      maximum: 256,
      description: 'TensorFlow intra-op threads (default: one per core)',
    },
    allow_non_native_backend: {
      type: 'boolean',
      default: false,
      description: 'allow the pure-JS CPU backend when libtensorflow is missing (very slow; debugging only)',
    },
  });

  const tracking = section('where the run is recorded', {
    dir: { type: 'string', default: 'runs', description: 'local run folder root, relative to the current directory' },
    mlflow_uri: {
      type: ['string', 'null'],
      pattern: '^https?://[^/]',
      default: null,
      description: 'MLflow tracking server, an http(s) URL (default: $MLFLOW_TRACKING_URI)',
    },
    experiment_name: { type: 'string', minLength: 1, description: 'MLflow experiment (default: the experiment name)' },
    tags: {
      type: 'object',
      additionalProperties: { type: 'string' },
      default: {},
      description: 'tags added to the run',
    },
  });

  const report = section("the run's report.html: the photos it gets wrong, its calibration, the slices it fails on", {
    enabled: {
      type: 'boolean',
      default: true,
      description: 'write report.html after the last epoch (run-exp report makes one later too)',
    },
    images_per_cell: {
      type: 'integer',
      minimum: 0,
      maximum: 200,
      default: 12,
      description: "photos shown per confusion-matrix cell and data set, the model's most confident first",
    },
    mistakes: {
      type: 'integer',
      minimum: 0,
      maximum: 500,
      default: 24,
      description: 'most confident mistakes shown per data set',
    },
    panel: {
      type: 'boolean',
      default: true,
      description:
        "a drop-a-photo panel that runs the run's model, its preprocessing and face detector in the page (TF.js and the model inlined: the report grows by the model's size plus 1.5 MB; left out past MLflow's 50 MB preview)",
    },
    slices: section('attributes to score the model on separately (accuracy per value, worst first)', {
      pattern: {
        type: 'string',
        minLength: 1,
        format: 'regex',
        description:
          "a regular expression on each file's name whose named groups are attributes, e.g. '^(?<age>\\d+)_\\d_(?<race>\\d)_' for UTKFace (a filename source's own pattern groups are used too)",
      },
      bands: {
        type: 'object',
        additionalProperties: {
          type: 'array',
          items: { type: 'number' },
          minItems: 1,
          description: 'ascending lower bounds of the bands',
        },
        default: {},
        description:
          'numeric attributes grouped into bands: name -> ascending lower bounds, e.g. age: [0, 13, 20, 40, 60]',
      },
      columns: {
        type: 'array',
        items: { type: 'string', minLength: 1 },
        default: [],
        description: 'manifest columns that are attributes (a manifest source or evaluation set)',
      },
    }),
  });

  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: SCHEMA_ID,
    title: 'run-exp experiment',
    type: 'object',
    additionalProperties: false,
    required: ['name', 'data', 'model'],
    properties: {
      $schema: { type: 'string', description: 'editor hint; ignored' },
      version: {
        type: 'integer',
        minimum: 1,
        maximum: CONFIG_VERSION,
        default: CONFIG_VERSION,
        description: 'config format version; older files are upgraded',
      },
      extends: {
        description: 'a base experiment (or a list of them) this file overrides, relative to this file',
        oneOf: [
          { type: 'string', minLength: 1 },
          { type: 'array', items: { type: 'string', minLength: 1 } },
        ],
      },
      name: {
        type: 'string',
        pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
        maxLength: 100,
        description: 'experiment name (letters, digits, . _ -)',
      },
      description: { type: 'string', default: '', description: 'what this experiment tries' },
      seed: {
        type: 'integer',
        minimum: 0,
        maximum: 2147483647,
        default: 42,
        description: 'seed of the split, initial weights and shuffling',
      },
      data,
      model: obj(
        'the network',
        {
          layers: {
            type: 'array',
            minItems: 1,
            description: 'the layers, input to output; each reads the one before it unless it names its `inputs`',
            items: layerItems(),
          },
          init_from: {
            type: 'string',
            minLength: 1,
            description:
              'a run folder (or a folder holding model.json) to start from: layers whose name and weight shapes match take its weights, the others keep their fresh ones; relative to this file',
          },
          backbone: obj(
            'a pretrained network between the input images and model.layers, which then read its features (`input` in their inputs is the features)',
            {
              from: {
                enum: Object.keys(BACKBONES),
                description: `a backbone of the catalog: ${Object.entries(BACKBONES)
                  .map(([k, b]) => `${k} (${b.trained_for})`)
                  .join('; ')}`,
              },
              path: {
                type: 'string',
                minLength: 1,
                description:
                  'instead of from: a TF.js layers model folder (model.json and weights), relative to this file; its layers are copied in as backbone/<name>',
              },
              output: {
                type: 'string',
                minLength: 1,
                description: "path backbones: the layer whose output the head reads (default: the model's output)",
              },
              input_size: {
                type: 'array',
                items: { type: 'integer', minimum: 1 },
                minItems: 2,
                maxItems: 2,
                description:
                  '[height, width] the backbone sees; when data.preprocessing.size differs, images are resized in the model',
              },
              ...Object.fromEntries(
                Object.entries(NORMALIZATION).map(([k, { default: _, ...v }]) => [
                  k,
                  { ...v, description: `path backbones, what they expect: ${v.description} (default: as the data)` },
                ]),
              ),
              trainable: {
                default: false,
                description:
                  'false: frozen (only model.layers learn); true: every backbone layer learns too; { from: <layer name>, at_epoch: <n> }: that backbone layer and the ones after it learn, from epoch n on (before it the backbone is frozen)',
                oneOf: [
                  { type: 'boolean' },
                  {
                    ...obj(
                      'fine-tune the end of the backbone',
                      {
                        from: { type: 'string', description: 'a backbone layer name, e.g. backbone/conv256_1/conv1' },
                        at_epoch: {
                          type: 'integer',
                          minimum: 1,
                          default: 1,
                          description:
                            'the first epoch (1-based) in which those layers learn: the head trains alone before it',
                        },
                      },
                      ['from'],
                    ),
                    title: '{ from: <backbone layer name>, at_epoch: <n> }',
                  },
                ],
              },
            },
            [],
          ),
          blocks: {
            type: 'object',
            default: {},
            description:
              'name -> a sub-graph used in model.layers as { type: block, block: <name>, repeat: <n>, <param>: <value> }',
            propertyNames: { pattern: '^[A-Za-z][A-Za-z0-9_]*$', description: 'letters, digits and _' },
            additionalProperties: obj(
              'a block',
              {
                params: {
                  type: 'object',
                  default: {},
                  description:
                    'parameter -> its default (null: a use must give it); a layer value `$<param>` takes the value',
                },
                layers: {
                  type: 'array',
                  minItems: 1,
                  description: "the block's layers; `input` in their inputs is the block's input",
                  items: { type: 'object', required: ['type'], description: 'a layer, whose values may be $<param>' },
                },
              },
              ['layers'],
            ),
          },
        },
        ['layers'],
      ),
      outputs: {
        type: 'object',
        minProperties: 1,
        description:
          "what the model predicts about each image, by name (several heads on one trunk, trained jointly on the weighted sum of their losses); left out, one category output: the data's class",
        propertyNames: {
          pattern: '^[a-z][a-z0-9_]*$',
          description:
            'lower-case letters, digits and _, starting with a letter (metrics are named val_<output>_<metric>)',
        },
        additionalProperties: registrySchema(OUTPUT_TYPES, {
          head: {
            type: 'array',
            default: [],
            description:
              "layers between the trunk (model.layers' last) and this output's own unit layer, which run-exp adds (a dense layer of the right size and activation)",
            items: layerItems(),
          },
        }),
      },
      training,
      tracking,
      report,
      sweep: sweepSchema(),
    },
  };
}
