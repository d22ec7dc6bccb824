// `run-exp predict --run <run> <image|folder>...`: label and class probabilities per file.
import { loadTensorflow } from '../backend/tensorflow.ts';
import { expandInputs, loadRun, predictFiles } from '../report/predict.ts';

export async function predictCommand(
  inputs: string[],
  options: { run: string; json?: boolean },
  out: (s: string) => void,
): Promise<number> {
  const { tf } = await loadTensorflow();
  const run = await loadRun(tf, options.run);
  const predictions = await predictFiles(tf, run, expandInputs(inputs));
  if (options.json) {
    out(`${JSON.stringify(predictions, null, 2)}\n`);
  } else {
    const width = Math.max(4, ...predictions.map((p) => p.file.length));
    out(`${'file'.padEnd(width)}  ${'label'.padEnd(10)}  ${run.classes.map((c) => c.padStart(8)).join('  ')}\n`);
    for (const p of predictions) {
      const probs = p.probabilities
        ? run.classes.map((c) => (p.probabilities?.[c] ?? 0).toFixed(4).padStart(Math.max(8, c.length))).join('  ')
        : `error: ${p.error}`;
      out(`${p.file.padEnd(width)}  ${(p.label ?? '-').padEnd(10)}  ${probs}\n`);
    }
  }
  return predictions.some((p) => p.error) ? 2 : 0;
}
