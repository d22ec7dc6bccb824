// `run-exp report <run>`: (re)draw a run's plots from its records.
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { readEpochs } from '../record/run-store.ts';
import { drawRunPlots } from '../report/plots.ts';
import { DataError } from '../spec/errors.ts';

export async function reportCommand(run: string, out: (s: string) => void): Promise<number> {
  const dir = path.resolve(run);
  const epochs = readEpochs(dir);
  if (epochs.length === 0) throw new DataError(`${run} is not a run folder with recorded epochs (no metrics.jsonl)`);
  const evaluation = path.join(dir, 'evaluation.json');
  const ev = existsSync(evaluation) ? JSON.parse(readFileSync(evaluation, 'utf8')) : null;
  const files = await drawRunPlots(
    dir,
    path.basename(path.dirname(dir)),
    epochs,
    ev?.classes ?? [],
    ev?.validation?.confusion ?? null,
  );
  for (const f of files) out(`${f}\n`);
  return 0;
}
