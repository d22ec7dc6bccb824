import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveExperiment } from '../../src/config/resolve.ts';
import { prepareData } from '../../src/data/prepare.ts';
import { DataError } from '../../src/spec/errors.ts';
import { classFolders, tempDir } from './fixtures.ts';

async function experiment(counts: Record<string, number>, extra = '') {
  const dir = tempDir();
  await classFolders(path.join(dir, 'images'), counts);
  writeFileSync(
    path.join(dir, 'exp.yaml'),
    `name: t\nseed: 3\ndata:\n  path: ./images\n  split: { validation: 0.25 }\n  preprocessing: { size: [8, 8] }\n${extra}model:\n  layers:\n    - { type: flatten }\n    - { type: dense, units: 2, activation: softmax }\n`,
  );
  return { dir, exp: resolveExperiment(path.join(dir, 'exp.yaml'), { env: {} }).experiment };
}

describe('prepareData', () => {
  it('splits, decodes and counts per class and split; warns on strong imbalance', async () => {
    const { dir, exp } = await experiment({ a: 16, b: 4 });
    const data = await prepareData(exp, { cacheDir: path.join(dir, 'cache') });
    expect(data.classes).toEqual(['a', 'b']);
    expect(data.counts).toEqual({ train: [12, 3], validation: [4, 1], test: [0, 0] });
    expect(data.pixels.length).toBe(20 * 8 * 8 * 3);
    expect(data.splits.train.index.length).toBe(15);
    expect(new Set([...data.splits.train.index, ...data.splits.validation.index]).size).toBe(20);
    expect(data.warnings.join()).toMatch(/strong class imbalance.*a 12, b 3.*class_weights: balanced/);
    const again = await prepareData(exp, { cacheDir: path.join(dir, 'cache') });
    expect([again.decoded, again.reused, again.hash]).toEqual([0, 20, data.hash]);
  });

  it('fails before training on a bad file when on_bad_file is fail, and lists it when skip', async () => {
    const { dir, exp } = await experiment({ a: 4, b: 4 }, '  on_bad_file: fail\n');
    writeFileSync(path.join(dir, 'images', 'a', 'broken.png'), 'not a png');
    await expect(prepareData(exp, { cacheDir: path.join(dir, 'cache') })).rejects.toThrow(DataError);
    await expect(prepareData(exp, { cacheDir: path.join(dir, 'cache') })).rejects.toThrow(
      /1 file\(s\) could not be read.*broken\.png/s,
    );
    const skip = await prepareData(
      { ...exp, data: { ...exp.data, on_bad_file: 'skip' } },
      { cacheDir: path.join(dir, 'cache') },
    );
    expect(skip.bad.map((b) => path.basename(b.path))).toEqual(['broken.png']);
    expect(skip.counts.train.reduce((s, n) => s + n, 0) + skip.counts.validation.reduce((s, n) => s + n, 0)).toBe(8);
  });
});
