// report.html's sections for a model with several outputs, from the outputs
// form of predictions.json: each class output (category, binary) per data set
// as a one-class model's section (confusion matrix whose cells open their
// photos, confident mistakes with where that output's head looked,
// calibration, ranking curves, slices), on the images that have its label;
// each number output per data set: its errors per band (with the mean signed
// error, which shows a pull towards the mean) and the largest errors with
// their photos; each set output per data set: precision, recall and F1 per
// label, and the images whose sets are most wrong with their photos.
import * as path from 'node:path';
import type { LayersModel } from '@tensorflow/tfjs-node';
import { bandOf } from '../data/bands.ts';
import { type OutputTargets, unitValue } from '../data/targets.ts';
import type { OutputMeta } from '../model/output-meta.ts';
import type { Experiment } from '../spec/experiment.ts';
import { labelF1, setCounts } from '../train/output-metrics.ts';
import {
  attributeSource,
  esc,
  figure,
  pictures,
  type ReportFacts,
  type ReportModel,
  reportPage,
  type SetPredictions,
  setSection,
} from './run-report.ts';

/** One data set's predictions of every output: each image's file, its labels per output (null: missing) and units. */
export interface OutputsSet {
  files: string[];
  /** Per output: a class output's class index, a number output's value, a set output's label indices; null without the label. */
  truth: Record<string, (number | number[] | null)[]>;
  /** Row-major: every output's units back to back per image, in the model's order (6 decimals). */
  units: number[];
}

export interface OutputsPredictions {
  outputs: OutputMeta[];
  sets: Record<string, OutputsSet>;
}

/** A data set's predictions of every output as recorded: labels from its targets, units from each output's predictions. */
export function outputsSet(files: string[], targets: OutputTargets[], predictions: Float32Array[]): OutputsSet {
  const n = files.length;
  const widths = predictions.map((p) => p.length / Math.max(1, n));
  const units: number[] = [];
  for (let i = 0; i < n; i++)
    for (const [o, p] of predictions.entries()) {
      const w = widths[o] as number;
      for (let k = 0; k < w; k++) units.push(Math.round((p[i * w + k] as number) * 1e6) / 1e6);
    }
  const truth = Object.fromEntries(
    targets.map((t) => [
      t.name,
      Array.from(t.known, (known, i) => {
        if (!known) return null;
        if (t.spec.type !== 'set') return t.values[i] as number;
        return t.names.flatMap((_, k) => (t.values[i * t.width + k] === 1 ? [k] : []));
      }),
    ]),
  );
  return { files, truth, units };
}

/** Output `o`'s units of image `i` in a set's rows (every output's units back to back per image). */
function unitsAt(meta: OutputMeta[], o: number, set: OutputsSet, i: number): number[] {
  const width = meta.reduce((s, m) => s + m.units, 0);
  const at = i * width + meta.slice(0, o).reduce((s, m) => s + m.units, 0);
  return set.units.slice(at, at + (meta[o] as OutputMeta).units);
}

/** The class output `o`'s predictions on the images that have its label, as a one-class model's. */
export function classPredictions(meta: OutputMeta[], o: number, set: OutputsSet): SetPredictions {
  const out = meta[o] as OutputMeta;
  const picked: SetPredictions = { files: [], labels: [], probs: [] };
  for (const [i, label] of (set.truth[out.name] ?? []).entries()) {
    if (typeof label !== 'number') continue;
    picked.files.push(set.files[i] as string);
    picked.labels.push(label);
    const u = unitsAt(meta, o, set, i);
    picked.probs.push(...(out.type === 'binary' ? [1 - (u[0] as number), u[0] as number] : u));
  }
  return picked;
}

/** A model's head for output `o` alone: what Grad-CAM explains for that output. */
export function headModel(net: ReportModel | undefined, o: number): ReportModel | undefined {
  if (!net || net.model.outputs.length < 2) return net;
  const model: LayersModel = net.tf.model({ inputs: net.model.inputs, outputs: net.model.outputs[o] as never });
  return { tf: net.tf, model };
}

/** The photos of `files` as the model saw them, each with its file name over its caption. */
async function photos(files: string[], captions: string[], exp: Experiment, cacheDir: string | undefined) {
  const pics = await pictures(files, exp, cacheDir, new Map(), undefined);
  return files.map((f, j) => figure(pics[j], `${esc(path.basename(f))}<br>${captions[j]}`)).join('');
}

/** What one output's section for one data set is made from: the set's name and predictions, which output, the run's experiment and cache. */
interface SectionOf {
  name: string;
  meta: OutputMeta[];
  o: number;
  set: OutputsSet;
  exp: Experiment;
  cacheDir: string | undefined;
}

/** One number output's section for one data set: errors per band and the largest errors with their photos. */
export async function numberSection(at: SectionOf): Promise<string> {
  const { name, meta, o, set, exp, cacheDir } = at;
  const out = meta[o] as OutputMeta;
  const spec = out.spec?.type === 'number' ? out.spec : undefined;
  const rows = (set.truth[out.name] ?? []).flatMap((truth, i) => {
    if (typeof truth !== 'number') return [];
    const predicted = unitValue(unitsAt(meta, o, set, i)[0] as number, out.scale, out.transform);
    return [{ i, truth, predicted, error: predicted - truth }];
  });
  if (!rows.length) return '';
  const groups = new Map<string, typeof rows>();
  for (const r of rows) {
    const band = bandOf(String(r.truth), spec?.bands);
    const group = groups.get(band);
    if (group) group.push(r);
    else groups.set(band, [r]);
  }
  const stats = (rs: typeof rows) => ({
    images: rs.length,
    mae: rs.reduce((s, r) => s + Math.abs(r.error), 0) / rs.length,
    bias: rs.reduce((s, r) => s + r.error, 0) / rs.length,
  });
  const all = stats(rows);
  const bands = spec?.bands ? [...groups.entries()].sort((a, b) => (a[1][0]?.truth ?? 0) - (b[1][0]?.truth ?? 0)) : [];
  const table = `<table class="slices"><tr><th>band</th><th>images</th><th>MAE</th><th>mean signed error</th></tr>${[
    ...bands.map(([band, rs]) => [band, stats(rs)] as const),
    ['all', all] as const,
  ]
    .map(
      ([band, s]) =>
        `<tr><td>${esc(band)}</td><td>${s.images}</td><td>${s.mae.toFixed(2)}</td><td>${s.bias >= 0 ? '+' : ''}${s.bias.toFixed(2)}</td></tr>`,
    )
    .join('')}</table>`;
  const worst = [...rows].sort((a, b) => Math.abs(b.error) - Math.abs(a.error)).slice(0, exp.report.mistakes);
  const shots = await photos(
    worst.map((r) => set.files[r.i] as string),
    worst.map((r) => `true <b>${r.truth}</b>, predicted <b>${r.predicted.toFixed(1)}</b>`),
    exp,
    cacheDir,
  );
  return `<section class="set"><h2>${esc(name)}: ${esc(out.name)} on ${rows.length} images, MAE ${all.mae.toFixed(2)}</h2>
<h3>Errors per band</h3><p class="note">A mean signed error below zero: predicted too low (the old predicted younger); above: too high.</p>${table}
<h3>Largest errors (${worst.length} of ${rows.length})</h3><div class="mistakes">${shots}</div></section>`;
}

/** One set output's section for one data set: each label's precision, recall and F1, and the most wrong sets with their photos. */
async function setOutputSection(at: SectionOf): Promise<string> {
  const { name, meta, o, set, exp, cacheDir } = at;
  const out = meta[o] as OutputMeta;
  const threshold = out.threshold ?? 0.5;
  const rows = (set.truth[out.name] ?? []).flatMap((truth, i) => {
    if (!Array.isArray(truth)) return [];
    const y = out.names.map((_, k) => (truth.includes(k) ? 1 : 0));
    const p = unitsAt(meta, o, set, i);
    // How wrong the set is: the probability mass on the wrong side of each label, summed.
    const miss = p.reduce((s, q, k) => s + Math.abs(q - (y[k] as number)), 0);
    return [{ i, y, p, miss }];
  });
  if (!rows.length) return '';
  const { perLabel, exact } = setCounts(
    out.names.length,
    rows.map((r) => r.y),
    rows.map((r) => r.p),
    threshold,
  );
  const ratio = (a: number, b: number) => (b ? (a / b).toFixed(3) : '-');
  const table = `<table class="slices"><tr><th>label</th><th>images with it</th><th>predicted</th><th>precision</th><th>recall</th><th>F1</th></tr>${perLabel
    .map(
      (c, k) =>
        `<tr><td>${esc(out.names[k] as string)}</td><td>${c.tp + c.fn}</td><td>${c.tp + c.fp}</td><td>${ratio(c.tp, c.tp + c.fp)}</td><td>${ratio(c.tp, c.tp + c.fn)}</td><td>${labelF1(c).toFixed(3)}</td></tr>`,
    )
    .join('')}</table>`;
  const named = (ks: number[]) => ks.map((k) => out.names[k]).join(' + ') || 'none';
  const worst = rows
    .filter((r) => r.p.some((q, k) => q >= threshold !== (r.y[k] === 1)))
    .sort((a, b) => b.miss - a.miss)
    .slice(0, exp.report.mistakes);
  const shots = await photos(
    worst.map((r) => set.files[r.i] as string),
    worst.map((r) => {
      const truth = r.y.flatMap((v, k) => (v === 1 ? [k] : []));
      const said = r.p.flatMap((q, k) => (q >= threshold ? [k] : []));
      return `true <b>${esc(named(truth))}</b>, predicted <b>${esc(named(said))}</b>`;
    }),
    exp,
    cacheDir,
  );
  return `<section class="set"><h2>${esc(name)}: ${esc(out.name)} on ${rows.length} images, whole set right ${(exact / rows.length).toFixed(3)}</h2>
<h3>Per label</h3><p class="note">A label is predicted where its probability reaches ${threshold}.</p>${table}
<h3>Most wrong sets (${worst.length} of ${rows.length - exact} with a wrong label)</h3><div class="mistakes">${shots}</div></section>`;
}

/** report.html of a model with several outputs: its class and number outputs' sections per data set. */
export async function buildOutputsReport(
  exp: Experiment,
  predictions: OutputsPredictions,
  facts: ReportFacts,
): Promise<{ html: string }> {
  const meta = predictions.outputs;
  const attributes = attributeSource(exp, [], facts.listed);
  const sections: string[] = [];
  for (const [o, out] of meta.entries()) {
    const head = out.type === 'category' || out.type === 'binary' ? headModel(facts.model, o) : undefined;
    for (const [name, set] of Object.entries(predictions.sets)) {
      const at = { name, meta, o, set, exp, cacheDir: facts.cacheDir };
      if (out.type === 'number') sections.push(await numberSection(at));
      else if (out.type === 'set') sections.push(await setOutputSection(at));
      else if (out.type === 'category' || out.type === 'binary') {
        const picked = classPredictions(meta, o, set);
        if (!picked.files.length) continue;
        const s = await setSection(
          `${name}: ${out.name}`,
          picked,
          out.names,
          exp,
          (f) => attributes(name, f),
          facts.cacheDir,
          head,
        );
        sections.push(s.html);
      }
    }
  }
  const about = `outputs ${meta.map((o) => `${esc(o.name)} (${o.type})`).join(', ')}`;
  return { html: reportPage(exp, facts, about, sections) };
}
