// `run-exp data <file>`: list, split and decode an experiment's images into the
// cache, with a progress bar; prints class counts, warnings and bad files.
import type { ResolveOptions } from '../config/resolve.ts';
import { resolveExperiment } from '../config/resolve.ts';
import { prepareData } from '../data/prepare.ts';
import { progressBars } from './progress.ts';

export async function dataCommand(
  file: string,
  options: ResolveOptions & { json?: boolean },
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  const { experiment } = resolveExperiment(file, options);
  const data = await prepareData(experiment, {
    onProgress: progressBars(process.stderr.isTTY && !options.json)('decoding'),
  });
  if (options.json) {
    out(
      `${JSON.stringify({ classes: data.classes, counts: data.counts, hash: data.hash, decoded: data.decoded, reused: data.reused, bad: data.bad, warnings: data.warnings }, null, 2)}\n`,
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
  for (const b of data.bad.slice(0, 20)) err(`bad file: ${b.path}: ${b.reason}\n`);
  if (data.bad.length > 20) err(`... and ${data.bad.length - 20} more bad files\n`);
  for (const w of data.warnings) err(`warning: ${w}\n`);
  return 0;
}
