// `run-exp predict --run <run> <image|folder>...`: label and class probabilities per file.
import { loadTensorflow } from '../platform/tensorflow.ts';
import { expandInputs, type FacesMode, loadRun, type Prediction, predictFiles } from '../report/predict.ts';
import { modelFolder } from './model-source.ts';

/** "x,y wxh" of a face, "no face" when none was found, "" without a face crop. */
function faceText(p: Prediction): string {
  if (p.face === undefined) return '';
  if (p.face === null) return 'no face';
  const [x, y, w, h] = p.face.box;
  return `#${p.face.index + 1} ${x},${y} ${w}x${h}`;
}

export async function predictCommand(
  inputs: string[],
  options: { run?: string; model?: string; json?: boolean; faces?: FacesMode; env?: NodeJS.ProcessEnv },
  out: (s: string) => void,
  err: (s: string) => void = () => {},
): Promise<number> {
  const folder = await modelFolder(options, err);
  const { tf } = await loadTensorflow();
  const run = await loadRun(tf, folder);
  const predictions = await predictFiles(tf, run, expandInputs(inputs), { faces: options.faces });
  if (options.json) {
    out(`${JSON.stringify(predictions, null, 2)}\n`);
  } else if (run.outputs) {
    // Several outputs: each file's line names every output's prediction.
    const width = Math.max(4, ...predictions.map((p) => p.file.length));
    for (const p of predictions) {
      const said = p.outputs
        ? Object.entries(p.outputs)
            .map(([name, o]) =>
              'value' in o
                ? `${name} ${o.value.toFixed(1)}`
                : 'labels' in o
                  ? `${name} ${o.labels.join('+') || '(none)'}`
                  : `${name} ${o.label} ${(o.probabilities[o.label] ?? 0).toFixed(4)}`,
            )
            .join('  ')
        : p.error
          ? `error: ${p.error}`
          : '-';
      out(`${p.file.padEnd(width)}  ${faceText(p) ? `${faceText(p)}  ` : ''}${said}${p.note ? `  (${p.note})` : ''}\n`);
    }
  } else {
    const width = Math.max(4, ...predictions.map((p) => p.file.length));
    const faces = predictions.some((p) => p.face !== undefined);
    const fw = Math.max(4, ...predictions.map((p) => faceText(p).length));
    const faceCol = (s: string) => (faces ? `${s.padEnd(fw)}  ` : '');
    out(
      `${'file'.padEnd(width)}  ${faceCol('face')}${'label'.padEnd(10)}  ${run.classes.map((c) => c.padStart(8)).join('  ')}\n`,
    );
    for (const p of predictions) {
      const probs = p.probabilities
        ? run.classes.map((c) => (p.probabilities?.[c] ?? 0).toFixed(4).padStart(Math.max(8, c.length))).join('  ')
        : p.error
          ? `error: ${p.error}`
          : '';
      const note = p.note ? `  (${p.note})` : '';
      out(
        `${p.file.padEnd(width)}  ${faceCol(faceText(p))}${(p.label ?? '-').padEnd(10)}  ${probs}${note}\n`.replace(
          / +\n$/,
          '\n',
        ),
      );
    }
  }
  return predictions.some((p) => p.error) ? 2 : 0;
}
