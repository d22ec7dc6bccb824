import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type DataSpec, listData } from '../../src/data/sources.ts';
import { stratifiedSplit } from '../../src/data/split.ts';
import { DataError } from '../../src/spec/errors.ts';
import { classFolders, halves, tempDir, writeImage } from './fixtures.ts';

const spec = (over: Partial<DataSpec>): DataSpec => ({
  source: 'folder',
  path: '.',
  path_column: 'path',
  label_column: 'label',
  ...over,
});

describe('sources', () => {
  it('image folder: one sub-folder per class, classes sorted unless given', async () => {
    const root = tempDir();
    await classFolders(root, { dog: 3, cat: 2 });
    const found = listData(spec({ path: root }));
    expect(found.classes).toEqual(['cat', 'dog']);
    expect(found.items.map((i) => [path.basename(i.path), i.label])).toEqual([
      ['cat-000.png', 0],
      ['cat-001.png', 0],
      ['dog-000.png', 1],
      ['dog-001.png', 1],
      ['dog-002.png', 1],
    ]);
    expect(listData(spec({ path: root, classes: ['dog', 'cat'] })).items[0]?.label).toBe(0);
  });

  it('image folder with separate validation and test roots', async () => {
    const root = tempDir();
    await classFolders(path.join(root, 'train'), { a: 2, b: 2 });
    await classFolders(path.join(root, 'val'), { a: 1, b: 1 });
    await classFolders(path.join(root, 'test'), { a: 1, b: 2 });
    const found = listData(
      spec({
        path: path.join(root, 'train'),
        validation_path: path.join(root, 'val'),
        test_path: path.join(root, 'test'),
      }),
    );
    expect([found.items.length, found.validation?.length, found.test?.length]).toEqual([4, 2, 3]);
  });

  it('labels from file names (UTKFace: AGE_GENDER_RACE_DATE, gender 0 = male, 1 = female)', async () => {
    const root = tempDir();
    const px = halves(4, 4, [1, 2, 3], [1, 2, 3]);
    for (const name of [
      '25_0_1_20170116.jpg.chip.jpg',
      '31_1_0_20170117.jpg.chip.jpg',
      '40_1_2_20170118.jpg.chip.jpg',
      'README.jpg',
    ]) {
      await writeImage(path.join(root, name), px, 4, 4, { format: 'jpeg' });
    }
    const found = listData(
      spec({
        source: 'filename',
        path: root,
        pattern: '^\\d+_(?<label>[01])_',
        label_map: { '0': 'male', '1': 'female' },
        classes: ['male', 'female'],
      }),
    );
    expect(found.items.map((i) => [path.basename(i.path).slice(0, 5), found.classes[i.label]])).toEqual([
      ['25_0_', 'male'],
      ['31_1_', 'female'],
      ['40_1_', 'female'],
    ]);
  });

  it("CSV and JSON-lines manifests, paths relative to the manifest, each row's columns kept (for a report's slices)", async () => {
    const root = tempDir();
    await classFolders(path.join(root, 'img'), { x: 2 });
    writeFileSync(path.join(root, 'labels.csv'), 'file,kind\n"img/x/x-000.png",cat\nimg/x/x-001.png,dog\n');
    writeFileSync(
      path.join(root, 'labels.jsonl'),
      '{"path":"img/x/x-000.png","label":"dog"}\n{"path":"img/x/x-001.png","label":"cat"}\n',
    );
    const csv = listData(
      spec({ source: 'manifest', path: path.join(root, 'labels.csv'), path_column: 'file', label_column: 'kind' }),
    );
    expect(csv.classes).toEqual(['cat', 'dog']);
    expect(csv.items).toEqual([
      { path: path.join(root, 'img/x/x-000.png'), label: 0, attributes: { file: 'img/x/x-000.png', kind: 'cat' } },
      { path: path.join(root, 'img/x/x-001.png'), label: 1, attributes: { file: 'img/x/x-001.png', kind: 'dog' } },
    ]);
    const jsonl = listData(spec({ source: 'manifest', path: path.join(root, 'labels.jsonl') }));
    expect(jsonl.items.map((i) => i.label)).toEqual([1, 0]);
  });

  it('a missing folder, an empty class or too few classes is a clear error before training', async () => {
    const root = tempDir();
    expect(() => listData(spec({ path: path.join(root, 'nope') }))).toThrow(/data folder .*nope does not exist/);
    await classFolders(root, { a: 2 });
    expect(() => listData(spec({ path: root }))).toThrow(/has 1 class folder\(s\); a classifier needs at least 2/);
    mkdirSync(path.join(root, 'b'));
    expect(() => listData(spec({ path: root }))).toThrow(DataError);
    expect(() => listData(spec({ path: root }))).toThrow(/class 'b' is empty/);
    expect(() => listData(spec({ path: root, classes: ['a', 'c'] }))).toThrow(/class folder .*c does not exist/);
  });
});

describe('stratified split', () => {
  const items = [...Array(60)].map((_, i) => ({ path: `/f${i}`, label: i < 40 ? 0 : 1 }));
  const classes = ['big', 'small'];
  const count = (list: { label: number }[], label: number) => list.filter((i) => i.label === label).length;

  it('takes round(n * fraction) of each class for validation and test', () => {
    const s = stratifiedSplit(items, classes, { validation: 0.1, test: 0.05 }, 7);
    expect([count(s.validation, 0), count(s.validation, 1)]).toEqual([4, 2]);
    expect([count(s.test, 0), count(s.test, 1)]).toEqual([2, 1]);
    expect([count(s.train, 0), count(s.train, 1)]).toEqual([34, 17]);
    const all = [...s.train, ...s.validation, ...s.test].map((i) => i.path).sort();
    expect(all).toEqual(items.map((i) => i.path).sort());
  });

  it('is the same for the same seed and different for another', () => {
    const a = stratifiedSplit(items, classes, { validation: 0.2, test: 0 }, 1);
    const b = stratifiedSplit(items, classes, { validation: 0.2, test: 0 }, 1);
    const c = stratifiedSplit(items, classes, { validation: 0.2, test: 0 }, 2);
    expect(b.validation).toEqual(a.validation);
    expect(c.validation.map((i) => i.path)).not.toEqual(a.validation.map((i) => i.path));
  });

  it('refuses a class too small to split', () => {
    const tiny = [...items, { path: '/lonely', label: 2 }];
    expect(() => stratifiedSplit(tiny, [...classes, 'lonely'], { validation: 0.05, test: 0 }, 1)).toThrow(
      /class 'lonely' has 1 image\(s\), too few to split .* needs at least 2/,
    );
  });
});
