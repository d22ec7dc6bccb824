// `run-exp validate <file...>`: every error of every file at once, exit 0 or 2.

import type { Resolved } from '../config/resolve.ts';
import { resolveExperiment } from '../config/resolve.ts';
import { buildExperimentModel, LayerError } from '../model/build.ts';
import { loadTensorflow } from '../platform/tensorflow.ts';
import { type ConfigError, ConfigErrors, DataError, didYouMean, formatError } from '../spec/errors.ts';

export interface ValidateOptions {
  json?: boolean;
  set?: string[];
  env?: NodeJS.ProcessEnv;
}

export interface FileReport {
  file: string;
  ok: boolean;
  errors: ConfigError[];
  params?: number;
}

/** The model-building check: compile the layer stack with its real input shape. */
export async function checkModel(resolved: Resolved): Promise<{ params: number } | ConfigError> {
  const exp = resolved.experiment;
  const { tf } = await loadTensorflow({ allowNonNative: true });
  const [h, w] = exp.data.preprocessing.size;
  const numClasses =
    exp.data.classes?.length ?? (exp.data.label_map ? new Set(Object.values(exp.data.label_map)).size : undefined);
  const located = (path: string, what: 'key' | 'value', message: string): ConfigError => {
    const at = resolved.locator.locate(path, what);
    return { file: at.file, line: at.pos.line, col: at.pos.col, path, message };
  };
  try {
    const model = await buildExperimentModel(
      tf,
      exp,
      [h, w, exp.data.preprocessing.color === 'rgb' ? 3 : 1],
      numClasses,
    );
    const params = model.countParams();
    // Every lr_multipliers scope must name layers of this model.
    const names = model.layers.map((l) => l.name);
    model.dispose();
    for (const scope of Object.keys((exp.training.optimizer.lr_multipliers ?? {}) as Record<string, number>)) {
      if (names.some((n) => n === scope || n.startsWith(`${scope}/`))) continue;
      const hint = didYouMean(scope, [...new Set(names.map((n) => n.split('/')[0] as string))]);
      return located(
        `training.optimizer.lr_multipliers.${scope}`,
        'key',
        `no layer is named '${scope}' or sits under it${hint ? `; did you mean '${hint}'?` : ''}`,
      );
    }
    const trainable = exp.model.backbone?.trainable;
    if (typeof trainable === 'object' && (trainable.at_epoch ?? 1) > exp.training.epochs) {
      return located(
        'model.backbone.trainable.at_epoch',
        'value',
        `is ${trainable.at_epoch}, after the last epoch (training.epochs is ${exp.training.epochs}): the backbone would never learn; use 1 to ${exp.training.epochs}`,
      );
    }
    return { params };
  } catch (err) {
    // A backbone folder that cannot be read is located at model.backbone.path.
    if (err instanceof DataError && err.key) return located(err.key, 'value', err.message);
    if (!(err instanceof LayerError)) throw err;
    const layer = err.index >= 0 ? `model.layers[${err.index}]` : 'model.layers';
    return located(err.path ?? resolved.origin(err.field ? `${layer}.${err.field}` : layer), 'key', err.message);
  }
}

export async function validateFile(file: string, options: ValidateOptions = {}): Promise<FileReport> {
  let resolved: Resolved;
  try {
    resolved = resolveExperiment(file, { set: options.set, env: options.env });
  } catch (err) {
    if (err instanceof ConfigErrors) return { file, ok: false, errors: err.errors };
    throw err;
  }
  const model = await checkModel(resolved);
  if ('message' in model) return { file, ok: false, errors: [model] };
  return { file, ok: true, errors: [], params: model.params };
}

export async function validate(files: string[], options: ValidateOptions, out: (s: string) => void): Promise<number> {
  const reports: FileReport[] = [];
  for (const f of files) reports.push(await validateFile(f, options));
  if (options.json) {
    out(`${JSON.stringify(reports, null, 2)}\n`);
  } else {
    for (const r of reports) {
      if (r.ok) out(`${r.file}: valid (${r.params?.toLocaleString('en-US')} parameters)\n`);
      else for (const e of r.errors) out(`${formatError(e)}\n`);
    }
  }
  return reports.every((r) => r.ok) ? 0 : 2;
}
