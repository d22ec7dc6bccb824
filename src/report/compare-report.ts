// Two runs side by side on the photos they were both scored on: which ones the
// second run gets right that the first got wrong, and the reverse, with each
// run's prediction; the metrics and the slices of each, and their deltas.
import * as path from 'node:path';
import { resolveExperiment } from '../config/resolve.ts';
import { DataError } from '../spec/errors.ts';
import type { Experiment } from '../spec/experiment.ts';
import { evaluate } from '../train/metrics.ts';
import { reliability } from './curves.ts';
import {
  attributeSource,
  esc,
  figure,
  type Pictures,
  type Predictions,
  pct,
  pictures,
  readPredictions,
  type SetPredictions,
  STYLE,
} from './run-report.ts';
import { slices } from './slices.ts';

export interface ComparedRun {
  id: string;
  exp: Experiment;
  predictions: Predictions;
}

/** One image of a set as a run predicted it. */
interface Call {
  predicted: number;
  confidence: number;
}

function calls(set: SetPredictions, k: number): Map<string, Call & { truth: number }> {
  return new Map(
    set.files.map((file, i) => {
      const row = set.probs.slice(i * k, (i + 1) * k);
      const predicted = row.indexOf(Math.max(...row));
      return [file, { truth: set.labels[i] as number, predicted, confidence: row[predicted] as number }];
    }),
  );
}

/** Accuracy, macro F1, ROC AUC and calibration error of a set's predictions on `files` (in that order). */
function scores(set: SetPredictions, files: string[], classes: string[]) {
  const k = classes.length;
  const at = new Map(set.files.map((f, i) => [f, i]));
  const idx = files.map((f) => at.get(f) as number);
  const labels = idx.map((i) => set.labels[i] as number);
  const probs = Float32Array.from(idx.flatMap((i) => set.probs.slice(i * k, (i + 1) * k)));
  const ev = evaluate(labels, probs, classes);
  const c = calls({ files, labels, probs: Array.from(probs) }, k);
  const list = files.map((f) => c.get(f) as Call & { truth: number });
  const ece = reliability(
    list.map((x) => x.confidence),
    list.map((x) => x.truth === x.predicted),
  ).ece;
  return {
    accuracy: ev.accuracy,
    f1: ev.macro.f1,
    auc: ev.auc,
    ece,
    correct: list.map((x) => x.truth === x.predicted),
  };
}

const signed = (d: number, scale = 100, digits = 1) => `${d >= 0 ? '+' : ''}${(d * scale).toFixed(digits)}`;

/**
 * The comparison of `a` (first) and `b` (second) on each data set both were
 * scored on, matched by file: at most `limit` photos each way, the most
 * confident call of the run that got it wrong first.
 */
export async function buildCompareReport(
  a: ComparedRun,
  b: ComparedRun,
  options: { limit?: number; cacheDir?: string } = {},
): Promise<{ html: string; sets: Record<string, { images: number; gained: number; lost: number }> }> {
  const classes = b.predictions.classes;
  if (a.predictions.classes.join('\n') !== classes.join('\n'))
    throw new DataError(
      `the runs have other classes (${a.predictions.classes.join(', ')} against ${classes.join(', ')})`,
    );
  const limit = options.limit ?? 24;
  const k = classes.length;
  const attributes = attributeSource(b.exp, classes);
  const sections: string[] = [];
  const summary: Record<string, { images: number; gained: number; lost: number }> = {};
  for (const [name, setB] of Object.entries(b.predictions.sets)) {
    const setA = a.predictions.sets[name];
    if (!setA) continue;
    const [ca, cb] = [calls(setA, k), calls(setB, k)];
    const files = setB.files.filter((f) => ca.has(f));
    if (files.length === 0) continue;
    const right = (c: Map<string, Call & { truth: number }>, f: string) => {
      const x = c.get(f) as Call & { truth: number };
      return x.predicted === x.truth;
    };
    const byWrongConfidence = (wrong: Map<string, Call & { truth: number }>) => (f: string, g: string) =>
      (wrong.get(g)?.confidence ?? 0) - (wrong.get(f)?.confidence ?? 0);
    const gained = files.filter((f) => right(cb, f) && !right(ca, f)).sort(byWrongConfidence(ca));
    const lost = files.filter((f) => right(ca, f) && !right(cb, f)).sort(byWrongConfidence(cb));
    summary[name] = { images: files.length, gained: gained.length, lost: lost.length };
    const shown = [...gained.slice(0, limit), ...lost.slice(0, limit)];
    const pics = await pictures(shown, b.exp, options.cacheDir, new Map(), undefined);
    const picOf = new Map<string, Pictures | undefined>(shown.map((f, i) => [f, pics[i]]));
    const caption = (f: string) => {
      const [x, y] = [ca.get(f), cb.get(f)] as [Call & { truth: number }, Call];
      const call = (c: Call) => `<b>${esc(classes[c.predicted] as string)}</b> ${pct(c.confidence)}`;
      return `${esc(path.basename(f))}<br>true <b>${esc(classes[x.truth] as string)}</b>; first ${call(x)}, second ${call(y)}`;
    };
    const gallery = (list: string[]) =>
      list
        .slice(0, limit)
        .map((f) => figure(picOf.get(f), caption(f)))
        .join('') || '<p class="note">None.</p>';
    const [sa, sb] = [scores(setA, files, classes), scores(setB, files, classes)];
    const rows: [string, number | null, number | null][] = [
      ['accuracy', sa.accuracy, sb.accuracy],
      ['macro F1', sa.f1, sb.f1],
      ['ROC AUC', sa.auc, sb.auc],
      ['calibration error', sa.ece, sb.ece],
    ];
    const metricRows = rows
      .filter((r): r is [string, number, number] => r[1] !== null && r[2] !== null)
      .map(
        ([m, x, y]) =>
          `<tr><td>${m}</td><td>${x.toFixed(4)}</td><td>${y.toFixed(4)}</td><td>${signed(y - x, 100, 2)} points</td></tr>`,
      )
      .join('');
    const attrs = files.map((f) => attributes(name, f));
    const [slA, slB] = [slices(attrs, sa.correct), slices(attrs, sb.correct)];
    const sliceRows = slB
      .map((s) => ({ s, before: slA.find((t) => t.attribute === s.attribute && t.value === s.value) }))
      .sort((p, q) => p.s.accuracy - (p.before?.accuracy ?? 0) - (q.s.accuracy - (q.before?.accuracy ?? 0)))
      .map(
        ({ s, before }) =>
          `<tr><td>${esc(s.attribute)}</td><td>${esc(s.value)}</td><td>${s.images}</td><td>${pct(before?.accuracy ?? 0)}</td><td>${pct(s.accuracy)}</td><td>${signed(s.accuracy - (before?.accuracy ?? 0))} points</td></tr>`,
      )
      .join('');
    sections.push(`<section class="set"><h2>${esc(name)}: ${files.length} images scored by both</h2>
<table class="metrics"><tr><th>metric</th><th>first</th><th>second</th><th>second - first</th></tr>${metricRows}</table>
<h3>Right in the second run, wrong in the first: ${gained.length}</h3><div class="mistakes">${gallery(gained)}</div>
<h3>Wrong in the second run, right in the first: ${lost.length}</h3><div class="mistakes">${gallery(lost)}</div>
<h3>Slices, biggest loss first</h3>${
      sliceRows
        ? `<table class="slices"><tr><th>attribute</th><th>value</th><th>images</th><th>first</th><th>second</th><th>second - first</th></tr>${sliceRows}</table>`
        : '<p class="note">No attributes to slice by (report.slices).</p>'
    }</section>`);
  }
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(a.id)} against ${esc(b.id)}</title><style>${STYLE}</style></head>
<body><h1>${esc(b.exp.name)} ${esc(b.id)} (second) against ${esc(a.exp.name)} ${esc(a.id)} (first)</h1>
<p>On the images both runs were scored on, matched by file. Each photo shows the face the second run's crop kept and its input.</p>
${sections.join('\n') || '<p>The runs share no scored data set.</p>'}</body></html>`;
  return { html, sets: summary };
}

/** A run folder's resolved experiment and predictions, for comparing. */
export function readComparedRun(dir: string): ComparedRun {
  const predictions = readPredictions(dir);
  if (!predictions)
    throw new DataError(`${dir} has no predictions.json (written by runs that reached their final evaluation)`);
  if ('outputs' in predictions)
    throw new DataError(
      `${dir} is a model with several outputs: compare --report compares runs with one class output; their evaluation.json files hold each output's figures`,
    );
  const { experiment } = resolveExperiment(path.join(dir, 'config.yaml'), { env: {} });
  return { id: path.basename(dir), exp: experiment, predictions };
}
