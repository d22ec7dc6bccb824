// training.ema: the average follows the documented formula, swaps in and out
// of the model exactly, survives a checkpoint, and is what a run evaluates and saves.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveExperiment } from '../../src/config/resolve.ts';
import { tensorFromSaved } from '../../src/engine/optimizer-groups.ts';
import { WeightAverage, type WeightAverageState } from '../../src/engine/weight-average.ts';
import { loadTensorflow } from '../../src/platform/tensorflow.ts';
import { loadRun } from '../../src/report/predict.ts';
import { runExperiment } from '../../src/runner/run.ts';
import { tempDir } from '../data/fixtures.ts';
import { maxDiff } from '../support/max-diff.ts';
import { dataset, experimentFile } from '../support/toy.ts';

const values = (t: { dataSync(): ArrayLike<number> }) => Array.from(t.dataSync());

describe('weight average (training.ema)', () => {
  it('averages with the warm-up min(decay, (1 + n) / (10 + n)), leaving frozen weights alone', async () => {
    const { tf } = await loadTensorflow();
    const w = tf.variable(tf.tensor1d([0, 0]), true);
    const frozen = tf.variable(tf.tensor1d([5]), false);
    const average = new WeightAverage(tf, [w, frozen], 0.5);
    let expected = [0, 0];
    for (const [n, next] of [
      [1, [10, -10]],
      [2, [20, 0]],
      [3, [0, 4]],
      [4, [8, 8]],
    ] as const) {
      w.assign(tf.tensor1d([...next]));
      frozen.assign(tf.tensor1d([n]));
      average.update();
      const d = Math.min(0.5, (1 + n) / (10 + n));
      expected = expected.map((e, i) => d * e + (1 - d) * (next[i] as number));
    }
    average.useAverage();
    for (const [i, v] of values(w).entries()) expect(v).toBeCloseTo(expected[i] as number, 5);
    // A weight that does not learn is not averaged: its average is its value.
    expect(values(frozen)).toEqual([4]);
    average.useAverage();
    for (const [i, v] of values(w).entries()) expect(v).toBeCloseTo(expected[i] as number, 5);
    average.useRaw();
    expect(values(w)).toEqual([8, 8]);
    average.dispose();
  });

  it('restores from its state as written with the average in the model', async () => {
    const { tf } = await loadTensorflow();
    const w = tf.variable(tf.tensor1d([1, 2]), true);
    const a = new WeightAverage(tf, [w], 0.9);
    w.assign(tf.tensor1d([3, 6]));
    a.update();
    a.useAverage();
    const averaged = values(w);
    const state = a.state();
    // A fresh process: the model loaded from the checkpoint holds the average.
    const w2 = tf.variable(tf.tensor1d(averaged), true);
    const b = new WeightAverage(tf, [w2], 0.9);
    b.restore(JSON.parse(JSON.stringify(state)));
    expect(values(w2)).toEqual([3, 6]);
    b.useAverage();
    expect(values(w2)).toEqual(averaged);
    expect(() => b.restore({ steps: 1, held: [] })).toThrow(/holds 0 weights, the model trains 1/);
    for (const x of [a, b]) x.dispose();
  });

  it('a run scores and saves the averaged weights, and keeps the raw ones to resume from', async () => {
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 16);
    const run = (set: string[]) =>
      runExperiment(resolveExperiment(experimentFile(dir), { env: {}, set }), {}, path.join(dir, 'cache'));
    const plain = await run(['training.engine=eager']);
    const averaged = await run(['training.engine=eager', 'training.ema={decay: 0.9}']);
    expect(averaged.status).toBe('FINISHED');
    // The same raw training (same seed, same batches): only the weights scored and saved differ.
    expect(averaged.epochs.map((m) => m.loss)).toEqual(plain.epochs.map((m) => m.loss));
    const weights = (r: typeof plain) => r.model?.getWeights().map(values) ?? [];
    expect(weights(averaged)).not.toEqual(weights(plain));
    // The last checkpoint keeps the raw weights beside the average: the plain run's final weights.
    const state = JSON.parse(
      readFileSync(path.join(averaged.run.dir, 'checkpoints', 'latest', 'weight-average.json'), 'utf8'),
    ) as WeightAverageState;
    const { tf } = await loadTensorflow();
    expect(state.held.map((t) => values(tensorFromSaved(tf, t)))).toEqual(weights(plain));
    expect(state.steps).toBe(4 * 3);
    // What the last epoch's validation scored is what was saved.
    const evaluation = JSON.parse(readFileSync(path.join(averaged.run.dir, 'evaluation.json'), 'utf8'));
    expect(evaluation.validation.accuracy).toBeCloseTo(averaged.epochs.at(-1)?.val_accuracy as number, 6);
    const saved = await loadRun(tf, averaged.run.dir);
    expect(saved.model.getWeights().map(values)).toEqual(weights(averaged));
  });

  it('the graph engine keeps the average in its graph, as the eager engine does step for step', async () => {
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 16);
    const run = (set: string[]) =>
      runExperiment(
        resolveExperiment(experimentFile(dir), { env: {}, set: ['training.ema={decay: 0.9}', ...set] }),
        {},
        path.join(dir, 'cache'),
      );
    const eager = await run(['training.engine=eager']);
    const graph = await run([]);
    const log = readFileSync(path.join(graph.run.dir, 'log.jsonl'), 'utf8');
    expect(log).toContain('training engine: graph');
    // The same steps in another order of float operations: close, not bit for bit.
    const weights = (r: typeof eager) => r.model?.getWeights().map(values) ?? [];
    expect(maxDiff(weights(graph), weights(eager))).toBeLessThan(1e-4);
    const state = (r: typeof eager) =>
      JSON.parse(
        readFileSync(path.join(r.run.dir, 'checkpoints', 'latest', 'weight-average.json'), 'utf8'),
      ) as WeightAverageState;
    const { tf } = await loadTensorflow();
    const raw = (r: typeof eager) => state(r).held.map((t) => values(tensorFromSaved(tf, t)));
    expect(maxDiff(raw(graph), raw(eager))).toBeLessThan(1e-4);
    // The raw weights are not the average: the average was folded in, not copied.
    expect(maxDiff(raw(graph), weights(graph))).toBeGreaterThan(1e-3);
    expect(state(graph).steps).toBe(4 * 3);
    for (const [i, m] of graph.epochs.entries()) expect(m.val_loss).toBeCloseTo(eager.epochs[i]?.val_loss as number, 4);
  });
});
