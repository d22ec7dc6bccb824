// data.test_time_flip: every score (validation during training, the saved
// model's predict and evaluate) is the mean of the model's probabilities on the
// image and on its mirror image; with cached backbone features too.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { LayersModel, Tensor } from '@tensorflow/tfjs-node';
import { describe, expect, it } from 'vitest';
import { resolveExperiment } from '../../src/config/resolve.ts';
import { batchTensor } from '../../src/data/batches.ts';
import { prepareData } from '../../src/data/prepare.ts';
import { loadTensorflow } from '../../src/platform/tensorflow.ts';
import { evaluateOn } from '../../src/report/evaluate-run.ts';
import { loadRun, predictFiles } from '../../src/report/predict.ts';
import { runExperiment } from '../../src/runner/run.ts';
import { tempDir } from '../data/fixtures.ts';
import { dataset, experimentFile } from '../support/toy.ts';

describe('test_time_flip', () => {
  it('scores validation, predict and evaluate by the mean over each image and its mirror image', async () => {
    const { tf } = await loadTensorflow();
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 12);
    const resolved = resolveExperiment(experimentFile(dir), { env: {}, set: ['data.test_time_flip=true'] });
    const result = await runExperiment(resolved, {}, path.join(dir, 'cache'));
    expect(result.status).toBe('FINISHED');
    const model = result.model as LayersModel;
    const exp = resolved.experiment;
    const data = await prepareData(exp, { cacheDir: path.join(dir, 'cache') });
    const { index, labels, files } = data.splits.validation;
    const [plain, mirrored] = tf.tidy(() => {
      const x = batchTensor(tf, exp, data, index);
      return [model.predict(x) as Tensor, model.predict(tf.reverse(x, 2)) as Tensor].map(
        (t) => t.arraySync() as number[][],
      );
    }) as [number[][], number[][]];
    const mean = plain.map((row, i) => row.map((v, c) => (v + (mirrored[i]?.[c] as number)) / 2));
    // The toy images are not mirror-symmetric in their noise: the two really differ.
    expect(
      Math.max(...plain.map((row, i) => Math.abs((row[0] as number) - (mirrored[i]?.[0] as number)))),
    ).toBeGreaterThan(1e-4);
    const loss = -mean.reduce((s, row, i) => s + Math.log(row[labels[i] as number] as number), 0) / mean.length;
    const evaluation = JSON.parse(readFileSync(path.join(result.run.dir, 'evaluation.json'), 'utf8'));
    expect(evaluation.validation.loss).toBeCloseTo(loss, 5);

    // The saved model carries it: predict and evaluate from the model folder alone do the same.
    const loaded = await loadRun(tf, path.join(result.run.dir, 'model'));
    expect(loaded.testTimeFlip).toBe(true);
    const predictions = await predictFiles(tf, loaded, files);
    for (const [i, p] of predictions.entries()) {
      for (const [c, cls] of data.classes.entries())
        expect(p.probabilities?.[cls]).toBeCloseTo(mean[i]?.[c] as number, 5);
    }
    const report = await evaluateOn(tf, loaded, { path: path.join(dir, 'images'), source: 'folder' } as never, {
      cacheDir: path.join(dir, 'cache'),
    });
    const everyFile = await predictFiles(tf, loaded, [...data.splits.train.files, ...files]);
    const right = everyFile.filter((p) => p.label === path.basename(path.dirname(p.file))).length;
    expect(report.images).toBe(24);
    expect(report.accuracy).toBeCloseTo(right / 24, 6);
  }, 120_000);
});
