// Several outputs on one trunk: a synthetic image set whose file names encode
// a number, a class and a set of tags, each fixed by the pixels, trained to low
// error on every output; labels missing from some files train the others.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Tensor } from '@tensorflow/tfjs-node';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { evaluateCommand } from '../../src/cli/evaluate.ts';
import { main } from '../../src/cli/program.ts';
import { resolveExperiment } from '../../src/config/resolve.ts';
import { prepareData } from '../../src/data/prepare.ts';
import { decodeJobs, fileJobs } from '../../src/data/preprocess.ts';
import { exampleWeights, learnedValue, unitValue } from '../../src/data/targets.ts';
import { batchTargets, outputLoss } from '../../src/engine/output-losses.ts';
import { readOutputs } from '../../src/model/output-meta.ts';
import { loadTensorflow } from '../../src/platform/tensorflow.ts';
import { loadRun, predictFiles } from '../../src/report/predict.ts';
import { runExperiment } from '../../src/runner/run.ts';
import { metricGoal } from '../../src/spec/metric-names.ts';
import { binCenters } from '../../src/spec/outputs.ts';
import { tempDir, writeImage } from '../data/fixtures.ts';
import { MODEL_PYTHON } from '../support/mlflow-server.ts';
import { pagePredictions, staticServer } from '../support/web-page.ts';

/**
 * 16x16 images: the top or bottom half bright (the class: t or b); the left
 * column's grey level (the number: 10-90); a red and/or green corner dot (the
 * tags). Every `missing`-th file has its class written as x (unmapped: missing).
 */
async function images(dir: string, n: number, missing = 0): Promise<void> {
  let seed = 7;
  const draw = () => {
    seed = (seed * 16807) % 2147483647;
    return seed / 2147483647;
  };
  for (let i = 0; i < n; i++) {
    const top = draw() < 0.5;
    const level = 10 + Math.floor(draw() * 81);
    const red = draw() < 0.5;
    const green = draw() < 0.5;
    const raw = Buffer.alloc(16 * 16 * 3);
    for (let y = 0; y < 16; y++)
      for (let x = 0; x < 16; x++) {
        const v = x < 4 ? level * 2.5 : y < 8 === top ? 200 : 30;
        raw.fill(v, (y * 16 + x) * 3, (y * 16 + x + 1) * 3);
      }
    const dot = (x0: number, y0: number, c: number) => {
      for (let y = y0; y < y0 + 3; y++)
        for (let x = x0; x < x0 + 3; x++) {
          raw.fill(0, (y * 16 + x) * 3, (y * 16 + x + 1) * 3);
          raw[(y * 16 + x) * 3 + c] = 255;
        }
    };
    if (red) dot(13, 0, 0);
    if (green) dot(13, 13, 1);
    const tags = [red ? 'r' : '', green ? 'g' : ''].filter(Boolean).join('+');
    const cls = missing && i % missing === 0 ? 'x' : top ? 't' : 'b';
    await writeImage(path.join(dir, 'images', `${level}_${cls}_${tags}_${i}.png`), raw, 16, 16);
  }
}

const experiment = (dir: string) => {
  const file = path.join(dir, 'exp.yaml');
  return {
    file,
    text: `name: multi
seed: 3
data:
  source: filename
  path: ./images
  pattern: '^(?<level>\\d+)_(?<half>[tbx])_(?<tags>[rg+]*)_'
  split: { validation: 0.2 }
  preprocessing: { size: [16, 16] }
outputs:
  half: { type: category, from: half, values: { t: top, b: bottom } }
  level: { type: number, from: level, bands: [0, 50] }
  tags: { type: set, from: tags, labels: [r, g] }
  bright_top: { type: binary, from: half, values: { t: top, b: bottom }, positive: top, loss_weight: 0.5 }
model:
  layers:
    - { type: conv2d, filters: 8, kernel_size: 3, activation: relu }
    - { type: maxPooling2d }
    - { type: flatten }
    - { type: dense, units: 32, activation: relu }
training:
  epochs: 30
  batch_size: 16
  optimizer: { type: adam, lr: 0.005 }
tracking:
  dir: ${path.join(dir, 'runs')}
`,
  };
};

describe('several outputs', () => {
  it('reads each output from its named group: values maps, missing labels counted, numbers standardized', async () => {
    const dir = tempDir('run-exp-outputs-');
    await images(dir, 40, 5);
    const { file, text } = experiment(dir);
    writeFileSync(file, text);
    const { experiment: exp } = resolveExperiment(file, { env: {} });
    const data = await prepareData(exp, { cacheDir: path.join(dir, 'cache') });
    const all = [data.splits.train, data.splits.validation].flatMap((s) => s.targets ?? []);
    const half = all.filter((t) => t.name === 'half');
    expect(half.reduce((s, t) => s + t.missing, 0)).toBe(8); // every 5th of 40
    expect(half[0]?.names).toEqual(['bottom', 'top']);
    const level = data.splits.train.targets?.find((t) => t.name === 'level');
    expect(level?.missing).toBe(0);
    expect(level?.scale?.std).toBeGreaterThan(5);
    // Missing class labels are a stratum of their own: the split keeps their share.
    expect(data.splits.validation.targets?.find((t) => t.name === 'half')?.missing).toBeGreaterThan(0);
  });

  it('splits by the output data.split.stratify names: a number output by its bands', async () => {
    const dir = tempDir('run-exp-outputs-');
    await images(dir, 60, 5);
    const { file, text } = experiment(dir);
    writeFileSync(file, text);
    const set = ['data.split.stratify=level', 'data.split.validation=0.25'];
    const { experiment: exp } = resolveExperiment(file, { env: {}, set });
    const data = await prepareData(exp, { cacheDir: path.join(dir, 'cache') });
    const levels = (s: 'train' | 'validation') =>
      Array.from(data.splits[s].targets?.find((t) => t.name === 'level')?.values ?? []);
    const high = (xs: number[]) => xs.filter((v) => v >= 50).length;
    const all = [...levels('train'), ...levels('validation')];
    // Each band keeps its share: round(count x 0.25) of it in validation.
    expect(high(levels('validation'))).toBe(Math.round(high(all) * 0.25));
    expect(levels('validation').length - high(levels('validation'))).toBe(Math.round((all.length - high(all)) * 0.25));
  });

  it('weighs classes and bands from the training split (balanced) or as given; the loss divides by the labelled count', async () => {
    const dir = tempDir('run-exp-outputs-');
    await images(dir, 40, 5);
    const { file, text } = experiment(dir);
    writeFileSync(file, text);
    const set = ['outputs.half.class_weights=balanced', 'outputs.level.band_weights=[1, 3]'];
    const { experiment: exp } = resolveExperiment(file, { env: {}, set });
    const data = await prepareData(exp, { cacheDir: path.join(dir, 'cache') });
    const [half, level] = data.splits.train.targets ?? [];
    if (!half || !level) throw new Error('no targets');
    const count = (c: number) => half.values.filter((v, i) => half.known[i] && v === c).length;
    const labelled = count(0) + count(1);
    expect(Array.from(half.weights ?? [])).toEqual(
      [labelled / (2 * count(0)), labelled / (2 * count(1))].map(Math.fround),
    );
    expect(Array.from(level.weights ?? [])).toEqual([1, 3]);
    // Validation keeps plain means (as Keras' class_weight).
    expect(data.splits.validation.targets?.[0]?.weights).toBeUndefined();
    const rows = Array.from(half.known.keys());
    const w = exampleWeights(half, rows);
    for (const i of rows) expect(w[i]).toBe(half.known[i] ? half.weights?.[half.values[i] as number] : 0);
    const lw = exampleWeights(level, rows);
    for (const i of rows) expect(lw[i]).toBe((level.values[i] as number) >= 50 ? 3 : 1);

    // transform log: the model learns log(1 + value), standardized; its prediction reads back in the unit.
    const z = (learnedValue(37, 'log') - 3.1) / 0.7;
    expect(unitValue(z, { mean: 3.1, std: 0.7 }, 'log')).toBeCloseTo(37, 9);
    expect(unitValue(z, { mean: 3.1, std: 0.7 })).toBeCloseTo(Math.log1p(37), 9);

    // The loss: the weighted sum over the labelled examples, divided by their count (not by the weights' sum).
    const { tf } = await loadTensorflow();
    const p = tf.tensor2d([0.9, 0.1, 0.2, 0.8, 0.5, 0.5], [3, 2]);
    const fake = {
      ...half,
      values: Float32Array.of(0, 0, 1),
      known: Uint8Array.of(1, 1, 0),
      weights: Float32Array.of(2, 1),
    };
    const loss = outputLoss(tf, fake, p, batchTargets(tf, fake, [0, 1, 2])).dataSync()[0] as number;
    const s = half.spec.type === 'category' ? half.spec.label_smoothing : 0;
    const ce = (q: number[], c: number) =>
      -q.reduce((a, v, k) => a + (k === c ? 1 - s + s / 2 : s / 2) * Math.log(v), 0);
    expect(loss).toBeCloseTo((2 * ce([0.9, 0.1], 0) + 2 * ce([0.2, 0.8], 0)) / 2, 5);
  });

  it('trains every output to low error and records val_<output>_<metric>; predict and MLmodel give every output', async () => {
    const dir = tempDir('run-exp-outputs-');
    await images(dir, 160, 10);
    const { file, text } = experiment(dir);
    writeFileSync(file, text);
    // The number output learned on a log scale: metrics, predict, evaluate and MLflow's pyfunc all answer in its unit.
    const set = ['outputs.level.transform=log'];
    const result = await runExperiment(resolveExperiment(file, { env: {}, set }), {}, path.join(dir, 'cache'));
    expect(result.status).toBe('FINISHED');
    const epochs = readFileSync(path.join(result.run.dir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const last = epochs.at(-1);
    expect(last.val_half_accuracy).toBeGreaterThan(0.9);
    expect(last.val_level_mae).toBeLessThan(8); // levels span 10-90
    expect(last.val_level_r2).toBeGreaterThan(0.8);
    expect(last.val_tags_subset_accuracy).toBeGreaterThan(0.8);
    expect(last.val_tags_f1_r).toBeGreaterThan(0.9);
    expect(last.val_bright_top_auc).toBeGreaterThan(0.95);
    const evaluation = JSON.parse(readFileSync(path.join(result.run.dir, 'evaluation.json'), 'utf8'));
    expect(evaluation.validation.outputs.half.images).toBeLessThan(evaluation.validation.outputs.level.images);
    expect(Object.keys(evaluation.validation.outputs.level)).toContain('mae_0-49');

    // The saved model answers for every output: predict from the run folder, and MLmodel's signature.
    const { tf } = await loadTensorflow();
    const run = await loadRun(tf, result.run.dir);
    const files = readdirSync(path.join(dir, 'images'))
      .filter((f) => !f.includes('_x_'))
      .slice(0, 12);
    const predictions = await predictFiles(
      tf,
      run,
      files.map((f) => path.join(dir, 'images', f)),
    );
    for (const [i, p] of predictions.entries()) {
      const [level, half, tags] = (files[i] as string).split('_');
      const out = p.outputs ?? {};
      expect(out.half && 'label' in out.half ? out.half.label : null, files[i]).toBe(half === 't' ? 'top' : 'bottom');
      expect(
        Math.abs((out.level && 'value' in out.level ? out.level.value : 0) - Number(level)),
        files[i],
      ).toBeLessThan(15);
      expect(out.tags && 'labels' in out.tags ? out.tags.labels.join('+') : null, files[i]).toBe(tags);
    }
    // MLflow's python_function flavor gives the same, a column per output unit (numbers in their unit).
    const exp = resolveExperiment(file, { env: {} }).experiment;
    const p = exp.data.preprocessing;
    const pixels = new Uint8Array(files.length * 16 * 16 * 3);
    const paths = files.map((f) => path.join(dir, 'images', f));
    await decodeJobs(
      await fileJobs(paths, p),
      p,
      pixels,
      paths.map((_, i) => i * 16 * 16 * 3),
    );
    writeFileSync(path.join(dir, 'pixels.u8'), pixels);
    const rows = JSON.parse(
      execFileSync(
        MODEL_PYTHON,
        [
          '-c',
          `import json, sys, numpy as np, mlflow
m = mlflow.pyfunc.load_model(sys.argv[1])
x = np.fromfile(sys.argv[2], dtype=np.uint8).reshape(-1, 16, 16, 3)
print(json.dumps(m.predict(x).to_dict(orient="records")))`,
          path.join(result.run.dir, 'model'),
          path.join(dir, 'pixels.u8'),
        ],
        { encoding: 'utf8' },
      )
        .trim()
        .split('\n')
        .at(-1) as string,
    ) as Record<string, number>[];
    for (const [i, pred] of predictions.entries()) {
      const out = pred.outputs ?? {};
      const level = out.level && 'value' in out.level ? out.level.value : Number.NaN;
      expect(Math.abs((rows[i]?.level as number) - level), files[i]).toBeLessThan(1e-3);
      const half = out.half && 'probabilities' in out.half ? out.half.probabilities : {};
      expect(Math.abs((rows[i]?.half_top as number) - (half.top as number)), files[i]).toBeLessThan(1e-4);
    }
    const mlmodel = parse(readFileSync(path.join(result.run.dir, 'model', 'MLmodel'), 'utf8'));
    expect(JSON.parse(mlmodel.signature.outputs).map((c: { name: string }) => c.name)).toEqual([
      'half_bottom',
      'half_top',
      'level',
      'tags_r',
      'tags_g',
      'bright_top',
    ]);

    // A model saved before number outputs had bins (its specs without bins or bin_sigma) evaluates as one without.
    const modelJson = path.join(result.run.dir, 'model', 'model.json');
    const saved = JSON.parse(readFileSync(modelJson, 'utf8'));
    for (const o of saved.userDefinedMetadata.run_exp.outputs) {
      delete o.spec.bins;
      delete o.spec.bin_sigma;
    }
    writeFileSync(modelJson, JSON.stringify(saved));

    // run-exp evaluate on new images: an experiment file's data labels every output; a folder set only the category
    // output its class folders name. Each image's outputs in predictions.json are predict's.
    const fresh = tempDir('run-exp-outputs-new-');
    await images(fresh, 48);
    const evalFile = path.join(fresh, 'exp.yaml');
    writeFileSync(evalFile, experiment(fresh).text);
    const lines: string[] = [];
    expect(await evaluateCommand({ run: result.run.dir, data: evalFile, env: {} }, (l) => lines.push(l))).toBe(0);
    const into = (lines.at(-1) as string).replace(/^report: /, '').trim();
    const scored = JSON.parse(readFileSync(path.join(into, 'evaluation.json'), 'utf8'));
    expect(scored.images).toBe(48);
    expect(scored.outputs.half.images).toBe(48);
    expect(scored.outputs.half.accuracy).toBeGreaterThan(0.9);
    expect(scored.outputs.level.mae).toBeLessThan(8);
    expect(scored.outputs.tags.subset_accuracy).toBeGreaterThan(0.8);
    expect(lines.join('')).toMatch(/^half: 48 labelled {2}accuracy [01]\.\d{4}/m);
    const recorded = JSON.parse(readFileSync(path.join(into, 'predictions.json'), 'utf8'));
    const scoredSet = recorded.sets.images as {
      files: string[];
      truth: Record<string, (number | number[] | null)[]>;
      units: number[];
    };
    const width = scoredSet.units.length / scoredSet.files.length;
    const again = await predictFiles(tf, run, scoredSet.files.slice(0, 6));
    for (const [i, pred] of again.entries()) {
      const level = pred.outputs?.level;
      const row = readOutputs(recorded.outputs, scoredSet.units.slice(i * width, (i + 1) * width)).level;
      expect(
        Math.abs((row && 'value' in row ? row.value : 0) - (level && 'value' in level ? level.value : 0)),
      ).toBeLessThan(1e-3);
      const [levelName, , tagsName] = path.basename(scoredSet.files[i] as string).split('_');
      expect(scoredSet.truth.level?.[i]).toBe(Number(levelName));
      // A set's truth: its labels' indices (r 0, g 1).
      expect(scoredSet.truth.tags?.[i]).toEqual(
        (tagsName ?? '')
          .split('+')
          .filter(Boolean)
          .map((l) => ['r', 'g'].indexOf(l)),
      );
    }
    const folders = path.join(fresh, 'folders');
    for (const f of readdirSync(path.join(fresh, 'images')).slice(0, 20)) {
      const cls = f.split('_')[1] === 't' ? 'top' : 'bottom';
      mkdirSync(path.join(folders, cls), { recursive: true });
      copyFileSync(path.join(fresh, 'images', f), path.join(folders, cls, f));
    }
    lines.length = 0;
    expect(await evaluateCommand({ run: result.run.dir, data: folders, env: {} }, (l) => lines.push(l))).toBe(0);
    const byFolder = JSON.parse(
      readFileSync(path.join((lines.at(-1) as string).replace(/^report: /, '').trim(), 'evaluation.json'), 'utf8'),
    );
    expect(byFolder.outputs.half.images).toBe(20);
    expect(byFolder.outputs.level.images).toBe(0);
    expect(byFolder.outputs.level.mae).toBeNull();
    expect(lines.join('')).toContain('level: not labelled by this data');

    // report.html: per class output its confusion matrix on the images that have its label, per number output its
    // errors per band; `run-exp report --data` makes one for other data.
    const html = readFileSync(path.join(result.run.dir, 'report.html'), 'utf8');
    const halfCells = evaluation.validation.outputs.half.images;
    expect(html).toContain(`validation: half: ${halfCells} images, accuracy`);
    expect(html).toMatch(/validation: level on \d+ images, MAE/);
    expect(html).toContain('<td>50+</td>');
    expect(html).toContain('validation: bright_top:');
    // The set output: a row per label whose counts are the validation set's, and the F1 evaluation.json has.
    const tagsSection = html.slice(html.indexOf('validation: tags on'));
    expect(tagsSection).toMatch(/^validation: tags on \d+ images, whole set right [01]\.\d{3}/);
    const rRow = tagsSection.match(
      /<tr><td>r<\/td><td>(\d+)<\/td><td>(\d+)<\/td><td>[\d.]+<\/td><td>[\d.]+<\/td><td>([\d.]+)<\/td>/,
    );
    expect(Number(rRow?.[3])).toBeCloseTo(evaluation.validation.outputs.tags.f1_r, 3);
    lines.length = 0;
    expect(
      await main(['report', result.run.dir, '--data', evalFile], {
        out: (l) => lines.push(l),
        err: (l) => lines.push(l),
        env: {},
      }),
    ).toBe(0);
    const other = readFileSync((lines.at(-1) as string).trim(), 'utf8');
    expect(other).toContain('images: half: 48 images, accuracy');
    expect(other).toMatch(/images: level on 48 images, MAE/);
  }, 180_000);

  it('exports every output: Keras 3, SavedModel and ONNX read back by their runtimes, and the web page', async () => {
    const dir = tempDir('run-exp-outputs-');
    await images(dir, 48);
    const { file, text } = experiment(dir);
    writeFileSync(file, text);
    // The number output over bins: its expectation and its probabilities are one output of 17 units.
    const set = ['training.epochs=3', 'outputs.level.bins=16'];
    const result = await runExperiment(resolveExperiment(file, { env: {}, set }), {}, path.join(dir, 'cache'));
    expect(result.status).toBe('FINISHED');
    const { tf } = await loadTensorflow();
    const run = await loadRun(tf, result.run.dir);
    expect(run.outputs?.find((o) => o.name === 'level')?.units).toBe(17);
    // The value is the bins' expectation, through centres that training left as they were.
    const centers = binCenters(16);
    const kernel = run.model.getLayer('level_value').getWeights()[0]?.dataSync() ?? [];
    expect(Array.from(kernel)).toEqual(Array.from(Float32Array.from(centers)));
    const raw = run.model.predict(tf.randomUniform([2, 16, 16, 3], 0, 1)) as Tensor[];
    const level = (raw[1] as Tensor).arraySync() as number[][];
    for (const row of level) {
      const probs = row.slice(1);
      expect(probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      expect(row[0]).toBeCloseTo(
        probs.reduce((sum, p, k) => sum + p * (centers[k] as number), 0),
        5,
      );
    }
    const exported = async (format: string) => {
      const said: string[] = [];
      const out = path.join(dir, `export-${format}`);
      const code = await main(['export', '--run', result.run.dir, '--format', format, '--out', out, '--json'], {
        out: (s) => said.push(s),
        err: (s) => said.push(s),
        env: { ...process.env, RUN_EXP_PYTHON: MODEL_PYTHON },
      });
      expect(code, said.join('')).toBe(0);
      return { out, report: JSON.parse(said.join('')) };
    };
    // Each converted model gives every output's units as run-exp's model does, read back by its own runtime.
    for (const [format, tolerance] of [
      ['keras', 1e-5],
      ['savedmodel', 1e-5],
      ['onnx', 1e-4],
    ] as const) {
      const { out, report } = await exported(format);
      expect(report.max_abs_diff, format).toBeLessThanOrEqual(tolerance);
      const meta = JSON.parse(readFileSync(path.join(out, 'run_exp.json'), 'utf8'));
      expect(meta.outputs.map((o: { name: string }) => o.name)).toEqual(['half', 'level', 'tags', 'bright_top']);
      expect(meta.output).toContain('half_bottom, half_top, level, tags_r, tags_g, bright_top');
    }
    // The page: each output's answer on its label line, as predict gives it.
    const { out } = await exported('web');
    const files = readdirSync(path.join(dir, 'images'))
      .slice(0, 4)
      .map((f) => path.join(dir, 'images', f));
    const ours = await predictFiles(tf, run, files);
    const site = await staticServer(out);
    try {
      const got = await pagePredictions(site.url, files);
      for (const [i, p] of ours.entries()) {
        const shown = Object.fromEntries(
          (got[i]?.label ?? '')
            .split(', ')
            .map((part) => [part.slice(0, part.indexOf(' ')), part.slice(part.indexOf(' ') + 1)]),
        );
        for (const [name, o] of Object.entries(p.outputs ?? {})) {
          if ('value' in o) expect(Math.abs(Number(shown[name]) - o.value), name).toBeLessThan(0.11);
          else if ('labels' in o) expect(shown[name], name).toBe(o.labels.join('+') || '(none)');
          else expect(shown[name], name).toBe(o.label);
        }
      }
    } finally {
      await site.close();
    }
  }, 240_000);

  it('both engines train every output type alike: the same losses and metrics epoch by epoch', async () => {
    const dir = tempDir('run-exp-outputs-');
    await images(dir, 64, 8);
    const { file, text } = experiment(dir);
    writeFileSync(file, text);
    const epochs = async (engine: string, ...more: string[]) => {
      // With class and band weights and a log number over bins: both engines weigh, transform and bin alike too.
      const set = [
        ...more,
        `training.engine=${engine}`,
        'training.epochs=3',
        'outputs.half.class_weights=balanced',
        'outputs.level.band_weights=[1, 2]',
        'outputs.level.transform=log',
        'outputs.level.bins=16',
      ];
      const result = await runExperiment(resolveExperiment(file, { env: {}, set }), {}, path.join(dir, 'cache'));
      expect(result.status).toBe('FINISHED');
      return result.epochs;
    };
    const [eager, graph] = [await epochs('eager'), await epochs('graph')];
    for (const [e, m] of eager.entries()) {
      const g = graph[e] as unknown as Record<string, unknown>;
      for (const [key, value] of Object.entries(m))
        if (typeof value === 'number' && /^(loss|val_)/.test(key))
          expect(Math.abs((g[key] as number) - value), `epoch ${e + 1} ${key}`).toBeLessThan(
            1e-3 * Math.max(1, Math.abs(value)),
          );
    }
    // bf16 (emulated where the CPU has no bfloat16 units) trains every output type too, close to float32.
    process.env.RUN_EXP_BF16 = 'force';
    try {
      const bf16 = await epochs('graph', 'training.precision=bf16');
      const apart = Math.abs((bf16[0]?.loss as number) - (graph[0]?.loss as number));
      expect(apart).toBeGreaterThan(0); // it did compute in bfloat16
      expect(apart).toBeLessThan(0.05 * (graph[0]?.loss as number));
    } finally {
      delete process.env.RUN_EXP_BF16;
    }
  }, 120_000);

  it('monitors name output metrics, errors going down and scores up', () => {
    expect(metricGoal('val_level_mae')).toBe('min');
    expect(metricGoal('val_level_rmse')).toBe('min');
    expect(metricGoal('val_level_mae_0-49')).toBe('min');
    expect(metricGoal('val_level_loss')).toBe('min');
    expect(metricGoal('val_level_r2')).toBe('max');
    expect(metricGoal('portraits_half_accuracy')).toBe('max');
  });
});
