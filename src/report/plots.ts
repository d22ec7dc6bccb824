// PNG plots of a run: learning curves and the confusion matrix, drawn with
// Vega-Lite, rendered to SVG by Vega (no canvas needed), then to PNG by sharp.
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { EpochMetrics } from '../spec/events.ts';

/** A Vega-Lite chart as a PNG file. */
export async function toPng(spec: TopLevelSpec, file: string): Promise<void> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG(2);
  view.finalize();
  await sharp(Buffer.from(svg), { density: 144 }).flatten({ background: '#ffffff' }).png().toFile(file);
}

export const CONFIG = {
  font: 'DejaVu Sans',
  axis: { labelFontSize: 12, titleFontSize: 13 },
  legend: { labelFontSize: 12, titleFontSize: 12 },
  title: { fontSize: 15 },
};

/** Loss and accuracy per epoch, training and validation, side by side. */
export async function learningCurves(epochs: EpochMetrics[], title: string, file: string): Promise<void> {
  const rows = epochs
    .flatMap((m) => [
      { epoch: m.epoch, metric: 'loss', split: 'training', value: m.loss },
      { epoch: m.epoch, metric: 'loss', split: 'validation', value: m.val_loss },
      { epoch: m.epoch, metric: 'accuracy', split: 'training', value: m.accuracy },
      { epoch: m.epoch, metric: 'accuracy', split: 'validation', value: m.val_accuracy },
    ])
    .filter((r) => r.value !== null);
  const panel = (metric: string) => ({
    title: metric === 'loss' ? 'Loss' : 'Accuracy',
    width: 360,
    height: 240,
    transform: [{ filter: `datum.metric === '${metric}'` }],
    mark: { type: 'line' as const, point: true },
    encoding: {
      x: {
        field: 'epoch',
        type: 'quantitative' as const,
        title: 'epoch',
        scale: { domain: [1, Math.max(2, epochs.length)], nice: false },
        axis: { format: 'd', tickMinStep: 1, values: epochs.length <= 25 ? epochs.map((m) => m.epoch) : undefined },
      },
      y: { field: 'value', type: 'quantitative' as const, title: metric, scale: { zero: false } },
      color: {
        field: 'split',
        type: 'nominal' as const,
        title: 'split',
        scale: { domain: ['training', 'validation'], range: ['#1f77b4', '#ff7f0e'] },
      },
    },
  });
  await toPng(
    {
      $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
      title,
      data: { values: rows },
      hconcat: [panel('loss'), panel('accuracy')],
      config: CONFIG,
    } as TopLevelSpec,
    file,
  );
}

/** Counts of true class (rows) against predicted class (columns), with the count in each cell. */
export async function confusionMatrix(
  confusion: number[][],
  classes: string[],
  title: string,
  file: string,
): Promise<void> {
  const rows = confusion.flatMap((row, t) =>
    row.map((count, p) => ({ true: classes[t], predicted: classes[p], count })),
  );
  const max = Math.max(...rows.map((r) => r.count), 1);
  await toPng(
    {
      $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
      title,
      data: { values: rows },
      width: 80 * classes.length + 120,
      height: 80 * classes.length + 60,
      encoding: {
        x: { field: 'predicted', type: 'nominal', title: 'predicted class', sort: classes, axis: { labelAngle: 0 } },
        y: { field: 'true', type: 'nominal', title: 'true class', sort: classes },
      },
      layer: [
        {
          mark: 'rect',
          encoding: { color: { field: 'count', type: 'quantitative', title: 'images', scale: { scheme: 'blues' } } },
        },
        {
          mark: { type: 'text', fontSize: 16 },
          encoding: {
            text: { field: 'count', type: 'quantitative' },
            color: { condition: { test: `datum.count > ${max / 2}`, value: 'white' }, value: 'black' },
          },
        },
      ],
      config: CONFIG,
    } as TopLevelSpec,
    file,
  );
}

/** A run's plots in `<dir>/plots/`: learning curves, and the validation confusion matrix when given. Returns the files. */
export async function drawRunPlots(
  dir: string,
  name: string,
  epochs: EpochMetrics[],
  classes: string[],
  confusion: number[][] | null,
): Promise<string[]> {
  const files: string[] = [];
  mkdirSync(path.join(dir, 'plots'), { recursive: true });
  if (epochs.length > 0) {
    files.push(path.join(dir, 'plots', 'learning-curves.png'));
    await learningCurves(epochs, `${name}: learning curves`, files.at(-1) as string);
  }
  if (confusion) {
    files.push(path.join(dir, 'plots', 'confusion-validation.png'));
    await confusionMatrix(confusion, classes, `${name}: validation confusion matrix`, files.at(-1) as string);
  }
  return files;
}
