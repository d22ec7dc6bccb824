// Blocks: declared once with parameters, used many times with repeat; names
// scoped per use; every problem reported where it was written.
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkModel } from '../../src/cli/validate.ts';
import { resolveExperiment } from '../../src/config/resolve.ts';
import { buildModel } from '../../src/model/build.ts';
import { loadTensorflow } from '../../src/platform/tensorflow.ts';
import { ConfigErrors } from '../../src/spec/errors.ts';

const BLOCK = `  blocks:
    residual:
      params: { filters: null, strides: 1 }
      layers:
        - { type: conv2d, filters: $filters, kernel_size: 3, strides: $strides, padding: same }
        - { type: conv2d, filters: $filters, kernel_size: 3, padding: same, name: main }
        - { type: conv2d, filters: $filters, kernel_size: 1, strides: $strides, inputs: [input], name: shortcut }
        - { type: add, inputs: [main, shortcut] }
`;

/** An experiment file whose model is BLOCK plus these layers (one per line). */
function experiment(layers: string[], blocks = BLOCK): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'run-exp-blocks-'));
  const file = path.join(dir, 'exp.yaml');
  const text = `name: blocks\ndata:\n  path: ./images\n  classes: [a, b]\n  preprocessing: { size: [16, 16] }\nmodel:\n${blocks}  layers:\n${layers.map((l) => `    - ${l}\n`).join('')}`;
  writeFileSync(file, text);
  return file;
}

const STEM = '{ type: conv2d, filters: 4, kernel_size: 3, padding: same, name: stem }';
const HEAD = ['{ type: globalAveragePooling2d }', '{ type: dense, units: 2, activation: softmax }'];
/** An experiment of the stem, one block use and the head: the use is model.layers[1], on line 17. */
const using = (use: string, blocks = BLOCK) => experiment([STEM, use, ...HEAD], blocks);

function errorsOf(file: string) {
  try {
    resolveExperiment(file, { env: {} });
  } catch (err) {
    if (err instanceof ConfigErrors) return err.errors.map((e) => `${e.line}:${e.col} ${e.path} ${e.message}`);
    throw err;
  }
  throw new Error('the experiment was accepted');
}

describe('blocks', () => {
  it('expand in place with scoped names, wired input to output, repeats chained', () => {
    const uses = [
      STEM,
      '{ type: block, block: residual, repeat: 2, filters: 4, name: stage1 }',
      '{ type: add, inputs: [stage1, stem], name: skip }',
      '{ type: block, block: residual, filters: 8, strides: 2 }',
      '{ type: globalAveragePooling2d, inputs: [residual_4] }',
      '{ type: dense, units: 2, activation: softmax }',
    ];
    const { experiment: exp } = resolveExperiment(experiment(uses), { env: {} });
    expect(exp.model.layers.map((l) => [l.name, l.inputs ?? null])).toEqual([
      ['stem', null],
      ['stage1/1/conv2d_1', ['stem']],
      ['stage1/1/main', ['stage1/1/conv2d_1']],
      ['stage1/1/shortcut', ['stem']],
      ['stage1/1/add_4', ['stage1/1/main', 'stage1/1/shortcut']],
      ['stage1/2/conv2d_1', ['stage1/1/add_4']],
      ['stage1/2/main', ['stage1/2/conv2d_1']],
      ['stage1/2/shortcut', ['stage1/1/add_4']],
      ['stage1/2/add_4', ['stage1/2/main', 'stage1/2/shortcut']],
      ['skip', ['stage1/2/add_4', 'stem']],
      ['residual_4/conv2d_1', ['skip']],
      ['residual_4/main', ['residual_4/conv2d_1']],
      ['residual_4/shortcut', ['skip']],
      ['residual_4/add_4', ['residual_4/main', 'residual_4/shortcut']],
      ['globalAveragePooling2d_5', ['residual_4/add_4']],
      ['dense_6', null],
    ]);
    // Parameters reach the layers; defaults where the use gives none.
    expect(exp.model.layers[5]?.filters).toBe(4);
    expect(exp.model.layers[10]).toMatchObject({ filters: 8, strides: 2 });
    expect(exp.model.layers[1]?.strides).toBe(1);
  });

  it('the expanded graph builds and model.json keeps the scoped names', async () => {
    const { tf } = await loadTensorflow();
    const uses = [
      STEM,
      '{ type: block, block: residual, repeat: 2, filters: 4, name: stage1 }',
      '{ type: block, block: residual, filters: 8, strides: 2 }',
      ...HEAD,
    ];
    const { experiment: exp } = resolveExperiment(experiment(uses), { env: {} });
    const model = buildModel(tf, exp.model.layers, { inputShape: [16, 16, 3], seed: 1, numClasses: 2 });
    expect(model.getLayer('stage1/2/add_4').outputShape).toEqual([null, 16, 16, 4]);
    expect(model.getLayer('residual_3/add_4').outputShape).toEqual([null, 8, 8, 8]);
    const saved = model.toJSON(null, false) as { config: { layers: { name: string }[] } };
    expect(saved.config.layers.map((l) => l.name)).toContain('stage1/1/shortcut');
  });

  it('names each problem where it was written: the use, its parameter, or the block', () => {
    const first = (file: string) => errorsOf(file)[0];
    expect(first(using('{ type: block, block: residul, filters: 4 }'))).toBe(
      "17:29 model.layers[1].block no block is named 'residul'; did you mean 'residual'?",
    );
    expect(first(using('{ type: block, block: residual, filterz: 4 }'))).toMatch(
      /^17:\d+ model.layers\[1\].filterz block 'residual' has no parameter 'filterz'; did you mean 'filters'\?/,
    );
    expect(first(using('{ type: block, block: residual, strides: 2 }'))).toBe(
      "17:7 model.layers[1] block 'residual' needs its parameter 'filters'",
    );
    // A parameter's bad value: at the use that gave it, once however many layers take it.
    expect(errorsOf(using('{ type: block, block: residual, filters: -4 }'))).toEqual([
      expect.stringMatching(/^17:\d+ model.layers\[1\].filters -4 is out of range/),
    ]);
    // A block layer's own mistake: at the block's layer.
    const use = '{ type: block, block: residual, filters: 4 }';
    expect(errorsOf(using(use, BLOCK.replace('kernel_size: 1,', 'kernel_sise: 1,')))).toContainEqual(
      expect.stringMatching(
        /^13:\d+ model.blocks.residual.layers\[2\].kernel_sise unknown key 'kernel_sise'; did you mean 'kernel_size'\?/,
      ),
    );
    expect(first(using(use, BLOCK.replace('strides: $strides, inputs', 'strides: $stride, inputs')))).toMatch(
      /^13:\d+ model.blocks.residual.layers\[2\].strides '\$stride' names no parameter of block 'residual'; did you mean '\$strides'\?/,
    );
    expect(first(using(use, BLOCK.replace('inputs: [main, shortcut]', 'inputs: [mian, shortcut]')))).toMatch(
      /^14:\d+ model.blocks.residual.layers\[3\].inputs\[0\] no layer of block 'residual' is named "mian"; did you mean 'main'\?/,
    );
  });

  it('a graph problem inside a block is located at the block, through the model check', async () => {
    // A shortcut of 4 channels while the main path makes 8: add cannot sum them.
    const mismatch = BLOCK.replace('filters: $filters, kernel_size: 1,', 'filters: 4, kernel_size: 1,');
    const problem = await checkModel(
      resolveExperiment(using('{ type: block, block: residual, filters: 8 }', mismatch), { env: {} }),
    );
    expect(problem).toMatchObject({
      line: 14,
      path: 'model.blocks.residual.layers[3].inputs',
      message: expect.stringContaining(
        "its inputs disagree in shape: 'residual_2/main' gives [batch, 16, 16, 8] but 'residual_2/shortcut' gives [batch, 16, 16, 4]",
      ),
    });
  });
});
