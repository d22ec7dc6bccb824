// model.init_from: a run starts from another run's weights, layer by layer by
// name; a layer whose shapes differ keeps its fresh weights, and the run says so.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveExperiment } from '../../src/config/resolve.ts';
import { buildExperimentModel } from '../../src/model/build.ts';
import { initFrom } from '../../src/model/init-from.ts';
import { loadTensorflow } from '../../src/platform/tensorflow.ts';
import { tempDir } from '../data/fixtures.ts';
import { cli } from '../support/cli.ts';
import { dataset } from '../support/toy.ts';

function experiment(dir: string, name: string, head: string, extra = ''): string {
  const file = path.join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `name: ${name}
data:
  path: ./images
  split: { validation: 0.25 }
  preprocessing: { size: [16, 16] }
model:
${extra}  layers:
    - { type: conv2d, filters: 4, kernel_size: 3, activation: relu, name: features }
    - { type: flatten }
${head}    - { type: dense, units: 2, activation: softmax, name: out }
training:
  epochs: 2
  batch_size: 8
  optimizer: { type: adam, lr: 0.01 }
tracking:
  dir: ${path.join(dir, 'runs')}
`,
  );
  return file;
}

describe('init_from', () => {
  it('loads the layers that fit by name and shape, keeps the rest fresh, and records which', async () => {
    const { tf } = await loadTensorflow();
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 8);
    expect((await cli([experiment(dir, 'first', ''), '--quiet'])).code).toBe(0);
    const first = path.join(dir, 'runs', 'first', readdirSync(path.join(dir, 'runs', 'first'))[0] as string);
    const trained = await tf.loadLayersModel(`file://${path.join(first, 'model', 'model.json')}`);

    // A wider head: `out` now reads 8 hidden units instead of the flattened features.
    const hidden = '    - { type: dense, units: 8, activation: relu, name: hidden }\n';
    const second = experiment(dir, 'second', hidden, `  init_from: ${first}\n`);
    const { experiment: exp } = resolveExperiment(second, { env: {} });
    const model = await buildExperimentModel(tf, exp, [16, 16, 3], 2);
    const fresh = model.getLayer('out').getWeights()[0]?.dataSync().slice();
    const report = await initFrom(tf, model, first);
    expect(report.loaded).toEqual(['features']);
    expect(report.reinitialised).toEqual([{ layer: 'out', ours: [[8, 2], [2]], theirs: [[784, 2], [2]] }]);
    expect(report.missing).toEqual(['hidden']);
    const same = (a: { dataSync(): ArrayLike<number> }[], b: { dataSync(): ArrayLike<number> }[]) =>
      a.every((w, i) => Array.from(w.dataSync()).join() === Array.from(b[i]?.dataSync() ?? []).join());
    expect(same(model.getLayer('features').getWeights(), trained.getLayer('features').getWeights())).toBe(true);
    expect(Array.from(model.getLayer('out').getWeights()[0]?.dataSync() ?? [])).toEqual(Array.from(fresh ?? []));

    // The run records the report and says it in its log.
    const { code } = await cli([second, '--quiet']);
    expect(code).toBe(0);
    const run = path.join(dir, 'runs', 'second', readdirSync(path.join(dir, 'runs', 'second'))[0] as string);
    expect(JSON.parse(readFileSync(path.join(run, 'init-from.json'), 'utf8'))).toMatchObject({ loaded: ['features'] });
    expect(readFileSync(path.join(run, 'log.jsonl'), 'utf8')).toContain(
      'loaded 1 layers (features); kept fresh weights for out (shapes differ), hidden (not in the source)',
    );
  });

  it('a folder without a trained model: a located error, exit 2, before any run is recorded', async () => {
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 4);
    const file = experiment(dir, 'orphan', '', '  init_from: ./nowhere\n');
    const { code, err } = await cli([file]);
    expect(code).toBe(2);
    expect(err).toContain(`orphan.yaml:7:14  model.init_from  ${path.join(dir, 'nowhere')} holds no trained model`);
    expect(existsSync(path.join(dir, 'runs'))).toBe(false);
  });
});
