// extends, ${VAR} interpolation, --set overrides, relative paths and defaults.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_EXTENDS_DEPTH } from '../../src/config/compose.ts';
import { resolveExperiment } from '../../src/config/resolve.ts';
import { ConfigErrors } from '../../src/spec/errors.ts';

const MODEL = `model:
  layers:
    - { type: conv2d, filters: 8, kernel_size: 3, activation: relu }
    - { type: flatten }
    - { type: dense, units: 2, activation: softmax }
`;

function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'run-exp-config-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

function errorsOf(fn: () => unknown) {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigErrors) return err.errors;
    throw err;
  }
  throw new Error('expected ConfigErrors');
}

describe('extends', () => {
  const dir = tree({
    'base.yaml': `name: base\nseed: 1\ndata:\n  path: ./faces\n  classes: [a, b]\n  preprocessing: { size: [32, 32], color: grayscale }\n${MODEL}training:\n  epochs: 5\n  metrics: [accuracy, f1]\n  optimizer: { type: sgd, lr: 0.1, momentum: 0.9 }\n`,
    'child/exp.yaml': `extends: ../base.yaml\nname: child\ndata:\n  preprocessing: { size: [48, 48] }\ntraining:\n  metrics: [auc]\n  optimizer: { type: adam }\n`,
  });

  it('merges maps key by key, replaces lists, and replaces a registry choice whose type changes', () => {
    const { experiment, files } = resolveExperiment(path.join(dir, 'child', 'exp.yaml'), { env: {} });
    expect(experiment.name).toBe('child');
    expect(experiment.seed).toBe(1);
    expect(experiment.data.preprocessing.size).toEqual([48, 48]);
    expect(experiment.data.preprocessing.color).toBe('grayscale');
    expect(experiment.training.metrics).toEqual(['auc']);
    expect(experiment.training.optimizer).toEqual({ type: 'adam', lr: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 });
    expect(files).toHaveLength(2);
  });

  it('resolves a path against the file that wrote it', () => {
    const { experiment } = resolveExperiment(path.join(dir, 'child', 'exp.yaml'), { env: {} });
    expect(experiment.data.path).toBe(path.join(dir, 'faces'));
  });

  it('locates an error in the base file when the base wrote the bad value', () => {
    const d = tree({
      'base.yaml': `name: base\ndata: { path: . }\n${MODEL}training:\n  epochs: -1\n`,
      'exp.yaml': 'extends: ./base.yaml\nname: exp\n',
    });
    const [e] = errorsOf(() => resolveExperiment(path.join(d, 'exp.yaml'), { env: {} }));
    expect(e?.file).toMatch(/base\.yaml$/);
    expect([e?.line, e?.col, e?.path]).toEqual([9, 11, 'training.epochs']);
  });

  it(`stops chains deeper than ${MAX_EXTENDS_DEPTH} files`, () => {
    const files: Record<string, string> = { 'f0.yaml': `name: deep\ndata: { path: . }\n${MODEL}` };
    for (let i = 1; i <= MAX_EXTENDS_DEPTH + 1; i++) files[`f${i}.yaml`] = `extends: ./f${i - 1}.yaml\n`;
    const d = tree(files);
    const [e] = errorsOf(() => resolveExperiment(path.join(d, `f${MAX_EXTENDS_DEPTH + 1}.yaml`), { env: {} }));
    expect(e?.message).toBe(`extends chains may be at most ${MAX_EXTENDS_DEPTH} files deep`);
  });
});

describe('interpolation', () => {
  const dir = tree({
    'exp.yaml': `name: exp-\${SUFFIX:-default}\ndescription: costs $$5 and \${NOTE}\ndata:\n  path: \${DATA_DIR:-./data}\n${MODEL}training:\n  epochs: \${EPOCHS:-3}\n`,
  });
  const file = path.join(dir, 'exp.yaml');

  it('uses the environment, then the default; a value that is one variable takes its type', () => {
    const a = resolveExperiment(file, { env: { NOTE: 'more' } }).experiment;
    expect([a.name, a.description, a.training.epochs, a.data.path]).toEqual([
      'exp-default',
      'costs $5 and more',
      3,
      path.join(dir, 'data'),
    ]);
    const b = resolveExperiment(file, {
      env: { NOTE: 'x', SUFFIX: 'b', EPOCHS: '12', DATA_DIR: '/abs/faces' },
    }).experiment;
    expect([b.name, b.training.epochs, b.data.path]).toEqual(['exp-b', 12, '/abs/faces']);
  });

  it('names the variable and the place when it is unset without default', () => {
    const [e] = errorsOf(() => resolveExperiment(file, { env: {} }));
    expect(e).toMatchObject({ line: 2, col: 14, path: 'description' });
    expect(e?.message).toContain('environment variable NOTE is not set');
  });
});

describe('--set', () => {
  const dir = tree({ 'exp.yaml': `name: exp\ndata: { path: . }\n${MODEL}` });
  const file = path.join(dir, 'exp.yaml');

  it('types values by the schema and reaches list items', () => {
    const { experiment } = resolveExperiment(file, {
      env: {},
      set: ['training.optimizer.lr=0.05', 'model.layers[0].filters=64', 'name=123', 'training.metrics=[accuracy, auc]'],
    });
    expect(experiment.training.optimizer.lr).toBe(0.05);
    expect(experiment.model.layers[0]?.filters).toBe(64);
    expect(experiment.name).toBe('123');
    expect(experiment.training.metrics).toEqual(['accuracy', 'auc']);
  });

  it('a later --set wins, and its errors point at the argument', () => {
    expect(resolveExperiment(file, { env: {}, set: ['seed=1', 'seed=2'] }).experiment.seed).toBe(2);
    const [e] = errorsOf(() => resolveExperiment(file, { env: {}, set: ['training.batch_size=0'] }));
    expect(e).toMatchObject({ file: '--set training.batch_size=0', path: 'training.batch_size' });
  });
});

describe('the resolved config', () => {
  it('has every default filled in, registry params included', () => {
    const dir = tree({ 'exp.yaml': `name: exp\ndata: { path: . }\n${MODEL}` });
    const { experiment } = resolveExperiment(path.join(dir, 'exp.yaml'), { env: {} });
    expect(experiment).toMatchObject({
      version: 1,
      seed: 42,
      description: '',
      data: {
        source: 'folder',
        split: { validation: 0.05, test: 0 },
        preprocessing: { size: [64, 64], fit: 'fill', center_crop: 1, color: 'rgb', normalize: 'unit' },
        augmentation: [],
        on_bad_file: 'skip',
      },
      training: {
        epochs: 10,
        batch_size: 32,
        optimizer: { type: 'sgd', lr: 0.01, momentum: 0, nesterov: false },
        loss: { type: 'categorical_crossentropy', label_smoothing: 0 },
        lr_schedule: { type: 'constant' },
        early_stopping: null,
        class_weights: null,
        checkpoints: { every: 1, best: true, monitor: 'val_loss' },
        allow_non_native_backend: false,
      },
      tracking: { dir: 'runs', mlflow_uri: null, tags: {} },
    });
    expect(experiment.model.layers[0]).toEqual({
      type: 'conv2d',
      filters: 8,
      kernel_size: 3,
      activation: 'relu',
      strides: 1,
      padding: 'valid',
      dilation_rate: 1,
      use_bias: true,
      kernel_initializer: 'glorot_uniform',
      bias_initializer: 'zeros',
    });
  });

  it('accepts `optimizer: adam` and `loss: hinge` as shorthands', () => {
    const dir = tree({
      'exp.yaml': `name: exp\ndata: { path: . }\n${MODEL}training: { optimizer: adam, loss: hinge }\n`,
    });
    const { experiment } = resolveExperiment(path.join(dir, 'exp.yaml'), { env: {} });
    expect(experiment.training.optimizer.type).toBe('adam');
    expect(experiment.training.loss).toEqual({ type: 'hinge' });
  });
});
