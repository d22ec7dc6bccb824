// Runs with evaluation sets and face crops, through the CLI as a user runs them:
// every place an evaluation set is recorded, the located errors that stop a run
// before training, and predict on a group photo and on a photo without a face.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../data/fixtures.ts';
import { cli } from '../support/cli.ts';
import { dataset } from '../support/toy.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const group = path.join(root, 'node_modules', '@vladmandic', 'face-api', 'demo', 'sample1.jpg');

function experiment(dir: string, data: string, epochs = 4): string {
  const file = path.join(dir, 'exp.yaml');
  writeFileSync(
    file,
    `name: toy
seed: 5
data:
  path: ./images
  split: { validation: 0.25 }
  preprocessing: { size: [16, 16] }
${data}
model:
  layers:
    - { type: conv2d, filters: 4, kernel_size: 3, activation: relu }
    - { type: maxPooling2d }
    - { type: flatten }
    - { type: dense, units: 2, activation: softmax }
training:
  epochs: ${epochs}
  batch_size: 8
  optimizer: { type: adam, lr: 0.01 }
tracking:
  dir: ${path.join(dir, 'runs')}
`,
  );
  return file;
}

const runDirs = (dir: string) =>
  existsSync(path.join(dir, 'runs', 'toy')) ? readdirSync(path.join(dir, 'runs', 'toy')) : [];

describe('evaluation sets', () => {
  it('are scored with the final model and recorded in evaluation.json, metrics.jsonl and the terminal summary', async () => {
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 16);
    await dataset(path.join(dir, 'elsewhere'), 5);
    const file = experiment(dir, '  evaluation_sets: { elsewhere: ./elsewhere }\n  evaluation_every: 2');
    const { code, out } = await cli([file]);
    expect(code).toBe(0);
    expect(out).toMatch(
      /evaluation set elsewhere: 10 images {2}accuracy \d\.\d{4} {2}macro F1 \d\.\d{4} {2}ROC AUC \d\.\d{4}/,
    );
    expect(out).toMatch(/epoch 2\/4 .* elsewhere_acc \d\.\d{4}/);
    expect(out.trim().split('\n').at(-1)).toMatch(/^FINISHED .* val_acc \d\.\d{4} {2}elsewhere_acc \d\.\d{4}$/);
    const [id] = runDirs(dir);
    const run = path.join(dir, 'runs', 'toy', id as string);
    const evaluation = JSON.parse(readFileSync(path.join(run, 'evaluation.json'), 'utf8'));
    const set = evaluation.evaluation_sets.elsewhere;
    expect(set.images).toBe(10);
    expect(set.confusion.flat().reduce((s: number, v: number) => s + v, 0)).toBe(10);
    expect(Object.keys(set.perClass).sort()).toEqual(['bottom', 'top']);
    expect(set.accuracy).toBeGreaterThanOrEqual(0.8);
    const lines = readFileSync(path.join(run, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    // Every second epoch and the last: the last one's figures are the final model's.
    expect(lines.map((l) => l.elsewhere_accuracy !== undefined)).toEqual([false, true, false, true]);
    expect(lines.at(-1).elsewhere_accuracy).toBeCloseTo(set.accuracy, 6);
    expect(lines.at(-1).elsewhere_f1).toBeCloseTo(set.macro.f1, 6);
    expect(lines.at(-1).elsewhere_auc).toBeCloseTo(set.auc, 6);
    expect(existsSync(path.join(run, 'plots', 'confusion-elsewhere.png'))).toBe(true);
    const data = JSON.parse(readFileSync(path.join(run, 'data.json'), 'utf8'));
    expect(data.evaluation_sets.elsewhere).toMatchObject({ path: path.join(dir, 'elsewhere'), images: 10 });
  }, 120_000);

  it('with other classes, or missing, stop the run before training with a located error and exit 2', async () => {
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 4);
    await dataset(path.join(dir, 'elsewhere'), 2);
    mkdirSync(path.join(dir, 'elsewhere', 'left'));
    copyFileSync(path.join(dir, 'elsewhere', 'top', '0.png'), path.join(dir, 'elsewhere', 'left', '0.png'));
    const file = experiment(dir, '  evaluation_sets:\n    elsewhere: ./elsewhere');
    const other = await cli([file]);
    expect(other.code).toBe(2);
    expect(other.err).toContain(
      `${file}:8:16  data.evaluation_sets.elsewhere  ${path.join(dir, 'elsewhere')} has class(es) 'left' that the training data does not; an evaluation set's classes must be among the training classes: bottom, top`,
    );
    expect(other.err).not.toMatch(/\n\s+at /);
    const missing = await cli([experiment(dir, '  evaluation_sets:\n    gone: ./nowhere'), '--quiet']);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(
      new RegExp(
        `exp\\.yaml:8:11  data\\.evaluation_sets\\.gone  data folder ${path.join(dir, 'nowhere')} does not exist`,
      ),
    );
    expect(runDirs(dir)).toEqual([]);
    // The data command checks the same, as early.
    expect((await cli(['data', file])).code).toBe(2);
  }, 60_000);
});

describe('predict with a face crop', () => {
  it('lists every face of a group photo with its box and label, and says so of a photo without a face', async () => {
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 8);
    const file = experiment(dir, '  augmentation: []', 1);
    // The toy images have no faces: kept whole (on_miss: keep) for training.
    const trained = await cli([file, '--quiet', '--set', 'data.preprocessing.crop={type: face, on_miss: keep}']);
    expect(trained.code).toBe(0);
    const run = path.join(dir, 'runs', 'toy', runDirs(dir)[0] as string);
    const blank = path.join(dir, 'blank.png');
    await sharp({ create: { width: 90, height: 60, channels: 3, background: '#3070a0' } })
      .png()
      .toFile(blank);

    const all = await cli(['predict', '--run', run, '--faces', 'all', '--json', group, blank]);
    expect(all.code).toBe(0);
    const rows = JSON.parse(all.out) as {
      file: string;
      label: string | null;
      face: { index: number; box: number[]; score: number } | null;
      note?: string;
    }[];
    const faces = rows.filter((r) => r.file === group);
    expect(faces.map((r) => r.face?.index)).toEqual([0, 1, 2]);
    for (const r of faces) {
      expect(['top', 'bottom']).toContain(r.label);
      expect(r.face?.box).toHaveLength(4);
      expect(r.face?.score).toBeGreaterThanOrEqual(0.5);
    }
    // Largest first.
    const areas = faces.map((r) => (r.face?.box[2] as number) * (r.face?.box[3] as number));
    expect([...areas].sort((a, b) => b - a)).toEqual(areas);
    expect(rows.filter((r) => r.file === blank)).toEqual([
      expect.objectContaining({
        face: null,
        note: 'no face found; predicted on the whole image, as crop.on_miss is keep',
      }),
    ]);

    // A run saved before crop.fill existed (its config without the key) predicts as it was trained: black.
    const config = path.join(run, 'config.yaml');
    const saved = readFileSync(config, 'utf8');
    expect(saved).toMatch(/^ +fill: black$/m);
    writeFileSync(config, saved.replace(/^ +fill: black\n/m, ''));
    const older = await cli(['predict', '--run', run, '--faces', 'all', '--json', group, blank]);
    expect(JSON.parse(older.out)).toEqual(rows);

    const largest = await cli(['predict', '--run', run, group, blank]);
    const lines = largest.out.trim().split('\n');
    expect(lines[0]).toMatch(/^file +face +label +bottom +top$/);
    expect(lines.filter((l) => l.startsWith(group))).toHaveLength(1);
    expect(lines.find((l) => l.startsWith(group))).toMatch(/#1 \d+,\d+ \d+x\d+ +(top|bottom) /);
    expect(lines.find((l) => l.startsWith(blank))).toMatch(
      /no face +(top|bottom) .*\(no face found; predicted on the whole image/,
    );
  }, 120_000);
});
