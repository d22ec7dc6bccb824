// bench/serve/web-portraits: the web export of a run's model, and the panel of
// the run's report.html, in Debian's chromium on 20 ordinary portraits (10 per
// class, the first by name), each chosen in turn on the page, against
// `run-exp predict` on the same files: labels that agree and the largest
// probability difference. Measuring only; the portraits stay outside the project.
//
//   npm run bench:web -- <run folder>      (PORTRAITS_DIR)
import { existsSync, readdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { exportWeb } from '../../src/export/web.ts';
import { loadTensorflow } from '../../src/platform/tensorflow.ts';
import { loadRun, predictFiles } from '../../src/report/predict.ts';
import { pagePredictions, staticServer } from '../../test/support/web-page.ts';
import { ROOT } from '../run-process.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const portraits = process.env.PORTRAITS_DIR ?? path.join(ROOT, '..', 'shared', 'data', 'portraits');
const runDir = process.argv[2];
if (!runDir) {
  console.error('give a run folder: npm run bench:web -- runs/baseline/<id>');
  process.exit(2);
}
const files = ['male', 'female'].flatMap((c) =>
  readdirSync(path.join(portraits, c))
    .sort()
    .slice(0, 10)
    .map((f) => path.join(portraits, c, f)),
);
const { tf } = await loadTensorflow();
const run = await loadRun(tf, runDir);
const ours = await predictFiles(tf, run, files);
const out = path.join(here, '..', '.work', 'web-export');
rmSync(out, { recursive: true, force: true });
await exportWeb(tf, run, out);
const report = path.join(run.dir, 'report.html');
const site = await staticServer(out);
try {
  for (const [page, url] of [
    ['web export', site.url],
    ...(existsSync(report) ? [['report.html panel', pathToFileURL(report).href]] : []),
  ]) {
    const got = await pagePredictions(url as string, files);
    let agree = 0;
    let worst = 0;
    for (const [i, p] of ours.entries()) {
      if (got[i]?.label === p.label) agree++;
      for (const [cls, prob] of Object.entries(p.probabilities ?? {}))
        worst = Math.max(worst, Math.abs((got[i]?.probabilities[cls] as number) - prob));
      console.log(
        `${path.basename(files[i] as string).padEnd(40)} predict ${p.label} ${JSON.stringify(p.probabilities)}  page ${got[i]?.label} ${JSON.stringify(got[i]?.probabilities)}`,
      );
    }
    console.log(
      `${page}: labels equal on ${agree} of ${files.length}; largest probability difference ${worst.toFixed(4)}`,
    );
  }
} finally {
  await site.close();
}
