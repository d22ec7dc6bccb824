// `run-exp export --run <run> | --model models:/... --format <f> --out <dir>`:
// the model for other runtimes, checked against run-exp's before success.
import { type ConvertedFormat, convertModel } from '../export/convert.ts';
import { exportWeb } from '../export/web.ts';
import { modelPython } from '../platform/model-python.ts';
import { loadTensorflow } from '../platform/tensorflow.ts';
import { loadRun } from '../report/predict.ts';
import { modelFolder } from './model-source.ts';

export async function exportCommand(
  options: {
    run?: string;
    model?: string;
    format: ConvertedFormat | 'web';
    out: string;
    json?: boolean;
    env?: NodeJS.ProcessEnv;
  },
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  const folder = await modelFolder(options, err);
  const { tf } = await loadTensorflow();
  const run = await loadRun(tf, folder);
  const got =
    options.format === 'web'
      ? await exportWeb(tf, run, options.out)
      : convertModel(
          tf,
          run,
          options.format,
          options.out,
          modelPython(options.env ?? process.env, (line) => err(`${line}\n`)),
        );
  if (options.json) out(`${JSON.stringify({ format: options.format, ...got })}\n`);
  else
    out(
      `exported ${options.format}: ${got.path}; it gives run-exp's ${run.outputs ? 'outputs' : 'probabilities'} to ${got.max_abs_diff.toExponential(1)} on ${got.images} check images (tolerance ${got.tolerance}); ${run.outputs ? 'outputs' : 'classes'} and preprocessing in run_exp.json beside it${options.format === 'web' ? '; serve the folder with any static file server' : ''}\n`,
    );
  return 0;
}
