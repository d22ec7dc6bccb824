// `run-exp data <file>`: list, split and decode an experiment's images into the
// cache, with a progress bar; prints class counts, warnings and bad files.
import { mkdirSync } from 'node:fs';
import * as path from 'node:path';
import type { ResolveOptions } from '../config/resolve.ts';
import { resolveExperiment } from '../config/resolve.ts';
import { prepareData } from '../data/prepare.ts';
import { loadTensorflow } from '../platform/tensorflow.ts';
import { facesLine } from './faces-line.ts';
import { locatingDataErrors } from './located.ts';
import { progressBars } from './progress.ts';

export async function dataCommand(
  file: string,
  options: ResolveOptions & { json?: boolean; preview?: string | boolean },
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  const { experiment, locator } = resolveExperiment(file, options);
  const bars = progressBars(process.stderr.isTTY && !options.json);
  const data = await locatingDataErrors(locator, () =>
    prepareData(experiment, { onDetect: bars('finding faces'), onProgress: bars('decoding') }),
  );
  let preview: string | undefined;
  if (options.preview) {
    preview =
      typeof options.preview === 'string'
        ? path.resolve(options.preview)
        : path.resolve(experiment.tracking.dir, experiment.name, 'augmentation-preview.png');
    mkdirSync(path.dirname(preview), { recursive: true });
    const { tf } = await loadTensorflow({ threads: experiment.training.threads });
    await (await import('../data/preview.ts')).writePreview(tf, experiment, data, preview);
  }
  if (options.json) {
    out(
      `${JSON.stringify({ classes: data.classes, counts: data.counts, hash: data.hash, decoded: data.decoded, reused: data.reused, faces: data.faces, evaluation_sets: Object.fromEntries(Object.entries(data.evaluationSets).map(([n, e]) => [n, { path: e.path, images: e.files.length, faces: e.faces, bad: e.bad }])), bad: data.bad, warnings: data.warnings, preview }, null, 2)}\n`,
    );
    return 0;
  }
  const width = Math.max(5, ...data.classes.map((c) => c.length));
  out(`${'class'.padEnd(width)}  ${'train'.padStart(7)}  ${'val'.padStart(7)}  ${'test'.padStart(7)}\n`);
  for (const [i, c] of data.classes.entries()) {
    out(
      `${c.padEnd(width)}  ${String(data.counts.train[i]).padStart(7)}  ${String(data.counts.validation[i]).padStart(7)}  ${String(data.counts.test[i]).padStart(7)}\n`,
    );
  }
  out(`images decoded ${data.decoded}, from cache ${data.reused}; dataset hash ${data.hash.slice(0, 16)}\n`);
  if (data.faces) out(`${facesLine(data.faces)}\n`);
  for (const [name, set] of Object.entries(data.evaluationSets)) {
    out(
      `evaluation set ${name}: ${set.files.length} images${set.bad.length ? `, ${set.bad.length} left out` : ''}${set.faces ? `; ${facesLine(set.faces)}` : ''}\n`,
    );
  }
  if (preview) out(`augmentation preview: ${preview}\n`);
  for (const b of data.bad.slice(0, 20)) err(`bad file: ${b.path}: ${b.reason}\n`);
  if (data.bad.length > 20) err(`... and ${data.bad.length - 20} more bad files\n`);
  for (const w of data.warnings) err(`warning: ${w}\n`);
  return 0;
}
