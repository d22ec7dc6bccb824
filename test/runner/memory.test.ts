import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveExperiment } from '../../src/config/resolve.ts';
import { resolveTrial } from '../../src/plan/trial.ts';
import { loadTensorflow } from '../../src/platform/tensorflow.ts';
import { runExperiment } from '../../src/runner/run.ts';
import { tempDir } from '../data/fixtures.ts';
import { dataset, experimentFile } from '../support/toy.ts';

describe('memory', () => {
  it('tensors after epoch 2 equal tensors after the last epoch (augmentation, dropout, evaluation each epoch)', async () => {
    const { tf } = await loadTensorflow();
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 8);
    const set = [
      'training.epochs=6',
      'model.layers=[{type: conv2d, filters: 4, kernel_size: 3, activation: relu}, {type: flatten}, {type: dropout, rate: 0.2}, {type: dense, units: 2, activation: softmax}]',
      'data.augmentation=[{type: flip_horizontal}, {type: brightness, delta: 0.1}]',
    ];
    const counts: number[] = [];
    const result = await runExperiment(
      resolveExperiment(experimentFile(dir), { env: {}, set }),
      { onEpoch: () => void counts.push(tf.memory().numTensors) },
      path.join(dir, 'cache'),
    );
    expect(result.status).toBe('FINISHED');
    expect(counts).toHaveLength(6);
    expect(counts.at(-1)).toBe(counts[1]);
  });

  it('tensors after the first trial of a sweep equal tensors after the last', async () => {
    const { tf } = await loadTensorflow();
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 8);
    const file = experimentFile(
      dir,
      'sweep:\n  method: grid\n  parameters:\n    training.optimizer.lr: [0.01, 0.005, 0.002]\n',
    );
    const after: number[] = [];
    for (const index of [0, 1, 2]) {
      const { resolved, trial } = resolveTrial(file, { env: {} }, index);
      const result = await runExperiment(resolved, {}, path.join(dir, 'cache'), undefined, trial);
      expect(result.status).toBe('FINISHED');
      result.model?.dispose();
      after.push(tf.memory().numTensors);
    }
    expect(after[2]).toBe(after[0]);
  });
});
