// The runner on small generated data: it learns, records every file, and its
// recorded metrics agree with the model it saved.
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Tensor } from '@tensorflow/tfjs-node';
import { describe, expect, it, onTestFinished } from 'vitest';
import { resolveExperiment } from '../../src/config/resolve.ts';
import { batchTensor } from '../../src/data/batches.ts';
import { prepareData } from '../../src/data/prepare.ts';
import { classWeights } from '../../src/engine/variables.ts';
import { loadTensorflow } from '../../src/platform/tensorflow.ts';
import { evaluateOn } from '../../src/report/evaluate-run.ts';
import { expandInputs, loadRun, predictFiles } from '../../src/report/predict.ts';
import { compareRuns, listRuns } from '../../src/report/runs.ts';
import { runExperiment } from '../../src/runner/run.ts';
import { tempDir } from '../data/fixtures.ts';
import { dataset, deterministic, experimentFile } from '../support/toy.ts';

describe('runner', () => {
  it('trains, learns the toy task, and records every file of the run', async () => {
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 24);
    const resolved = resolveExperiment(experimentFile(dir), { env: {} });
    const result = await runExperiment(resolved, {}, path.join(dir, 'cache'));
    expect(result.status).toBe('FINISHED');
    expect(result.epochs).toHaveLength(4);
    expect(result.epochs.at(-1)?.val_accuracy).toBeGreaterThanOrEqual(0.9);
    expect(result.epochs.at(-1)?.loss).toBeLessThan(result.epochs[0]?.loss as number);
    for (const f of [
      'config.yaml',
      'environment.json',
      'data.json',
      'split.json',
      'bad-files.json',
      'metrics.jsonl',
      'status.json',
      'evaluation.json',
      'predictions.json',
      'report.html',
      'model/model.json',
      'checkpoints/latest/model.json',
    ]) {
      expect(existsSync(path.join(result.run.dir, f)), f).toBe(true);
    }
    const lines = readFileSync(path.join(result.run.dir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.epoch)).toEqual([1, 2, 3, 4]);
    const status = JSON.parse(readFileSync(path.join(result.run.dir, 'status.json'), 'utf8'));
    expect(status.status).toBe('FINISHED');
    const evaluation = JSON.parse(readFileSync(path.join(result.run.dir, 'evaluation.json'), 'utf8'));
    expect(evaluation.validation.accuracy).toBeCloseTo(lines.at(-1).val_accuracy, 6);
    expect(evaluation.validation.confusion.flat().reduce((s: number, v: number) => s + v, 0)).toBe(12);
    const split = JSON.parse(readFileSync(path.join(result.run.dir, 'split.json'), 'utf8'));
    expect([split.train.length, split.validation.length]).toEqual([36, 12]);

    // predict, from the saved model and the recorded preprocessing, equals the
    // trained model's output on the same preprocessed tensor.
    const { tf } = await loadTensorflow();
    const loaded = await loadRun(tf, result.run.dir);
    const files = expandInputs([path.join(dir, 'images')]);
    const predictions = await predictFiles(tf, loaded, files);
    const data = await prepareData(resolved.experiment, { cacheDir: path.join(dir, 'cache') });
    const all = [...data.splits.train.files, ...data.splits.validation.files];
    const allIndex = Int32Array.from([...data.splits.train.index, ...data.splits.validation.index]);
    const model = result.model;
    if (!model) throw new Error('a finished run returns its model');
    const probs = tf.tidy(
      () => (model.predict(batchTensor(tf, resolved.experiment, data, allIndex)) as Tensor).arraySync() as number[][],
    );
    for (const p of predictions) {
      const row = probs[all.indexOf(p.file)] as number[];
      expect(p.probabilities?.top).toBeCloseTo(row[data.classes.indexOf('top')] as number, 5);
      expect(p.label).toBe(data.classes[row.indexOf(Math.max(...row))]);
    }
    const correct = predictions.filter((p) => p.label === path.basename(path.dirname(p.file))).length;
    expect(correct / predictions.length).toBeGreaterThanOrEqual(0.9);

    // evaluate on a folder agrees with predict on the same files.
    const report = await evaluateOn(
      tf,
      loaded,
      { source: 'folder', path: path.join(dir, 'images'), path_column: 'path', label_column: 'label' },
      { cacheDir: path.join(dir, 'cache') },
    );
    expect(report.images).toBe(48);
    expect(report.accuracy).toBeCloseTo(correct / predictions.length, 10);
    expect(report.confusion.flat().reduce((a, b) => a + b, 0)).toBe(48);
  });

  it('is repeatable: the same config and seed give the same per-epoch metrics', async () => {
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 12);
    const resolved = () => resolveExperiment(experimentFile(dir), { env: {}, set: ['training.epochs=2'] });
    const a = await runExperiment(resolved(), {}, path.join(dir, 'cache'));
    const b = await runExperiment(resolved(), {}, path.join(dir, 'cache'));
    expect(deterministic(b.epochs)).toEqual(deterministic(a.epochs));

    // run-exp runs lists both, whatever plain files sit beside them; compare finds no differing params, and one when a key differs.
    writeFileSync(path.join(dir, 'runs', '.gitignore'), '*\n');
    writeFileSync(path.join(dir, 'runs', 'toy', 'notes.txt'), 'a note\n');
    // And folders that cannot be read: a dangling link, one without permissions (unreadable unless root).
    symlinkSync(path.join(dir, 'nowhere'), path.join(dir, 'runs', 'gone'));
    mkdirSync(path.join(dir, 'runs', 'locked'), { mode: 0o000 });
    const listed = listRuns(path.join(dir, 'runs'));
    expect(listed.map((r) => [r.status, r.epochs])).toEqual([
      ['FINISHED', 2],
      ['FINISHED', 2],
    ]);
    expect(compareRuns([a.run.dir, b.run.dir]).params).toEqual({});
    const c = await runExperiment(
      resolveExperiment(experimentFile(dir), { env: {}, set: ['training.epochs=1', 'seed=9'] }),
      {},
      path.join(dir, 'cache'),
    );
    expect(compareRuns([a.run.dir, c.run.dir]).params).toEqual({ seed: [5, 9], 'training.epochs': [2, 1] });
  });

  for (const engine of ['eager', 'graph'])
    it(`stops with FAILED and a clear message when the loss becomes NaN (${engine})`, async () => {
      const dir = tempDir();
      await dataset(path.join(dir, 'images'), 8);
      // Inputs near float32's limit into a linear output: the squared error overflows.
      const resolved = resolveExperiment(experimentFile(dir), {
        env: {},
        set: [
          `training.engine=${engine}`,
          'data.preprocessing.normalize=standard',
          'data.preprocessing.mean=[0]',
          'data.preprocessing.std=[1e-37]',
          'model.layers[3].activation=linear',
          'training.loss=mean_squared_error',
        ],
      });
      const result = await runExperiment(resolved, {}, path.join(dir, 'cache'));
      expect(result.status).toBe('FAILED');
      expect(result.error).toMatch(
        /the training loss \(or the model output\) became (NaN|Infinity|-Infinity) at epoch \d+, batch \d+; lower training.optimizer.lr/,
      );
      expect(JSON.parse(readFileSync(path.join(result.run.dir, 'status.json'), 'utf8')).status).toBe('FAILED');
    });

  it('signal handlers run between batches: a stop asked for during an epoch ends it at the next batch', async () => {
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 16);
    let asked = false;
    // As a SIGINT handler would: it runs from the event loop, so only when training lets it.
    const result = await runExperiment(
      resolveExperiment(experimentFile(dir), { env: {} }),
      { onBatch: () => void setImmediate(() => (asked = true)), shouldStop: () => asked },
      path.join(dir, 'cache'),
    );
    expect(result.status).toBe('KILLED');
    expect(result.epochs).toHaveLength(0);
  });

  // The weight average (training.ema) is state of its own, kept in the checkpoint beside the raw weights.
  // bf16 on any host: RUN_EXP_BF16=force (a host whose bfloat16 units do not pay would train in float32).
  for (const [engine, extra] of [
    ['eager', []],
    ['graph', []],
    ['eager', ['training.ema={decay: 0.9}']],
    ['graph', ['training.ema={decay: 0.9}']],
    ['graph', ['training.precision=bf16']],
  ] as const)
    it(`stopped mid-epoch and resumed, a run ends with the same weights and metrics as an uninterrupted one (${[engine, ...extra].join(', ')})`, async () => {
      const bf16 = extra.includes('training.precision=bf16' as never);
      if (bf16) process.env.RUN_EXP_BF16 = 'force';
      onTestFinished(() => {
        delete process.env.RUN_EXP_BF16;
      });
      const dir = tempDir();
      await dataset(path.join(dir, 'images'), 16);
      // Dropout and augmentation too: their randomness must repeat as well.
      const set = [
        ...extra,
        `training.engine=${engine}`,
        'training.epochs=4',
        'model.layers[1]={type: dropout, rate: 0.3}',
        'data.augmentation=[{type: flip_horizontal}]',
      ];
      const resolved = () => resolveExperiment(experimentFile(dir), { env: {}, set });
      const whole = await runExperiment(resolved(), {}, path.join(dir, 'cache'));
      let batches = 0;
      // 24 training images, batch 8: 3 batches an epoch; stop in the middle of epoch 3.
      const killed = await runExperiment(
        resolved(),
        { onBatch: () => batches++, shouldStop: () => batches === 7 },
        path.join(dir, 'cache'),
      );
      expect(killed.status).toBe('KILLED');
      expect(killed.epochs).toHaveLength(2);
      const resumed = await runExperiment(resolved(), {}, path.join(dir, 'cache'), killed.run.dir);
      expect(resumed.status).toBe('FINISHED');
      expect(resumed.run.dir).toBe(killed.run.dir);
      expect(deterministic(resumed.epochs)).toEqual(deterministic(whole.epochs));
      const lines = readFileSync(path.join(resumed.run.dir, 'metrics.jsonl'), 'utf8').trim().split('\n');
      expect(lines.map((l) => JSON.parse(l).epoch)).toEqual([1, 2, 3, 4]);
      const a = whole.model?.getWeights().map((w) => Array.from(w.dataSync()));
      const b = resumed.model?.getWeights().map((w) => Array.from(w.dataSync()));
      expect(b).toEqual(a);
      const engineLine = readFileSync(path.join(resumed.run.dir, 'log.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
        .find((e) => e.event === 'engine');
      expect(engineLine).toMatchObject({ engine, precision: bf16 ? 'bf16' : 'float32' });
    });

  it('a crash during training marks the run FAILED with the error, keeping what was recorded', async () => {
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 8);
    let batches = 0;
    const onBatch = () => {
      if (++batches === 5) throw new Error('disk on fire');
    };
    const result = await runExperiment(
      resolveExperiment(experimentFile(dir), { env: {} }),
      { onBatch },
      path.join(dir, 'cache'),
    );
    expect(result.status).toBe('FAILED');
    const status = JSON.parse(readFileSync(path.join(result.run.dir, 'status.json'), 'utf8'));
    expect(status).toMatchObject({ status: 'FAILED', error: 'disk on fire' });
    expect(readFileSync(path.join(result.run.dir, 'metrics.jsonl'), 'utf8').trim().split('\n')).toHaveLength(2);
  });

  it('a stop request ends the run as KILLED with a checkpoint', async () => {
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 8);
    let batches = 0;
    const result = await runExperiment(
      resolveExperiment(experimentFile(dir), { env: {} }),
      { onBatch: () => batches++, shouldStop: () => batches >= 3 },
      path.join(dir, 'cache'),
    );
    expect(result.status).toBe('KILLED');
    expect(existsSync(path.join(result.run.dir, 'checkpoints/interrupted/model.json'))).toBe(true);
    expect(JSON.parse(readFileSync(path.join(result.run.dir, 'status.json'), 'utf8')).status).toBe('KILLED');
  });
});

describe('training options', () => {
  it('early stopping stops once `patience` epochs in a row did not improve (as Keras) and restores the best weights', async () => {
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 12);
    const set = ['training.epochs=6', 'training.early_stopping={monitor: val_loss, patience: 2, min_delta: 10}'];
    const result = await runExperiment(
      resolveExperiment(experimentFile(dir), { env: {}, set }),
      {},
      path.join(dir, 'cache'),
    );
    // Epoch 1 sets the best; epochs 2 and 3 cannot improve by 10; patience 2 ends the run after epoch 3,
    // as keras.callbacks.EarlyStopping(patience=2) does.
    expect(result.epochs.map((m) => m.epoch)).toEqual([1, 2, 3]);
    expect(JSON.parse(readFileSync(path.join(result.run.dir, 'status.json'), 'utf8')).stopped_early).toBe(true);
    const evaluation = JSON.parse(readFileSync(path.join(result.run.dir, 'evaluation.json'), 'utf8'));
    expect(evaluation.validation.loss).toBeCloseTo(result.epochs[0]?.val_loss as number, 5);
  });

  it('the LR schedule sets each epoch rate', async () => {
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 8);
    const set = ['training.epochs=3', 'training.lr_schedule={type: step, step_size: 1, gamma: 0.5}'];
    const result = await runExperiment(
      resolveExperiment(experimentFile(dir), { env: {}, set }),
      {},
      path.join(dir, 'cache'),
    );
    expect(result.epochs.map((m) => m.lr)).toEqual([0.01, 0.005, 0.0025]);
  });

  it('balanced class weights are total / (classes x count)', async () => {
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 8);
    const { experiment } = resolveExperiment(experimentFile(dir), {
      env: {},
      set: ['training.class_weights=balanced'],
    });
    const data = await prepareData(experiment, { cacheDir: path.join(dir, 'cache') });
    const counts = { ...data, counts: { ...data.counts, train: [9, 3] } };
    expect(Array.from(classWeights(experiment, counts) ?? [])).toEqual([Math.fround(12 / 18), 12 / 6]);
    const fixed = { ...experiment, training: { ...experiment.training, class_weights: { top: 3 } } };
    expect(Array.from(classWeights(fixed, counts) ?? [])).toEqual([1, 3]);
    // And they weigh the loss training follows, in both engines alike.
    const run = (set: string[]) =>
      runExperiment(
        resolveExperiment(experimentFile(dir), { env: {}, set: ['training.epochs=1', ...set] }),
        {},
        path.join(dir, 'cache'),
      );
    const plain = await run(['training.engine=eager']);
    const weighted = await run(['training.class_weights={top: 3}', 'training.engine=eager']);
    const graph = await run(['training.class_weights={top: 3}', 'training.engine=graph']);
    expect(weighted.epochs[0]?.loss).not.toBeCloseTo(plain.epochs[0]?.loss as number, 3);
    expect(graph.epochs[0]?.loss).toBeCloseTo(weighted.epochs[0]?.loss as number, 4);
  });
});
