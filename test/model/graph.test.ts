// Layer graphs: named layers, inputs, merges; checked before anything is built.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Tensor } from '@tensorflow/tfjs-node';
import { describe, expect, it } from 'vitest';
import { buildModel, LayerError } from '../../src/model/build.ts';
import { planGraph } from '../../src/model/graph.ts';
import { loadTensorflow } from '../../src/platform/tensorflow.ts';
import type { RegistryChoice } from '../../src/spec/experiment.ts';

const conv = (name: string, extra: Partial<RegistryChoice> = {}): RegistryChoice => ({
  type: 'conv2d',
  filters: 8,
  kernel_size: 3,
  padding: 'same',
  activation: 'relu',
  name,
  ...extra,
});
const output: RegistryChoice = { type: 'dense', units: 2, activation: 'softmax' };
const head: RegistryChoice[] = [{ type: 'globalAveragePooling2d' }, output];

/** A residual network: stem, two convolutions, their sum with the stem. */
const residual: RegistryChoice[] = [
  conv('stem'),
  conv('c1'),
  conv('c2', { activation: 'linear' }),
  { type: 'add', name: 'sum', inputs: ['stem', 'c2'] },
  { type: 'activation', activation: 'relu' },
  ...head,
];

function problem(layers: RegistryChoice[]): LayerError {
  try {
    planGraph(layers);
  } catch (err) {
    if (err instanceof LayerError) return err;
    throw err;
  }
  throw new Error('the graph was accepted');
}

describe('layer graphs', () => {
  it('a plain list is a chain in list order', () => {
    const plan = planGraph([conv('a'), conv('b'), ...head]);
    expect(plan.map((n) => [n.name, n.inputs])).toEqual([
      ['a', [-1]],
      ['b', [0]],
      ['globalAveragePooling2d_3', [1]],
      ['dense_4', [2]],
    ]);
  });

  it('a residual connection builds, and the output is the sum of both branches', async () => {
    const { tf } = await loadTensorflow();
    const model = buildModel(tf, residual, { inputShape: [8, 8, 3], seed: 1, numClasses: 2 });
    expect(model.outputs[0]?.shape).toEqual([null, 2]);
    const sum = model.getLayer('sum');
    expect(sum.getClassName()).toBe('Add');
    // Check the sum against its inputs on a real batch.
    const x = tf.randomUniform([2, 8, 8, 3], 0, 1, 'float32', 3);
    const probe = tf.model({
      inputs: model.inputs,
      outputs: [model.getLayer('stem').output, model.getLayer('c2').output, sum.output] as never,
    });
    const [stem, c2, out] = probe.predict(x) as Tensor[];
    expect(
      (stem as Tensor)
        .add(c2 as Tensor)
        .sub(out as Tensor)
        .abs()
        .max()
        .dataSync()[0],
    ).toBeLessThan(1e-5);
  });

  it('concatenate joins channels; a merge may also read the model input', async () => {
    const { tf } = await loadTensorflow();
    const model = buildModel(
      tf,
      [conv('a', { filters: 5 }), { type: 'concatenate', name: 'cat', inputs: ['input', 'a'] }, ...head],
      { inputShape: [6, 6, 3], seed: 1 },
    );
    expect(model.getLayer('cat').outputShape).toEqual([null, 6, 6, 8]);
  });

  it('layers may be listed before the layers they read', () => {
    const plan = planGraph([
      { ...conv('late'), inputs: ['early'] },
      { ...conv('early'), inputs: ['input'] },
      { type: 'add', inputs: ['early', 'late'] },
      ...head,
    ]);
    expect(plan.map((n) => n.name).slice(0, 2)).toEqual(['early', 'late']);
  });

  it('names every problem at its layer and key', () => {
    const unknown = problem([conv('stem'), conv('body'), { type: 'add', inputs: ['stem', 'bodi'] }, ...head]);
    expect([unknown.index, unknown.field]).toEqual([2, 'inputs[1]']);
    expect(unknown.message).toContain("no layer is named 'bodi'; did you mean 'body'?");

    const cycle = problem([{ ...conv('a'), inputs: ['b'] }, conv('b'), ...head]);
    expect(cycle.index).toBe(0);
    expect(cycle.message).toContain('the layers form a cycle (a reads b, b reads a)');

    const unused = problem([conv('a'), conv('b'), { type: 'globalAveragePooling2d', inputs: ['a'] }, output]);
    expect([unused.index, unused.message]).toEqual([
      1,
      expect.stringContaining("layer 2 conv2d 'b': its output is never used"),
    ]);

    const single = problem([conv('a'), { type: 'add', inputs: ['a'] }, ...head]);
    expect(single.message).toContain('merges two or more inputs but has 1');

    const two = problem([conv('a'), conv('b'), { ...conv('c'), inputs: ['a', 'b'] }, ...head]);
    expect([two.field, two.message]).toEqual(['inputs', expect.stringContaining('takes one input but lists 2')]);

    const taken = problem([conv('a'), conv('a'), ...head]);
    expect([taken.index, taken.field]).toEqual([1, 'name']);
    expect(problem([conv('input'), ...head]).message).toContain("'input' names the model's input");
  });

  it('merge inputs whose shapes disagree: both shapes in the error', async () => {
    const { tf } = await loadTensorflow();
    const layers = [conv('a'), conv('b', { strides: 2 }), { type: 'add', name: 'sum', inputs: ['a', 'b'] }, ...head];
    expect(() => buildModel(tf, layers, { inputShape: [8, 8, 3], seed: 1 })).toThrow(
      "layer 3 add 'sum': its inputs disagree in shape: 'a' gives [batch, 8, 8, 8] but 'b' gives [batch, 4, 4, 8]; add needs equal shapes",
    );
    const cat = [conv('a'), conv('b', { strides: 2 }), { type: 'concatenate', inputs: ['a', 'b'] }, ...head];
    expect(() => buildModel(tf, cat, { inputShape: [8, 8, 3], seed: 1 })).toThrow(
      'concatenate needs equal shapes except along axis -1',
    );
  });

  it('a graph round-trips through model.json with its layer names and predictions', async () => {
    const { tf } = await loadTensorflow();
    const model = buildModel(tf, residual, { inputShape: [8, 8, 3], seed: 1 });
    const dir = mkdtempSync(path.join(tmpdir(), 'run-exp-graph-'));
    await model.save(`file://${dir}`);
    const loaded = await tf.loadLayersModel(`file://${path.join(dir, 'model.json')}`);
    expect(loaded.layers.map((l) => l.name)).toEqual(model.layers.map((l) => l.name));
    expect(loaded.layers.map((l) => l.name)).toEqual(expect.arrayContaining(['input', 'stem', 'c1', 'c2', 'sum']));
    const x = tf.randomUniform([3, 8, 8, 3], 0, 1, 'float32', 5);
    const diff = (loaded.predict(x) as Tensor)
      .sub(model.predict(x) as Tensor)
      .abs()
      .max();
    expect(diff.dataSync()[0]).toBeLessThan(1e-6);
  });
});
