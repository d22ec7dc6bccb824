// The broken-experiment corpus: each file (or --set override) must fail with
// exit code 2 and its first error at the given place, key path and message.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cli } from '../support/cli.ts';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'broken');
const bin = path.join(dir, '..', '..', '..', 'bin', 'run-exp.js');

interface Case {
  file: string;
  set?: string;
  /** file:line:col, or the --set argument */
  at: string;
  path: string;
  /** the message, or its beginning */
  message: string;
}

const CASES: Case[] = [
  {
    file: 'outputs-group-misspelled.yaml',
    at: 'outputs-group-misspelled.yaml:8:30',
    path: 'outputs.age.from',
    message: "'agee' is not a named group of data.pattern; did you mean 'age'? (its groups: age, gender, race)",
  },
  {
    file: 'outputs-number-class-loss.yaml',
    at: 'outputs-number-class-loss.yaml:7:41',
    path: 'outputs.age.loss',
    message: "'categorical_crossentropy' is not allowed (must be one of 'huber', 'mse', 'mae')",
  },
  {
    file: 'outputs-set-without-labels.yaml',
    at: 'outputs-set-without-labels.yaml:6:9',
    path: 'outputs.tags',
    message: "missing required key 'labels' (every label a set may hold, in order)",
  },
  {
    file: 'outputs-monitor-misspelled.yaml',
    at: 'outputs-monitor-misspelled.yaml:14:30',
    path: 'training.early_stopping.monitor',
    message: "'val_age_mea' is not a metric this experiment records per epoch; did you mean 'val_age_mae'?",
  },
  {
    file: 'outputs-mixup.yaml',
    at: 'outputs-mixup.yaml:8:15',
    path: 'data.augmentation[1].type',
    message: 'mixup mixes images and their one-hot class labels; a model with outputs has no single label to mix',
  },
  {
    file: 'outputs-folder-group.yaml',
    at: 'outputs-folder-group.yaml:5:30',
    path: 'outputs.age.from',
    message: "'age' is not a label a folder source gives: its only label is the class folder (from: class)",
  },
  {
    file: 'outputs-band-weights.yaml',
    at: 'outputs-band-weights.yaml:7:69',
    path: 'outputs.age.band_weights',
    message: '2 weight(s) for 3 bands (0, 20, 60): give one per band, or balanced',
  },
  {
    file: 'outputs-one-bin.yaml',
    at: 'outputs-one-bin.yaml:7:41',
    path: 'outputs.age.bins',
    message: 'one bin has nothing to choose between: give 0 (one regressed value) or at least 2 bins',
  },
  {
    file: 'outputs-class-weights-misspelled.yaml',
    at: 'outputs-class-weights-misspelled.yaml:7:102',
    path: 'outputs.gender.class_weights.mail',
    message: "'mail' is not one of this output's classes; did you mean 'male'? (male, female)",
  },
  {
    file: 'outputs-stratify-set.yaml',
    at: 'outputs-stratify-set.yaml:6:39',
    path: 'data.split.stratify',
    message: "'tags' is a set output: the split keeps the shares of a category or binary output's classes",
  },
  {
    file: 'alias-bomb.yaml',
    at: 'alias-bomb.yaml:1:1',
    path: '',
    message: 'invalid YAML: Excessive alias count indicates a resource exhaustion attack',
  },
  {
    file: 'augmentation-misspelled.yaml',
    at: 'augmentation-misspelled.yaml:6:15',
    path: 'data.augmentation[0].type',
    message: "unknown type 'flip_horizontl'; did you mean 'flip_horizontal'?",
  },
  {
    file: 'backbone-at-epoch-late.yaml',
    at: 'backbone-at-epoch-late.yaml:7:89',
    path: 'model.backbone.trainable.at_epoch',
    message: 'is 12, after the last epoch (training.epochs is 10): the backbone would never learn; use 1 to 10',
  },
  {
    file: 'backbone-layer-misspelled.yaml',
    at: 'backbone-layer-misspelled.yaml:7:47',
    path: 'model.backbone.trainable.from',
    message: "backbone face_resnet has no layer 'backbone/conv256_2/conv'; did you mean 'backbone/conv256_2/conv1'?",
  },
  {
    file: 'crop-detector-misspelled.yaml',
    at: 'crop-detector-misspelled.yaml:6:35',
    path: 'data.preprocessing.crop.detector',
    message: "'blazefac' is not allowed; did you mean 'blazeface'?",
  },
  {
    file: 'crop-margin-range.yaml',
    at: 'crop-margin-range.yaml:6:33',
    path: 'data.preprocessing.crop.margin',
    message: '1.5 is out of range: must be a number >= -0.25 and <= 1',
  },
  {
    file: 'crop-type-misspelled.yaml',
    at: 'crop-type-misspelled.yaml:6:19',
    path: 'data.preprocessing.crop.type',
    message: "unknown type 'faces'; did you mean 'face'?",
  },
  {
    file: 'evaluation-set-name.yaml',
    at: 'evaluation-set-name.yaml:6:5',
    path: 'data.evaluation_sets.2nd-set',
    message: "'2nd-set' is not a valid name here: letters, digits and _, starting with a letter",
  },
  {
    file: 'resized-crop-scale.yaml',
    at: 'resized-crop-scale.yaml:6:49',
    path: 'data.augmentation[0].scale[1]',
    message: '1.5 is out of range: must be a number >= 0.01 and <= 1',
  },
  {
    file: 'sweep-metric-set.yaml',
    at: 'sweep-metric-set.yaml:12:11',
    path: 'sweep.metric',
    message: "'portrait_accuracy' is not a metric of this experiment; did you mean 'portraits_accuracy'?",
  },
  {
    file: 'bad-name.yaml',
    at: 'bad-name.yaml:1:7',
    path: 'name',
    message: "'my experiment!' is not valid: experiment name (letters, digits, . _ -)",
  },
  {
    file: 'sweep-unknown-path.yaml',
    at: 'sweep-unknown-path.yaml:11:5',
    path: 'sweep.parameters.training.optimizer.lrr',
    message: "unknown key 'lrr'; did you mean 'lr'?",
  },
  {
    file: 'sweep-range-in-grid.yaml',
    at: 'sweep-range-in-grid.yaml:11:5',
    path: 'sweep.parameters.training.batch_size',
    message: 'a range {min, max} needs method: random or tpe; a grid needs a list of values',
  },
  {
    file: 'sweep-bad-value.yaml',
    at: 'sweep-bad-value.yaml:11:30',
    path: 'sweep.parameters.model.layers[0].filters',
    message: '-4 gives an invalid experiment: model.layers[0].filters: -4 is out of range',
  },
  {
    file: 'sweep-random-no-trials.yaml',
    at: 'sweep-random-no-trials.yaml:10:11',
    path: 'sweep.method',
    message: "method 'random' needs trials: how many to run (e.g. trials: 16)",
  },
  {
    file: 'sweep-asha-min-epochs.yaml',
    at: 'sweep-asha-min-epochs.yaml:12:40',
    path: 'sweep.scheduler.min_epochs',
    message: '5 is not below training.epochs (5): no trial would be judged before its end',
  },
  {
    file: 'sweep-asha-end-metric.yaml',
    at: 'sweep-asha-end-metric.yaml:14:3',
    path: 'sweep.scheduler',
    message:
      'ASHA compares trials at every rung, but portraits_accuracy is scored only at the end; set data.evaluation_every: 1 or rank by a validation metric',
  },
  {
    file: 'sweep-tpe-seeds.yaml',
    at: 'sweep-tpe-seeds.yaml:13:3',
    path: 'sweep.seeds',
    message:
      "seeds repeats fixed trials; tpe proposes each trial from the others' results (sweep seed as a parameter instead)",
  },
  {
    file: 'mlflow-uri-not-http.yaml',
    at: 'mlflow-uri-not-http.yaml:9:15',
    path: 'tracking.mlflow_uri',
    message: "'file:///tmp/mlruns' is not valid: MLflow tracking server, an http(s) URL",
  },
  {
    file: 'bad-padding.yaml',
    at: 'bad-padding.yaml:7:60',
    path: 'model.layers[0].padding',
    message: "'full' is not allowed (must be one of 'valid', 'same')",
  },
  {
    file: 'binary.yaml',
    at: 'binary.yaml:1:1',
    path: '',
    message: 'not a text file (binary or not UTF-8); an experiment is a YAML text file',
  },
  {
    file: 'class-weights-word.yaml',
    at: 'class-weights-word.yaml:13:18',
    path: 'training.class_weights',
    message: "'heavy' is not valid: must be null or 'balanced' or a mapping",
  },
  {
    file: 'classes-one.yaml',
    at: 'classes-one.yaml:4:12',
    path: 'data.classes',
    message: 'has 1 item: must be a list of strings with at least 2',
  },
  {
    file: 'comments-only.yaml',
    at: 'comments-only.yaml:1:1',
    path: '',
    message: 'the file is empty; an experiment needs at least name, data and model',
  },
  {
    file: 'conv-after-flatten.yaml',
    at: 'conv-after-flatten.yaml:10:7',
    path: 'model.layers[3]',
    message:
      'layer 4 conv2d: needs an image input [batch, height, width, channels] but got [batch, 7688]; move it before',
  },
  {
    file: 'graph-cycle.yaml',
    at: 'graph-cycle.yaml:7:75',
    path: 'model.layers[0].inputs',
    message: "layer 1 conv2d 'a': the layers form a cycle (a reads c, c reads b, b reads a)",
  },
  {
    file: 'graph-duplicate-name.yaml',
    at: 'graph-duplicate-name.yaml:8:66',
    path: 'model.layers[1].name',
    message: "layer 2 conv2d 'stem': the name 'stem' is already taken by layer 1 conv2d 'stem'",
  },
  {
    file: 'graph-merge-shapes.yaml',
    at: 'graph-merge-shapes.yaml:9:20',
    path: 'model.layers[2].inputs',
    message:
      "layer 3 add: its inputs disagree in shape: 'stem' gives [batch, 64, 64, 8] but 'down' gives [batch, 32, 32, 16]; add needs equal shapes",
  },
  {
    file: 'graph-unknown-input.yaml',
    at: 'graph-unknown-input.yaml:9:35',
    path: 'model.layers[2].inputs[1]',
    message: "layer 3 add: no layer is named 'conv2d_22'; did you mean 'conv2d_2'?",
  },
  {
    file: 'graph-unused-output.yaml',
    at: 'graph-unused-output.yaml:8:7',
    path: 'model.layers[1]',
    message: "layer 2 conv2d 'unused': its output is never used; name it in a later layer's inputs, or remove it",
  },
  {
    file: 'custom-tag.yaml',
    at: 'custom-tag.yaml:1:7',
    path: '',
    message: 'custom YAML tags are not allowed (tag:yaml.org,2002:js/function); write plain values',
  },
  {
    file: 'dense-on-image.yaml',
    at: 'dense-on-image.yaml:9:7',
    path: 'model.layers[2]',
    message:
      'layer 3 dense: got a rank-4 input [batch, 31, 31, 8], add a flatten (or globalAveragePooling2d) layer before',
  },
  {
    file: 'dense-without-units.yaml',
    at: 'dense-without-units.yaml:10:7',
    path: 'model.layers[3]',
    message: "missing required key 'units' (number of outputs)",
  },
  {
    file: 'dropout-rate-high.yaml',
    at: 'dropout-rate-high.yaml:10:30',
    path: 'model.layers[3].rate',
    message: '1.5 is out of range: must be a number >= 0 and <= 0.99',
  },
  {
    file: 'duplicate-key.yaml',
    at: 'duplicate-key.yaml:13:3',
    path: '',
    message: 'duplicate key: each key may appear once in a mapping',
  },
  {
    file: 'empty-layers.yaml',
    at: 'empty-layers.yaml:6:11',
    path: 'model.layers',
    message: 'has 0 items: must be a list of mappings with at least 1',
  },
  {
    file: 'empty.yaml',
    at: 'empty.yaml:1:1',
    path: '',
    message: 'the file is empty; an experiment needs at least name, data and model',
  },
  {
    file: 'ends-with-image.yaml',
    at: 'ends-with-image.yaml:8:7',
    path: 'model.layers[1]',
    message:
      'the model must end with one value per class, but the last layer gives [batch, 31, 31, 8]; end with flatten',
  },
  {
    file: 'epochs-float.yaml',
    at: 'epochs-float.yaml:12:11',
    path: 'training.epochs',
    message: '2.5 is not valid: must be an integer >= 1 and <= 100000',
  },
  {
    file: 'epochs-string.yaml',
    at: 'epochs-string.yaml:12:11',
    path: 'training.epochs',
    message: "'ten' is not valid: must be an integer >= 1 and <= 100000",
  },
  {
    file: 'epochs-zero.yaml',
    at: 'epochs-zero.yaml:12:11',
    path: 'training.epochs',
    message: '0 is out of range: must be an integer >= 1 and <= 100000',
  },
  {
    file: 'extends-cycle-a.yaml',
    at: 'extends-cycle-b.yaml:1:10',
    path: 'extends',
    message: 'extends cycle: extends-cycle-a.yaml -> extends-cycle-b.yaml -> extends-cycle-a.yaml',
  },
  {
    file: 'extends-cycle-b.yaml',
    at: 'extends-cycle-a.yaml:1:10',
    path: 'extends',
    message: 'extends cycle: extends-cycle-b.yaml -> extends-cycle-a.yaml -> extends-cycle-b.yaml',
  },
  {
    file: 'extends-missing.yaml',
    at: 'extends-missing.yaml:1:10',
    path: 'extends',
    message: 'base file ./no-such-base.yaml not found',
  },
  {
    file: 'filters-zero.yaml',
    at: 'filters-zero.yaml:7:32',
    path: 'model.layers[0].filters',
    message: '0 is out of range: must be an integer >= 1 and <= 65536',
  },
  {
    file: 'kernel-size-three.yaml',
    at: 'kernel-size-three.yaml:7:48',
    path: 'model.layers[0].kernel_size',
    message: '[3,3,3] is not valid: must be an integer >= 1 or a list of 2 integers >= 1',
  },
  {
    file: 'layer-without-type.yaml',
    at: 'layer-without-type.yaml:9:7',
    path: 'model.layers[2].type',
    message: "missing 'type'; one of conv2d, separableConv2d, depthwiseConv2d, maxPooling2d, averagePooling2d,",
  },
  {
    file: 'lr-zero.yaml',
    at: 'lr-zero.yaml:13:31',
    path: 'training.optimizer.lr',
    message: '0 is out of range: must be a number > 0 and <= 10',
  },
  {
    file: 'lr-multipliers-unknown-scope.yaml',
    at: 'lr-multipliers-unknown-scope.yaml:12:57',
    path: 'training.optimizer.lr_multipliers.backbon',
    message: "no layer is named 'backbon' or sits under it; did you mean 'backbone'?",
  },
  {
    file: 'metrics-unknown.yaml',
    at: 'metrics-unknown.yaml:13:23',
    path: 'training.metrics[1]',
    message:
      "'precison' is not allowed; did you mean 'precision'? (must be one of 'accuracy', 'precision', 'recall', 'f1',",
  },
  {
    file: 'missing-data-path.yaml',
    at: 'missing-data-path.yaml:3:3',
    path: 'data',
    message: "missing required key 'path' (the image folder (or the manifest file), relative to this file)",
  },
  {
    file: 'missing-model.yaml',
    at: 'missing-model.yaml:1:1',
    path: '',
    message: "missing required key 'model' (the network)",
  },
  {
    file: 'missing-name.yaml',
    at: 'missing-name.yaml:1:1',
    path: '',
    message: "missing required key 'name' (experiment name (letters, digits, . _ -))",
  },
  {
    file: 'misspelled-activation.yaml',
    at: 'misspelled-activation.yaml:7:63',
    path: 'model.layers[0].activation',
    message: "'rellu' is not allowed; did you mean 'relu'? (must be one of 'linear', 'relu', 'relu6', 'elu', 'selu',",
  },
  {
    file: 'misspelled-layer-type.yaml',
    at: 'misspelled-layer-type.yaml:8:15',
    path: 'model.layers[1].type',
    message: "unknown type 'maxPooling2'; did you mean 'maxPooling2d'?",
  },
  {
    file: 'no-softmax.yaml',
    at: 'no-softmax.yaml:10:7',
    path: 'model.layers[3]',
    message:
      'categorical_crossentropy needs class probabilities: give the last layer activation: softmax (it has linear)',
  },
  {
    file: 'not-a-mapping.yaml',
    at: 'not-a-mapping.yaml:1:1',
    path: '',
    message: 'an experiment is a YAML mapping of keys (name, data, model, ...), not a list',
  },
  {
    file: 'optimizer-foreign-param.yaml',
    at: 'optimizer-foreign-param.yaml:13:37',
    path: 'training.optimizer.beta1',
    message: "unknown key 'beta1'; valid keys: type, lr, momentum, nesterov, lr_multipliers",
  },
  {
    file: 'optimizer-misspelled.yaml',
    at: 'optimizer-misspelled.yaml:13:22',
    path: 'training.optimizer.type',
    message: "unknown type 'adamm'; did you mean 'adam'?",
  },
  {
    file: 'scalar.yaml',
    at: 'scalar.yaml:1:1',
    path: '',
    message: 'an experiment is a YAML mapping of keys (name, data, model, ...), not a string',
  },
  {
    file: 'shrinks-to-nothing.yaml',
    at: 'shrinks-to-nothing.yaml:11:7',
    path: 'model.layers[2]',
    message:
      'layer 3 conv2d: its window does not fit the 3x3 input [batch, 3, 3, 8], so the output would be empty; use',
  },
  {
    file: 'size-one-number.yaml',
    at: 'size-one-number.yaml:6:11',
    path: 'data.preprocessing.size',
    message: 'has 1 item: must be a list of 2 integers >= 8 and <= 1024',
  },
  {
    file: 'syntax-bad-indent.yaml',
    at: 'syntax-bad-indent.yaml:3:9',
    path: '',
    message: 'invalid YAML: Nested mappings are not allowed in compact mappings',
  },
  {
    file: 'syntax-unclosed-flow.yaml',
    at: 'syntax-unclosed-flow.yaml:10:5',
    path: '',
    message: 'invalid YAML: Flow map in block collection must be sufficiently indented and end with a }',
  },
  {
    file: 'tabs.yaml',
    at: 'tabs.yaml:12:1',
    path: '',
    message: 'tabs are not allowed for indentation in YAML; indent with spaces',
  },
  {
    file: 'unknown-key-no-hint.yaml',
    at: 'unknown-key-no-hint.yaml:12:3',
    path: 'training.colour_of_sky',
    message: "unknown key 'colour_of_sky'; valid keys: epochs, batch_size, optimizer, loss, metrics, lr_schedule,",
  },
  {
    file: 'unknown-layer-param.yaml',
    at: 'unknown-layer-param.yaml:10:32',
    path: 'model.layers[3].activaton',
    message: "unknown key 'activaton'; did you mean 'activation'?",
  },
  {
    file: 'unknown-layer-type.yaml',
    at: 'unknown-layer-type.yaml:8:15',
    path: 'model.layers[1].type',
    message: "unknown type 'transformer'; valid types: conv2d, separableConv2d, depthwiseConv2d, maxPooling2d,",
  },
  {
    file: 'unknown-nested-key.yaml',
    at: 'unknown-nested-key.yaml:12:3',
    path: 'training.epocs',
    message: "unknown key 'epocs'; did you mean 'epochs'?",
  },
  {
    file: 'unknown-top-key.yaml',
    at: 'unknown-top-key.yaml:11:1',
    path: 'trainig',
    message: "unknown key 'trainig'; did you mean 'training'?",
  },
  {
    file: 'unset-variable.yaml',
    at: 'unset-variable.yaml:3:9',
    path: 'data.path',
    message: 'environment variable RUN_EXP_TEST_UNSET_VARIABLE is not set and has no default; set it, or write',
  },
  {
    file: 'use-bias-string.yaml',
    at: 'use-bias-string.yaml:7:61',
    path: 'model.layers[0].use_bias',
    message: "'maybe' is not valid: must be a boolean",
  },
  {
    file: 'validation-one.yaml',
    at: 'validation-one.yaml:6:17',
    path: 'data.split.validation',
    message: '1 is out of range: must be a number >= 0 and < 1',
  },
  {
    file: 'version-too-new.yaml',
    at: 'version-too-new.yaml:1:10',
    path: 'version',
    message: 'this file is format version 99, but this run-exp reads versions up to 1; upgrade run-exp',
  },
  {
    file: 'wrong-output-units.yaml',
    at: 'wrong-output-units.yaml:10:7',
    path: 'model.layers[3]',
    message: 'the last layer gives 3 outputs but the data has 2 classes; end with dense units: 2',
  },
  {
    file: 'valid-base.yaml',
    set: 'model.layrs[2].filters=64',
    at: '--set model.layrs[2].filters=64',
    path: 'model.layrs',
    message: "unknown key 'layrs'; did you mean 'layers'?",
  },
  {
    file: 'valid-base.yaml',
    set: 'model.layers[40].filters=8',
    at: '--set model.layers[40].filters=8',
    path: 'model.layers[40]',
    message: 'index 40 is out of range: model.layers has 4 items (0 to 3)',
  },
  {
    file: 'valid-base.yaml',
    set: 'training..epochs=3',
    at: '--set training..epochs=3',
    path: 'training..epochs',
    message: 'not a key path; write keys with dots and list indexes in brackets, e.g. model.layers[2].filters',
  },
  {
    file: 'valid-base.yaml',
    set: 'training.epochs=many',
    at: '--set training.epochs=many',
    path: 'training.epochs',
    message: "'many' is not valid: must be an integer >= 1 and <= 100000",
  },
  {
    file: 'valid-base.yaml',
    set: 'novalue',
    at: '--set novalue',
    path: '',
    message: 'an override is KEY.PATH=VALUE, e.g. training.optimizer.lr=0.05',
  },
  {
    file: 'valid-base.yaml',
    set: 'name.first=x',
    at: '--set name.first=x',
    path: 'name.first',
    message: "name is not a mapping, so it has no key 'first'",
  },
];

const validate = (args: string[]) => cli(['validate', '--json', ...args]);

describe('broken experiment files', () => {
  const files = new Set(CASES.filter((c) => !c.set).map((c) => c.file));
  it('the corpus has at least 40 broken files', () => {
    expect(files.size).toBeGreaterThanOrEqual(40);
  });

  const cwd = process.cwd();
  for (const c of CASES) {
    it(`${c.file}${c.set ? ` --set ${c.set}` : ''}`, async () => {
      process.chdir(dir);
      try {
        const r = await validate(c.set ? [c.file, '--set', c.set] : [c.file]);
        expect(r.code).toBe(2);
        const [report] = JSON.parse(r.out) as {
          errors: { file: string; line: number; col: number; path: string; message: string }[];
        }[];
        const first = report?.errors[0];
        expect(first).toBeDefined();
        const at = first?.file.startsWith('--set ') ? first.file : `${first?.file}:${first?.line}:${first?.col}`;
        expect({ at, path: first?.path }).toEqual({ at: c.set ? `--set ${c.set}` : c.at, path: c.path });
        expect(first?.message.startsWith(c.message)).toBe(true);
      } finally {
        process.chdir(cwd);
      }
    });
  }
});

describe('the run-exp process on bad input', () => {
  it('prints file:line:col  key.path  message, exits 2, and shows no stack trace', () => {
    const r = spawnSync(process.execPath, [bin, 'validate', 'unknown-nested-key.yaml', 'misspelled-layer-type.yaml'], {
      cwd: dir,
      encoding: 'utf8',
    });
    expect(r.status).toBe(2);
    expect(r.stdout.trim().split('\n')).toEqual([
      "unknown-nested-key.yaml:12:3  training.epocs  unknown key 'epocs'; did you mean 'epochs'?",
      "misspelled-layer-type.yaml:8:15  model.layers[1].type  unknown type 'maxPooling2'; did you mean 'maxPooling2d'?",
    ]);
    expect(`${r.stdout}${r.stderr}`).not.toMatch(/\n\s+at /);
  });

  it('reports a bad --set path with exit code 2', () => {
    const r = spawnSync(process.execPath, [bin, 'validate', 'valid-base.yaml', '--set', 'model.layrs[2].filters=64'], {
      cwd: dir,
      encoding: 'utf8',
    });
    expect(r.status).toBe(2);
    expect(r.stdout).toContain(
      "--set model.layrs[2].filters=64  model.layrs  unknown key 'layrs'; did you mean 'layers'?",
    );
  });

  it('training a model that cannot be built: the located error, exit 2, before any data is read or run recorded', () => {
    const runs = mkdtempSync(path.join(tmpdir(), 'run-exp-broken-runs-'));
    const r = spawnSync(process.execPath, [bin, 'graph-cycle.yaml', '--set', `tracking.dir=${runs}`], {
      cwd: dir,
      encoding: 'utf8',
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('graph-cycle.yaml:7:75  model.layers[0].inputs  layer 1 conv2d');
    expect(readdirSync(runs)).toEqual([]);
  });

  it('a tracking URI from the environment that is not http(s): exit 2 before any run starts', () => {
    const r = spawnSync(process.execPath, [bin, 'valid-base.yaml'], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, MLFLOW_TRACKING_URI: 'file:///tmp/mlruns' },
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(
      "MLFLOW_TRACKING_URI: 'file:///tmp/mlruns' is not an http(s) URL of an MLflow server (for example http://127.0.0.1:5000)\n",
    );
  });
});
