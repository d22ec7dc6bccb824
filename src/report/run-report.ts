// report.html: what a run's model gets wrong, in one self-contained page (images
// and script inlined, no network), from the run folder's predictions.json: per
// data set the confusion matrix whose cells open their photos, the most
// confident mistakes (the photo with its face box beside the crop the model
// saw), the reliability diagram with its calibration error, ROC and
// precision-recall curves, and the accuracy per slice of the images.
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { LayersModel } from '@tensorflow/tfjs-node';
import sharp from 'sharp';
import { channelsOf } from '../data/decode.ts';
import { toFloat } from '../data/normalize.ts';
import { evaluationListing } from '../data/prepare.ts';
import { decodeJobs, fileJobs } from '../data/preprocess.ts';
import { type Item, listData } from '../data/sources.ts';
import type { Tf } from '../platform/tensorflow.ts';
import { type Experiment, faceCropOf } from '../spec/experiment.ts';
import { evaluate } from '../train/metrics.ts';
import { lineChart, rankingCurves, reliability } from './curves.ts';
import type { OutputsPredictions } from './outputs-report.ts';
import { gradCam, overlay } from './saliency.ts';
import { type Attributes, attributesOf, type Slice, slices } from './slices.ts';

/** What final evaluation records per data set: each image's file, true class and probabilities. */
export interface SetPredictions {
  files: string[];
  labels: number[];
  /** Row-major: one row of class probabilities per image. */
  probs: number[];
}

/** A data set's predictions as recorded: probabilities to 6 decimals (predictions.json stays small). */
export function setPredictions(files: string[], labels: ArrayLike<number>, probs: Float32Array): SetPredictions {
  return { files, labels: Array.from(labels), probs: Array.from(probs, (p) => Math.round(p * 1e6) / 1e6) };
}

export interface Predictions {
  classes: string[];
  sets: Record<string, SetPredictions>;
}

/** One image as the report shows it. */
interface Shown {
  index: number;
  truth: number;
  predicted: number;
  confidence: number;
}

/** A shown image's pictures: the photo (with its face box, scaled to it) and the model's input. */
export interface Pictures {
  photo: string | null;
  /** The photo thumbnail's size, the face box's coordinates. */
  size: [number, number];
  box: [number, number, number, number] | null;
  crop: string | null;
  /** The crop with the model's Grad-CAM map over it (the mistakes). */
  saliency?: string;
  note?: string;
}

export const jpegOf = async (img: sharp.Sharp) =>
  `data:image/jpeg;base64,${(await img.jpeg({ quality: 80 }).toBuffer()).toString('base64')}`;
export const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
export const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const PHOTO = 200;

/** A run's predictions.json: one class output's form, or (a model with several outputs) every output's. */
export function readPredictions(runDir: string): Predictions | OutputsPredictions | null {
  const file = path.join(runDir, 'predictions.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Predictions | OutputsPredictions) : null;
}

/**
 * The attributes slices are taken from, per data set: file-name groups and
 * manifest rows. `listed`: data sets from outside the experiment (run-exp
 * report --data), by name, with their listing's items.
 */
export function attributeSource(
  exp: Experiment,
  classes: string[],
  listed: Record<string, Item[]> = {},
): (set: string, file: string) => Attributes {
  const spec = exp.report.slices;
  const own = exp.data.source === 'filename' && exp.data.pattern ? [new RegExp(exp.data.pattern)] : [];
  const extra = spec.pattern ? [new RegExp(spec.pattern)] : [];
  const rows = new Map<string, Map<string, Record<string, string>>>();
  const rowsOf = (set: string) => {
    let m = rows.get(set);
    if (!m) {
      m = new Map();
      if (spec.columns.length) {
        const where = exp.data.evaluation_sets[set];
        const items = listed[set] ?? (where ? evaluationListing(set, where, classes) : listData(exp.data).items);
        for (const it of items) if (it.attributes) m.set(it.path, it.attributes);
      }
      rows.set(set, m);
    }
    return m;
  };
  return (set, file) => {
    // The training data's own pattern describes its splits' names, not another data set's.
    const patterns = exp.data.evaluation_sets[set] || listed[set] ? extra : [...own, ...extra];
    return attributesOf(file, spec, patterns, rowsOf(set).get(file));
  };
}

/** The model whose saliency the report shows over the mistakes. */
export interface ReportModel {
  tf: Tf;
  model: LayersModel;
}

/**
 * The photos and crops of `files`, through the one preprocessing path (face
 * boxes from the cache); for the files in `explain` (file index -> class), the
 * crop with the model's Grad-CAM map for that class over it.
 */
export async function pictures(
  files: string[],
  exp: Experiment,
  cacheDir: string | undefined,
  explain: Map<number, number>,
  net: ReportModel | undefined,
): Promise<Pictures[]> {
  const p = exp.data.preprocessing;
  const jobs = await fileJobs(files, p, 'largest', cacheDir);
  const [h, w] = p.size;
  const channels = channelsOf(p);
  const bytes = h * w * channels;
  const pixels = new Uint8Array(jobs.length * bytes);
  const errors = await decodeJobs(
    jobs,
    p,
    pixels,
    jobs.map((_, k) => k * bytes),
  );
  const heat = new Map<number, string>();
  const wanted = [...explain.keys()].filter((k) => !errors[k]);
  if (net && wanted.length) {
    const x = toFloat(pixels, bytes, channels, wanted, p, new Float32Array(wanted.length * bytes));
    const input = net.tf.tensor4d(x, [wanted.length, h, w, channels]);
    const cam = gradCam(
      net.tf,
      net.model,
      input,
      wanted.map((k) => explain.get(k) as number),
    );
    input.dispose();
    for (const [j, k] of wanted.entries()) {
      const map = cam?.maps[j];
      if (!cam || !map) continue;
      const lit = overlay(pixels.subarray(k * bytes, (k + 1) * bytes), w, h, channels, map, cam.width, cam.height);
      heat.set(k, await jpegOf(sharp(Buffer.from(lit), { raw: { width: w, height: h, channels: 3 } })));
    }
  }
  return Promise.all(
    jobs.map(async (job, k): Promise<Pictures> => {
      const crop = errors[k]
        ? null
        : await jpegOf(
            sharp(Buffer.from(pixels.subarray(k * bytes, (k + 1) * bytes)), {
              raw: { width: w, height: h, channels: channels as 1 | 3 },
            }),
          );
      try {
        const upright = sharp(job.file, { autoOrient: true, pages: 1 });
        const meta = await upright.metadata();
        const width = meta.autoOrient?.width ?? meta.width ?? 1;
        const height = meta.autoOrient?.height ?? meta.height ?? 1;
        const scale = Math.min(1, PHOTO / Math.max(width, height));
        const size: [number, number] = [
          Math.max(1, Math.round(width * scale)),
          Math.max(1, Math.round(height * scale)),
        ];
        const photo = await jpegOf(upright.resize({ width: size[0], height: size[1], fit: 'fill' }));
        const box = job.face ? (job.face.box.map((v) => v * scale) as Pictures['box']) : null;
        const saliency = heat.get(k);
        return { photo, size, box, crop, ...(saliency ? { saliency } : {}), ...(job.note ? { note: job.note } : {}) };
      } catch (err) {
        return { photo: null, size: [1, 1], box: null, crop, note: err instanceof Error ? err.message : String(err) };
      }
    }),
  );
}

export function figure(pic: Pictures | undefined, caption: string): string {
  if (!pic) return '';
  const box = pic.box
    ? `<svg class="box" viewBox="0 0 ${pic.size[0]} ${pic.size[1]}" preserveAspectRatio="none"><rect x="${pic.box[0].toFixed(1)}" y="${pic.box[1].toFixed(1)}" width="${pic.box[2].toFixed(1)}" height="${pic.box[3].toFixed(1)}"/></svg>`
    : '';
  const photo = pic.photo
    ? `<span class="photo"><img src="${pic.photo}" alt="photo" width="${pic.size[0]}" height="${pic.size[1]}">${box}</span>`
    : '';
  const crop = pic.crop ? `<img class="crop" src="${pic.crop}" alt="the model's input">` : '';
  const looked = pic.saliency
    ? `<img class="crop saliency" src="${pic.saliency}" alt="where the model looked (Grad-CAM)" title="where the model looked (Grad-CAM, red: the predicted class)">`
    : '';
  return `<figure class="shot">${photo}${crop}${looked}<figcaption>${caption}${pic.note ? `<br><em>${esc(pic.note)}</em>` : ''}</figcaption></figure>`;
}

const chosen = (s: Shown[], n: number) => s.sort((a, b) => b.confidence - a.confidence).slice(0, n);

/** One data set's section of the report. */
export async function setSection(
  name: string,
  set: SetPredictions,
  classes: string[],
  exp: Experiment,
  attributes: (file: string) => Attributes,
  cacheDir: string | undefined,
  net: ReportModel | undefined,
): Promise<{ html: string; slices: Slice[] }> {
  const k = classes.length;
  const n = set.labels.length;
  const probs = Float32Array.from(set.probs);
  const ev = evaluate(set.labels, probs, classes);
  const all: Shown[] = set.labels.map((truth, i) => {
    let predicted = 0;
    for (let c = 1; c < k; c++) if ((probs[i * k + c] as number) > (probs[i * k + predicted] as number)) predicted = c;
    return { index: i, truth, predicted, confidence: probs[i * k + predicted] as number };
  });
  const { images_per_cell: perCell, mistakes: mistakeCount } = exp.report;
  const cells = classes.map((_, t) =>
    classes.map((_, p) =>
      chosen(
        all.filter((s) => s.truth === t && s.predicted === p),
        perCell,
      ),
    ),
  );
  const mistakes = chosen(
    all.filter((s) => s.truth !== s.predicted),
    mistakeCount,
  );
  const shownIdx = [...new Set([...cells.flat(2), ...mistakes].map((s) => s.index))];
  // Saliency over the mistakes, for the class the model wrongly chose.
  const wrongly = new Map(mistakes.map((m) => [shownIdx.indexOf(m.index), m.predicted]));
  const pics = await pictures(
    shownIdx.map((i) => set.files[i] as string),
    exp,
    cacheDir,
    wrongly,
    net,
  );
  const picOf = new Map(shownIdx.map((i, j) => [i, pics[j]]));
  const label = (s: Shown) =>
    `${esc(path.basename(set.files[s.index] as string))}<br>true <b>${esc(classes[s.truth] as string)}</b>, predicted <b>${esc(classes[s.predicted] as string)}</b> ${pct(s.confidence)}`;
  const id = (t: number, p: number) => `${name}-${t}-${p}`.replace(/[^A-Za-z0-9_-]/g, '_');

  const matrix = `<table class="confusion"><tr><th>true \\ predicted</th>${classes.map((c) => `<th>${esc(c)}</th>`).join('')}</tr>${classes
    .map(
      (c, t) =>
        `<tr><th>${esc(c)}</th>${classes
          .map((_, p) => {
            const count = ev.confusion[t]?.[p] ?? 0;
            return `<td class="${t === p ? 'right' : 'wrong'}"><button data-cell="${id(t, p)}" data-count="${count}" onclick="openCell(this)">${count}</button></td>`;
          })
          .join('')}</tr>`,
    )
    .join('')}</table>`;
  const galleries = classes
    .flatMap((_, t) =>
      classes.map((_, p) => {
        const shown = cells[t]?.[p] ?? [];
        const count = ev.confusion[t]?.[p] ?? 0;
        return `<div class="gallery" id="${id(t, p)}" hidden><h4>true ${esc(classes[t] as string)}, predicted ${esc(classes[p] as string)}: ${count} image(s)${count > shown.length ? `, the ${shown.length} most confident shown` : ''}</h4>${shown.map((s) => figure(picOf.get(s.index), label(s))).join('')}</div>`;
      }),
    )
    .join('');

  const correct = all.map((s) => s.truth === s.predicted);
  const rel = reliability(
    all.map((s) => s.confidence),
    correct,
  );
  const filled = rel.bins.filter((b) => b.images > 0);
  const charts = [
    lineChart(
      `Reliability: expected calibration error ${(rel.ece * 100).toFixed(2)} points`,
      ['confidence', 'accuracy'],
      [
        {
          name: 'accuracy per confidence bin',
          points: filled.map((b) => [b.confidence, b.accuracy]),
          colour: '#1f77b4',
          dots: true,
        },
      ],
      true,
    ),
  ];
  // Ranking curves: the second class against the first for two classes; each class against the rest for more.
  const positives = k === 2 ? [1] : classes.map((_, c) => c);
  const palette = ['#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#7f7f7f', '#17becf'];
  const curves = positives.flatMap((c) => {
    const r = rankingCurves(
      all.map((s) => probs[s.index * k + c] as number),
      set.labels.map((l) => l === c),
    );
    return r ? [{ c, ...r }] : [];
  });
  if (curves.length) {
    const name_ = (c: number) => (k === 2 ? `${classes[1]} against ${classes[0]}` : `${classes[c]} against the rest`);
    charts.push(
      lineChart(
        `ROC: AUC ${curves.map((r) => r.auc.toFixed(4)).join(', ')}`,
        ['false positive rate', 'true positive rate'],
        curves.map((r, i) => ({ name: name_(r.c), points: r.roc, colour: palette[i % palette.length] as string })),
        true,
      ),
      lineChart(
        `Precision-recall: average precision ${curves.map((r) => r.ap.toFixed(4)).join(', ')}`,
        ['recall', 'precision'],
        curves.map((r, i) => ({ name: name_(r.c), points: r.pr, colour: palette[i % palette.length] as string })),
      ),
    );
  }

  const sliced = slices(
    set.files.map((f) => attributes(f)),
    correct,
  );
  const sliceTable = sliced.length
    ? `<table class="slices"><tr><th>attribute</th><th>value</th><th>images</th><th>accuracy</th><th>95% interval</th></tr>${[
        ...sliced,
      ]
        .sort((a, b) => a.accuracy - b.accuracy || b.images - a.images)
        .map(
          (s) =>
            `<tr><td>${esc(s.attribute)}</td><td>${esc(s.value)}</td><td>${s.images}</td><td>${pct(s.accuracy)}</td><td>${pct(s.low)} - ${pct(s.high)}</td></tr>`,
        )
        .join('')}</table>`
    : '<p class="note">No attributes to slice by: set report.slices (a file-name pattern with named groups, manifest columns).</p>';

  const unexplained =
    net && mistakes.length && !mistakes.some((m) => picOf.get(m.index)?.saliency)
      ? '<p class="note">No saliency maps: the model has no spatial feature map to take them from.</p>'
      : '';
  const html = `<section class="set"><h2>${esc(name)}: ${n} images, accuracy ${pct(ev.accuracy)}, macro F1 ${ev.macro.f1.toFixed(4)}${ev.auc === null ? '' : `, ROC AUC ${ev.auc.toFixed(4)}`}</h2>
<h3>Confusion matrix</h3><p class="note">A cell opens its images, the model's most confident first (at most ${perCell} per cell: report.images_per_cell).</p>${matrix}${galleries}
<h3>Most confident mistakes (${mistakes.length} of ${n - correct.filter(Boolean).length})</h3>${unexplained}<div class="mistakes">${mistakes.map((s) => figure(picOf.get(s.index), label(s))).join('') || '<p class="note">None.</p>'}</div>
<h3>Calibration and ranking</h3><div class="charts">${charts.join('')}</div>
<h3>Slices, worst first</h3>${sliceTable}</section>`;
  return { html, slices: sliced };
}

export const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px}h2{font-size:18px;border-top:1px solid #ccc;padding-top:16px}h3{font-size:15px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
table.confusion button{font:inherit;min-width:64px;padding:6px;cursor:pointer;border:0;background:none}
td.right{background:#e6f4e6}td.wrong{background:#fbe7e7}td.open{outline:3px solid #1f77b4}
.gallery,.mistakes{display:flex;flex-wrap:wrap;gap:10px}.gallery[hidden]{display:none}.gallery h4{width:100%;margin:4px 0}
figure.shot{margin:0;width:410px;border:1px solid #ddd;padding:6px;background:#fafafa}
figure.shot figcaption{font-size:12px;word-break:break-all}
.photo{position:relative;display:inline-block;vertical-align:top}.photo img{display:block;max-width:200px}
svg.box{position:absolute;left:0;top:0;width:100%;height:100%;overflow:visible}
svg.box rect{fill:none;stroke:#ff0;stroke-width:2px;vector-effect:non-scaling-stroke}
img.crop{width:90px;height:90px;margin-left:6px;image-rendering:pixelated;vertical-align:top}
.charts{display:flex;flex-wrap:wrap;gap:16px}figure.chart{margin:0}figure.chart figcaption{font-size:12px;max-width:260px}
svg text{font-size:10px;fill:#444}svg .axis{font-size:11px}svg .grid{stroke:#eee}svg .diag{stroke:#aaa;stroke-dasharray:4 3}
.note{color:#666}table.slices td:nth-child(-n+2){text-align:left}`;

// The one script: a confusion cell opens its gallery (and closes the one open).
const SCRIPT = `function openCell(b){var g=document.getElementById(b.dataset.cell);var open=g.hidden;
document.querySelectorAll('.gallery').forEach(function(x){x.hidden=true});document.querySelectorAll('td.open').forEach(function(x){x.classList.remove('open')});
if(open){g.hidden=false;b.parentNode.classList.add('open');g.scrollIntoView({block:'nearest'})}}`;

export interface ReportFacts {
  runName: string;
  runId: string;
  cacheDir?: string;
  /** The run's model: with it, each mistake shows where the model looked. */
  model?: ReportModel;
  /** Data sets from outside the experiment, with their listing's items (for manifest-column slices). */
  listed?: Record<string, Item[]>;
  /** The drop-a-photo panel's markup (made where the web export is known: runner and cli), or a note why there is none. */
  panel?: string;
}

/** The report's HTML and each set's slices. */
export async function buildRunReport(
  exp: Experiment,
  predictions: Predictions,
  facts: ReportFacts,
): Promise<{ html: string; slices: Record<string, Slice[]> }> {
  const attributes = attributeSource(exp, predictions.classes, facts.listed);
  const sections: string[] = [];
  const bySet: Record<string, Slice[]> = {};
  for (const [name, set] of Object.entries(predictions.sets)) {
    const s = await setSection(
      name,
      set,
      predictions.classes,
      exp,
      (f) => attributes(name, f),
      facts.cacheDir,
      facts.model,
    );
    sections.push(s.html);
    bySet[name] = s.slices;
  }
  const html = reportPage(exp, facts, `classes ${predictions.classes.map(esc).join(', ')}`, sections);
  return { html, slices: bySet };
}

/** The page around the sections: title, what the photos show, and the drop-a-photo panel. `about`: what the model predicts (HTML). */
export function reportPage(exp: Experiment, facts: ReportFacts, about: string, sections: string[]): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(facts.runName)}: report</title><style>${STYLE}</style><script>${SCRIPT}</script></head>
<body><h1>${esc(exp.name)}: what the model gets wrong</h1><p>Run ${esc(facts.runId)}; ${about}. Each photo shows the face the model was given (yellow box) and, beside it, the model's input; beside a mistake's, where the model looked (Grad-CAM for the class it chose, in red).</p>
${sections.join('\n') || '<p>No data set was scored.</p>'}
${facts.panel === undefined ? '' : `<section class="try"><h2>Try a photo</h2><p>The run's model runs in this page with its recorded preprocessing${faceCropOf(exp.data.preprocessing) ? ' (the face detector too)' : ''}: drop a photo, or click to choose one; the photo stays in the page.</p>${facts.panel}</section>`}</body></html>`;
}
