// report.html: written by every run from its predictions, the confusion cells
// with the counts evaluation.json has, the most confident mistakes with the
// labels and probabilities predictions.json has, slices from a file-name
// pattern and from a manifest column, and face boxes over photos with a crop.
import { copyFileSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { resolveExperiment } from '../../src/config/resolve.ts';
import { rankingCurves, reliability } from '../../src/report/curves.ts';
import { buildRunReport, type Predictions } from '../../src/report/run-report.ts';
import { attributesOf, slices, wilson } from '../../src/report/slices.ts';
import { tempDir, writeImage } from '../data/fixtures.ts';
import { cli } from '../support/cli.ts';
import { dataset, experimentFile } from '../support/toy.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const demo = path.join(root, 'node_modules', '@vladmandic', 'face-api', 'demo');

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

describe('report.html', () => {
  it("a run writes it: each confusion cell's count as in evaluation.json, the most confident mistakes as in predictions.json", async () => {
    const dir = tempDir();
    await dataset(path.join(dir, 'images'), 16);
    // Photos from elsewhere with the classes swapped: every one a confident mistake of a model that learned.
    await dataset(path.join(dir, 'swapped'), 6);
    renameSync(path.join(dir, 'swapped', 'top'), path.join(dir, 'swapped', 'bottom2'));
    renameSync(path.join(dir, 'swapped', 'bottom'), path.join(dir, 'swapped', 'top'));
    renameSync(path.join(dir, 'swapped', 'bottom2'), path.join(dir, 'swapped', 'bottom'));
    const file = experimentFile(dir, 'report: { images_per_cell: 2, mistakes: 3 }\n');
    const { code, err } = await cli([
      file,
      '--quiet',
      '--set',
      `data.evaluation_sets={elsewhere: ${path.join(dir, 'swapped')}}`,
    ]);
    expect(code, err).toBe(0);
    const runs = path.join(dir, 'runs', 'toy');
    const run = path.join(runs, readdirSync(runs)[0] as string);
    const html = readFileSync(path.join(run, 'report.html'), 'utf8');
    const evaluation = JSON.parse(readFileSync(path.join(run, 'evaluation.json'), 'utf8'));
    const predictions = JSON.parse(readFileSync(path.join(run, 'predictions.json'), 'utf8')) as Predictions;
    expect(Object.keys(predictions.sets)).toEqual(['validation', 'elsewhere']);
    // Nothing loaded from the network: no remote src or href (the inlined TF.js mentions URLs in its text).
    expect(html).not.toMatch(/(src|href)=["']?(https?:)?\/\//);
    // The drop-a-photo panel, with the run's model files inlined.
    const inlined = JSON.parse(
      html.slice(html.indexOf('id="panel-files">') + 17, html.indexOf('</script>', html.indexOf('id="panel-files">'))),
    );
    expect(Buffer.from(inlined.model.weights, 'base64')).toEqual(readFileSync(path.join(run, 'model', 'weights.bin')));
    for (const [name, set] of Object.entries(predictions.sets)) {
      const scored = name === 'validation' ? evaluation.validation : evaluation.evaluation_sets[name];
      for (const [t, row] of (scored.confusion as number[][]).entries())
        for (const [p, count] of row.entries())
          expect(html).toContain(`data-cell="${name}-${t}-${p}" data-count="${count}"`);
      // The mistakes, most confident first, each with its labels and probability.
      const k = predictions.classes.length;
      const mistakes = set.labels
        .map((truth, i) => {
          const row = set.probs.slice(i * k, (i + 1) * k);
          const predicted = row.indexOf(Math.max(...row));
          return { i, truth, predicted, confidence: row[predicted] as number };
        })
        .filter((m) => m.truth !== m.predicted)
        .sort((a, b) => b.confidence - a.confidence)
        .slice(0, 3);
      if (name === 'elsewhere') expect(mistakes.length).toBe(3);
      const section = html.slice(html.indexOf(`<h2>${name}:`));
      const shown = section.slice(
        section.indexOf('Most confident mistakes'),
        section.indexOf('Calibration and ranking'),
      );
      for (const m of mistakes)
        expect(shown).toContain(
          `${path.basename(set.files[m.i] as string)}<br>true <b>${predictions.classes[m.truth]}</b>, predicted <b>${predictions.classes[m.predicted]}</b> ${pct(m.confidence)}`,
        );
      expect(shown.match(/<figure class="shot">/g) ?? []).toHaveLength(mistakes.length);
      // Each mistake with where the model looked.
      expect(shown.match(/<img class="crop saliency" src="data:image\/jpeg;base64,/g) ?? []).toHaveLength(
        mistakes.length,
      );
    }
    const logged = readFileSync(path.join(run, 'log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .find((e) => e.event === 'report');
    expect(logged.seconds).toBeGreaterThan(0);
    // run-exp report makes it again from the run's records alone.
    writeFileSync(path.join(run, 'report.html'), '');
    const again = await cli(['report', run]);
    expect(again.code, again.err).toBe(0);
    expect(readFileSync(path.join(run, 'report.html'), 'utf8').replace(/\d{8}-\d{6}-\w{4}/g, '')).toBe(
      html.replace(/\d{8}-\d{6}-\w{4}/g, ''),
    );
    // And one for a data set given later: scored into evaluations/<time>/, beside its evaluation.json.
    const later = await cli(['report', '--run', run, '--data', path.join(dir, 'swapped')]);
    expect(later.code, later.err).toBe(0);
    const evaluations = path.join(run, 'evaluations');
    const into = path.join(evaluations, readdirSync(evaluations)[0] as string);
    expect(later.out).toContain(path.join(into, 'report.html'));
    const other = readFileSync(path.join(into, 'report.html'), 'utf8');
    const scored = JSON.parse(readFileSync(path.join(into, 'evaluation.json'), 'utf8'));
    expect(scored.images).toBe(12);
    for (const [t, row] of (scored.confusion as number[][]).entries())
      for (const [p, count] of row.entries())
        expect(other).toContain(`data-cell="swapped-${t}-${p}" data-count="${count}"`);
    expect(other).toContain(`<h2>swapped: 12 images, accuracy ${pct(scored.accuracy)}`);
    expect(other).not.toContain('<h2>validation:');
  }, 90_000);

  it('slices by the named groups of a file-name pattern (numbers in bands) and by a manifest column, worst first', async () => {
    const dir = tempDir();
    const raw = Buffer.alloc(8 * 8 * 3, 128);
    // UTKFace-style names: age_gender_race_...; the validation files of a folder source.
    const names = ['8_0_1_a', '10_0_2_b', '35_0_1_c', '70_0_2_d', '9_1_1_e', '33_1_1_f', '36_1_2_g', '61_1_1_h'];
    const files = await Promise.all(
      names.map((n, i) => writeImage(path.join(dir, 'images', i < 4 ? 'male' : 'female', `${n}.png`), raw, 8, 8)),
    );
    // An evaluation set from a manifest with a site column.
    const clinic = await Promise.all(
      [0, 1, 2, 3].map((i) => writeImage(path.join(dir, 'clinic', `${i}.png`), raw, 8, 8)),
    );
    writeFileSync(
      path.join(dir, 'clinic', 'manifest.csv'),
      `path,label,site\n0.png,male,north\n1.png,female,north\n2.png,male,south\n3.png,female,south\n`,
    );
    const file = experimentFile(
      dir,
      `report:
  images_per_cell: 0
  mistakes: 0
  slices: { pattern: '^(?<age>\\d+)_\\d_(?<race>\\d)_', bands: { age: [0, 13, 40, 60] }, columns: [site] }
`,
    );
    const { experiment } = resolveExperiment(file, {
      env: {},
      set: [`data.evaluation_sets={clinic: ${path.join(dir, 'clinic', 'manifest.csv')}}`],
    });
    // Right on images 0, 2, 4, 5, 6 of the validation set; 0 and 1 of the clinic's (both north).
    const right = [true, false, true, false, true, true, true, false];
    const probs = (ok: boolean[], labels: number[]) =>
      labels.flatMap((l, i) => (ok[i] === (l === 0) ? [0.8, 0.2] : [0.3, 0.7]));
    const labels = [0, 0, 0, 0, 1, 1, 1, 1];
    const predictions: Predictions = {
      classes: ['male', 'female'],
      sets: {
        validation: { files, labels, probs: probs(right, labels) },
        clinic: { files: clinic, labels: [0, 1, 0, 1], probs: probs([true, true, false, false], [0, 1, 0, 1]) },
      },
    };
    const { slices: bySet, html } = await buildRunReport(experiment, predictions, { runName: 'toy', runId: 'x' });
    const table = (set: string) =>
      Object.fromEntries((bySet[set] ?? []).map((s) => [`${s.attribute}=${s.value}`, [s.correct, s.images]]));
    expect(table('validation')).toEqual({
      'age=0-12': [2, 3],
      'age=13-39': [3, 3],
      'age=60+': [0, 2],
      'race=1': [4, 5],
      'race=2': [1, 3],
    });
    expect(table('clinic')).toEqual({ 'site=north': [2, 2], 'site=south': [0, 2] });
    // Worst first within an attribute.
    expect((bySet.validation ?? []).filter((s) => s.attribute === 'age').map((s) => s.value)).toEqual([
      '60+',
      '0-12',
      '13-39',
    ]);
    expect(html).toContain('<td>site</td><td>south</td><td>2</td><td>0.0%</td>');
  });

  it('draws the face box over each photo of a face-crop run, beside the crop the model saw', async () => {
    const dir = tempDir();
    const files = [2, 3, 4].map((i) => {
      const to = path.join(dir, 'images', i % 2 ? 'a' : 'b', `sample${i}.jpg`);
      mkdirSync(path.dirname(to), { recursive: true });
      copyFileSync(path.join(demo, `sample${i}.jpg`), to);
      return to;
    });
    const file = experimentFile(dir, 'report: { images_per_cell: 3, mistakes: 3 }\n');
    const { experiment } = resolveExperiment(file, {
      env: {},
      set: ['data.preprocessing={size: [32, 32], crop: {type: face}}'],
    });
    const predictions: Predictions = {
      classes: ['a', 'b'],
      sets: { validation: { files, labels: [1, 0, 1], probs: [0.9, 0.1, 0.2, 0.8, 0.4, 0.6] } },
    };
    const { html } = await buildRunReport(experiment, predictions, {
      runName: 'toy',
      runId: 'x',
      cacheDir: path.join(dir, 'cache'),
    });
    // Each photo once per place it is shown (a cell and, for mistakes, the mistakes list): a box and a crop each.
    const shots = html.match(/<figure class="shot">.*?<\/figure>/g) ?? [];
    expect(shots.length).toBe(3 + 2);
    for (const shot of shots) {
      expect(shot).toMatch(/<rect x="\d+\.\d" y="\d+\.\d" width="\d+\.\d" height="\d+\.\d"\/>/);
      expect(shot).toContain('<img class="crop" src="data:image/jpeg;base64,');
    }
  }, 60_000);

  it('calibration: the error of a calibrated and an overconfident model; ROC and PR areas of a perfect and a reversed ranking', () => {
    // Right 70% of the time at confidence 0.7: calibrated. Right 70% at confidence 0.95: 25 points over.
    const right = Array.from({ length: 100 }, (_, i) => i % 10 < 7);
    expect(reliability(Array(100).fill(0.7), right).ece).toBeCloseTo(0, 9);
    expect(reliability(Array(100).fill(0.95), right).ece).toBeCloseTo(0.25, 9);
    const positive = [true, true, false, false];
    expect(rankingCurves([0.9, 0.8, 0.2, 0.1], positive)).toMatchObject({ auc: 1, ap: 1 });
    expect(rankingCurves([0.1, 0.2, 0.8, 0.9], positive)?.auc).toBe(0);
    // Ties count half.
    expect(rankingCurves([0.5, 0.5, 0.5, 0.5], positive)?.auc).toBe(0.5);
    const [low, high] = wilson(8, 10);
    expect(low).toBeCloseTo(0.4902, 3);
    expect(high).toBeCloseTo(0.9433, 3);
    const spec = { bands: { age: [0, 13, 60] }, columns: [] };
    expect(attributesOf('/x/61_1_0_y.jpg', spec, [/^(?<age>\d+)_(?<label>\d)_(?<race>\d)/], undefined)).toEqual({
      age: '60+',
      race: '0',
    });
    expect(slices([{ a: 'x' }, { a: 'x' }, { a: 'y' }], [true, false, true])).toEqual([
      expect.objectContaining({ attribute: 'a', value: 'x', images: 2, correct: 1 }),
      expect.objectContaining({ attribute: 'a', value: 'y', images: 1, correct: 1 }),
    ]);
  });
});
