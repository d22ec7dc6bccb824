// `run-exp report <run>`: (re)draw a run's plots from its records.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { DataError } from '../data/sources.ts';
import { confusionMatrix, learningCurves } from '../report/plots.ts';

export async function reportCommand(run: string, out: (s: string) => void): Promise<number> {
  const dir = path.resolve(run);
  const metrics = path.join(dir, 'metrics.jsonl');
  if (!existsSync(metrics)) throw new DataError(`${run} is not a run folder (no metrics.jsonl)`);
  const name = path.basename(path.dirname(dir));
  mkdirSync(path.join(dir, 'plots'), { recursive: true });
  const epochs = readFileSync(metrics, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  const curves = path.join(dir, 'plots', 'learning-curves.png');
  await learningCurves(epochs, `${name}: learning curves`, curves);
  out(`${curves}\n`);
  const evaluation = path.join(dir, 'evaluation.json');
  if (existsSync(evaluation)) {
    const ev = JSON.parse(readFileSync(evaluation, 'utf8'));
    if (ev.validation) {
      const file = path.join(dir, 'plots', 'confusion-validation.png');
      await confusionMatrix(ev.validation.confusion, ev.classes, `${name}: validation confusion matrix`, file);
      out(`${file}\n`);
    }
  }
  return 0;
}
